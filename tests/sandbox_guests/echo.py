"""Sends every message back.

The first message is the address to answer to. A file_descriptor in a
message gets ``"from the guest"`` written to it and is closed; an address
gets ``"hello from the guest"`` sent to it; each is echoed as a marker str.
When no sender is left, says ``"no senders"`` and ends.
"""

import os

from emilua import NoSendersError, inbox
from emilua.file_descriptor import file_descriptor


def leaf(v):
    if isinstance(v, file_descriptor):
        os.write(v._fileno(), b"from the guest")
        v.close()
        return "<file_descriptor>"
    if hasattr(v, "send"):
        v.send("hello from the guest")
        return "<address>"
    return v


reply = inbox.receive()
while True:
    try:
        msg = inbox.receive()
    except NoSendersError:
        reply.send("no senders")
        break
    reply.send({k: leaf(v) for k, v in msg.items()} if isinstance(msg, dict) else leaf(msg))
