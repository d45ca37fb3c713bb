"""Receives only once a gate opens, then everything until no sender is left.

The first message is ``{"reply": address, "gate": file_descriptor}``. The
actor says ``"ready"`` (its first receive() is over: from then on its socket
holds only what is sent after that), then blocks reading one byte from the
gate, away from its inbox, so that what is sent to it piles up in its
socket. Then it receives ``{"i": n}`` messages until no sender is left and
reports ``{"count": messages received, "in_order": whether they were
{"i": 0}, {"i": 1}, ... exactly, "others": messages of any other shape}``.
"""

import os

from emilua import NoSendersError, inbox

first = inbox.receive()
reply = first["reply"]
reply.send("ready")
os.read(first["gate"]._fileno(), 1)
del first
count = others = 0
in_order = True
while True:
    try:
        msg = inbox.receive()
    except NoSendersError:
        break
    if isinstance(msg, dict) and list(msg) == ["i"]:
        in_order = in_order and msg["i"] == count
        count += 1
    else:
        others += 1
reply.send({"count": count, "in_order": in_order, "others": others})
