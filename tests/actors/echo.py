"""Reply to each (reply_to, payload) message with payload, until no sender is left."""

from emilua import NoSendersError, inbox

assert _CONTEXT == "worker"  # noqa: F821 - set by spawn_vm

while True:
    try:
        reply_to, payload = inbox.receive()
    except NoSendersError:
        break
    reply_to.send(payload)
    # Hold no address between messages: only the sender's handles count.
    del reply_to, payload
