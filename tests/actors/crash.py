"""Report, then let an exception escape the main fiber."""

from emilua import inbox

reply_to = inbox.receive()
reply_to.send("crashing")
del reply_to
raise RuntimeError("boom from a worker")
