"""Send an address back over itself: its owner gets a tx-channel to its own inbox."""

from emilua import inbox

reply_to = inbox.receive()
reply_to.send(reply_to)
