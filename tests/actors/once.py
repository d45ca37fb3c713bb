"""Answer one (reply_to, payload) message, then end (the VM ends with its only fiber)."""

from emilua import inbox

reply_to, payload = inbox.receive()
reply_to.send(payload)
