"""UNIX domain sockets (manual: "unix.datagram_socket", "unix.message_flag",
"unix.stream_acceptor", "unix.stream_socket", "unix.seqpacket_acceptor",
"unix.seqpacket_socket").

Paths are ``str``, ``bytes`` or ``os.PathLike`` (encoded with
``os.fsencode``). A path whose first character is NUL names a socket in Linux's
abstract namespace (unix(7)): no file is created and the name is free again
once the socket bound to it is closed. Paths the engine returns are ``str`` (abstract
names keep their leading ``"\\0"``), or ``None`` for an unnamed socket.

Kernel facts this module relies on (unix(7), socket(7), net/unix/af_unix.c):

- SCM_RIGHTS fds are installed in the receiving process by recvmsg(2) itself.
  MSG_CMSG_CLOEXEC marks them close-on-exec atomically; fds that do not fit in
  the ancillary buffer are dropped by the kernel and MSG_CTRUNC is set.
- A stream socket never delivers a 0-byte read except at the end of the
  stream. A SOCK_SEQPACKET socket cannot tell a 0-byte message from the end
  of the connection; as the manual says ("A note on 0-sized packets"), a
  0-byte read is reported as the end (EOFError). A SOCK_DGRAM socket has no
  end: a 0-byte datagram is a 0-byte datagram.
- Closing a stream or seqpacket socket that still has unread data makes the
  peer's next read fail with ECONNRESET; writing to a closed peer fails with
  EPIPE (sends carry MSG_NOSIGNAL, so there is no SIGPIPE).

Datagram sends (``send``, ``send_to`` and their ``*_with_fds`` forms) and the
receives that return the sender's path try the syscall with MSG_DONTWAIT and
park on readiness (``Proactor.poll``) only when it would block. Those receives
need the sender's address, which the proactor's operations do not return. The
sends keep away from io_uring's send operations: when the peer of a connected
datagram socket had a full queue, the ring's retry after EAGAIN delivered a
0-byte datagram instead of the payload (seen on Linux 6.18; stream and
seqpacket connections are not affected, their peers are always connected back).
Every other operation is one proactor operation.
"""

from __future__ import annotations

import enum
import errno as _errno
import os
import socket as _socket
import struct
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from emilua import _io, _scm
from emilua import _socket as _sock
from emilua._core.proactor import monotonic_time, raw_connect
from emilua._fiber import _proactor
from emilua.file_descriptor import file_descriptor

__all__ = [
    "datagram_socket",
    "message_flag",
    "seqpacket_acceptor",
    "seqpacket_socket",
    "stream_acceptor",
    "stream_socket",
]

_T = TypeVar("_T")

# sizeof(sockaddr_un.sun_path) on Linux. A pathname needs room for its NUL
# (Boost.Asio refuses longer ones with ENAMETOOLONG); an abstract name does not.
_SUN_PATH = 108
_FAMILY = struct.pack("=H", _socket.AF_UNIX)
_UNSPEC = struct.pack("=H14x", _socket.AF_UNSPEC)
_NONBLOCK = _socket.MSG_DONTWAIT | _socket.MSG_NOSIGNAL
_BACKOFF_MIN = 0.001  # seconds
_BACKOFF_MAX = 0.016

# The timer each socket's back-off waits sleep on (see _Socket._nonblocking),
# kept outside the object: an IO object moved to another actor carries its
# slots, and a timer belongs to one proactor.
_backoff_timers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class message_flag(enum.IntFlag):
    """Flags for send and receive operations (manual: "unix.message_flag").

    The values are recv(2)'s ``MSG_*`` flags.
    """

    peek = _socket.MSG_PEEK
    """Peek at incoming data without removing it from the input queue."""


# ------------------------------------------------------------------ helpers


def _encode_path(path: Any) -> bytes:
    if isinstance(path, (str, bytes, os.PathLike)):
        raw = os.fsencode(path)
    else:
        raise TypeError(f"a path must be str, bytes or os.PathLike, not {type(path).__name__}")
    if raw[:1] == b"\0":
        limit = _SUN_PATH
    else:
        if b"\0" in raw:
            raise ValueError("embedded null byte in a pathname")
        limit = _SUN_PATH - 1
    if len(raw) > limit:
        raise OSError(_errno.ENAMETOOLONG, f"{os.strerror(_errno.ENAMETOOLONG)}: {path!r}")
    return raw


def _sockaddr(path: Any) -> bytes:
    """The kernel's sockaddr_un for *path*, at its exact length (for connect(2))."""
    raw = _encode_path(path)
    if raw and raw[:1] != b"\0":
        raw += b"\0"
    return _FAMILY + raw


def _decode_path(addr: Any) -> str | None:
    """A path from Python's AF_UNIX address form (str, or bytes when abstract)."""
    if addr is None or len(addr) == 0:
        return None
    if isinstance(addr, bytes):
        return os.fsdecode(addr)
    return str(addr)


def _write_buffer(buffer: Any) -> Any:
    return buffer.encode() if isinstance(buffer, str) else buffer


def _check_maxfds(maxfds: int) -> int:
    if isinstance(maxfds, bool) or not isinstance(maxfds, int):
        raise TypeError("maxfds must be an int")
    if maxfds < 1:
        raise ValueError("maxfds must be at least 1")
    # More could never arrive in one message.
    return min(maxfds, _scm.SCM_MAX_FD)


def _take_fds(fds: Iterable[file_descriptor]) -> list[tuple[file_descriptor, int]]:
    """Lend the raw fds of *fds* to an in-flight send (each distinct object once).

    While the send is in flight the objects read as closed, so no fiber can
    close one and have its number reused for an unrelated file before the
    kernel reads the SCM_RIGHTS block. ``_give_back`` restores them.
    """
    if isinstance(fds, file_descriptor) or isinstance(fds, (str, bytes)):
        raise TypeError("fds must be a list of file_descriptor")
    items = list(fds)
    for fd in items:
        if not isinstance(fd, file_descriptor):
            raise TypeError(f"fds must hold file_descriptor objects, not {type(fd).__name__}")
    taken: list[tuple[file_descriptor, int]] = []
    try:
        for fd in items:
            if any(fd is owner for owner, _ in taken):
                continue
            taken.append((fd, fd._take()))
    except BaseException:
        _give_back(taken)
        raise
    return taken


def _give_back(taken: list[tuple[file_descriptor, int]]) -> None:
    for owner, raw in taken:
        owner._fd = raw


def _received(fds: list[int], maxfds: int, msg_flags: int) -> list[file_descriptor]:
    """Own the fds a recvmsg(2) installed, or close them all.

    A message that carried more fds than *maxfds* (the kernel dropped the rest
    and set MSG_CTRUNC) yields none: a partial set cannot be matched to what
    the sender meant, and an fd that is neither returned nor closed leaks.
    """
    if msg_flags & _socket.MSG_CTRUNC or len(fds) > maxfds:
        _scm.close_fds(fds)
        return []
    return [file_descriptor._adopt(fd) for fd in fds]


def _set_blocking(fd: file_descriptor) -> file_descriptor:
    os.set_blocking(fd._fileno(), True)
    return fd


# -------------------------------------------------------------- the bases


class _Base(_sock.SocketBase):
    """What every UNIX socket and acceptor has: open, assign, bind, options."""

    __slots__ = ()
    _type = 0

    def __init__(self, fd: file_descriptor | None = None) -> None:
        """``cls()`` is closed; ``cls(fd)`` takes ownership of a native socket."""
        super().__init__()
        if fd is not None:
            self.assign(fd)

    def open(self) -> None:
        """Open a socket (non-blocking, close-on-exec). EALREADY if open."""
        if self.is_open:
            raise OSError(_errno.EALREADY, "already open")
        _proactor()
        s = _socket.socket(
            _socket.AF_UNIX, self._type | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC
        )
        self._adopt_fd(s.detach())

    def assign(self, fd: file_descriptor) -> None:
        """Take ownership of an existing native socket (manual: "assign").

        *fd* is consumed: it reads as closed afterwards and the socket closes
        with this object. Raises OSError(EALREADY) if this object is open.
        """
        if not isinstance(fd, file_descriptor):
            raise TypeError("assign() needs a file_descriptor")
        if self.is_open:
            raise OSError(_errno.EALREADY, "already open")
        _proactor()
        raw = fd._take()
        _io.set_nonblocking_cloexec(raw)
        self._adopt_fd(raw)

    def release(self) -> file_descriptor:
        """Give up the native socket and return it (manual: "release").

        Operations in flight finish with ECANCELED. The fd comes back in
        blocking mode, the state a program that did not create it expects (the
        manual hands a released seqpacket end to an init.script that calls
        ``C.read`` on it). ``assign()`` makes it non-blocking again.
        """
        return _set_blocking(super().release())

    def bind(self, pathname: Any) -> None:
        """Bind to a local path (manual: "bind"). An empty path autobinds to an
        unused abstract name (unix(7))."""
        addr = _encode_path(pathname)
        with self._borrowed() as s:
            s.bind(addr)

    @property
    def local_path(self) -> str | None:
        """The path this socket is bound to; None if it is unnamed."""
        return _decode_path(_io.sockname(self.fileno()))


class _Socket(_sock.Connected, _Base):
    """A UNIX socket that transfers data: connect, shutdown, fds."""

    # _cancels counts cancel()/close()/release() calls, so that a readiness
    # loop (_nonblocking) notices one that came while it was between waits.
    __slots__ = ("_cancels",)

    def __init__(self, fd: file_descriptor | None = None) -> None:
        self._cancels = 0
        super().__init__(fd)

    def _cancel_waits(self) -> None:
        self._cancels += 1
        timer = _backoff_timers.pop(self, None)
        if timer is not None:
            timer.cancel()

    def close(self) -> None:
        """Close the socket; operations in flight finish with ECANCELED."""
        super().close()
        self._cancel_waits()

    def cancel(self) -> None:
        """Cancel every operation in flight; they raise OSError(ECANCELED)."""
        super().cancel()
        self._cancel_waits()

    def release(self) -> file_descriptor:
        fd = super().release()
        self._cancel_waits()
        return fd

    release.__doc__ = _Base.release.__doc__

    @classmethod
    def pair(cls: type[_T]) -> tuple[_T, _T]:
        """Create a pair of connected sockets (manual: "pair"; socketpair(2))."""
        p = _proactor()
        a, b = _socket.socketpair(
            _socket.AF_UNIX,
            cls._type | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC,  # type: ignore[attr-defined]
        )
        first = cls()
        first._p = p  # type: ignore[attr-defined]
        first._adopt_fd(a.detach())  # type: ignore[attr-defined]
        second = cls()
        second._p = p  # type: ignore[attr-defined]
        second._adopt_fd(b.detach())  # type: ignore[attr-defined]
        return first, second

    def disconnect(self) -> None:
        """Dissolve the association: connect(2) with an AF_UNSPEC address.

        Datagram sockets only on Linux; stream and seqpacket sockets fail with
        the kernel's EINVAL.
        """
        raw_connect(self.fileno(), _UNSPEC)

    @property
    def remote_path(self) -> str | None:
        """The peer's path; None if the peer is unnamed (e.g. from pair())."""
        return _decode_path(_io.peername(self.fileno()))

    # The operations below are shared by the concrete classes, which expose
    # the ones the manual lists for them.

    def _recv(self, buffer: Any, flags: int) -> int:
        h = self._handle()
        return self._p.recv(h, buffer, int(flags))  # type: ignore[union-attr]

    def _send(self, buffer: Any, flags: int) -> int:
        h = self._handle()
        return self._p.send(h, _write_buffer(buffer), int(flags))  # type: ignore[union-attr]

    def _recv_fds(self, buffer: Any, maxfds: int, eof: bool) -> tuple[int, list[file_descriptor]]:
        maxfds = _check_maxfds(maxfds)
        h = self._handle()
        n, control, msg_flags = self._p.recvmsg(  # type: ignore[union-attr]
            h, buffer, _scm.control_size(maxfds)
        )
        fds = _scm.rights(control)
        if eof and n == 0:
            _scm.close_fds(fds)
            raise EOFError("end of stream")
        return n, _received(fds, maxfds, msg_flags)

    def _send_fds(self, buffer: Any, fds: Iterable[file_descriptor]) -> int:
        buffer = _write_buffer(buffer)
        h = self._handle()
        taken = _take_fds(fds)
        try:
            control = _scm.rights_control(raw for _, raw in taken)
            return self._p.sendmsg(h, buffer, control, 0)  # type: ignore[union-attr]
        finally:
            _give_back(taken)

    def _nonblocking(self, write: bool, call: Callable[[_socket.socket], _T]) -> _T:
        """Run *call* (a MSG_DONTWAIT syscall) until it does not block.

        Parks on readiness between tries. Linux reports a datagram socket
        writable from its own send buffer alone (unix_dgram_poll looks at the
        destination's queue only for the connected peer), so a send that
        still would block after the socket became writable waits with a
        back-off sleep (_BACKOFF_MIN doubling to _BACKOFF_MAX) before the next
        try instead of spinning. Raises ECANCELED when the socket is closed,
        cancelled or released meanwhile (a closed fd's number may already
        belong to another file).
        """
        h = self._handle()
        p = self._p
        assert p is not None
        cancels = self._cancels
        delay = 0.0
        while True:
            s = _socket.socket(fileno=h.fd)
            try:
                return call(s)
            except BlockingIOError:
                pass
            finally:
                s.detach()
            if delay:
                timer = _backoff_timers.get(self)
                if timer is None:
                    timer = _backoff_timers[self] = p.new_timer()
                timer.deadline = monotonic_time() + delay
                timer.wait()
                delay = min(delay * 2, _BACKOFF_MAX)
            elif write:
                delay = _BACKOFF_MIN
            if not h.closed and self._cancels == cancels:
                p.poll(h, write)
            if h.closed or self._cancels != cancels:
                raise OSError(_errno.ECANCELED, os.strerror(_errno.ECANCELED))

    def _sendmsg(
        self, buffer: Any, fds: Iterable[file_descriptor], addr: bytes | None, flags: int
    ) -> int:
        """sendmsg(2) through the readiness loop (datagram sockets)."""
        buffer = _write_buffer(buffer)
        flags = int(flags) | _NONBLOCK
        self._handle()
        taken = _take_fds(fds)
        try:
            ancdata = _scm.ancdata(raw for _, raw in taken)
            if addr is None:
                return self._nonblocking(True, lambda s: s.sendmsg([buffer], ancdata, flags))
            return self._nonblocking(True, lambda s: s.sendmsg([buffer], ancdata, flags, addr))
        finally:
            _give_back(taken)


class _Connectable(_Socket):
    """Stream and seqpacket sockets: connect() waits for the connection."""

    __slots__ = ()

    def connect(self, pathname: Any) -> None:
        """Connect to the socket bound at *pathname*, opening this one if needed.

        Interruption point. ENOENT when nothing is bound there, ECONNREFUSED
        when what is bound there does not listen.
        """
        addr = _sockaddr(pathname)
        if not self.is_open:
            self.open()
        h = self._handle()
        self._p.connect(h, addr)  # type: ignore[union-attr]


class _Acceptor(_sock.Listening, _Base):
    """A listening socket (manual: "unix.stream_acceptor", "unix.seqpacket_acceptor")."""

    __slots__ = ("_report_aborted",)
    _options = frozenset({"enable_connection_aborted", "debug"})
    _socket_class: type[_Socket] = _Socket

    def __init__(self, fd: file_descriptor | None = None) -> None:
        self._report_aborted = False
        super().__init__(fd)

    def accept(self) -> Any:
        """Wait for a connection and return it as a connected socket.

        Interruption point.
        """
        p, fd = self._accept_fd()
        s = self._socket_class()
        s._p = p
        s._adopt_fd(fd)
        return s


# ------------------------------------------------------------- the classes


class datagram_socket(_Socket):
    """A SOCK_DGRAM socket (manual: "unix.datagram_socket").

    Datagrams keep their boundaries; a 0-byte datagram is returned as 0
    (there is no end of stream). A datagram longer than the buffer is cut to
    the buffer's size and the rest is discarded (recv(2)).
    """

    __slots__ = ()
    _type = _socket.SOCK_DGRAM
    _options = frozenset({"debug", "send_buffer_size", "receive_buffer_size"})

    def connect(self, pathname: Any) -> None:
        """Set the default destination for send(), opening the socket if needed.

        Connecting a datagram socket never waits (unix(7)).
        """
        addr = _sockaddr(pathname)
        if not self.is_open:
            self.open()
        raw_connect(self.fileno(), addr)

    def receive(self, buffer: Any, flags: int = 0) -> int:
        """Receive one datagram into *buffer*; return its size. Interruption point."""
        return self._recv(buffer, flags)

    def receive_from(self, buffer: Any, flags: int = 0) -> tuple[int, str | None]:
        """Receive one datagram; return (size, sender's path or None).

        Interruption point.
        """
        flags = int(flags) | _socket.MSG_DONTWAIT
        n, addr = self._nonblocking(False, lambda s: s.recvfrom_into(buffer, 0, flags))
        return n, _decode_path(addr)

    def send(self, buffer: Any, flags: int = 0) -> int:
        """Send one datagram to the connected peer; return the bytes sent.

        Interruption point. ENOTCONN on an unconnected socket (use send_to).
        """
        return self._sendmsg(buffer, (), None, flags)

    def send_to(self, buffer: Any, pathname: Any, flags: int = 0) -> int:
        """Send one datagram to the socket bound at *pathname*. Interruption point."""
        return self._sendmsg(buffer, (), _encode_path(pathname), flags)

    def receive_with_fds(self, buffer: Any, maxfds: int) -> tuple[int, list[file_descriptor]]:
        """Receive one datagram and the fds it carries (at most *maxfds*).

        Interruption point. See stream_socket.receive_with_fds for the fds.
        """
        return self._recv_fds(buffer, maxfds, eof=False)

    def receive_from_with_fds(
        self, buffer: Any, maxfds: int
    ) -> tuple[int, str | None, list[file_descriptor]]:
        """receive_with_fds() that also returns the sender's path (or None).

        Interruption point.
        """
        maxfds = _check_maxfds(maxfds)
        size = _scm.control_size(maxfds)
        flags = _socket.MSG_DONTWAIT | _socket.MSG_CMSG_CLOEXEC
        n, ancdata, msg_flags, addr = self._nonblocking(
            False, lambda s: s.recvmsg_into([buffer], size, flags)
        )
        return n, _decode_path(addr), _received(_scm.rights_of(ancdata), maxfds, msg_flags)

    def send_with_fds(self, buffer: Any, fds: Iterable[file_descriptor]) -> int:
        """Send one datagram carrying *fds* to the connected peer.

        Interruption point. The fds stay open and owned by the caller (see
        stream_socket.send_with_fds).
        """
        return self._sendmsg(buffer, fds, None, 0)

    def send_to_with_fds(self, buffer: Any, pathname: Any, fds: Iterable[file_descriptor]) -> int:
        """send_with_fds() to the socket bound at *pathname*. Interruption point."""
        return self._sendmsg(buffer, fds, _encode_path(pathname), 0)


class stream_socket(_Connectable):
    """A SOCK_STREAM socket (manual: "unix.stream_socket")."""

    __slots__ = ()
    _type = _socket.SOCK_STREAM
    _options = frozenset(
        {
            "send_low_watermark",
            "send_buffer_size",
            "receive_low_watermark",
            "receive_buffer_size",
            "debug",
        }
    )

    def read_some(self, buffer: Any) -> int:
        """Read at least one byte into *buffer*; return the count. Interruption point.

        An empty buffer returns 0 at once. Raises EOFError at the end of the
        stream.
        """
        return self._recv_eof(buffer, 0)

    def write_some(self, buffer: Any) -> int:
        """Write some of *buffer*; return the count written. Interruption point."""
        return self._send(buffer, 0)

    def receive_with_fds(self, buffer: Any, maxfds: int) -> tuple[int, list[file_descriptor]]:
        """Read like read_some() and return (count, fds received).

        Interruption point. The fds are ``file_descriptor`` objects the caller
        owns, close-on-exec. At most *maxfds* are accepted: if the data
        carried more, the kernel drops the excess (MSG_CTRUNC) and every fd
        that did arrive is closed, so the list is empty. Raises EOFError at the
        end of the stream; an empty buffer returns (0, []) at once.
        """
        self._handle()
        _check_maxfds(maxfds)
        if len(buffer) == 0:
            return 0, []
        return self._recv_fds(buffer, maxfds, eof=True)

    def send_with_fds(self, buffer: Any, fds: Iterable[file_descriptor]) -> int:
        """Write like write_some(), attaching *fds* to the bytes written.

        Interruption point. The fds are not closed: they stay owned by the
        caller (each distinct one is sent once). While the send is in flight
        they read as closed (EBADF), so their numbers cannot be reused.
        """
        return self._send_fds(buffer, fds)


class seqpacket_socket(_Connectable):
    """A SOCK_SEQPACKET socket (manual: "unix.seqpacket_socket").

    Connection-oriented and message-preserving. A 0-byte read is the end of
    the connection (EOFError), even if the peer sent a 0-byte message: the
    kernel reports both the same way (manual, "A note on 0-sized packets").
    To make sure a connection counts as closed for every handle to it, call
    ``shutdown("receive")``.
    """

    __slots__ = ()
    _type = _socket.SOCK_SEQPACKET
    _options = frozenset({"debug", "send_buffer_size", "receive_buffer_size"})

    def receive(self, buffer: Any, flags: int = 0) -> int:
        """Receive one message into *buffer*; return its size. Interruption point.

        A message longer than the buffer is cut (the rest is discarded).
        Raises EOFError on a 0-byte read; an empty buffer returns 0 at once and
        consumes no message.
        """
        return self._recv_eof(buffer, flags)

    def send(self, buffer: Any, flags: int = 0) -> int:
        """Send *buffer* as one message; return its size. Interruption point.

        A 0-byte message reads as the end of the connection on the other side.
        """
        return self._send(buffer, flags)

    def receive_with_fds(self, buffer: Any, maxfds: int) -> tuple[int, list[file_descriptor]]:
        """receive() that also returns the fds the message carries.

        Interruption point. See stream_socket.receive_with_fds for the fds;
        a 0-byte read raises EOFError and closes any fds it carried.
        """
        self._handle()
        _check_maxfds(maxfds)
        if len(buffer) == 0:
            return 0, []
        return self._recv_fds(buffer, maxfds, eof=True)

    def send_with_fds(self, buffer: Any, fds: Iterable[file_descriptor]) -> int:
        """send() with *fds* attached to the message. Interruption point.

        The fds stay owned by the caller (see stream_socket.send_with_fds).
        """
        return self._send_fds(buffer, fds)


class stream_acceptor(_Acceptor):
    """Accepts unix.stream_socket connections (manual: "unix.stream_acceptor")."""

    __slots__ = ()
    _type = _socket.SOCK_STREAM
    _socket_class = stream_socket

    def accept(self) -> stream_socket:
        """Wait for a connection; return it as a unix.stream_socket. Interruption point."""
        s: stream_socket = super().accept()
        return s


class seqpacket_acceptor(_Acceptor):
    """Accepts unix.seqpacket_socket connections (manual: "unix.seqpacket_acceptor")."""

    __slots__ = ()
    _type = _socket.SOCK_SEQPACKET
    _socket_class = seqpacket_socket

    def accept(self) -> seqpacket_socket:
        """Wait for a connection; return it as a unix.seqpacket_socket. Interruption point."""
        s: seqpacket_socket = super().accept()
        return s
