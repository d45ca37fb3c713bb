"""Programs of the process actors spawned by tests/test_process_actors.py.

Each file is the entry module of one actor, run with ``_CONTEXT == 'worker'``
in a child process of the supervisor (``spawn_vm(path, subprocess=True)``, no
new namespace), except ``cli_main.py`` and ``outlive_main.py``, which are
programs for the ``emilua`` command. Messages follow the bounded format of
docs/sandbox-messages.md: one leaf or one flat dict of leaves.
"""
