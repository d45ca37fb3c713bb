"""Sends every message back unchanged.

The first message is ``{"reply": address}``, optionally with ``"gate"`` and
``"done"`` (pipe ends). The actor says ``"ready"``. Without a gate it then
echoes each message as it arrives until no sender is left, and says ``"no
senders"``. With a gate it stays away from its inbox, blocked reading the
gate: each byte read is a count n; it receives n messages (queued by then),
sends them back in order and writes one byte to ``done``. EOF on the gate
ends it.
"""

import os

from emilua import NoSendersError, inbox

first = inbox.receive()
reply = first["reply"]
gate = first.get("gate")
done = first.get("done")
reply.send("ready")
if gate is None:
    while True:
        try:
            msg = inbox.receive()
        except NoSendersError:
            reply.send("no senders")
            break
        reply.send(msg)
        del msg
else:
    while count := os.read(gate._fileno(), 1):
        msgs = [inbox.receive() for _ in range(count[0])]
        for msg in msgs:
            reply.send(msg)
        del msgs, msg
        os.write(done._fileno(), b".")
