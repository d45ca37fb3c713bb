"""An in-process actor that forwards what it receives.

Its first message is the address to forward to; every later message is sent
there as ``{"relayed": message}``. When no sender is left it says
``"relay: no senders"`` and ends.
"""

from emilua import NoSendersError, inbox

to = inbox.receive()
while True:
    try:
        msg = inbox.receive()
    except NoSendersError:
        to.send("relay: no senders")
        break
    to.send({"relayed": msg})
