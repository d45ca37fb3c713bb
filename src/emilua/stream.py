"""Composed stream operations (manual: "stream.write_all", "stream.write_at_least",
"stream.read_all", "stream.read_at_least").

A stream is any object with ``read_some(buffer)`` and/or ``write_some(buffer)``.
Where the manual accepts a string, ``str`` (UTF-8 encoded) and ``bytes`` work.
No implicit buffering: each call is zero or more ``*_some`` calls.
"""

from __future__ import annotations

from typing import Any

__all__ = ["read_all", "read_at_least", "write_all", "write_at_least"]


def _wbuf(buffer: Any) -> memoryview:
    if isinstance(buffer, str):
        buffer = buffer.encode()
    return memoryview(buffer).cast("B")


def _rbuf(buffer: Any) -> memoryview:
    if isinstance(buffer, (str, bytes)):
        raise TypeError("a read needs a writable buffer (byte_span, bytearray, memoryview)")
    return memoryview(buffer).cast("B")


def write_all(io_object: Any, buffer: Any) -> int:
    """Write the whole buffer; return its size. Interruption point."""
    view = _wbuf(buffer)
    total = len(view)
    done = 0
    while done < total:
        done += io_object.write_some(view[done:])
    return total


def write_at_least(io_object: Any, buffer: Any, minimum: int) -> int:
    """Write until at least *minimum* bytes went out; return the count written."""
    view = _wbuf(buffer)
    if minimum < 0 or minimum > len(view):
        raise ValueError("minimum must be between 0 and the buffer's length")
    done = 0
    while done < minimum:
        done += io_object.write_some(view[done:])
    return done


def read_all(io_object: Any, buffer: Any) -> int:
    """Read until *buffer* is full; return its size. Interruption point.

    Raises EOFError if the stream ends first.
    """
    view = _rbuf(buffer)
    total = len(view)
    done = 0
    while done < total:
        done += io_object.read_some(view[done:])
    return total


def read_at_least(io_object: Any, buffer: Any, minimum: int) -> int:
    """Read until at least *minimum* bytes arrived; return the count read."""
    view = _rbuf(buffer)
    if minimum < 0 or minimum > len(view):
        raise ValueError("minimum must be between 0 and the buffer's length")
    done = 0
    while done < minimum:
        done += io_object.read_some(view[done:])
    return done
