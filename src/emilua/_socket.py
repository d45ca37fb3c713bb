"""What TCP and UNIX sockets have in common: options, shutdown, FIONREAD,
reading a stream, and the acceptor's listen/accept.

``SocketBase`` is the base of every socket class; ``Connected`` and
``Listening`` are added in front of a module's own base (``class
acceptor(Listening, _Endpointed)``), so they hold no slots of their own: a
class that uses ``Listening`` declares the ``_report_aborted`` slot itself.
"""

from __future__ import annotations

import fcntl
import socket as _socket
import struct
import termios
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from emilua import _io
from emilua._core.proactor import Proactor

_SHUTDOWN = {"receive": _socket.SHUT_RD, "send": _socket.SHUT_WR, "both": _socket.SHUT_RDWR}


class SocketBase(_io.IOObject):
    """An IO object over a socket, with the options its class lists in ``_options``."""

    __slots__ = ()
    _options: frozenset[str] = frozenset()

    @contextmanager
    def _borrowed(self) -> Iterator[_socket.socket]:
        """A socket.socket over this object's fd, detached again on exit."""
        s = _socket.socket(fileno=self.fileno())
        try:
            yield s
        finally:
            s.detach()

    def set_option(self, opt: str, val: Any) -> None:
        """Set a socket option; the names are the manual's for this class."""
        _io.set_option(self.fileno(), self._options, opt, val)

    def get_option(self, opt: str) -> Any:
        """Get a socket option; the names are the manual's for this class."""
        return _io.get_option(self.fileno(), self._options, opt)


class Connected(SocketBase):
    """A socket that transfers data: shutdown, io_control, stream reads."""

    __slots__ = ()

    def shutdown(self, what: str) -> None:
        """Disable sends ('send'), receives ('receive') or both ('both')."""
        try:
            how = _SHUTDOWN[what]
        except KeyError:
            raise ValueError(
                f"shutdown() takes 'receive', 'send' or 'both', not {what!r}"
            ) from None
        with self._borrowed() as s:
            s.shutdown(how)

    def io_control(self, command: str, *args: Any) -> Any:
        """'bytes_readable' (FIONREAD): bytes that can be read without blocking."""
        if command != "bytes_readable" or args:
            raise ValueError(f"unknown io_control command {command!r}")
        buf = fcntl.ioctl(self.fileno(), termios.FIONREAD, b"\0\0\0\0")
        return struct.unpack("i", buf)[0]

    def _recv_eof(self, buffer: Any, flags: int) -> int:
        """recv(2) where a 0-byte read is the end (EOFError). Interruption point.

        An empty buffer returns 0 at once: recv(2) of zero bytes would wait
        for data on Linux (and on a seqpacket socket consume a message).
        """
        h = self._handle()
        if len(buffer) == 0:
            return 0
        n: int = self._p.recv(h, buffer, int(flags))  # type: ignore[union-attr]
        if n == 0:
            raise EOFError("end of stream")
        return n


class Listening(SocketBase):
    """A listening socket: enable_connection_aborted, listen, accept."""

    __slots__ = ()
    _report_aborted: bool  # a slot of the class that uses Listening

    def set_option(self, opt: str, val: Any) -> None:
        """Set an option; 'enable_connection_aborted' (bool) chooses whether
        accept() reports ECONNABORTED or retries past it."""
        if opt == "enable_connection_aborted":
            # accept(2) on Linux reports ECONNABORTED only when asked; the flag is
            # engine state, not a socket option (as in Boost.Asio).
            if not isinstance(val, bool):
                raise TypeError("option 'enable_connection_aborted' takes a bool")
            self._handle()
            # The slot is the using class's (see the module docstring).
            self._report_aborted = val  # type: ignore[misc]
            return
        super().set_option(opt, val)

    def get_option(self, opt: str) -> Any:
        """Get an option; 'enable_connection_aborted' is the engine's flag."""
        if opt == "enable_connection_aborted":
            self._handle()
            return self._report_aborted
        return super().get_option(opt)

    def listen(self, backlog: int | None = None) -> None:
        """Start listening (manual: "listen"); *backlog* defaults to SOMAXCONN."""
        with self._borrowed() as s:
            s.listen(_socket.SOMAXCONN if backlog is None else backlog)

    def _accept_fd(self) -> tuple[Proactor, int]:
        """Wait for a connection; return the proactor and the new fd.

        Interruption point. ECONNABORTED is retried unless the option
        enable_connection_aborted is set.
        """
        h = self._handle()
        p = self._p
        assert p is not None
        while True:
            try:
                fd: int = p.accept(h)
            except ConnectionAbortedError:
                if self._report_aborted:
                    raise
                continue
            return p, fd
