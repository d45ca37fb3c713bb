"""Receive addresses and report how they compare; answer through the first one."""

from emilua import inbox

first, second = inbox.receive()
third = inbox.receive()
try:
    first.receive()
    receive_error = None
except TypeError:
    receive_error = "TypeError"
first.send(
    {
        "type": type(first).__name__,
        "is_inbox": first is inbox,
        "first_equals_second": first == second,
        "first_is_second": first is second,
        "first_equals_third": first == third,
        "same_hash": hash(first) == hash(third),
        "receive_error": receive_error,
    }
)
