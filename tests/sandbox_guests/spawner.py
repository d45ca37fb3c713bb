"""An in-process actor that spawns a sandbox and ends.

Its one message: ``{"reply": address, "guest": path, "detach": bool}``. It
spawns the guest in a sandbox (no new namespace), detaches it if told to,
and sends ``{"pid": ..., "guest": channel}`` back before its main fiber ends.
"""

from emilua import inbox, spawn_vm

req = inbox.receive()
ch = spawn_vm(req["guest"], linux_namespaces={})
if req["detach"]:
    ch.detach()
req["reply"].send({"pid": ch.child_pid, "guest": ch})
