"""Programs of the sandboxed actors spawned by tests/test_sandbox.py.

Each file is the entry module of one actor, run with ``_CONTEXT == 'worker'``
inside a sandbox (or, for ``spawner.py`` and ``relay.py``, as an in-process
actor). A test whose sandbox has an empty root has its init.script copy the
program to ``/app.py`` before ``pivot_root``.
"""
