"""The pure parts of the ``ip`` module: addresses, endpoint strings and flag constants.

Manual sections: "ip.address", "ip.tostring", "ip.toendpoint", "ip.host_name",
"ip.address_info_flag" and "ip.message_flag".

Text is converted with the C library's inet_pton(3) and inet_ntop(3), the same calls
the reference engine makes through Boost.Asio, so what parses and how an address
prints is the platform's answer. The stdlib ``ipaddress`` module is not used because
its text form of IPv4-mapped addresses changed in Python 3.13 (``::ffff:102:304``
before, ``::ffff:1.2.3.4`` after); inet_ntop(3) on glibc always gives the latter.

inet_pton(3) does not accept a zone suffix (``fe80::1%eth0``): the suffix is split off
here and kept as the address's ``scope_id``, as Boost.Asio does.

An argument of the right type but a bad value raises an error that is both an
``OSError`` with ``errno.EINVAL`` (the reference engine raises its generic EINVAL
error) and a ``ValueError`` (what Python code expects of a parser).
"""

from __future__ import annotations

import enum
import errno
import operator
import os
import re
import socket
from typing import Any, NoReturn, Self

__all__ = [
    "address",
    "address_info_flag",
    "host_name",
    "message_flag",
    "toendpoint",
    "tostring",
]

_V4_LEN = 4
_V6_LEN = 16
_SCOPE_ID_MAX = 0xFFFF_FFFF  # sin6_scope_id is a uint32_t
_PORT_MAX = 0xFFFF
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_V4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96, RFC 4291 section 2.5.5.2


class _InvalidArgument(OSError, ValueError):
    """EINVAL raised for a well-typed argument with an unusable value."""

    def __init__(self, detail: str) -> None:
        super().__init__(errno.EINVAL, f"{os.strerror(errno.EINVAL)}: {detail}")


def _invalid(detail: str) -> NoReturn:
    raise _InvalidArgument(detail)


def _check_port(port: object) -> int:
    try:
        value = operator.index(port)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"port must be an integer, not {type(port).__name__}") from None
    if not 0 <= value <= _PORT_MAX:
        _invalid(f"port {value} is outside 0-65535")
    return value


def _is_v6_link_local_scope(packed: bytes) -> bool:
    # fe80::/10 (unicast link-local) or ffx2::/16 (link-local multicast): the two
    # kinds whose zone is an interface, so their scope id prints as its name.
    return (packed[0] == 0xFE and packed[1] & 0xC0 == 0x80) or (
        packed[0] == 0xFF and packed[1] & 0x0F == 0x02
    )


def _parse_scope_id(text: str) -> int:
    if not text:
        _invalid("empty scope id after '%'")
    if _DIGITS.fullmatch(text):
        value = int(text)
        if value > _SCOPE_ID_MAX:
            _invalid(f"scope id {value} does not fit in 32 bits")
        return value
    try:
        return socket.if_nametoindex(text)
    except (OSError, ValueError):
        _invalid(f"no network interface named {text!r}")


def _parse(text: str) -> tuple[bytes, int]:
    if ":" in text:
        host, percent, zone = text.partition("%")
        family = socket.AF_INET6
    else:
        host, percent, zone = text, "", ""
        family = socket.AF_INET
    try:
        packed = socket.inet_pton(family, host)
    except (OSError, ValueError):
        # inet_pton raises OSError without an errno for bad text, and ValueError for
        # an embedded NUL or a string that cannot be encoded.
        _invalid(f"{text!r} is not an IP address")
    scope_id = _parse_scope_id(zone) if percent else 0
    return packed, scope_id


class address:
    """An IPv4 or IPv6 address (manual: "ip.address").

    ``address()`` is the unspecified IPv4 address ``0.0.0.0`` (the default
    constructor); ``address(text)`` parses an IPv4 address in dotted decimal form or
    an IPv6 address in hexadecimal notation, optionally followed by ``%`` and a zone
    (an interface name or a decimal scope id).

    Instances are hashable and read-only except ``scope_id`` (read-write, as in the
    manual; the hash leaves it out). Comparison follows Boost.Asio, whose order
    the manual's ``__eq``/``__lt``/``__le`` expose: every IPv4 address sorts before
    every IPv6 address; within a version, addresses compare by their bytes and then,
    for IPv6, by scope id. An IPv4 address never equals its IPv4-mapped IPv6 form.

    Features that exist for one version only raise ``OSError(EINVAL)`` (also a
    ``ValueError``) when used on an address of the other version.

    Raises:
        TypeError: *text* is neither a string nor None.
        OSError: EINVAL (also a ValueError) when *text* is not an IP address.
    """

    __slots__ = ("_packed", "_scope_id")
    _packed: bytes
    _scope_id: int

    def __init__(self, text: str | None = None, /) -> None:
        if text is None:
            packed, scope_id = bytes(_V4_LEN), 0
        elif isinstance(text, str):
            packed, scope_id = _parse(text)
        else:
            raise TypeError(f"address() argument must be str or None, not {type(text).__name__}")
        object.__setattr__(self, "_packed", packed)
        object.__setattr__(self, "_scope_id", scope_id)

    @classmethod
    def _from_packed(cls, packed: bytes, scope_id: int = 0) -> Self:
        """Build an address from its 4 or 16 network-order bytes and a scope id."""
        packed = bytes(packed)
        if len(packed) not in (_V4_LEN, _V6_LEN):
            _invalid(f"an IP address has 4 or 16 bytes, not {len(packed)}")
        if len(packed) == _V4_LEN and scope_id != 0:
            _invalid("an IPv4 address has no scope id")
        if not 0 <= scope_id <= _SCOPE_ID_MAX:
            _invalid(f"scope id {scope_id} does not fit in 32 bits")
        self = object.__new__(cls)
        object.__setattr__(self, "_packed", packed)
        object.__setattr__(self, "_scope_id", scope_id)
        return self

    # Manual: "ip.address", Functions.

    @classmethod
    def any_v4(cls) -> Self:
        """The IPv4 "any" address, ``0.0.0.0`` (manual: "ip.address", any_v4)."""
        return cls._from_packed(bytes(_V4_LEN))

    @classmethod
    def any_v6(cls) -> Self:
        """The IPv6 "any" address, ``::`` (manual: "ip.address", any_v6)."""
        return cls._from_packed(bytes(_V6_LEN))

    @classmethod
    def loopback_v4(cls) -> Self:
        """The IPv4 loopback address, ``127.0.0.1`` (manual: "ip.address", loopback_v4)."""
        return cls._from_packed(b"\x7f\x00\x00\x01")

    @classmethod
    def loopback_v6(cls) -> Self:
        """The IPv6 loopback address, ``::1`` (manual: "ip.address", loopback_v6)."""
        return cls._from_packed(bytes(_V6_LEN - 1) + b"\x01")

    @classmethod
    def broadcast_v4(cls) -> Self:
        """The IPv4 broadcast address, ``255.255.255.255`` (manual: "ip.address", broadcast_v4)."""
        return cls._from_packed(b"\xff\xff\xff\xff")

    # Manual: "ip.address", Functions (v4) and Functions (v6).

    def to_v6(self) -> Self:
        """The IPv4-mapped IPv6 form of this IPv4 address (manual: "ip.address", to_v6).

        Raises:
            OSError: EINVAL (also a ValueError) if this is an IPv6 address.
        """
        if not self.is_v4:
            _invalid("to_v6() needs an IPv4 address")
        return self._from_packed(_V4_MAPPED_PREFIX + self._packed)

    def to_v4(self) -> Self:
        """The IPv4 address inside this IPv4-mapped IPv6 address (manual: "ip.address", to_v4).

        The scope id, if any, is dropped.

        Raises:
            OSError: EINVAL (also a ValueError) if this is an IPv4 address or an IPv6
                address that is not IPv4-mapped.
        """
        if not self.is_v4_mapped:
            _invalid(f"{self} is not an IPv4-mapped IPv6 address")
        return self._from_packed(self._packed[len(_V4_MAPPED_PREFIX) :])

    def with_scope_id(self, scope_id: int) -> Self:
        """A copy of this IPv6 address with *scope_id* as its scope id.

        An addition to the manual, whose ``scope_id`` assignment changes the
        address in place (also possible here: ``addr.scope_id = n``).

        Raises:
            TypeError: *scope_id* is not an integer.
            OSError: EINVAL (also a ValueError) if this is an IPv4 address or
                *scope_id* does not fit in 32 bits.
        """
        self._require_v6("with_scope_id()")
        try:
            value = operator.index(scope_id)
        except TypeError:
            raise TypeError(f"scope_id must be an integer, not {type(scope_id).__name__}") from None
        return self._from_packed(self._packed, value)

    # Manual: "ip.address", Properties.

    @property
    def is_loopback(self) -> bool:
        """Whether the address is a loopback address: 127.0.0.0/8 or ``::1``."""
        if self.is_v4:
            return self._packed[0] == 0x7F
        return self._packed == bytes(_V6_LEN - 1) + b"\x01"

    @property
    def is_multicast(self) -> bool:
        """Whether the address is a multicast address: 224.0.0.0/4 or ff00::/8."""
        if self.is_v4:
            return self._packed[0] & 0xF0 == 0xE0
        return self._packed[0] == 0xFF

    @property
    def is_unspecified(self) -> bool:
        """Whether the address is unspecified: ``0.0.0.0`` or ``::``."""
        return not any(self._packed)

    @property
    def is_v4(self) -> bool:
        """Whether the address is an IP version 4 address."""
        return len(self._packed) == _V4_LEN

    @property
    def is_v6(self) -> bool:
        """Whether the address is an IP version 6 address."""
        return len(self._packed) == _V6_LEN

    # Manual: "ip.address", Properties (v6). Each raises EINVAL on an IPv4 address.

    def _require_v6(self, what: str) -> None:
        if not self.is_v6:
            _invalid(f"{what} is defined for IPv6 addresses only")

    def _multicast_scope(self, what: str) -> int:
        self._require_v6(what)
        if self._packed[0] != 0xFF:
            return -1
        return self._packed[1] & 0x0F  # the scop field, RFC 4291 section 2.7

    @property
    def is_link_local(self) -> bool:
        """Whether the IPv6 address is link local (fe80::/10)."""
        self._require_v6("is_link_local")
        return self._packed[0] == 0xFE and self._packed[1] & 0xC0 == 0x80

    @property
    def is_multicast_global(self) -> bool:
        """Whether the IPv6 address is a global multicast address (scope 0xe)."""
        return self._multicast_scope("is_multicast_global") == 0x0E

    @property
    def is_multicast_link_local(self) -> bool:
        """Whether the IPv6 address is a link-local multicast address (scope 0x2)."""
        return self._multicast_scope("is_multicast_link_local") == 0x02

    @property
    def is_multicast_node_local(self) -> bool:
        """Whether the IPv6 address is a node-local multicast address (scope 0x1)."""
        return self._multicast_scope("is_multicast_node_local") == 0x01

    @property
    def is_multicast_org_local(self) -> bool:
        """Whether the IPv6 address is an org-local multicast address (scope 0x8)."""
        return self._multicast_scope("is_multicast_org_local") == 0x08

    @property
    def is_multicast_site_local(self) -> bool:
        """Whether the IPv6 address is a site-local multicast address (scope 0x5)."""
        return self._multicast_scope("is_multicast_site_local") == 0x05

    @property
    def is_site_local(self) -> bool:
        """Whether the IPv6 address is site local (fec0::/10, deprecated by RFC 3879)."""
        self._require_v6("is_site_local")
        return self._packed[0] == 0xFE and self._packed[1] & 0xC0 == 0xC0

    @property
    def is_v4_mapped(self) -> bool:
        """Whether the IPv6 address is an IPv4-mapped address (::ffff:0:0/96)."""
        self._require_v6("is_v4_mapped")
        return self._packed.startswith(_V4_MAPPED_PREFIX)

    @property
    def scope_id(self) -> int:
        """The scope id of the IPv6 address (0 when it has none).

        Read-write, as in the manual: ``addr.scope_id = n`` changes this
        address in place (``with_scope_id()`` makes a changed copy instead).
        The hash leaves the scope id out, so changing it does not move an
        address already used as a dict key or set member.

        Raises:
            OSError: EINVAL (also a ValueError) on an IPv4 address, or when the
                value does not fit in 32 bits.
            TypeError: the value is not an integer.
        """
        self._require_v6("scope_id")
        return self._scope_id

    @scope_id.setter
    def scope_id(self, value: int) -> None:
        self._require_v6("scope_id")
        try:
            n = operator.index(value)
        except TypeError:
            raise TypeError(f"scope_id must be an integer, not {type(value).__name__}") from None
        if not 0 <= n <= _SCOPE_ID_MAX:
            _invalid(f"scope id {n} does not fit in 32 bits")
        object.__setattr__(self, "_scope_id", n)

    # Manual: "ip.address", Metamethods.

    def __str__(self) -> str:
        """The address in text form, as inet_ntop(3) writes it.

        A non-zero scope id follows a ``%``: the interface name for link-local
        unicast and multicast addresses when such an interface exists, the number
        otherwise (Boost.Asio's rule).
        """
        if self.is_v4:
            return socket.inet_ntop(socket.AF_INET, self._packed)
        text = socket.inet_ntop(socket.AF_INET6, self._packed)
        if self._scope_id == 0:
            return text
        zone = str(self._scope_id)
        if _is_v6_link_local_scope(self._packed):
            try:
                zone = socket.if_indextoname(self._scope_id)
            except OSError:
                pass  # no such interface (any more): print the number
        return f"{text}%{zone}"

    def __repr__(self) -> str:
        return f"ip.address({str(self)!r})"

    def _key(self) -> tuple[int, bytes, int]:
        return (len(self._packed), self._packed, self._scope_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, address):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, address):
            return NotImplemented
        return self._key() < other._key()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, address):
            return NotImplemented
        return self._key() <= other._key()

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, address):
            return NotImplemented
        return self._key() > other._key()

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, address):
            return NotImplemented
        return self._key() >= other._key()

    def __hash__(self) -> int:
        # Not the scope id: it is writable, and equal addresses still hash alike.
        return hash((len(self._packed), self._packed))

    def __setattr__(self, name: str, value: object) -> None:
        if name == "scope_id":
            object.__setattr__(self, name, value)
            return
        raise AttributeError(f"ip.address: only scope_id can be set, not {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"ip.address: cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self)._from_packed, (self._packed, self._scope_id))

    def __copy__(self) -> Self:
        return self._from_packed(self._packed, self._scope_id)

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        return self._from_packed(self._packed, self._scope_id)

    # Internal: what the socket modules need.

    @property
    def _family(self) -> socket.AddressFamily:
        """``AF_INET`` or ``AF_INET6``, the family of a socket that can use this address."""
        return socket.AF_INET if self.is_v4 else socket.AF_INET6

    def _sockaddr(self, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
        """The address and *port* as the ``socket`` module takes them (bind, connect...).

        ``(host, port)`` for IPv4, ``(host, port, flowinfo=0, scope_id)`` for IPv6.
        """
        port = _check_port(port)
        if self.is_v4:
            return (socket.inet_ntop(socket.AF_INET, self._packed), port)
        return (socket.inet_ntop(socket.AF_INET6, self._packed), port, 0, self._scope_id)

    @classmethod
    def _from_sockaddr(cls, sockaddr: tuple[Any, ...]) -> tuple[Self, int]:
        """The ``(address, port)`` pair of a sockaddr tuple from the ``socket`` module.

        Accepts ``(host, port)`` and ``(host, port, flowinfo, scope_id)``. A zone that
        Python put in *host* (``fe80::1%eth0``) is ignored in favour of the tuple's
        scope id.
        """
        host, port = sockaddr[0], sockaddr[1]
        host = host.partition("%")[0]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            packed = socket.inet_pton(family, host)
        except (OSError, ValueError):
            _invalid(f"{host!r} is not an IP address")
        scope_id = sockaddr[3] if len(sockaddr) >= 4 and family == socket.AF_INET6 else 0
        return cls._from_packed(packed, scope_id), port


def tostring(addr: address, port: int | None = None) -> str:
    """The text form of an endpoint (manual: "ip.tostring").

    ``1.2.3.4:80`` for IPv4, ``[::1]:80`` for IPv6 (the scope id, if any, inside the
    brackets). Without *port* this is ``str(addr)``.

    Raises:
        TypeError: *addr* is not an ``ip.address`` or *port* is not an integer.
        OSError: EINVAL (also a ValueError) if *port* is outside 0-65535.
    """
    if not isinstance(addr, address):
        raise TypeError(f"tostring() needs an ip.address, not {type(addr).__name__}")
    if port is None:
        return str(addr)
    port = _check_port(port)
    if addr.is_v4:
        return f"{addr}:{port}"
    return f"[{addr}]:{port}"


def toendpoint(ep: str) -> tuple[address, int]:
    """Split the text form of an endpoint into ``(address, port)`` (manual: "ip.toendpoint").

    The inverse of ``tostring(addr, port)``: ``1.2.3.4:80`` or ``[::1]:80``; an IPv6
    address needs the brackets, an IPv4 address must not have them. The port is
    decimal, 0-65535.

    Raises:
        TypeError: *ep* is not a string.
        OSError: EINVAL (also a ValueError) if *ep* is not of that form.
    """
    if not isinstance(ep, str):
        raise TypeError(f"toendpoint() argument must be str, not {type(ep).__name__}")
    if ep.startswith("["):
        host, bracket, rest = ep[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            _invalid(f"{ep!r} is not an endpoint: expected '[address]:port'")
        port_text = rest[1:]
        addr = address(host)
        if not addr.is_v6:
            _invalid(f"{ep!r}: only an IPv6 address goes in brackets")
    else:
        host, colon, port_text = ep.rpartition(":")
        if not colon:
            _invalid(f"{ep!r} is not an endpoint: expected 'address:port'")
        if ":" in host:
            _invalid(f"{ep!r}: an IPv6 address needs brackets, '[address]:port'")
        addr = address(host)
    if not _DIGITS.fullmatch(port_text) or int(port_text) > _PORT_MAX:
        _invalid(f"{ep!r}: the port must be a decimal number in 0-65535")
    return addr, int(port_text)


def host_name() -> str:
    """The current host name (manual: "ip.host_name"). Not an IO operation.

    Raises:
        OSError: as gethostname(2) fails.
    """
    return socket.gethostname()


class address_info_flag(enum.IntFlag):
    """Flags for name resolvers, or-able together (manual: "ip.address_info_flag").

    The values are getaddrinfo(3)'s ``AI_*`` flags.
    """

    address_configured = socket.AI_ADDRCONFIG
    """Return IPv4 addresses only if the system has a non-loopback IPv4 address
    configured, and likewise for IPv6."""
    all_matching = socket.AI_ALL
    """With ``v4_mapped``, return all matching IPv6 and IPv4 addresses."""
    canonical_name = socket.AI_CANONNAME
    """Determine the canonical name of the host."""
    passive = socket.AI_PASSIVE
    """The endpoints are meant for a locally bound socket."""
    v4_mapped = socket.AI_V4MAPPED
    """For an IPv6 query, return IPv4-mapped addresses when no IPv6 address is found."""


class message_flag(enum.IntFlag):
    """Flags for send and receive operations, or-able together (manual: "ip.message_flag").

    The values are send(2)/recv(2)'s ``MSG_*`` flags.
    """

    do_not_route = socket.MSG_DONTROUTE
    """The data should not be subject to routing."""
    end_of_record = socket.MSG_EOR
    """The data marks the end of a record."""
    out_of_band = socket.MSG_OOB
    """Process out-of-band data."""
    peek = socket.MSG_PEEK
    """Peek at incoming data without removing it from the input queue."""
