"""A two-VM program for the emilua command: python -m emilua cli_main.py PLACEMENT."""

import os
import sys

from emilua import inbox, spawn_vm

placement = sys.argv[1]
worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "echo.py")
chan = spawn_vm(worker, inherit_context=(placement == "same-thread"))
for word in ("one", "two", "three"):
    chan.send((inbox, word))
    print(inbox.receive())
chan.close()
print("main done:", _CONTEXT)  # noqa: F821 - set by the emilua command
