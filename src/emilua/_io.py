"""The fd-owning base of every IO object (sockets, pipes, files, stdio).

An IO object holds a core ``Handle``: closing it cancels the operations in
flight and releases the fd only once the kernel let go of it. Moving the
object to another actor (``_move_out``) detaches the fd and leaves the object
closed, so the sender can no longer use it.
"""

from __future__ import annotations

import errno as _errno
import os
import socket as _socket
import struct
from typing import Any

from emilua._core.proactor import Proactor
from emilua._fiber import _proactor
from emilua.file_descriptor import file_descriptor


def _ebadf() -> OSError:
    return OSError(_errno.EBADF, os.strerror(_errno.EBADF))


class IOObject:
    """Common lifetime management: is_open, close, cancel, release, assign."""

    __slots__ = ("_h", "_p", "__weakref__")

    def __init__(self) -> None:
        self._h: Any = None
        self._p: Proactor | None = None

    def _adopt_fd(self, fd: int) -> None:
        if self._h is not None and not self._h.closed:
            self._h.close()
        p = self._p if self._p is not None else _proactor()
        self._p = p
        self._h = p.handle(fd)

    def _handle(self) -> Any:
        h = self._h
        if h is None or h.closed:
            raise _ebadf()
        return h

    @property
    def is_open(self) -> bool:
        return self._h is not None and not self._h.closed

    def close(self) -> None:
        """Close the object; operations in flight finish with ECANCELED.

        The fd number stays allocated until the kernel completed every
        cancelled operation (io_uring holds the open file, not the number), so
        a socket created afterwards can never receive data meant for this one.
        Closing a closed object does nothing, as in Boost.Asio.
        """
        h = self._h
        if h is not None and not h.closed:
            h.close()

    def cancel(self) -> None:
        """Cancel every operation in flight; they raise OSError(ECANCELED)."""
        self._handle().cancel()

    def release(self) -> file_descriptor:
        """Give up the native fd and return it as a file_descriptor.

        Operations in flight finish with ECANCELED (manual: "release"). While a
        cancelled io_uring operation still holds the file, the caller gets a
        duplicate (a new fd number for the same open file description) and the
        old number is closed once the kernel let go of it. The object is closed
        afterwards.
        """
        h = self._handle()
        if h.busy:
            h.cancel()
        if h.busy:
            fd = os.dup(h.fd)  # close-on-exec, like every fd Python creates
            h.close()
        else:
            fd = h.detach()
        return file_descriptor._adopt(fd)

    def _move_out(self) -> int:
        """Detach the fd for sending to another actor (EBUSY with ops in flight)."""
        h = self._handle()
        if h.busy:
            raise OSError(_errno.EBUSY, "cannot move an IO object with an operation in flight")
        fd = h.detach()
        self._h = None
        return int(fd)

    def fileno(self) -> int:
        return int(self._handle().fd)


def set_nonblocking_cloexec(fd: int) -> None:
    os.set_blocking(fd, False)
    os.set_inheritable(fd, False)


# name -> (level, optname, kind); kinds: "bool", "int", "linger"
SOCKET_OPTIONS: dict[str, tuple[int, int, str]] = {
    "reuse_address": (_socket.SOL_SOCKET, _socket.SO_REUSEADDR, "bool"),
    "reuse_port": (_socket.SOL_SOCKET, _socket.SO_REUSEPORT, "bool"),
    "keep_alive": (_socket.SOL_SOCKET, _socket.SO_KEEPALIVE, "bool"),
    "debug": (_socket.SOL_SOCKET, _socket.SO_DEBUG, "bool"),
    "do_not_route": (_socket.SOL_SOCKET, _socket.SO_DONTROUTE, "bool"),
    "broadcast": (_socket.SOL_SOCKET, _socket.SO_BROADCAST, "bool"),
    "send_buffer_size": (_socket.SOL_SOCKET, _socket.SO_SNDBUF, "int"),
    "receive_buffer_size": (_socket.SOL_SOCKET, _socket.SO_RCVBUF, "int"),
    "send_low_watermark": (_socket.SOL_SOCKET, _socket.SO_SNDLOWAT, "int"),
    "receive_low_watermark": (_socket.SOL_SOCKET, _socket.SO_RCVLOWAT, "int"),
    "out_of_band_inline": (_socket.SOL_SOCKET, _socket.SO_OOBINLINE, "bool"),
    "linger": (_socket.SOL_SOCKET, _socket.SO_LINGER, "linger"),
    "tcp_no_delay": (_socket.IPPROTO_TCP, _socket.TCP_NODELAY, "bool"),
    "v6_only": (_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, "bool"),
    "multicast_loop": (_socket.IPPROTO_IP, _socket.IP_MULTICAST_LOOP, "bool"),
    "multicast_hops": (_socket.IPPROTO_IP, _socket.IP_MULTICAST_TTL, "int"),
    "unicast_hops": (_socket.IPPROTO_IP, _socket.IP_TTL, "int"),
}

# Linux does not let SO_SNDLOWAT be set (socket(7)): asio reports ENOPROTOOPT.
_LINGER = struct.Struct("ii")


def _sock(fd: int) -> _socket.socket:
    return _socket.socket(fileno=fd)


def set_option(fd: int, allowed: frozenset[str], opt: str, value: Any) -> None:
    if opt not in allowed:
        raise ValueError(f"unknown or unsupported option {opt!r}")
    level, name, kind = SOCKET_OPTIONS[opt]
    s = _sock(fd)
    try:
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError(f"option {opt!r} takes a bool")
            s.setsockopt(level, name, int(value))
        elif kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"option {opt!r} takes an int")
            s.setsockopt(level, name, value)
        else:
            try:
                enabled, timeout = value
            except (TypeError, ValueError):
                raise TypeError(
                    "option 'linger' takes a pair (enabled: bool, timeout: int)"
                ) from None
            if (
                not isinstance(enabled, bool)
                or isinstance(timeout, bool)
                or not isinstance(timeout, int)
            ):
                raise TypeError("option 'linger' takes a pair (enabled: bool, timeout: int)")
            s.setsockopt(level, name, _LINGER.pack(enabled, timeout))
    finally:
        s.detach()


def get_option(fd: int, allowed: frozenset[str], opt: str) -> Any:
    if opt not in allowed:
        raise ValueError(f"unknown or unsupported option {opt!r}")
    level, name, kind = SOCKET_OPTIONS[opt]
    s = _sock(fd)
    try:
        if kind == "bool":
            return bool(s.getsockopt(level, name))
        if kind == "int":
            return s.getsockopt(level, name)
        enabled, timeout = _LINGER.unpack(s.getsockopt(level, name, _LINGER.size))
        return (bool(enabled), timeout)
    finally:
        s.detach()


def sockname(fd: int) -> Any:
    s = _sock(fd)
    try:
        return s.getsockname()
    finally:
        s.detach()


def peername(fd: int) -> Any:
    s = _sock(fd)
    try:
        return s.getpeername()
    finally:
        s.detach()
