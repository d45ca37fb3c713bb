"""system.spawn and the subprocess it returns (manual: "system.spawn").

The child is created by ``emilua._core.spawn`` (clone(2) with CLONE_VM and
CLONE_VFORK: nothing of the interpreter is copied, and the child runs only C
until execve). The parent gets a pidfd with the PID: ``wait()`` parks the
fiber until the pidfd is readable (pidfd_open(2): it becomes readable when
the process terminates) and reaps with waitid(P_PIDFD), so there is no
SIGCHLD handler and no thread polling for children; ``kill()`` is
pidfd_send_signal(2), which cannot hit a recycled PID.

A subprocess collected without ``wait()`` is reaped by the gcreaper: it
sends ``signal_on_gcreaper`` (SIGTERM by default) through the pidfd and gives
the pidfd to a thread that sleeps in epoll_wait(2) on every such pidfd and
reaps each child as it ends. The thread exists only while such children do,
and is not a daemon: the interpreter waits for them before it exits, as the
manual says the runtime does.
"""

from __future__ import annotations

import errno as _errno
import os
import select
import signal as _signal
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from emilua._core import capabilities as _caps
from emilua._core import spawn as _core
from emilua._fiber import _proactor
from emilua.file_descriptor import file_descriptor

__all__ = ["spawn", "subprocess"]

_SCHED_POLICIES = {
    "other": os.SCHED_OTHER,
    "batch": os.SCHED_BATCH,
    "idle": os.SCHED_IDLE,
    "fifo": os.SCHED_FIFO,
    "rr": os.SCHED_RR,
}
_NAMESPACES = ("user", "mount", "uts", "ipc", "net")
_STD_NAMES = ("stdin", "stdout", "stderr")
_KEEP = -2  # emilua._core.spawn: the target fd stays as the parent has it


class subprocess:  # noqa: N801 - the manual's name
    """A child process created by system.spawn (manual: "subprocess functions",
    "subprocess properties")."""

    __slots__ = ("_exit_code", "_exit_signal", "_gcsig", "_pid", "_pidfd", "__weakref__")
    _pid: int
    _pidfd: int
    _gcsig: int
    _exit_code: int | None
    _exit_signal: int | None

    def __init__(self) -> None:
        raise TypeError("subprocess objects are created by system.spawn()")

    @classmethod
    def _adopt(cls, pid: int, pidfd: int, gcsig: int) -> subprocess:
        self = object.__new__(cls)
        self._pid = pid
        self._pidfd = pidfd
        self._gcsig = gcsig
        self._exit_code = None
        self._exit_signal = None
        return self

    def wait(self) -> None:
        """Wait for the process to finish and reap it; exit_code and
        exit_signal then describe how it ended. Interruption point (an
        interrupted wait leaves the process as it was).

        Raises ChildProcessError (ECHILD) if SIGCHLD is ignored: the kernel
        then reaps children itself and discards their status.
        """
        p = _proactor()
        while self._pidfd >= 0:
            h = p.handle(os.dup(self._pidfd))
            try:
                p.poll(h)
            finally:
                h.close()
            if self._pidfd < 0:
                break  # another fiber reaped it meanwhile
            try:
                info = os.waitid(os.P_PIDFD, self._pidfd, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                # SIGCHLD ignored (SIG_IGN, SA_NOCLDWAIT): the kernel reaped
                # the child itself and its status is gone.
                os.close(self._pidfd)
                self._pidfd = -1
                raise
            if info is None:
                continue
            if info.si_code == os.CLD_EXITED:
                self._exit_code = info.si_status
            else:  # CLD_KILLED, CLD_DUMPED
                self._exit_signal = info.si_status
                self._exit_code = 128 + info.si_status
            os.close(self._pidfd)
            self._pidfd = -1

    def kill(self, signal: int) -> None:
        """Send *signal* to the process (0 checks permission only).

        Raises ProcessLookupError (ESRCH) once the process was wait()ed.
        """
        if isinstance(signal, bool) or not isinstance(signal, int):
            raise TypeError("signal must be an int")
        _signal.pidfd_send_signal(self._alive_pidfd(), signal)

    def cap_get(self) -> _caps.linux_capabilities:
        """The capabilities of the process (cap_get_pid(3))."""
        self._alive_pidfd()
        return _caps.cap_get_pid_(self._pid)

    @property
    def pid(self) -> int:
        """The process's PID; only for processes not wait()ed yet."""
        if self._pidfd < 0:
            raise AttributeError("pid: the process was wait()ed")
        return int(self._pid)

    @property
    def exit_code(self) -> int:
        """exit(3)'s status, or 128 + exit_signal; only after wait()."""
        if self._exit_code is None:
            raise AttributeError("exit_code: the process was not wait()ed")
        return self._exit_code

    @property
    def exit_signal(self) -> int | None:
        """The signal that ended the process, or None; only after wait()."""
        if self._exit_code is None:
            raise AttributeError("exit_signal: the process was not wait()ed")
        return self._exit_signal

    def _alive_pidfd(self) -> int:
        if self._pidfd < 0:
            raise ProcessLookupError(_errno.ESRCH, "the process was wait()ed")
        return int(self._pidfd)

    def __del__(self) -> None:
        pidfd = getattr(self, "_pidfd", -1)
        if pidfd < 0:
            return
        self._pidfd = -1
        if self._gcsig:
            try:
                _signal.pidfd_send_signal(pidfd, self._gcsig)
            except OSError:
                pass
        _reaper.adopt(pidfd)

    def __repr__(self) -> str:
        if self._pidfd >= 0:
            return f"<system.subprocess pid {self._pid}>"
        return f"<system.subprocess exit_code {self._exit_code}>"


class _Reaper:
    """Reaps the children whose subprocess object was collected."""

    def __init__(self) -> None:
        # An RLock: adopt() runs from __del__, which the GC may call while
        # this thread already holds the lock.
        self._lock = threading.RLock()
        self._ep: Any = None
        self._pidfds: set[int] = set()
        self._thread: threading.Thread | None = None

    def adopt(self, pidfd: int) -> None:
        with self._lock:
            if self._ep is None:
                self._ep = select.epoll()
            self._ep.register(pidfd, select.EPOLLIN)
            self._pidfds.add(pidfd)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, args=(self._ep,), name="emilua gcreaper"
                )
                self._thread.start()

    def _run(self, ep: Any) -> None:
        while True:
            with self._lock:
                if not self._pidfds:
                    ep.close()
                    self._ep = None
                    self._thread = None
                    return
            for fd, _ in ep.poll():
                with self._lock:
                    ep.unregister(fd)
                    self._pidfds.discard(fd)
                try:
                    os.waitid(os.P_PIDFD, fd, os.WEXITED)
                except ChildProcessError:
                    pass
                os.close(fd)

    def join(self) -> None:
        """Wait until every adopted child was reaped (for tests)."""
        with self._lock:
            t = self._thread
        if t is not None:
            t.join()


_reaper = _Reaper()


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return int(value)


def _id(name: str, value: Any) -> int:
    # (uid_t)-1 means "unchanged" to setresuid(2): not an id one can ask for.
    n = _int(name, value)
    if not 0 <= n < 0xFFFFFFFF:
        raise OSError(_errno.EINVAL, f"{name}: not a user or group ID: {n}")
    return n


def _fd_of(name: str, value: Any) -> int:
    if not isinstance(value, file_descriptor):
        raise TypeError(f"{name} must be a file_descriptor, not {type(value).__name__}")
    return value._fileno()


def _search_path(name: bytes) -> list[bytes]:
    """The candidates execvp(3) tries for *name*, from this process's PATH."""
    path = os.environ.get("PATH") or os.confstr("CS_PATH") or "/bin:/usr/bin"
    return [os.path.join(os.fsencode(d or "."), name) for d in path.split(":")]


def spawn(
    *,
    program: str | os.PathLike[str] | file_descriptor,
    arguments: Sequence[str | bytes] | None = None,
    environment: Mapping[str, str] | None = None,
    stdin: str | file_descriptor | None = None,
    stdout: str | file_descriptor | None = None,
    stderr: str | file_descriptor | None = None,
    extra_fds: Mapping[int, file_descriptor] | None = None,
    signal_on_gcreaper: int = _signal.SIGTERM,
    scheduler: Mapping[str, Any] | None = None,
    start_new_session: bool = False,
    set_ctty: file_descriptor | None = None,
    process_group: int | None = None,
    foreground: str | file_descriptor | None = None,
    ruid: int | None = None,
    euid: int | None = None,
    rgid: int | None = None,
    egid: int | None = None,
    extra_groups: Sequence[int] | None = None,
    umask: int | None = None,
    working_directory: str | os.PathLike[str] | file_descriptor | None = None,
    pdeathsig: int | None = None,
    nsenter_user: file_descriptor | None = None,
    nsenter_mount: file_descriptor | None = None,
    nsenter_uts: file_descriptor | None = None,
    nsenter_ipc: file_descriptor | None = None,
    nsenter_net: file_descriptor | None = None,
) -> subprocess:
    """Create a process (manual: "system.spawn"); the manual's named
    parameters are keyword arguments, ``scheduler`` a mapping with
    ``policy``, ``priority`` and ``reset_on_fork``.

    *program*: a str without a slash is searched in PATH (execvp(3)); a str
    with a slash or an os.PathLike is a path; a file_descriptor is executed
    with execveat(2) (fexecve(3)). stdin/stdout/stderr: ``"share"``, a
    file_descriptor, or None for a closed pipe end. Every fd of this
    process that is not passed is closed in the child.

    An error before the program runs (ENOENT, EACCES, EPERM from setresuid,
    ...) raises OSError with that errno; its ``filename`` names the program
    for exec errors, the failed step otherwise.
    """
    kwargs: dict[str, Any] = {}
    # program
    if isinstance(program, file_descriptor):
        kwargs["program_fd"] = program._fileno()
        shown: Any = str(program)
    elif isinstance(program, str) and "/" not in program:
        if not program:
            raise OSError(_errno.ENOENT, os.strerror(_errno.ENOENT), program)
        kwargs["candidates"] = _search_path(os.fsencode(program))
        shown = program
    elif isinstance(program, (str, os.PathLike)):
        kwargs["path"] = os.fsencode(program)
        shown = os.fsdecode(program)
    else:
        raise TypeError("program must be a str, a path or a file_descriptor")
    kwargs["argv"] = [os.fsencode(a) for a in arguments or ()]
    env = environment or {}
    kwargs["envp"] = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]

    fds: dict[int, int] = {}
    child_ends: list[int] = []  # closed here once the child has its copy
    try:
        for target, (name, value) in enumerate(
            zip(_STD_NAMES, (stdin, stdout, stderr), strict=True)
        ):
            if value == "share":
                fds[target] = _KEEP
            elif value is None:
                # A closed pipe end: EOF for stdin, EPIPE for the others.
                r, w = os.pipe2(os.O_CLOEXEC)
                mine, other = (r, w) if target == 0 else (w, r)
                os.close(other)
                child_ends.append(mine)
                fds[target] = mine
            else:
                fds[target] = _fd_of(name, value)
        for target, value in (extra_fds or {}).items():
            if isinstance(target, bool) or not isinstance(target, int) or not 3 <= target <= 9:
                raise ValueError("extra_fds keys must be ints from 3 to 9")
            fds[target] = _fd_of(f"extra_fds[{target}]", value)
        _options(
            kwargs,
            signal_on_gcreaper,
            scheduler,
            start_new_session,
            set_ctty,
            process_group,
            foreground,
            (stdin, stdout, stderr),
            (ruid, euid, rgid, egid),
            extra_groups,
            umask,
            working_directory,
            pdeathsig,
            (nsenter_user, nsenter_mount, nsenter_uts, nsenter_ipc, nsenter_net),
        )
        gcsig = _int("signal_on_gcreaper", signal_on_gcreaper)
        try:
            pid, pidfd = _core.spawn(fds=fds, **kwargs)
        except OSError as e:
            if e.filename == "execve":
                e.filename = shown
            raise
    finally:
        for fd in child_ends:
            os.close(fd)
    return subprocess._adopt(pid, pidfd, gcsig)


def _options(
    kwargs: dict[str, Any],
    signal_on_gcreaper: Any,
    scheduler: Mapping[str, Any] | None,
    start_new_session: bool,
    set_ctty: file_descriptor | None,
    process_group: int | None,
    foreground: str | file_descriptor | None,
    std: tuple[Any, Any, Any],
    ids: tuple[int | None, int | None, int | None, int | None],
    extra_groups: Sequence[int] | None,
    umask: int | None,
    working_directory: Any,
    pdeathsig: int | None,
    nsenter: tuple[file_descriptor | None, ...],
) -> None:
    """Check the options of spawn() and turn them into _core.spawn arguments."""
    _int("signal_on_gcreaper", signal_on_gcreaper)
    if scheduler is not None:
        unknown = set(scheduler) - {"policy", "priority", "reset_on_fork"}
        if unknown:
            raise ValueError(f"unknown scheduler options: {sorted(unknown)}")
        policy = scheduler.get("policy")
        priority = scheduler.get("priority")
        if policy is None:
            if priority is not None or scheduler.get("reset_on_fork"):
                raise ValueError("scheduler.priority and reset_on_fork need scheduler.policy")
        else:
            if policy not in _SCHED_POLICIES:
                raise ValueError(f"unknown scheduler.policy {policy!r}")
            if policy in ("fifo", "rr") and priority is None:
                raise ValueError(f"scheduler.policy {policy!r} needs scheduler.priority")
            kwargs["sched_policy"] = _SCHED_POLICIES[policy]
            kwargs["sched_priority"] = _int("scheduler.priority", priority or 0)
            kwargs["sched_reset"] = bool(scheduler.get("reset_on_fork", False))
    kwargs["new_session"] = bool(start_new_session)
    if set_ctty is not None:
        if not start_new_session:
            raise ValueError("set_ctty needs start_new_session")
        if foreground is not None:
            raise ValueError("set_ctty and foreground exclude each other")
        kwargs["ctty_fd"] = _fd_of("set_ctty", set_ctty)
    if process_group is not None:
        kwargs["pgid"] = _int("process_group", process_group)
    if foreground is not None:
        if process_group is None:
            raise ValueError("foreground needs process_group")
        if isinstance(foreground, str):
            if foreground not in _STD_NAMES:
                raise ValueError('foreground must be "stdin", "stdout", "stderr" or an fd')
            target = _STD_NAMES.index(foreground)
            if std[target] != "share":
                raise ValueError(f'foreground="{foreground}" needs {foreground}="share"')
            kwargs["fg_fd"] = target
        else:
            kwargs["fg_fd"] = _fd_of("foreground", foreground)
    for name, value in zip(("ruid", "euid", "rgid", "egid"), ids, strict=True):
        if value is not None:
            kwargs[name] = _id(name, value)
    if extra_groups is not None:
        kwargs["groups"] = [_id("extra_groups[]", g) for g in extra_groups]
    if umask is not None:
        kwargs["umask"] = _int("umask", umask) & 0o777
    if working_directory is not None:
        if isinstance(working_directory, file_descriptor):
            kwargs["cwd_fd"] = working_directory._fileno()
        else:
            kwargs["cwd_path"] = os.fsencode(working_directory)
    if pdeathsig is not None:
        kwargs["pdeathsig"] = _int("pdeathsig", pdeathsig)
    kwargs["nsenter"] = {
        ns: _fd_of(f"nsenter_{ns}", fd)
        for ns, fd in zip(_NAMESPACES, nsenter, strict=True)
        if fd is not None
    }
