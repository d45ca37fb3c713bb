"""Sends pipe read ends and keeps their write ends, to learn when every
copy of each read end is closed.

The first message is ``{"reply": address, "n": count, "gate":
file_descriptor, "report": file_descriptor}``. The actor sends ``{"i": i,
"fd": read end}`` for i in 0..n-1, writes ``sent`` to the report pipe and
waits for a byte on the gate. Then it writes one byte to each write end it
kept and reports, as text on the report pipe, how many writes failed with
EPIPE (no read end left anywhere: neither in a process nor in a socket
queue).
"""

import errno
import os

from emilua import inbox
from emilua.file_descriptor import file_descriptor

first = inbox.receive()
reply, n = first["reply"], int(first["n"])
gate, report = first["gate"]._fileno(), first["report"]._fileno()
kept = []
for i in range(n):
    r, w = os.pipe2(os.O_CLOEXEC)
    kept.append(w)
    reply.send({"i": i, "fd": file_descriptor._adopt(r)})
os.write(report, b"sent")
os.read(gate, 1)
broken = 0
for w in kept:
    try:
        os.write(w, b"x")
    except OSError as e:
        if e.errno == errno.EPIPE:
            broken += 1
os.write(report, f" {broken}".encode())
