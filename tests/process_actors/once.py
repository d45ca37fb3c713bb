"""Answers one message and ends: the first message is the address to which it
says ``"bye"``; its VM (and its process) ends with its only fiber."""

from emilua import inbox

inbox.receive().send("bye")
