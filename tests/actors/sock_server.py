"""Serve one request on a socket moved in from another actor: upper-case echo."""

from emilua import inbox
from emilua.byte_span import byte_span

reply_to, sock = inbox.receive()
buf = byte_span(64)
n = sock.read_some(buf)
data = bytes(buf[:n])
sock.write_some(data.upper())
reply_to.send(("served", data, sock.is_open))
sock.close()
