"""The system module (manual: "system.*"): standard streams, arguments,
environment, exit, signals, subprocesses, Linux capabilities.
"""

from __future__ import annotations

import errno as _errno
import os
import stat
import sys
from typing import Any

from emilua import _signal as signal
from emilua._actor import VM, require_master
from emilua._core import capabilities as _caps
from emilua._core.capabilities import (  # the securebits flags (cap_get_secbits(3))
    SECBIT_KEEP_CAPS,
    SECBIT_KEEP_CAPS_LOCKED,
    SECBIT_NO_CAP_AMBIENT_RAISE,
    SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
    SECBIT_NO_SETUID_FIXUP,
    SECBIT_NO_SETUID_FIXUP_LOCKED,
    SECBIT_NOROOT,
    SECBIT_NOROOT_LOCKED,
    linux_capabilities,
)
from emilua._fiber import _proactor
from emilua._spawn import spawn, subprocess
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
    "SECBIT_KEEP_CAPS",
    "SECBIT_KEEP_CAPS_LOCKED",
    "SECBIT_NOROOT",
    "SECBIT_NOROOT_LOCKED",
    "SECBIT_NO_CAP_AMBIENT_RAISE",
    "SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED",
    "SECBIT_NO_SETUID_FIXUP",
    "SECBIT_NO_SETUID_FIXUP_LOCKED",
    "arguments",
    "cap_drop_bound",
    "cap_from_text",
    "cap_get_ambient",
    "cap_get_bound",
    "cap_get_proc",
    "cap_get_secbits",
    "cap_init",
    "cap_reset_ambient",
    "cap_set_ambient",
    "cap_set_secbits",
    "linux_capabilities",
    "signal",
    "spawn",
    "subprocess",
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
    if isinstance(vm, VM) and vm is not p.vm:
        # A VM sharing its engine with others: end this VM only (its fibers
        # unwind, its channels close); the engine and the other VMs go on.
        p.end_vm_fibers(vm)
        vm.end()
        from emilua._core.proactor import _Shutdown

        raise _Shutdown()
    p.exit_vm(code)


# ------------------------------------------------ system.linux_capabilities
# Manual: "system.linux_capabilities". The functions that change the
# process's capabilities are reserved to the master VM.
_caps.set_master_check(require_master)


def cap_get_proc() -> linux_capabilities:
    """The calling thread's capabilities (cap_get_proc(3))."""
    return _caps.cap_get_proc_()


def cap_init() -> linux_capabilities:
    """A capability state with every set empty (cap_init(3))."""
    return _caps.cap_init_()


def cap_from_text(caps: str) -> linux_capabilities:
    """Parse the text form (cap_from_text(3)); EINVAL if it does not parse."""
    return _caps.cap_from_text_(caps)


def cap_get_bound(cap: str) -> bool:
    """Whether *cap* is in the bounding set (cap_get_bound(3))."""
    return _caps.cap_get_bound_(cap)


def cap_drop_bound(cap: str) -> None:
    """Drop *cap* from the bounding set (cap_drop_bound(3)). Master VM only."""
    _caps.cap_drop_bound_(cap)


def cap_get_ambient(cap: str) -> bool:
    """Whether *cap* is in the ambient set (cap_get_ambient(3))."""
    return _caps.cap_get_ambient_(cap)


def cap_set_ambient(cap: str, value: bool) -> None:
    """Raise or lower *cap* in the ambient set (cap_set_ambient(3)). Master VM only."""
    _caps.cap_set_ambient_(cap, value)


def cap_reset_ambient() -> None:
    """Empty the ambient set (cap_reset_ambient(3)). Master VM only."""
    _caps.cap_reset_ambient_()


def cap_get_secbits() -> int:
    """The securebits flags (cap_get_secbits(3))."""
    return _caps.cap_get_secbits_()


def cap_set_secbits(bits: int) -> None:
    """Set the securebits flags (cap_set_secbits(3)). Master VM only."""
    _caps.cap_set_secbits_(bits)
