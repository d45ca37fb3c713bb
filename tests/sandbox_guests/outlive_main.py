"""A main program (not a guest) run by test_sandbox.py.

Spawns two sleepers, detaches the second, prints ``<supervisor pid> <first
pid> <second pid>`` and ends: the first must die with the program, the
detached one must outlive it.
"""

import os

from emilua import _supervisor, spawn_vm

sleeper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sleeper.py")
kept = spawn_vm(sleeper, linux_namespaces={})
detached = spawn_vm(sleeper, linux_namespaces={"new_pid": True})
detached.detach()
print(_supervisor.pid(), kept.child_pid, detached.child_pid, flush=True)
