"""Entry modules of the actors spawned by tests/test_actors.py.

Each module is the program of one actor: it runs with ``_CONTEXT == 'worker'``
in a namespace of its own. ``_probe`` is an ordinary module they import.
"""
