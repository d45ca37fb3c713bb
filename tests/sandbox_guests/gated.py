"""Receives only when told to.

The first message is ``{"reply": address, "gate": file_descriptor}``. The
guest says ``"ready"``, then blocks reading the gate (a pipe) away from its
inbox; each byte read lets it receive and echo one message. EOF on the gate
ends it.
"""

import os

from emilua import inbox

first = inbox.receive()
reply, gate = first["reply"], first["gate"]
reply.send("ready")
while os.read(gate._fileno(), 1):
    reply.send(inbox.receive())
