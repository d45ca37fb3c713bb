"""The receiving end of tests/test_sandbox_fuzz.py.

The first message is ``{"reply": address, "addresses": n}``: the guest sends
n addresses of its own inbox (one message each), then receives until no
sender is left, closing what messages carry, and reports what got through
and how many fds it holds before and after.
"""

import gc
import os

from emilua import NoSendersError, inbox
from emilua.file_descriptor import file_descriptor


def fd_count():
    return sum(1 for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}"))


first = inbox.receive()
reply = first["reply"]
before = fd_count()
for _ in range(int(first["addresses"])):
    reply.send({"address": inbox})
others, good, last = 0, [], False
while True:
    try:
        msg = inbox.receive()
    except NoSendersError:
        break
    if msg == "last":
        last = True
    elif isinstance(msg, dict) and set(msg) == {"good"}:
        good.append(str(int(msg["good"])))
    else:
        others += 1
    for v in msg.values() if isinstance(msg, dict) else [msg]:
        if isinstance(v, file_descriptor) or hasattr(v, "send"):
            v.close()
    del msg, v
gc.collect()
reply.send(
    {
        "fds_before": before,
        "fds_after": fd_count(),
        "others": others,
        "good": " ".join(good),
        "last": last,
    }
)
