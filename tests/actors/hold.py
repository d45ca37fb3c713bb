"""Keep the value of a (reply_to, value) message; send it back after the next message.

The sender mutates its original in between: the copy held here must not change.
"""

from emilua import inbox

reply_to, value = inbox.receive()
inbox.receive()
reply_to.send(value)
