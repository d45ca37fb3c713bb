"""Print the first message received."""

from emilua import inbox

print(inbox.receive(), flush=True)
