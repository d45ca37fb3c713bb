"""The system module (manual: "system.*"): standard streams, arguments,
environment, exit.
"""

from __future__ import annotations

import errno as _errno
import os
import stat
import sys
from typing import Any

from emilua._fiber import _proactor
from emilua._system_ids import (  # process ids and credentials
    getgroups,
    getpgid,
    getpgrp,
    getpid,
    getppid,
    getresgid,
    getresuid,
    getsid,
    kill,
    setgroups,
    setpgid,
    setresgid,
    setresuid,
    setsid,
)
from emilua.file_descriptor import file_descriptor

__all__ = [
    "arguments",
    "environment",
    "err",
    "exit",
    "getgroups",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getresgid",
    "getresuid",
    "getsid",
    "in_",
    "kill",
    "out",
    "setgroups",
    "setpgid",
    "setresgid",
    "setresuid",
    "setsid",
]

# The CLI replaces this list before the program runs: [emilua, program, args...].
arguments: list[str] = list(sys.argv)
environment: dict[str, str] = dict(os.environ)


class _StdStream:
    """stdin/stdout/stderr as streams that never block the engine.

    Each operation works on its own fd, closed when the operation ends, so
    an engine that finished leaves no fd behind. Pipes, FIFOs and terminals
    are reopened through /proc/self/fd as a new O_NONBLOCK open file
    description (setting O_NONBLOCK on the inherited one would change it for
    every process sharing it). A socket is duplicated and used with
    MSG_DONTWAIT; a regular file or a device that cannot be reopened is
    duplicated (regular files never wait for readiness).
    """

    __slots__ = ("_fileno", "_write")

    def __init__(self, fileno: int, write: bool) -> None:
        self._fileno = fileno
        self._write = write

    def _open(self) -> tuple[int, bool]:
        """A close-on-exec fd for one operation, and whether it is a socket."""
        st = os.fstat(self._fileno)
        if stat.S_ISSOCK(st.st_mode):
            return os.dup(self._fileno), True
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
            flags = (os.O_WRONLY if self._write else os.O_RDONLY) | os.O_NONBLOCK | os.O_CLOEXEC
            try:
                return os.open(f"/proc/self/fd/{self._fileno}", flags | os.O_NOCTTY), False
            except OSError:
                # ENXIO: a FIFO without a reader; /proc not mounted.
                pass
        return os.dup(self._fileno), False  # Python's dup() is close-on-exec

    def read_some(self, buffer: Any) -> int:
        """Read from stdin; return the count. Interruption point.

        Raises EOFError at the end of the stream; an empty buffer returns 0.
        """
        if self._write:
            raise OSError(_errno.EBADF, "not a readable stream")
        p = _proactor()
        if len(buffer) == 0:
            return 0
        fd, is_socket = self._open()
        h = p.handle(fd)
        try:
            n: int = p.recv(h, buffer, 0) if is_socket else p.read(h, buffer, -1)
        finally:
            h.close()
        if n == 0:
            raise EOFError("end of stream")
        return n

    def write_some(self, buffer: Any) -> int:
        """Write to the stream; return the count. Interruption point."""
        if not self._write:
            raise OSError(_errno.EBADF, "not a writable stream")
        if isinstance(buffer, str):
            buffer = buffer.encode()
        p = _proactor()
        fd, is_socket = self._open()
        h = p.handle(fd)
        try:
            n: int = p.send(h, buffer, 0) if is_socket else p.write(h, buffer, -1)
        finally:
            h.close()
        return n

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
    p = _proactor()
    f = p.current_fiber
    vm = f.vm if f is not None else None
    if vm is not None and vm is not p.vm:
        # A VM sharing its engine with others: end this VM only (its fibers
        # unwind, its channels close); the engine and the other VMs go on.
        p.end_vm_fibers(vm)
        vm.end()
        from emilua._core.proactor import _Shutdown

        raise _Shutdown()
    p.exit_vm(code)
