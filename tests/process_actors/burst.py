"""Sends a burst of messages, then says so through a pipe.

The first message is ``{"reply": address, "n": count, "fd_every": k, "done":
file_descriptor}``. The actor sends ``{"i": i}`` for i in 0..n-1, and every
k-th message also carries ``"fd"``: the read end of a new pipe holding the
text ``str(i)``, its write end closed. Then it writes one byte to ``done``
and waits until no sender is left.
"""

import os

from emilua import NoSendersError, inbox
from emilua.file_descriptor import file_descriptor

first = inbox.receive()
reply, n, k = first["reply"], int(first["n"]), int(first["fd_every"])
for i in range(n):
    if i % k == 0:
        r, w = os.pipe2(os.O_CLOEXEC)
        os.write(w, str(i).encode())
        os.close(w)
        reply.send({"i": i, "fd": file_descriptor._adopt(r)})
    else:
        reply.send({"i": i})
os.write(first["done"]._fileno(), b".")
first["done"].close()
try:
    inbox.receive()
except NoSendersError:
    pass
