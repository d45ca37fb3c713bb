"""An actor driven through a socket: each byte read from the gate is a command.

The gate lets a test hold this actor away from its inbox for as long as it
needs (it waits in read_some, not in a sleep). Commands:

  r  receive one message and report ("got", message)
  c  close the inbox and report "closed"
  s  send "from gated" to the reply address
  d  drop the reply address (this actor then holds no address of the test)

The actor ends at the end of the gate stream.
"""

from emilua import inbox
from emilua.byte_span import byte_span

reply_to, gate = inbox.receive()
buf = byte_span(1)
while True:
    try:
        gate.read_some(buf)
    except EOFError:
        break
    command = bytes(buf)
    if command == b"r":
        reply_to.send(("got", inbox.receive()))
    elif command == b"c":
        inbox.close()
        reply_to.send("closed")
    elif command == b"s":
        reply_to.send("from gated")
    elif command == b"d":
        reply_to.close()
        del reply_to
gate.close()
