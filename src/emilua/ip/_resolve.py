"""Name resolution and endpoint-sequence connects (manual: "ip.get_address_info",
"ip.get_name_info", "ip.connect").

getaddrinfo(3) and getnameinfo(3) block, so they run on a worker thread
(``emilua._offload``) while the calling fiber is parked: both are
interruption points, and an interrupted lookup's late result is dropped.
Resolver errors are ``socket.gaierror`` (an OSError) with the resolver's own
``EAI_*`` code, untouched.
"""

from __future__ import annotations

import errno as _errno
import socket as _socket
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from emilua._offload import run_blocking
from emilua.ip._address import address, address_info_flag

__all__ = ["address_info", "connect", "get_address_info", "get_name_info", "name_info"]

# Manual: with no flags, follow glibc's defaults even where libc differs.
DEFAULT_FLAGS = int(address_info_flag.address_configured | address_info_flag.v4_mapped)

_PROTOCOLS = {
    "tcp": (_socket.SOCK_STREAM, _socket.IPPROTO_TCP),
    "udp": (_socket.SOCK_DGRAM, _socket.IPPROTO_UDP),
}


class address_info(NamedTuple):
    """One endpoint of ``get_address_info()``.

    ``canonical_name`` is set only when ``address_info_flag.canonical_name``
    was asked for (every entry then carries the name getaddrinfo(3) reported).
    """

    address: address
    port: int
    canonical_name: str | None = None


class name_info(NamedTuple):
    """One entry of ``get_name_info()``."""

    host_name: str
    service_name: str


def _protocol(protocol: str) -> tuple[int, int]:
    try:
        return _PROTOCOLS[protocol]
    except KeyError:
        raise ValueError(f"protocol must be 'tcp' or 'udp', not {protocol!r}") from None


def _lookup(
    host: str | None, service: str, family: int, socktype: int, proto: int, flags: int
) -> list[address_info]:
    results = _socket.getaddrinfo(host, service, family, socktype, proto, flags)
    canonical = None
    if flags & _socket.AI_CANONNAME:
        # getaddrinfo(3) puts the name in the first entry only; Boost.Asio
        # (and so the manual's entries) gives it to each of them.
        canonical = next((r[3] for r in results if r[3]), None)
        if canonical is None:
            canonical = host or ""
    out = []
    for _, _, _, _, sockaddr in results:
        addr, port = address._from_sockaddr(sockaddr)
        out.append(address_info(addr, port, canonical))
    return out


def get_address_info(
    host: str | address | None,
    service: str | int,
    flags: int | None = None,
    *,
    protocol: str = "tcp",
    family: str | None = None,
) -> list[address_info]:
    """Forward-resolve *host* and *service* into a list of endpoints.

    Manual: "ip.get_address_info". *flags* is 0 or an or-combination of
    ``ip.address_info_flag``; ``None`` means ``address_configured | v4_mapped``
    (glibc's defaults). An ``ip.address`` host is not looked up, nor is an
    integer service. *family* ``"v4"``/``"v6"`` restricts the query (the
    manual's ``get_address_v4_info``/``get_address_v6_info``). Interruption
    point.

    Raises ``socket.gaierror`` (an OSError, errno ``EAI_*``) when resolution
    fails, TypeError/ValueError on bad arguments.
    """
    socktype, proto = _protocol(protocol)
    if flags is None:
        flags = DEFAULT_FLAGS
    if isinstance(flags, bool) or not isinstance(flags, int):
        raise TypeError("flags must be an int (ip.address_info_flag values)")
    flags = int(flags)
    if family is None:
        af = _socket.AF_UNSPEC
    elif family == "v4":
        af = _socket.AF_INET
    elif family == "v6":
        af = _socket.AF_INET6
    else:
        raise ValueError(f"family must be 'v4', 'v6' or None, not {family!r}")

    query_host: str | None
    if isinstance(host, address):
        query_host = _socket.inet_ntop(host._family, host._packed)
        if host.is_v6 and host.scope_id:
            query_host = f"{query_host}%{host.scope_id}"
        flags |= _socket.AI_NUMERICHOST
    elif isinstance(host, str):
        query_host = host or None
    elif host is None:
        query_host = None
    else:
        raise TypeError(f"host must be a str or an ip.address, not {type(host).__name__}")

    if isinstance(service, bool):
        raise TypeError("service must be a str or an int")
    if isinstance(service, int):
        if not 0 <= service <= 65535:
            raise ValueError(f"port {service} is out of range 0-65535")
        query_service = str(service)
        flags |= _socket.AI_NUMERICSERV
    elif isinstance(service, str):
        query_service = service
    else:
        raise TypeError(f"service must be a str or an int, not {type(service).__name__}")

    return run_blocking(  # type: ignore[no-any-return]
        _lookup, query_host, query_service, af, socktype, proto, flags
    )


def get_name_info(addr: address, port: int, *, protocol: str = "tcp") -> list[name_info]:
    """Reverse-resolve the endpoint (*addr*, *port*) into host and service names.

    Manual: "ip.get_name_info". Returns one entry, as Boost.Asio does; where
    no name is known the numeric form is returned. Interruption point.
    Raises ``socket.gaierror`` when the lookup fails.
    """
    socktype, _ = _protocol(protocol)
    if not isinstance(addr, address):
        raise TypeError(f"get_name_info() needs an ip.address, not {type(addr).__name__}")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError("port must be an int")
    sockaddr = addr._sockaddr(port)
    flags = _socket.NI_DGRAM if socktype == _socket.SOCK_DGRAM else 0
    host, service = run_blocking(_socket.getnameinfo, sockaddr, flags)
    return [name_info(host, service)]


def _endpoint(entry: Any) -> tuple[address, int]:
    if isinstance(entry, address_info):
        return entry.address, entry.port
    if hasattr(entry, "address") and hasattr(entry, "port"):
        return entry.address, int(entry.port)
    addr, port = entry
    return addr, int(port)


def connect(
    sock: Any,
    resolve_results: Iterable[Any],
    condition: Callable[[BaseException | None, address, int], bool] | None = None,
) -> tuple[address, int]:
    """Connect *sock* to the first endpoint of *resolve_results* that accepts.

    Manual: "ip.connect". Tries each endpoint in order with
    ``sock.connect(addr, port)``, closing *sock* before each attempt (a
    socket of the endpoint's family is opened). *condition(last_error,
    next_address, next_port)*, if given, is called before each attempt
    (``last_error`` is None before the first one, then the error of the
    previous attempt) and returns whether to try that endpoint. Returns the
    endpoint connected to. Interruption point.

    Raises the last attempt's OSError when every attempt failed, and
    LookupError (the manual's ``not_found``) when no endpoint was tried. A
    connect cancelled by closing or cancelling *sock* (ECANCELED) ends the
    whole operation.
    """
    last_error: BaseException | None = None
    for entry in resolve_results:
        addr, port = _endpoint(entry)
        if condition is not None and not condition(last_error, addr, port):
            continue
        if sock.is_open:
            sock.close()
        try:
            sock.connect(addr, port)
        except OSError as e:
            if e.errno == _errno.ECANCELED:
                raise
            last_error = e
            continue
        return addr, port
    if last_error is not None:
        raise last_error
    raise LookupError("ip.connect(): no endpoint to try (not_found)")
