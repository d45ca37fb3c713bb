"""The guest of bench/sandbox.py: answers the first address it receives."""

from emilua import inbox

inbox.receive().send("up")
