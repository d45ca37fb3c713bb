"""TCP (manual: "ip.tcp.acceptor", "ip.tcp.socket")."""

from __future__ import annotations

import errno as _errno
import fcntl
import socket as _socket
import struct
from typing import Any

from emilua import _io
from emilua import _socket as _sock
from emilua._core.proactor import raw_connect
from emilua.file_descriptor import file_descriptor
from emilua.ip import _resolve
from emilua.ip._address import address

__all__ = [
    "acceptor",
    "get_address_info",
    "get_address_v4_info",
    "get_address_v6_info",
    "get_name_info",
    "socket",
]

_ACCEPTOR_OPTIONS = frozenset(
    {"reuse_address", "reuse_port", "enable_connection_aborted", "debug", "v6_only"}
)
_SOCKET_OPTIONS = frozenset(
    {
        "tcp_no_delay",
        "send_low_watermark",
        "send_buffer_size",
        "receive_low_watermark",
        "receive_buffer_size",
        "out_of_band_inline",
        "linger",
        "keep_alive",
        "do_not_route",
        "debug",
        "v6_only",
        "reuse_address",
        "reuse_port",
    }
)


def _family(af: Any) -> int:
    if isinstance(af, address):
        return int(af._family)
    if af == "v4":
        return _socket.AF_INET
    if af == "v6":
        return _socket.AF_INET6
    raise ValueError(f"address family must be 'v4', 'v6' or an ip.address, not {af!r}")


def _addr(addr: Any) -> address:
    if isinstance(addr, address):
        return addr
    if isinstance(addr, str):
        return address(addr)
    raise TypeError(f"expected an ip.address or a string, not {type(addr).__name__}")


def _new_socket(family: int) -> int:
    s = _socket.socket(family, _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC)
    return s.detach()


def raw_sockaddr(addr: address, port: int) -> bytes:
    """The kernel's sockaddr_in/sockaddr_in6 for (addr, port)."""
    sa = addr._sockaddr(port)
    if addr.is_v4:
        return (
            struct.pack("=H", _socket.AF_INET) + struct.pack("!H", sa[1]) + addr._packed + bytes(8)
        )
    return (
        struct.pack("=H", _socket.AF_INET6)
        + struct.pack("!HI", sa[1], 0)
        + addr._packed
        + struct.pack("=I", addr._scope_id)
    )


class _Endpointed(_sock.SocketBase):
    __slots__ = ("_family",)

    def __init__(self) -> None:
        super().__init__()
        self._family = 0

    def open(self, address_family: Any) -> None:
        """Open a socket of the given family ('v4', 'v6' or an ip.address's)."""
        family = _family(address_family)
        if self.is_open:
            raise OSError(_errno.EALREADY, "already open")
        self._adopt_fd(_new_socket(family))
        self._family = family

    def assign(self, address_family: Any, fd: file_descriptor) -> None:
        """Take ownership of an existing native socket.

        *fd* is consumed: it is closed when this object closes. Raises
        OSError(EALREADY) if this object is open.
        """
        family = _family(address_family)
        if not isinstance(fd, file_descriptor):
            raise TypeError("assign() needs a file_descriptor")
        if self.is_open:
            raise OSError(_errno.EALREADY, "already open")
        raw = fd._take()
        _io.set_nonblocking_cloexec(raw)
        self._adopt_fd(raw)
        self._family = family

    def bind(self, addr: Any, port: int) -> None:
        """Bind to a local endpoint."""
        a = _addr(addr)
        with self._borrowed() as s:
            s.bind(a._sockaddr(port))

    @property
    def local_address(self) -> address:
        return address._from_sockaddr(_io.sockname(self.fileno()))[0]

    @property
    def local_port(self) -> int:
        return int(_io.sockname(self.fileno())[1])


class acceptor(_sock.Listening, _Endpointed):
    """A listening TCP socket (manual: "ip.tcp.acceptor")."""

    __slots__ = ("_report_aborted",)
    _options = _ACCEPTOR_OPTIONS

    def __init__(self) -> None:
        super().__init__()
        self._report_aborted = False

    def accept(self) -> socket:
        """Wait for a connection and return it as an ip.tcp.socket. Interruption point."""
        p, fd = self._accept_fd()
        s = socket()
        s._p = p
        s._h = p.handle(fd)
        s._family = self._family
        return s


_WAIT = frozenset({"read", "write", "error"})


class socket(_sock.Connected, _Endpointed):
    """A TCP stream socket (manual: "ip.tcp.socket")."""

    __slots__ = ()
    _options = _SOCKET_OPTIONS

    def connect(self, addr: Any, port: int) -> None:
        """Connect to (addr, port), opening the socket if needed. Interruption point."""
        a = _addr(addr)
        sockaddr = raw_sockaddr(a, port)
        if not self.is_open:
            self.open(a)
        p = self._p
        assert p is not None
        p.connect(self._handle(), sockaddr)

    def disconnect(self) -> None:
        """Dissolve the association: connect(2) with an AF_UNSPEC address."""
        raw_connect(self.fileno(), struct.pack("=H14x", _socket.AF_UNSPEC))

    def read_some(self, buffer: Any) -> int:
        """Read at least one byte into *buffer*; return the count. Interruption point.

        An empty buffer returns 0 at once (as in Boost.Asio: recv(2) of zero
        bytes would wait for data on Linux). Raises EOFError at the end of the
        stream.
        """
        # self._recv_eof() and self._handle() inlined: on the per-operation
        # path each Python call costs as much as the checks themselves.
        h = self._h
        if h is None or h.closed:
            raise _io._ebadf()
        if len(buffer) == 0:
            return 0
        n: int = self._p.recv(h, buffer, 0)  # type: ignore[union-attr]
        if n == 0:
            raise EOFError("end of stream")
        return n

    def read_some_span(self, max_length: int = 65536) -> Any:
        """Read at least one byte and at most *max_length* (and 64 KiB); return them
        as a new byte_span. Interruption point.

        While it waits the fiber holds no buffer: the engine receives into
        one buffer it shares between all connections, once the socket is
        readable, and copies the bytes into the span it returns. A server
        with many mostly idle connections uses this instead of one
        ``read_some(buf)`` buffer per connection. Raises EOFError at the end
        of the stream.
        """
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        h = self._h
        if h is None or h.closed:
            raise _io._ebadf()
        span = self._p.recv_shared(h, max_length)  # type: ignore[union-attr]
        if len(span) == 0:
            raise EOFError("end of stream")
        return span

    def write_some(self, buffer: Any) -> int:
        """Write some of *buffer*; return the count written. Interruption point."""
        if isinstance(buffer, str):
            buffer = buffer.encode()
        h = self._h
        if h is None or h.closed:
            raise _io._ebadf()
        return self._p.send(h, buffer, 0)  # type: ignore[union-attr]

    def receive(self, buffer: Any, flags: int = 0) -> int:
        """recv(2) with ip.message_flag flags. Interruption point.

        Raises EOFError at the end of the stream; an empty buffer returns 0.
        """
        return self._recv_eof(buffer, flags)

    def send(self, buffer: Any, flags: int = 0) -> int:
        """send(2) with ip.message_flag flags. Interruption point."""
        if isinstance(buffer, str):
            buffer = buffer.encode()
        return self._p.send(self._handle(), buffer, int(flags))  # type: ignore[union-attr]

    def send_file(self, *args: Any) -> int:
        """Windows only in the manual (TransmitFile)."""
        raise NotImplementedError("send_file() exists on Windows only (manual, ip.tcp.socket)")

    def wait(self, wait_type: str) -> None:
        """Wait until readable ('read'), writable ('write'), or until urgent
        (out-of-band) data or an error is pending ('error'). Interruption point.

        Reactor-style operations, for SO_OOBINLINE + at_mark (manual).
        """
        if wait_type not in _WAIT:
            raise ValueError(f"wait() takes 'read', 'write' or 'error', not {wait_type!r}")
        h = self._handle()
        self._p.poll(h, wait_type == "write", wait_type == "error")  # type: ignore[union-attr]

    @property
    def remote_address(self) -> address:
        return address._from_sockaddr(_io.peername(self.fileno()))[0]

    @property
    def remote_port(self) -> int:
        return int(_io.peername(self.fileno())[1])

    @property
    def at_mark(self) -> bool:
        # SIOCATMARK (sockios.h): 0x8905.
        buf = fcntl.ioctl(self.fileno(), 0x8905, b"\0\0\0\0")
        return bool(struct.unpack("i", buf)[0])


def get_address_info(
    host: str | address | None, service: str | int, flags: int | None = None
) -> list[_resolve.address_info]:
    """Resolve TCP endpoints of any family (manual: "ip.get_address_info").

    Interruption point.
    """
    return _resolve.get_address_info(host, service, flags, protocol="tcp")


def get_address_v4_info(
    host: str | address | None, service: str | int, flags: int | None = None
) -> list[_resolve.address_info]:
    """Resolve IPv4 TCP endpoints (manual: "ip.get_address_info"). Interruption point."""
    return _resolve.get_address_info(host, service, flags, protocol="tcp", family="v4")


def get_address_v6_info(
    host: str | address | None, service: str | int, flags: int | None = None
) -> list[_resolve.address_info]:
    """Resolve IPv6 TCP endpoints (manual: "ip.get_address_info"). Interruption point."""
    return _resolve.get_address_info(host, service, flags, protocol="tcp", family="v6")


def get_name_info(addr: address, port: int) -> list[_resolve.name_info]:
    """Reverse-resolve a TCP endpoint (manual: "ip.get_name_info"). Interruption point."""
    return _resolve.get_name_info(addr, port, protocol="tcp")
