"""Byte spans, the buffers of every IO operation.

Manual: "byte_span". ``byte_span(length, capacity=None)`` is the manual's
``byte_span.new``; ``append`` is its free-function overload (always a new span).
See docs/byte_span.md for the Python conventions (0-based, half-open ranges).
"""

from emilua._core.byte_span import append, byte_span

__all__ = ["append", "byte_span"]
