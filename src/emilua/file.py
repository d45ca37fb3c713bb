"""Files (manual: "file.open_flag", "file.random_access", "file.stream",
"file.read_all_at", "file.read_at_least_at", "file.write_all_at",
"file.write_at_least_at").

Kernel behaviour this module relies on:

- io_uring: IORING_OP_READ/WRITE take an offset; -1 means "the file position",
  which the kernel then advances (IORING_FEAT_RW_CUR_POS, Linux 5.6). Regular
  files are read and written asynchronously by the ring itself (inline when the
  page cache serves the request, on the kernel's io-wq workers otherwise).
- epoll: regular files, block devices and directories cannot be registered
  (epoll_ctl(2) fails with EPERM: they are always "ready", yet a read may wait
  for the disk). An operation on such a file is first tried with
  preadv2/pwritev2(RWF_NOWAIT), which fails with EAGAIN instead of waiting for
  the disk (and EOPNOTSUPP where the filesystem cannot tell, as ext4 and tmpfs
  do for buffered writes). Only then is the call handed to a worker thread
  (``emilua._offload``), the way io_uring punts to io-wq.
- Both are behind ``Proactor.read_file``/``write_file``, which answer None
  when the call must go to a worker; this module never asks which backend runs. The worker works on
  a duplicate of the fd, so close() or release() on the engine thread never
  leaves it with a number that a new file may already have been given.
- Pipes, FIFOs, sockets and character devices are set O_NONBLOCK and go
  through the proactor like sockets: on epoll they wait for readiness.

An operation on a regular file cannot be cancelled once the disk is involved:
close(), cancel() and interruption let it finish, and its result is returned
(an interruption is then raised at the next interruption point), as a
completed io_uring operation's is.
"""

from __future__ import annotations

import enum
import errno as _errno
import os
import stat
import threading
from typing import Any

from emilua import _io, _offload
from emilua.file_descriptor import file_descriptor

__all__ = [
    "open_flag",
    "random_access",
    "read_all_at",
    "read_at_least_at",
    "stream",
    "write_all_at",
    "write_at_least_at",
]


class open_flag(enum.IntFlag):
    """Flags for ``open()`` (manual: "file.open_flag"): the open(2) flags that
    Boost.Asio's file_base::flags stand for on POSIX, so they combine with ``|``.
    """

    read_only = os.O_RDONLY
    write_only = os.O_WRONLY
    read_write = os.O_RDWR
    append = os.O_APPEND
    create = os.O_CREAT
    exclusive = os.O_EXCL
    truncate = os.O_TRUNC
    sync_all_on_write = os.O_SYNC


_ALL_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_TRUNC | os.O_SYNC

# The manual leaves the mode of created files unspecified; Boost.Asio passes
# 0777. 0666 (minus the umask) is what open() and the shell give data files.
_CREATE_MODE = 0o666

_WHENCE = {"set": os.SEEK_SET, "cur": os.SEEK_CUR, "end": os.SEEK_END}


class _InvalidArgument(OSError, ValueError):
    """EINVAL for a well-typed argument with an unusable value."""

    def __init__(self, detail: str) -> None:
        super().__init__(_errno.EINVAL, f"{os.strerror(_errno.EINVAL)}: {detail}")


def _check_offset(offset: Any) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an int, not {type(offset).__name__}")
    if offset < 0:
        # -1 would mean "the file position" to io_uring and preadv2(2).
        raise _InvalidArgument("a file offset cannot be negative")
    return offset


def _flags(flags: Any) -> int:
    if isinstance(flags, bool) or not isinstance(flags, int):
        raise TypeError(f"flags must be file.open_flag values, not {type(flags).__name__}")
    value = int(flags)
    if value & ~_ALL_FLAGS:
        raise _InvalidArgument(f"unknown open flags {value & ~_ALL_FLAGS:#o}")
    if value & os.O_WRONLY and value & os.O_RDWR:
        raise _InvalidArgument("write_only and read_write exclude each other")
    return value


def _wbuf(buffer: Any) -> Any:
    return buffer.encode() if isinstance(buffer, str) else buffer


# ------------------------------------------------------- epoll, regular files


class _FileOp:
    """What a fiber parks on (``Proactor.suspend``) while a worker thread reads
    or writes a file for it.

    Interruption does not withdraw it: the worker may already be in the
    kernel, so the fiber waits for the result and keeps its interruption
    request for the next interruption point, as with a completed io_uring
    operation. While it is pending the engine holds a keepalive (it must wait
    for the worker) and counts it in ``offloaded`` (so it does not treat the
    wait as idleness).
    """

    __slots__ = ("_p", "_fiber", "_lock", "_pending", "result", "error")

    def __init__(self, p: Any, fiber: Any) -> None:
        self._p = p
        self._fiber = fiber
        self._lock = threading.Lock()
        self._pending = True
        self.result = 0
        self.error: BaseException | None = None
        p.keepalive += 1
        p.offloaded += 1

    # Worker thread.
    def run(self, fn: Any, fd: int, buf: Any, offset: int) -> None:
        result = 0
        error: BaseException | None = None
        try:
            result = fn(fd, buf, offset)
        except BaseException as e:  # handed to the waiting fiber as is
            error = e
        # Posting under the lock orders it before abandon(): an engine that
        # gave up on the operation may end and close its wake-up fd.
        with self._lock:
            if self._pending:
                self._p.post(lambda: self._deliver(result, error))

    # Engine thread.
    def _deliver(self, result: int, error: BaseException | None) -> None:
        if self._finish():
            self.result = result
            self.error = error
            self._p.wake(self._fiber)

    def abandon(self) -> None:
        self._finish()

    def _finish(self) -> bool:
        with self._lock:
            if not self._pending:
                return False
            self._pending = False
        self._p.keepalive -= 1
        self._p.offloaded -= 1
        return True

    def cancel(self, fiber: Any) -> bool:
        return False

    def __repr__(self) -> str:
        return "a file operation on a worker thread"


def _pread_closing(fd: int, buf: Any, offset: int) -> int:
    try:
        if offset < 0:
            return os.readv(fd, [buf])
        return os.preadv(fd, [buf], offset)
    finally:
        os.close(fd)


def _pwrite_closing(fd: int, buf: Any, offset: int) -> int:
    try:
        if offset < 0:
            return os.writev(fd, [buf])
        return os.pwritev(fd, [buf], offset)
    finally:
        os.close(fd)


def _offload_io(p: Any, fn: Any, fd: int, buf: Any, offset: int) -> int:
    """Run fn(dup(fd), buf, offset) on a worker; park until it returns."""
    worker_fd = os.dup(fd)  # fn closes it, before the result is posted back
    op = _FileOp(p, p.current_fiber)
    try:
        _offload._get_pool().submit(lambda: op.run(fn, worker_fd, buf, offset))
    except BaseException:
        op.abandon()
        os.close(worker_fd)
        raise
    try:
        p.suspend(op)
    except BaseException:
        # Only an exception thrown into the fiber (engine shutdown) gets here.
        op.abandon()
        raise
    if op.error is not None:
        err, op.error = op.error, None
        raise err
    return op.result


# ---------------------------------------------------------------- the types


class _File(_io.IOObject):
    """What file.random_access and file.stream share."""

    __slots__ = ("_disk", "_seekable")

    _advice = os.POSIX_FADV_NORMAL

    def __init__(self, fd: file_descriptor | None = None) -> None:
        super().__init__()
        self._disk = False
        self._seekable = True
        if fd is not None:
            self.assign(fd)

    def _adopt_file(self, fd: int, advise: bool = False) -> None:
        try:
            mode = os.fstat(fd).st_mode
            disk = stat.S_ISREG(mode) or stat.S_ISBLK(mode) or stat.S_ISDIR(mode)
            if not disk:
                os.set_blocking(fd, False)
            os.set_inheritable(fd, False)
            if advise and stat.S_ISREG(mode):
                # As Boost.Asio does: read-ahead for streams, none for random
                # access. Advice only: a refusal changes nothing.
                try:
                    os.posix_fadvise(fd, 0, 0, self._advice)
                except OSError:
                    pass
        except BaseException:
            os.close(fd)
            raise
        self._disk = disk
        self._seekable = not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode))
        self._adopt_fd(fd)

    def open(self, path: Any, flags: Any) -> None:
        """Open the file at *path* (str, bytes or path-like).

        *flags* is an or-combination of file.open_flag values. Raises
        OSError(EALREADY) if this object is open, and the OSError of open(2)
        (FileNotFoundError, FileExistsError for ``create | exclusive`` on an
        existing file, PermissionError...).
        """
        oflags = _flags(flags)
        path = os.fspath(path)
        if self.is_open:
            raise OSError(_errno.EALREADY, "already open")
        self._adopt_file(os.open(path, oflags | os.O_CLOEXEC, _CREATE_MODE), advise=True)

    def assign(self, fd: file_descriptor) -> None:
        """Take ownership of an open file (manual: "assign").

        *fd* is consumed: it is closed when this object closes. A pipe, FIFO,
        socket or character device is switched to O_NONBLOCK (a flag of the
        open file description, shared with every holder of it). Raises
        OSError(EALREADY) if this object is open.
        """
        if not isinstance(fd, file_descriptor):
            raise TypeError("assign() needs a file_descriptor")
        if self.is_open:
            raise OSError(_errno.EALREADY, "already open")
        self._adopt_file(fd._take())

    @property
    def size(self) -> int:
        """The size of the file in bytes (fstat(2))."""
        return os.fstat(self.fileno()).st_size

    def resize(self, n: int) -> None:
        """Truncate or extend (with zeroes) the file to *n* bytes (ftruncate(2))."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"size must be an int, not {type(n).__name__}")
        os.ftruncate(self.fileno(), n)

    def _read(self, buffer: Any, offset: int) -> int:
        h = self._handle()
        p = self._p
        assert p is not None
        if self._disk:
            # None: the backend cannot read this without waiting for the disk.
            n = p.read_file(h, buffer, offset)
            if n is None:
                n = _offload_io(p, _pread_closing, h.fd, buffer, offset)
        else:
            n = p.read(h, buffer, offset)
        if n == 0 and len(buffer) > 0:
            raise EOFError("end of file")
        return n

    def _write(self, buffer: Any, offset: int) -> int:
        h = self._handle()
        p = self._p
        assert p is not None
        if self._disk:
            n = p.write_file(h, buffer, offset)
            if n is None:
                n = _offload_io(p, _pwrite_closing, h.fd, buffer, offset)
            return n
        return p.write(h, buffer, offset)


class random_access(_File):
    """A file read and written at explicit offsets (manual: "file.random_access").

    ``random_access()`` makes a closed object; ``random_access(fd)`` takes
    ownership of a file_descriptor.
    """

    __slots__ = ()

    _advice = os.POSIX_FADV_RANDOM

    def read_some_at(self, offset: int, buffer: Any) -> int:
        """Read into *buffer* from byte *offset* (0-based); return the count.

        Fewer bytes than asked are returned at the end of the file. Interruption
        point. Raises EOFError if *offset* is at or past the end of the file,
        ESPIPE on a pipe or socket.
        """
        offset = _check_offset(offset)
        if not self._seekable:
            self._handle()
            raise OSError(_errno.ESPIPE, os.strerror(_errno.ESPIPE))
        if len(buffer) == 0:
            self._handle()
            return 0
        return self._read(buffer, offset)

    def write_some_at(self, offset: int, buffer: Any) -> int:
        """Write some of *buffer* at byte *offset*; return the count written.

        A ``str`` is written UTF-8 encoded. On a file opened with ``append``
        Linux appends whatever the offset (pwrite(2), BUGS). Interruption point.
        """
        offset = _check_offset(offset)
        buffer = _wbuf(buffer)
        if not self._seekable:
            self._handle()
            raise OSError(_errno.ESPIPE, os.strerror(_errno.ESPIPE))
        if len(buffer) == 0:
            self._handle()
            return 0
        return self._write(buffer, offset)


class stream(_File):
    """A file read and written at its file position (manual: "file.stream").

    ``stream()`` makes a closed object; ``stream(fd)`` takes ownership of a
    file_descriptor, which may also be a pipe or a FIFO.
    """

    __slots__ = ()

    _advice = os.POSIX_FADV_SEQUENTIAL

    def seek(self, offset: int, whence: str) -> int:
        """Move the file position to *offset* from "set" (the start), "cur" (the
        current position) or "end"; return the new position from the start.

        Raises OSError(ESPIPE) on a pipe or socket, EINVAL if the position
        would be negative.
        """
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise TypeError(f"offset must be an int, not {type(offset).__name__}")
        try:
            how = _WHENCE[whence]
        except (KeyError, TypeError):
            raise _InvalidArgument(
                f"whence must be 'set', 'cur' or 'end', not {whence!r}"
            ) from None
        return os.lseek(self.fileno(), offset, how)

    def read_some(self, buffer: Any) -> int:
        """Read into *buffer* from the file position; return the count.

        Interruption point. Raises EOFError at the end of the file (or of the
        pipe); an empty buffer returns 0.
        """
        if len(buffer) == 0:
            self._handle()
            return 0
        return self._read(buffer, -1)

    def write_some(self, buffer: Any) -> int:
        """Write some of *buffer* at the file position (at the end with
        ``append``); return the count written. Interruption point.
        """
        buffer = _wbuf(buffer)
        if len(buffer) == 0:
            self._handle()
            return 0
        return self._write(buffer, -1)


# ------------------------------------------------------ composed operations


def _rview(buffer: Any) -> memoryview:
    if isinstance(buffer, (str, bytes)):
        raise TypeError("a read needs a writable buffer (byte_span, bytearray, memoryview)")
    return memoryview(buffer).cast("B")


def _wview(buffer: Any) -> memoryview:
    return memoryview(_wbuf(buffer)).cast("B")


def _check_minimum(minimum: Any, length: int) -> int:
    if isinstance(minimum, bool) or not isinstance(minimum, int):
        raise TypeError(f"minimum must be an int, not {type(minimum).__name__}")
    if minimum < 0 or minimum > length:
        raise ValueError("minimum must be between 0 and the buffer's length")
    return minimum


def read_all_at(io_object: Any, offset: int, buffer: Any) -> int:
    """Fill *buffer* from byte *offset* on; return its length.

    Zero or more ``io_object.read_some_at`` calls (manual: "file.read_all_at").
    Interruption point. Raises EOFError if the file ends first.
    """
    offset = _check_offset(offset)
    view = _rview(buffer)
    total = len(view)
    done = 0
    while done < total:
        done += io_object.read_some_at(offset + done, view[done:])
    return total


def read_at_least_at(io_object: Any, offset: int, buffer: Any, minimum: int) -> int:
    """Read from byte *offset* on until at least *minimum* bytes arrived; return
    the count read (at most the buffer's length).

    Zero or more ``io_object.read_some_at`` calls (manual:
    "file.read_at_least_at"). Interruption point. Raises EOFError if the file
    ends first.
    """
    offset = _check_offset(offset)
    view = _rview(buffer)
    minimum = _check_minimum(minimum, len(view))
    done = 0
    while done < minimum:
        done += io_object.read_some_at(offset + done, view[done:])
    return done


def write_all_at(io_object: Any, offset: int, buffer: Any) -> int:
    """Write all of *buffer* (a ``str`` UTF-8 encoded) from byte *offset* on;
    return its length.

    Zero or more ``io_object.write_some_at`` calls (manual:
    "file.write_all_at"). Interruption point.
    """
    offset = _check_offset(offset)
    view = _wview(buffer)
    total = len(view)
    done = 0
    while done < total:
        done += io_object.write_some_at(offset + done, view[done:])
    return total


def write_at_least_at(io_object: Any, offset: int, buffer: Any, minimum: int) -> int:
    """Write from byte *offset* on until at least *minimum* bytes went out;
    return the count written.

    Zero or more ``io_object.write_some_at`` calls (manual:
    "file.write_at_least_at"). Interruption point.
    """
    offset = _check_offset(offset)
    view = _wview(buffer)
    minimum = _check_minimum(minimum, len(view))
    done = 0
    while done < minimum:
        done += io_object.write_some_at(offset + done, view[done:])
    return done
