"""UDP (manual: "ip.udp.socket", and the udp forms of "ip.get_address_info"
and "ip.get_name_info").

Each receive and send is one proactor operation on both backends: ``receive``
and ``send`` are recv(2)/send(2), ``receive_from`` and ``send_to`` are
recvmsg(2)/sendmsg(2) carrying the peer's sockaddr (``Proactor.recvfrom``,
``Proactor.sendto``). A datagram is never split or merged. One longer than the
buffer is cut to the buffer's size and the rest is discarded, as recv(2) does:
the count returned is the bytes stored, never more than ``len(buffer)``
(Boost.Asio on Linux reports no error either).

An interrupted or cancelled receive consumes no datagram: io_uring's
cancellation loses the race to a completed receive, whose result the fiber
gets (the interruption is raised at its next interruption point), and epoll
never started the syscall. ``close()`` and ``cancel()`` make every fiber parked
on the socket raise ``OSError(ECANCELED)``, the manual's "operation aborted".
"""

from __future__ import annotations

import errno as _errno
import socket as _socket
import struct
import sys
from typing import Any

from emilua import _io
from emilua import _socket as _sock
from emilua._core.proactor import raw_connect
from emilua.file_descriptor import file_descriptor
from emilua.ip import _resolve
from emilua.ip._address import address
from emilua.ip.tcp import _addr, _family, raw_sockaddr

__all__ = [
    "get_address_info",
    "get_address_v4_info",
    "get_address_v6_info",
    "get_name_info",
    "socket",
]

_GETTABLE = frozenset(
    {
        "debug",
        "broadcast",
        "do_not_route",
        "send_buffer_size",
        "receive_buffer_size",
        "reuse_address",
        "multicast_loop",
        "multicast_hops",
        "unicast_hops",
        "v6_only",
    }
)
_SETTABLE = _GETTABLE | {"join_multicast_group", "leave_multicast_group", "multicast_interface"}

# Options whose level and name depend on the socket's family: (v4, v6).
_BY_FAMILY = {
    "multicast_loop": (
        (_socket.IPPROTO_IP, _socket.IP_MULTICAST_LOOP),
        (_socket.IPPROTO_IPV6, _socket.IPV6_MULTICAST_LOOP),
    ),
    "multicast_hops": (
        (_socket.IPPROTO_IP, _socket.IP_MULTICAST_TTL),
        (_socket.IPPROTO_IPV6, _socket.IPV6_MULTICAST_HOPS),
    ),
    "unicast_hops": (
        (_socket.IPPROTO_IP, _socket.IP_TTL),
        (_socket.IPPROTO_IPV6, _socket.IPV6_UNICAST_HOPS),
    ),
}


_AF_INET_HDR = struct.pack("=H", _socket.AF_INET)
_AF_INET6_HDR = struct.pack("=H", _socket.AF_INET6)
_ZERO4 = bytes(4)
_ZERO8 = bytes(8)

# Senders seen lately: raw sockaddr_in -> (address, port). IPv4 addresses
# cannot change (only an IPv6 address's scope_id is writable), so one object
# may be handed out for every datagram from the same sender.
_V4_SENDERS: dict[bytes, tuple[address, int]] = {}
_V4_SENDERS_MAX = 4096


def _v4_address(packed: bytes) -> address:
    a = object.__new__(address)
    object.__setattr__(a, "_packed", packed)
    object.__setattr__(a, "_scope_id", 0)
    return a


def _sockaddr_to_endpoint(raw: bytes) -> tuple[address, int]:
    hit = _V4_SENDERS.get(raw)
    if hit is not None:
        return hit
    family = struct.unpack_from("=H", raw)[0]
    port = int.from_bytes(raw[2:4], "big")
    if family == _socket.AF_INET:
        if len(_V4_SENDERS) >= _V4_SENDERS_MAX:
            _V4_SENDERS.clear()
        ep = _V4_SENDERS[raw] = (_v4_address(raw[4:8]), port)
        return ep
    if family == _socket.AF_INET6:
        scope_id = struct.unpack_from("=I", raw, 24)[0]
        return address._from_packed(raw[8:24], scope_id), port
    raise OSError(_errno.EAFNOSUPPORT, f"datagram from address family {family}")


def _endpoint_to_sockaddr(addr: Any, port: Any) -> bytes:
    """The raw sockaddr_in/sockaddr_in6 of (addr, port), checking both."""
    if type(addr) is not address:
        addr = _addr(addr)
    if type(port) is not int or not 0 <= port <= 65535:
        port = _port(port)
    packed: bytes = addr._packed
    port_bytes: bytes = port.to_bytes(2, "big")
    if len(packed) == 4:
        return _AF_INET_HDR + port_bytes + packed + _ZERO8
    return (
        _AF_INET6_HDR
        + port_bytes
        + _ZERO4
        + packed
        + bytes(addr._scope_id.to_bytes(4, sys.byteorder))
    )


def _flags(flags: Any) -> int:
    if isinstance(flags, bool) or not isinstance(flags, int):
        raise TypeError("flags must be an int (ip.message_flag values)")
    return int(flags)


def _port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError("port must be an int")
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 0-65535")
    return port


def _write_buffer(buffer: Any) -> Any:
    return buffer.encode() if isinstance(buffer, str) else buffer


class socket(_sock.Connected):
    """A UDP socket (manual: "ip.udp.socket")."""

    __slots__ = ("_family",)

    def __init__(self) -> None:
        super().__init__()
        self._family = 0

    # ------------------------------------------------------------ lifetime

    def open(self, address_family: Any) -> None:
        """Open a socket of the given family ('v4', 'v6' or an ip.address's)."""
        family = _family(address_family)
        if self.is_open:
            raise OSError(_errno.EALREADY, "already open")
        s = _socket.socket(
            family, _socket.SOCK_DGRAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC
        )
        self._adopt_fd(s.detach())
        self._family = family

    def assign(self, address_family: Any, fd: file_descriptor) -> None:
        """Take ownership of an existing native socket (*fd* is consumed).

        Raises OSError(EALREADY) if this object is open.
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
            s.bind(a._sockaddr(_port(port)))

    def connect(self, addr: Any, port: int) -> None:
        """Set the default destination of send() (and the only accepted source
        of receive()). Opens the socket if needed; never waits."""
        a = _addr(addr)
        sockaddr = raw_sockaddr(a, _port(port))
        if not self.is_open:
            self.open(a)
        raw_connect(self.fileno(), sockaddr)

    def disconnect(self) -> None:
        """Dissolve the association: connect(2) with an AF_UNSPEC address."""
        raw_connect(self.fileno(), struct.pack("=H14x", _socket.AF_UNSPEC))

    # ------------------------------------------------------------ transfers

    def receive(self, buffer: Any, flags: int = 0) -> int:
        """Receive one datagram into *buffer*; return the bytes stored.

        Interruption point. A 0-byte datagram returns 0 (there is no end of
        stream); a longer datagram than the buffer is cut to its size.
        """
        flags = _flags(flags)
        while True:
            h = self._handle()
            try:
                return self._p.recv(h, buffer, flags)  # type: ignore[union-attr]
            except BlockingIOError:
                # io_uring: after its wake-up another reader (receive_from
                # takes queued datagrams directly) emptied the queue: wait again.
                continue

    def receive_from(self, buffer: Any, flags: int = 0) -> tuple[int, address, int]:
        """Receive one datagram; return (bytes stored, sender's address, port).

        Interruption point.
        """
        h = self._h
        if h is None or h.closed:
            raise _io._ebadf()
        if type(flags) is not int:
            flags = _flags(flags)
        n, raw, _ = self._p.recvfrom(h, buffer, flags)  # type: ignore[union-attr]
        addr, port = _sockaddr_to_endpoint(raw)
        return n, addr, port

    def send(self, buffer: Any, flags: int = 0) -> int:
        """Send one datagram to the connected peer; return the bytes sent.

        Interruption point. OSError(EDESTADDRREQ) on an unconnected socket.
        """
        h = self._handle()
        return self._p.send(h, _write_buffer(buffer), _flags(flags))  # type: ignore[union-attr]

    def send_to(self, buffer: Any, remote_addr: Any, remote_port: int, flags: int = 0) -> int:
        """Send one datagram to (*remote_addr*, *remote_port*); return the bytes sent.

        Interruption point.
        """
        h = self._h
        if h is None or h.closed:
            raise _io._ebadf()
        if type(flags) is not int:
            flags = _flags(flags)
        if isinstance(buffer, str):
            buffer = buffer.encode()
        sockaddr = _endpoint_to_sockaddr(remote_addr, remote_port)
        return self._p.sendto(h, buffer, sockaddr, flags)  # type: ignore[union-attr]

    # ------------------------------------------------------------ options

    def _v6(self) -> bool:
        return self._family == _socket.AF_INET6

    def set_option(self, opt: str, val: Any) -> None:
        """Set an option; the names are the manual's (see docs/udp.md for values)."""
        if opt not in _SETTABLE:
            raise ValueError(f"unknown or unsupported option {opt!r}")
        fd = self.fileno()
        with self._borrowed() as s:
            if opt in ("join_multicast_group", "leave_multicast_group"):
                self._membership(s, opt == "join_multicast_group", val)
            elif opt == "multicast_interface":
                self._multicast_interface(s, val)
            elif opt in _BY_FAMILY:
                level, name = _BY_FAMILY[opt][self._v6()]
                if opt == "multicast_loop":
                    if not isinstance(val, bool):
                        raise TypeError("option 'multicast_loop' takes a bool")
                    val = int(val)
                elif isinstance(val, bool) or not isinstance(val, int):
                    raise TypeError(f"option {opt!r} takes an int")
                s.setsockopt(level, name, val)
            else:
                _io.set_option(fd, self._settable_common, opt, val)

    _settable_common = frozenset(_GETTABLE - _BY_FAMILY.keys())

    def get_option(self, opt: str) -> Any:
        """Get an option; the names are the manual's."""
        if opt not in _GETTABLE:
            raise ValueError(f"unknown or unsupported option {opt!r}")
        fd = self.fileno()
        if opt in _BY_FAMILY:
            level, name = _BY_FAMILY[opt][self._v6()]
            with self._borrowed() as s:
                value = s.getsockopt(level, name)
            return bool(value) if opt == "multicast_loop" else value
        return _io.get_option(fd, self._settable_common, opt)

    def _membership(self, s: _socket.socket, join: bool, val: Any) -> None:
        # val: group, or (group, interface): an ip.address of the local
        # interface for IPv4, an interface index for IPv6 (Boost.Asio's forms).
        group, iface = (val, None) if not isinstance(val, tuple) else val
        group = _addr(group)
        if not group.is_multicast:
            raise OSError(_errno.EINVAL, f"{group} is not a multicast address")
        if group.is_v4:
            local = address.any_v4() if iface is None else _addr(iface)
            if not local.is_v4:
                raise OSError(_errno.EINVAL, "an IPv4 group needs an IPv4 interface address")
            name = _socket.IP_ADD_MEMBERSHIP if join else _socket.IP_DROP_MEMBERSHIP
            s.setsockopt(_socket.IPPROTO_IP, name, group._packed + local._packed)
        else:
            index = group._scope_id if iface is None else iface
            if isinstance(index, bool) or not isinstance(index, int):
                raise TypeError("an IPv6 group's interface is an interface index (int)")
            name = _socket.IPV6_JOIN_GROUP if join else _socket.IPV6_LEAVE_GROUP
            s.setsockopt(_socket.IPPROTO_IPV6, name, group._packed + struct.pack("=I", index))

    def _multicast_interface(self, s: _socket.socket, val: Any) -> None:
        # IPv4: the ip.address of the outgoing interface; IPv6: its index.
        if self._v6():
            if isinstance(val, bool) or not isinstance(val, int):
                raise TypeError("option 'multicast_interface' takes an interface index on IPv6")
            s.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_MULTICAST_IF, val)
            return
        a = _addr(val)
        if not a.is_v4:
            raise OSError(_errno.EINVAL, "an IPv4 socket's multicast interface is an IPv4 address")
        s.setsockopt(_socket.IPPROTO_IP, _socket.IP_MULTICAST_IF, a._packed)

    # ------------------------------------------------------------ endpoints

    @property
    def local_address(self) -> address:
        return address._from_sockaddr(_io.sockname(self.fileno()))[0]

    @property
    def local_port(self) -> int:
        return int(_io.sockname(self.fileno())[1])

    @property
    def remote_address(self) -> address:
        return address._from_sockaddr(_io.peername(self.fileno()))[0]

    @property
    def remote_port(self) -> int:
        return int(_io.peername(self.fileno())[1])


def get_address_info(
    host: str | address | None, service: str | int, flags: int | None = None
) -> list[_resolve.address_info]:
    """Resolve UDP endpoints of any family (manual: "ip.get_address_info").

    Interruption point.
    """
    return _resolve.get_address_info(host, service, flags, protocol="udp")


def get_address_v4_info(
    host: str | address | None, service: str | int, flags: int | None = None
) -> list[_resolve.address_info]:
    """Resolve IPv4 UDP endpoints (manual: "ip.get_address_info"). Interruption point."""
    return _resolve.get_address_info(host, service, flags, protocol="udp", family="v4")


def get_address_v6_info(
    host: str | address | None, service: str | int, flags: int | None = None
) -> list[_resolve.address_info]:
    """Resolve IPv6 UDP endpoints (manual: "ip.get_address_info"). Interruption point."""
    return _resolve.get_address_info(host, service, flags, protocol="udp", family="v6")


def get_name_info(addr: address, port: int) -> list[_resolve.name_info]:
    """Reverse-resolve a UDP endpoint (manual: "ip.get_name_info"). Interruption point."""
    return _resolve.get_name_info(addr, port, protocol="udp")
