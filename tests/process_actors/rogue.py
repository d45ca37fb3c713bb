"""Writes a malformed message to one address of its caller.

The first message is ``{"bad": address, "good": address}`` (two addresses of
one inbox, so two sockets). On ``bad`` the actor sends ``"one"`` and
``"two"``, then writes raw bytes that are no message (no codec involved),
then tries to send ``"three"`` (the receiver may have closed that socket
already). It sends ``"good"`` on the other address, closes it and keeps
``bad`` open until no sender is left.
"""

import os

from emilua import ChannelClosedError, NoSendersError, inbox

first = inbox.receive()
bad, good = first["bad"], first["good"]
del first
bad.send("one")
bad.send("two")
os.write(bad._raw_fd(), b"not a message")
try:
    bad.send("three")
except ChannelClosedError:
    pass
good.send("good")
good.close()
try:
    inbox.receive()
except NoSendersError:
    pass
bad.close()
