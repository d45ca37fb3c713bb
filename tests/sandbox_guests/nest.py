"""Spawns a sandbox of its own (manual, "Implementation details": nested
containers).

The first message is an address; the guest spawns probe.py in a new PID
namespace, hands the probe that address and asks it for its "nspid". It then
waits until no sender is left: its end would SIGKILL the nested sandbox.
"""

import os

from emilua import NoSendersError, inbox, spawn_vm

reply = inbox.receive()
probe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.py")
ch = spawn_vm(probe, linux_namespaces={"new_pid": True})
ch.send(reply)
ch.send("nspid")
try:
    inbox.receive()
except NoSendersError:
    pass
