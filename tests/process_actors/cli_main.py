"""A program for the emilua command: it spawns itself as a process actor.

The main VM spawns ``spawn_vm('.', subprocess=True)``, prints the worker's
report (is the worker another process, a child of the supervisor?), then
``main done``. The worker reports its _CONTEXT, PID and parent PID, drops
the main VM's address and prints ``worker: no senders`` once the main VM's
channel is gone: the program waits for its process actors.
"""

import os

from emilua import NoSendersError, _supervisor, inbox, spawn_vm

if _CONTEXT == "main":  # noqa: F821 - set by the emilua command
    worker = spawn_vm(".", subprocess=True)
    worker.send(inbox)
    report = inbox.receive()
    print(report["context"], report["pid"] != os.getpid(), report["ppid"] == _supervisor.pid())
    print("main done")
else:
    reply = inbox.receive()
    reply.send({"context": _CONTEXT, "pid": os.getpid(), "ppid": os.getppid()})  # noqa: F821
    reply.close()
    try:
        inbox.receive()
    except NoSendersError:
        print("worker: no senders")
