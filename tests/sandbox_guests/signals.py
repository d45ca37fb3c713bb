"""Reports the signals it gets.

The first message is ``{"reply": address, "fd": file_descriptor}``. The guest
installs handlers for SIGTERM, SIGUSR1, SIGUSR2, SIGHUP and SIGINT that write the
signal's name to the fd, says ``"ready"`` with its PID, and waits.
"""

import os
import signal

from emilua import inbox

first = inbox.receive()
out = first["fd"]._fileno()


def report(signo, frame):
    os.write(out, signal.Signals(signo).name.encode() + b"\n")


for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGINT):
    signal.signal(sig, report)
first["reply"].send({"ready": True, "pid": os.getpid()})
inbox.receive()
