"""Composed stream operations and the scanner (manual: "stream.write_all",
"stream.write_at_least", "stream.read_all", "stream.read_at_least",
"stream.scanner").

A stream is any object with ``read_some(buffer)`` and/or ``write_some(buffer)``.
No implicit buffering: each composed operation is zero or more ``*_some``
calls, and the caller must not start other reads (or writes) on the same
stream until it returns (manual, "Working with streams").

Buffers: a ``byte_span`` is passed on as ``byte_span`` slices (shared
memory), so a stream written in Python receives the manual's type. Where the
manual takes a string, a ``str`` is encoded to UTF-8 into a new byte_span;
other bytes-like objects (``bytes``, ``bytearray``, ``memoryview``) are passed
on as memoryview slices, without a copy.
"""

from __future__ import annotations

import errno as _errno
import re
from collections.abc import Callable
from typing import Any

from emilua.byte_span import byte_span

__all__ = ["read_all", "read_at_least", "scanner", "write_all", "write_at_least"]


def _wbuf(buffer: Any) -> Any:
    if isinstance(buffer, byte_span):
        return buffer
    if isinstance(buffer, str):
        data = buffer.encode()
        span = byte_span(len(data))
        span.copy(data)
        return span
    return memoryview(buffer).cast("B")


def _rbuf(buffer: Any) -> Any:
    if isinstance(buffer, byte_span):
        return buffer
    if isinstance(buffer, (str, bytes)):
        raise TypeError("a read needs a writable buffer (byte_span, bytearray, memoryview)")
    view = memoryview(buffer)
    if view.readonly:
        raise TypeError("a read needs a writable buffer (byte_span, bytearray, memoryview)")
    return view.cast("B")


def _check_minimum(minimum: int, size: int) -> None:
    if isinstance(minimum, bool) or not isinstance(minimum, int):
        raise TypeError("minimum must be an int")
    if minimum < 0 or minimum > size:
        raise ValueError(f"minimum must be between 0 and the buffer's length ({size})")


def _write(io_object: Any, buf: Any, minimum: int) -> int:
    # The first call takes the buffer itself: a slice from 0 would be an
    # allocation per call for the common case of one write_some() doing it all.
    if minimum <= 0:
        return 0
    done: int = io_object.write_some(buf)
    while done < minimum:
        done += io_object.write_some(buf[done:])
    return done


def _read(io_object: Any, buf: Any, minimum: int) -> int:
    done = 0
    while done < minimum:
        n = io_object.read_some(buf[done:] if done else buf)
        if n == 0:
            # A stream that reports the end by returning 0 instead of raising.
            raise EOFError("end of stream")
        done += n
    return done


def write_all(io_object: Any, buffer: Any) -> int:
    """Write the whole buffer; return its size. Interruption point.

    Errors of ``write_some`` propagate; how much was written before is lost,
    as with Boost.Asio's composed operations.
    """
    buf = _wbuf(buffer)
    return _write(io_object, buf, len(buf))


def write_at_least(io_object: Any, buffer: Any, minimum: int) -> int:
    """Write until at least *minimum* bytes went out; return the count written.

    Interruption point. ValueError if *minimum* exceeds the buffer's length.
    """
    buf = _wbuf(buffer)
    _check_minimum(minimum, len(buf))
    return _write(io_object, buf, minimum)


def read_all(io_object: Any, buffer: Any) -> int:
    """Read until *buffer* is full; return its size. Interruption point.

    Raises EOFError if the stream ends first.
    """
    buf = _rbuf(buffer)
    return _read(io_object, buf, len(buf))


def read_at_least(io_object: Any, buffer: Any, minimum: int) -> int:
    """Read until at least *minimum* bytes arrived; return the count read.

    Interruption point. Raises EOFError if the stream ends first, ValueError
    if *minimum* exceeds the buffer's length.
    """
    buf = _rbuf(buffer)
    _check_minimum(minimum, len(buf))
    return _read(io_object, buf, minimum)


# ---------------------------------------------------------------- scanner

_DEFAULT_BUFFER_SIZE = 4096
_DEFAULT_MAX_RECORD_SIZE = 1024 * 1024
_LINEAR_WHITESPACE = b" \t"
_AWK_FIELD_SEPARATOR = re.compile(rb"[ \t]+")

Separator = str | bytes | re.Pattern[bytes]


class scanner:
    """AWK-inspired buffered reader of records and fields (manual: "stream.scanner").

    ``scanner(stream, record_separator="\\r\\n", ...)`` is the manual's
    ``scanner.new{...}``: every option is an attribute that may be changed
    between ``get_line()`` calls. Records and fields are byte_span slices of
    the scanner's buffer; memory once handed out is never overwritten (a full
    buffer is replaced, not compacted in place), so earlier records stay valid.

    A regex is a compiled ``re.Pattern`` over bytes. A separator given as
    ``str`` is matched as its UTF-8 encoding.
    """

    def __init__(
        self,
        stream: Any = None,
        *,
        record_separator: Separator = "\r\n",
        field_separator: Separator | Callable[[byte_span], Any] | None = None,
        field_pattern: re.Pattern[bytes] | None = None,
        trim_record: bool | str | bytes = False,
        buffer_size_hint: int | None = None,
        max_record_size: int | None = None,
    ) -> None:
        self.stream = stream
        self.record_separator = record_separator
        self.field_separator = field_separator
        self.field_pattern = field_pattern
        self.trim_record = trim_record
        self.max_record_size = (
            _DEFAULT_MAX_RECORD_SIZE if max_record_size is None else max_record_size
        )
        size = _DEFAULT_BUFFER_SIZE if buffer_size_hint is None else buffer_size_hint
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError("buffer_size_hint must be a positive int")
        self.record_terminator: Any = None
        self.record_number = 0
        self._buf = byte_span(0, min(size, self.max_record_size))
        self._pos = 0  # start of the data not yet consumed
        self._record: tuple[int, int] | None = None  # current record: (start, end)
        self._consumed = 0  # bytes of record + terminator that remove_line() drops
        self._scanned = 0  # a literal separator does not start before this offset

    @classmethod
    def with_awk_defaults(cls, read_stream: Any) -> scanner:
        """A scanner with AWK's defaults: records end at ``"\\n"``, are trimmed,
        and split into fields at runs of spaces and tabs."""
        return cls(
            read_stream,
            record_separator="\n",
            trim_record=True,
            field_separator=_AWK_FIELD_SEPARATOR,
        )

    # -- reading ---------------------------------------------------------

    def get_line(self) -> Any:
        """Read the next record, buffering as needed; return it, or its fields
        when a field separator or pattern is set. Interruption point.

        Sets ``record_terminator`` to the separator just read (``""``, ``b""``
        or an empty byte_span when the stream ended without one) and adds one
        to ``record_number``. Raises EOFError when the stream ended and
        nothing is buffered, and OSError(EMSGSIZE) when ``max_record_size``
        bytes are buffered without a separator.
        """
        if self.stream is None:
            raise TypeError("the scanner has no stream (set scanner.stream)")
        if self._record is not None:
            self.remove_line()
        sep = self.record_separator
        literal = self._literal(sep)
        while True:
            found = self._find(sep, literal)
            if found is not None:
                start, end = found
                if isinstance(sep, re.Pattern):
                    terminator: Any = self._buf[start:end]
                else:
                    terminator = sep
                return self._take(start, end, terminator)
            try:
                self._fill()
            except EOFError:
                if len(self._buf) == self._pos:
                    raise
                end = len(self._buf)
                if isinstance(sep, str):
                    terminator = ""
                elif isinstance(sep, bytes):
                    terminator = b""
                else:
                    terminator = byte_span(0)
                return self._take(end, end, terminator)

    def buffered_line(self) -> byte_span:
        """The current record, without field splitting (AWK's ``$0``).

        Precondition: a record from ``get_line()`` (RuntimeError otherwise).
        """
        start, end = self._current()
        return self._trim(self._buf[start:end])

    def remove_line(self) -> None:
        """Drop the current record (and its separator) from the buffer; set
        ``record_terminator`` to None. Precondition: a record from ``get_line()``.
        """
        self._current()
        self._pos += self._consumed
        self._scanned = self._pos
        self._record = None
        self._consumed = 0
        self.record_terminator = None

    def buffer(self) -> tuple[byte_span, int]:
        """The buffer and the offset where its unconsumed data begins.

        The buffer's capacity may exceed its length; data past the offset
        includes the current record unless ``remove_line()`` was called.
        """
        return self._buf, self._pos

    def set_buffer(self, buf: byte_span, offset: int = 0) -> None:
        """Use *buf* as the buffer: ``buf[offset:]`` is the buffered data and
        the capacity past ``len(buf)`` is free for reads. The current record
        and ``record_terminator`` are discarded.
        """
        if not isinstance(buf, byte_span):
            raise TypeError("set_buffer() needs a byte_span")
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise TypeError("offset must be an int")
        if not 0 <= offset <= len(buf):
            raise ValueError(f"offset must be between 0 and len(buf) ({len(buf)})")
        self._buf = buf
        self._pos = offset
        self._scanned = offset
        self._record = None
        self._consumed = 0
        self.record_terminator = None

    # -- internals -------------------------------------------------------

    def _current(self) -> tuple[int, int]:
        if self._record is None:
            raise RuntimeError("no current record (call get_line() first)")
        return self._record

    @staticmethod
    def _literal(sep: Any) -> bytes | None:
        if isinstance(sep, re.Pattern):
            if not isinstance(sep.pattern, bytes):
                raise TypeError("a record_separator regex must be compiled from bytes")
            return None
        if isinstance(sep, str):
            sep = sep.encode()
        if not isinstance(sep, bytes):
            raise TypeError("record_separator must be a str, bytes or a bytes re.Pattern")
        if not sep:
            raise ValueError("record_separator must not be empty")
        return sep

    def _find(self, sep: Any, literal: bytes | None) -> tuple[int, int] | None:
        """(start, end) of the first separator in the unconsumed data."""
        end = len(self._buf)
        if literal is not None:
            at = self._buf.find(literal, self._scanned)
            if at is None:
                # A separator may straddle the data read next.
                self._scanned = max(self._pos, end - len(literal) + 1)
                return None
            return at, at + len(literal)
        view = memoryview(self._buf)
        pos = self._pos
        while True:
            m = sep.search(view, pos, end)
            if m is None:
                return None
            if m.end() > m.start():
                return m.start(), m.end()
            pos = m.start() + 1  # an empty match separates nothing
            if pos > end:
                return None

    def _fill(self) -> None:
        """Read more data into the buffer's spare capacity (Interruption point)."""
        buf = self._buf
        if len(buf) == buf.capacity:
            pending = len(buf) - self._pos
            limit = self.max_record_size
            if pending >= limit:
                raise OSError(
                    _errno.EMSGSIZE,
                    f"no record separator in {pending} bytes (max_record_size={limit})",
                )
            capacity = buf.capacity if pending * 2 <= buf.capacity else buf.capacity * 2
            capacity = max(1, min(capacity, limit))
            fresh = byte_span(pending, capacity)
            fresh.copy(buf[self._pos :])
            self._scanned -= self._pos
            self._pos = 0
            self._buf = buf = fresh
        n = self.stream.read_some(buf.slice(len(buf), buf.capacity))
        if n == 0:
            raise EOFError("end of stream")
        self._buf = buf.slice(0, len(buf) + n)

    def _take(self, start: int, end: int, terminator: Any) -> Any:
        self._record = (self._pos, start)
        self._consumed = end - self._pos
        self.record_terminator = terminator
        self.record_number += 1
        record = self._trim(self._buf[self._pos : start])
        return self._fields(record)

    def _trim(self, record: byte_span) -> byte_span:
        trim = self.trim_record
        if trim is False or trim is None:
            return record
        if trim is True:
            return record.trimmed(_LINEAR_WHITESPACE)
        if isinstance(trim, (str, bytes)):
            return record.trimmed(trim)
        raise TypeError("trim_record must be a bool or a string of whitespace characters")

    def _fields(self, record: byte_span) -> Any:
        fs = self.field_separator
        fp = self.field_pattern
        if fs is None and fp is None:
            return record
        if fs is not None and fp is not None:
            raise ValueError("set field_separator or field_pattern, not both")
        if callable(fs) and not isinstance(fs, re.Pattern):
            return fs(record)
        if len(record) == 0:
            return []  # AWK: an empty record has no fields
        if fp is not None:
            if not isinstance(fp, re.Pattern) or not isinstance(fp.pattern, bytes):
                raise TypeError("field_pattern must be a bytes re.Pattern")
            return [record[m.start() : m.end()] for m in fp.finditer(memoryview(record))]
        if isinstance(fs, re.Pattern):
            if not isinstance(fs.pattern, bytes):
                raise TypeError("a field_separator regex must be compiled from bytes")
            fields = []
            begin = 0
            for m in fs.finditer(memoryview(record)):
                if m.end() == m.start():
                    continue
                fields.append(record[begin : m.start()])
                begin = m.end()
            fields.append(record[begin:])
            return fields
        if isinstance(fs, str):
            fs = fs.encode()
        if not isinstance(fs, bytes) or not fs:
            raise TypeError("field_separator must be a non-empty str/bytes, a regex or a callable")
        fields = []
        begin = 0
        while True:
            at = record.find(fs, begin)
            if at is None:
                fields.append(record[begin:])
                return fields
            fields.append(record[begin:at])
            begin = at + len(fs)
