"""The system module (manual: "system.*"): standard streams, arguments,
environment, exit.
"""

from __future__ import annotations

import errno as _errno
import os
import stat
import sys
from typing import Any

from emilua import _io
from emilua._fiber import _proactor
from emilua.file_descriptor import file_descriptor

__all__ = ["arguments", "environment", "err", "exit", "in_", "out"]

# The CLI replaces this list before the program runs: [emilua, program, args...].
arguments: list[str] = list(sys.argv)
environment: dict[str, str] = dict(os.environ)


class _StdStream:
    """stdin/stdout/stderr as streams that never block the engine.

    Pipes, FIFOs and terminals are reopened through /proc/self/fd as a new
    O_NONBLOCK open file description (setting O_NONBLOCK on the inherited one
    would change it for every process sharing it). Other kinds (regular
    files, sockets) use a duplicate of the fd.
    """

    __slots__ = ("_fileno", "_write", "_obj", "_owner")

    def __init__(self, fileno: int, write: bool) -> None:
        self._fileno = fileno
        self._write = write
        self._obj: _io.IOObject | None = None
        self._owner: Any = None

    def _io(self) -> _io.IOObject:
        p = _proactor()
        if self._obj is None or self._owner is not p or not self._obj.is_open:
            self._obj = _io.IOObject()
            self._obj._p = p
            self._obj._adopt_fd(self._open())
            self._owner = p
        return self._obj

    def _open(self) -> int:
        st = os.fstat(self._fileno)
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
            flags = (os.O_WRONLY if self._write else os.O_RDONLY) | os.O_NONBLOCK | os.O_CLOEXEC
            try:
                return os.open(f"/proc/self/fd/{self._fileno}", flags | os.O_NOCTTY)
            except OSError:
                pass
        fd = os.dup(self._fileno)
        os.set_inheritable(fd, False)
        return fd

    def read_some(self, buffer: Any) -> int:
        """Read from stdin; return the count. Interruption point. EOFError at the end."""
        if self._write:
            raise OSError(_errno.EBADF, "not a readable stream")
        obj = self._io()
        n: int = obj._p.read(obj._handle(), buffer, -1)  # type: ignore[union-attr]
        if n == 0 and len(buffer) > 0:
            raise EOFError("end of stream")
        return n

    def write_some(self, buffer: Any) -> int:
        """Write to the stream; return the count. Interruption point."""
        if not self._write:
            raise OSError(_errno.EBADF, "not a writable stream")
        if isinstance(buffer, str):
            buffer = buffer.encode()
        obj = self._io()
        return obj._p.write(obj._handle(), buffer, -1)  # type: ignore[union-attr,no-any-return]

    def dup(self) -> file_descriptor:
        fd = os.dup(self._fileno)
        return file_descriptor._adopt(fd)

    def isatty(self) -> bool:
        return os.isatty(self._fileno)

    def tcgetpgrp(self) -> int:
        return os.tcgetpgrp(self._fileno)

    def tcsetpgrp(self, pgid: int) -> None:
        os.tcsetpgrp(self._fileno, pgid)

    def __repr__(self) -> str:
        return ("<system.in_>", "<system.out>", "<system.err>")[min(self._fileno, 2)]


in_ = _StdStream(0, False)
out = _StdStream(1, True)
err = _StdStream(2, True)


def exit(code: int = 0, force: int | str = 0) -> None:  # noqa: A001 - the manual's name
    """Exit the VM (manual: "system.exit").

    In the main VM *code* becomes the process's exit status. ``force=2`` exits
    the process at once (``os._exit``); ``force="abort"`` calls abort(3).
    Other VMs in the process are not stopped.
    """
    if isinstance(code, bool) or not isinstance(code, int):
        raise TypeError("exit code must be an int")
    if force == 2:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if force == "abort":
        os.abort()
    if force == 1:
        raise NotImplementedError("system.exit(force=1) is not implemented (as in the manual)")
    if force != 0:
        raise ValueError("force must be 0, 2 or 'abort'")
    _proactor().exit_vm(code)
