"""Pipes (manual: "pipe.read_stream", "pipe.write_stream", "pipe.pair").

Both ends are O_NONBLOCK and close-on-exec, and go through the proactor's
``read``/``write`` operations: io_uring reads and writes them asynchronously;
epoll tries read(2)/write(2) and waits for readiness on EAGAIN.

Kernel facts this module relies on (pipe(7)):

- read(2) returns 0 only once every write end is closed: the end of the
  stream, reported as EOFError.
- write(2) to a pipe whose read ends are all closed fails with EPIPE
  (BrokenPipeError) and raises SIGPIPE in the writing thread. CPython ignores
  SIGPIPE from start-up (it sets SIG_IGN before running any code), so the
  signal is discarded and the error is all the program sees, on both
  backends (io_uring performs the write in the submitting task or an io-wq
  worker of the same process: same disposition).
"""

from __future__ import annotations

import errno as _errno
import os
import stat
from typing import Any

from emilua import _io
from emilua.file_descriptor import file_descriptor

__all__ = ["pair", "read_stream", "write_stream"]


class _End(_io.IOObject):
    """What both ends share: construction from an fd, assign, release."""

    __slots__ = ()

    def __init__(self, fd: file_descriptor | None = None) -> None:
        super().__init__()
        if fd is not None:
            self.assign(fd)

    def assign(self, fd: file_descriptor) -> None:
        """Take ownership of an open pipe end (manual: "assign").

        *fd* is consumed: it is closed when this object closes. The open file
        description is switched to O_NONBLOCK (a flag every holder of it
        shares). Raises OSError(EALREADY) if this object is open.
        """
        if not isinstance(fd, file_descriptor):
            raise TypeError("assign() needs a file_descriptor")
        if self.is_open:
            raise OSError(_errno.EALREADY, "already open")
        raw = fd._take()
        try:
            # Boost.Asio accepts any descriptor here; regular files cannot be
            # waited for on epoll (EPERM), so only pollable kinds are taken.
            mode = os.fstat(raw).st_mode
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISBLK(mode):
                raise OSError(_errno.EINVAL, "not a pipe, FIFO, socket or character device")
            _io.set_nonblocking_cloexec(raw)
        except BaseException:
            os.close(raw)
            raise
        self._adopt_fd(raw)


class read_stream(_End):
    """The read end of a pipe (manual: "pipe.read_stream").

    ``read_stream()`` makes a closed object; ``read_stream(fd)`` takes
    ownership of a file_descriptor. ``close()`` and ``cancel()`` make a
    parked ``read_some`` raise OSError(ECANCELED), the manual's "operation
    aborted".
    """

    __slots__ = ()

    def read_some(self, buffer: Any) -> int:
        """Read at least one byte into *buffer*; return the count. Interruption point.

        Raises EOFError once every write end is closed and the pipe is empty.
        An empty buffer returns 0 at once.
        """
        h = self._h
        if h is None or h.closed:
            raise _io._ebadf()
        if len(buffer) == 0:
            return 0
        n: int = self._p.read(h, buffer, -1)  # type: ignore[union-attr]
        if n == 0:
            raise EOFError("end of stream")
        return n


class write_stream(_End):
    """The write end of a pipe (manual: "pipe.write_stream").

    ``write_stream()`` makes a closed object; ``write_stream(fd)`` takes
    ownership of a file_descriptor.
    """

    __slots__ = ()

    def write_some(self, buffer: Any) -> int:
        """Write some of *buffer*; return the count written. Interruption point.

        A ``str`` is written UTF-8 encoded. Raises BrokenPipeError (EPIPE) when
        no read end is open; SIGPIPE is ignored (see the module docstring).
        """
        if isinstance(buffer, str):
            buffer = buffer.encode()
        h = self._h
        if h is None or h.closed:
            raise _io._ebadf()
        if len(buffer) == 0:
            return 0
        return self._p.write(h, buffer, -1)  # type: ignore[union-attr]


def pair() -> tuple[read_stream, write_stream]:
    """Create a pipe; return its (read end, write end) (manual: "pipe.pair")."""
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    rs = read_stream()
    ws = write_stream()
    try:
        rs._adopt_fd(r)
    except BaseException:
        os.close(r)
        os.close(w)
        raise
    try:
        ws._adopt_fd(w)
    except BaseException:
        os.close(w)
        rs.close()
        raise
    return rs, ws
