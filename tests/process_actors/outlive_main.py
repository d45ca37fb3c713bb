"""A program for the emilua command: a detached process actor outlives it.

Spawns sandbox_guests/sleeper.py as a process actor, detaches it, prints
``<supervisor pid> <actor pid>`` and ends (without the detach, the program
would wait for the actor).
"""

import os

from emilua import _supervisor, spawn_vm

here = os.path.dirname(os.path.abspath(__file__))
sleeper = os.path.join(os.path.dirname(here), "sandbox_guests", "sleeper.py")
actor = spawn_vm(sleeper, subprocess=True)
actor.detach()
print(_supervisor.pid(), actor.child_pid, flush=True)
