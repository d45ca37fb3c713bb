"""Errors of Boost.Asio's categories.

Manual: "asio_error". ``asio_error.misc.eof`` and the like build a new error on
each access, ready to be raised. The manual's four groups map as follows:

- ``basic``: errno values of the ``system`` category, as Boost.Asio defines them
  on POSIX hosts, so they are ``OSError`` instances with ``errno`` untouched.
- ``netdb``: category ``asio.netdb`` (``h_errno`` values); ``socket.herror``.
- ``addrinfo``: category ``asio.addrinfo`` (``EAI_*`` values); ``socket.gaierror``.
- ``misc``: category ``asio.misc``; ``eof`` is an ``EOFError`` (the engine's end of
  stream), the others are plain :class:`emilua._errors.CategoryError`.
"""

from __future__ import annotations

import errno as _errno
import socket as _socket
from collections.abc import Mapping

from emilua._errors import CategoryError, _register, _TableCategory, error_category, system_category

__all__ = ["addrinfo", "basic", "misc", "netdb"]

_BASIC: dict[str, int] = {
    "access_denied": _errno.EACCES,
    "address_family_not_supported": _errno.EAFNOSUPPORT,
    "address_in_use": _errno.EADDRINUSE,
    "already_connected": _errno.EISCONN,
    "already_started": _errno.EALREADY,
    "broken_pipe": _errno.EPIPE,
    "connection_aborted": _errno.ECONNABORTED,
    "connection_refused": _errno.ECONNREFUSED,
    "connection_reset": _errno.ECONNRESET,
    "bad_descriptor": _errno.EBADF,
    "fault": _errno.EFAULT,
    "host_unreachable": _errno.EHOSTUNREACH,
    "in_progress": _errno.EINPROGRESS,
    "interrupted": _errno.EINTR,
    "invalid_argument": _errno.EINVAL,
    "message_size": _errno.EMSGSIZE,
    "name_too_long": _errno.ENAMETOOLONG,
    "network_down": _errno.ENETDOWN,
    "network_reset": _errno.ENETRESET,
    "network_unreachable": _errno.ENETUNREACH,
    "no_descriptors": _errno.EMFILE,
    "no_buffer_space": _errno.ENOBUFS,
    "no_memory": _errno.ENOMEM,
    "no_permission": _errno.EPERM,
    "no_protocol_option": _errno.ENOPROTOOPT,
    "no_such_device": _errno.ENODEV,
    "not_connected": _errno.ENOTCONN,
    "not_socket": _errno.ENOTSOCK,
    "operation_aborted": _errno.ECANCELED,
    "operation_not_supported": _errno.EOPNOTSUPP,
    "shut_down": _errno.ESHUTDOWN,
    "timed_out": _errno.ETIMEDOUT,
    "try_again": _errno.EAGAIN,
    "would_block": _errno.EWOULDBLOCK,
}

# <netdb.h> h_errno values (glibc).
netdb_category: error_category = _TableCategory(
    "asio.netdb",
    {
        1: ("host_not_found", "Host not found (authoritative)"),
        2: ("host_not_found_try_again", "Host not found (non-authoritative), try again later"),
        3: ("no_recovery", "A non-recoverable error occurred during database lookup"),
        4: ("no_data", "The query is valid, but it does not have associated data"),
    },
    _socket.herror,
    lambda code, msg: (code, msg),
)

addrinfo_category: error_category = _TableCategory(
    "asio.addrinfo",
    {
        _socket.EAI_SERVICE: ("service_not_found", "Service not found"),
        _socket.EAI_SOCKTYPE: ("socket_type_not_supported", "Socket type not supported"),
    },
    _socket.gaierror,
    lambda code, msg: (code, msg),
)

misc_category: error_category = _TableCategory(
    "asio.misc",
    {
        1: ("already_open", "Already open"),
        2: ("eof", "End of file"),
        3: ("not_found", "Element not found"),
        4: ("fd_set_failure", "The descriptor does not fit into the select call's fd_set"),
    },
    lambda code: EOFError if code == 2 else CategoryError,
)

for _category in (netdb_category, addrinfo_category, misc_category):
    _register(_category, __name__)


class _Group:
    """One of the manual's groups: attribute access builds a new error."""

    def __init__(self, name: str, category: error_category, codes: Mapping[str, int]) -> None:
        self._name = name
        self._category = category
        self._codes = dict(codes)

    def __getattr__(self, alias: str) -> CategoryError:
        if alias.startswith("_"):
            raise AttributeError(alias)
        try:
            code = self._codes[alias]
        except KeyError:
            raise AttributeError(f"asio_error.{self._name} has no error {alias!r}") from None
        return self._category.error(code)

    def __dir__(self) -> list[str]:
        return sorted(self._codes)

    def __repr__(self) -> str:
        return f"<asio_error.{self._name}>"


def _aliases(category: error_category) -> dict[str, int]:
    return dict(category._aliases)


basic = _Group("basic", system_category, _BASIC)
netdb = _Group("netdb", netdb_category, _aliases(netdb_category))
addrinfo = _Group("addrinfo", addrinfo_category, _aliases(addrinfo_category))
misc = _Group("misc", misc_category, _aliases(misc_category))
