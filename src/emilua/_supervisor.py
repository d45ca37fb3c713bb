"""The process-actor supervisor (manual: "Linux namespaces", "Spawning a new
process").

A plain fork of CPython would carry the parent's argv, environment and heap
into every actor, so the supervisor is a fresh interpreter: the ``emilua``
command starts it first thing (fork + exec, empty environment, the control
socket its only extra fd). It imports the engine once and then waits on a
blocking AF_UNIX/SOCK_SEQPACKET socket for spawn requests, forking one child
per process actor. Actors are its children, so the main process's SIGCHLD
handling is untouched; it reaps them itself. It exits when the main process
closes the control socket (the main process exited).

Requests are JSON objects with fds in SCM_RIGHTS; the main process is
trusted by the supervisor (the manual's threat model), the actors are not
and never talk to it.
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

_MAX_REQUEST = 64 * 1024
_MAX_FDS = 8

_ctl: socket.socket | None = None
_proc: subprocess.Popen[bytes] | None = None
_lock = threading.Lock()


def send_fds(sock: socket.socket, data: bytes, fds: list[int]) -> None:
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []
    sock.sendmsg([data], anc)


def recv_fds(sock: socket.socket) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    data, anc, flags, _ = sock.recvmsg(
        _MAX_REQUEST, socket.CMSG_SPACE(_MAX_FDS * fds.itemsize), socket.MSG_CMSG_CLOEXEC
    )
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            os.close(fd)
        raise OSError("truncated supervisor message")
    return data, list(fds)


def start() -> None:
    """Start the supervisor (the CLI does it before any user code runs)."""
    global _ctl, _proc
    with _lock:
        if _ctl is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            _proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "emilua._supervisor", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env={},
                close_fds=True,
            )
        finally:
            theirs.close()
        _ctl = ours


def request(msg: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
    """One request/reply exchange with the supervisor (serialised by a lock).

    The supervisor answers at once (it only forks), so a blocking exchange
    costs about as much as a fork; it runs off the engine's hot path.
    """
    start()
    assert _ctl is not None
    with _lock:
        send_fds(_ctl, json.dumps(msg).encode(), fds)
        data, rfds = recv_fds(_ctl)
    reply = json.loads(data)
    if "error" in reply:
        for fd in rfds:
            os.close(fd)
        raise OSError(reply.get("errno", 0), reply["error"])
    return reply, rfds


# ------------------------------------------------------------- supervisor side


def _reap(signum: int, frame: Any) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _warm_up() -> None:
    # Everything an actor may need from the engine is imported once here, so
    # that every child starts with it loaded (and a sandbox with an empty root
    # can still use the engine).
    import emilua  # noqa: F401
    import emilua._actor  # noqa: F401
    import emilua._core.codec  # noqa: F401
    import emilua._process_actor  # noqa: F401
    import emilua.byte_span  # noqa: F401
    import emilua.ip  # noqa: F401
    import emilua.stream  # noqa: F401
    import emilua.system  # noqa: F401
    import emilua.time  # noqa: F401

    for name in ("emilua.mutex", "emilua.condition_variable", "emilua._core.initscript"):
        try:
            __import__(name)
        except ImportError:
            pass


def serve(ctl_fd: int) -> None:
    ctl = socket.socket(fileno=ctl_fd)
    os.set_inheritable(ctl_fd, False)
    _warm_up()
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's ^C is for the program
    while True:
        try:
            data, fds = recv_fds(ctl)
        except OSError:
            return
        if not data:
            return
        try:
            req = json.loads(data)
            if req.get("op") != "spawn":
                raise ValueError(f"unknown request {req.get('op')!r}")
            pid, pidfd = _spawn(req, fds, ctl_fd)
        except OSError as e:
            send_fds(ctl, json.dumps({"error": str(e), "errno": e.errno or 0}).encode(), [])
        except Exception as e:
            send_fds(ctl, json.dumps({"error": repr(e), "errno": 0}).encode(), [])
        else:
            try:
                send_fds(ctl, json.dumps({"pid": pid}).encode(), [pidfd])
            finally:
                os.close(pidfd)
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass


def _spawn(req: dict[str, Any], fds: list[int], ctl_fd: int) -> tuple[int, int]:
    roles = req.get("fd_roles", ["inbox"])
    if len(fds) != len(roles) or "inbox" not in roles:
        raise ValueError("the fds of a spawn request do not match its fd_roles")
    given = dict(zip(roles, fds))
    ns = req.get("linux_namespaces")
    me = os.getpid()
    # The sandbox's PID 1 sends its pidfd back on this pair (it is not our
    # child when a PID namespace sits in between).
    report_rx, report_tx = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                report_rx.close()
                code = _child(req, given, me, report_tx)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                except Exception:
                    pass
                os._exit(code)
        report_tx.close()
        if ns is not None and ns.get("new_pid"):
            # PID 1 lives one fork below; its pidfd comes from our child.
            try:
                data, rfds = recv_fds(report_rx)
            except OSError:
                data, rfds = b"", []
            if not rfds:
                raise OSError(0, "the sandbox failed before its PID 1 started")
            return int(data.decode()), rfds[0]
        return pid, os.pidfd_open(pid)
    finally:
        report_rx.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


_CLONE = {
    "new_user": 0x10000000,
    "new_mount": 0x00020000,
    "new_uts": 0x04000000,
    "new_ipc": 0x08000000,
    "new_net": 0x40000000,
    "new_pid": 0x20000000,
}
_FORWARDED = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGINT)


def _close_all_but(keep: set[int]) -> None:
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 20)


def _child(
    req: dict[str, Any], given: dict[str, int], supervisor: int, report: socket.socket
) -> int:
    import prctl

    # The actor dies with the supervisor (and so with the program).
    prctl.set_pdeathsig(signal.SIGKILL)
    if os.getppid() != supervisor:
        return 1
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ns = req.get("linux_namespaces")
    inbox_fd = given["inbox"]
    setup_fd = given.get("setup", -1)
    if ns is not None:
        _stdio(ns, given)
    # An actor holds no fd it was not given: the control socket and anything
    # else the supervisor had open are closed.
    keep = {0, 1, 2, inbox_fd, report.fileno()}
    if setup_fd >= 0:
        keep.add(setup_fd)
    _close_all_but(keep)
    os.set_blocking(inbox_fd, False)
    for entry in req.get("sys_path", []):
        if entry not in sys.path:
            sys.path.append(entry)
    if ns is None:
        report.close()
        from emilua import _process_actor

        return _process_actor.child_main(req, inbox_fd)
    return _sandbox_child(req, ns, inbox_fd, setup_fd, report)


def _stdio(ns: dict[str, Any], given: dict[str, int]) -> None:
    """stdin/stdout/stderr: 'share', a given fd, or a closed pipe end (None)."""
    for std, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        how = ns.get(name)
        if how == "share":
            continue
        if how == "fd":
            os.dup2(given[name], std)
            continue
        r, w = os.pipe()
        if std == 0:
            os.dup2(r, 0)
        else:
            os.dup2(w, std)
        os.close(r)
        os.close(w)


def _sandbox_child(
    req: dict[str, Any], ns: dict[str, Any], inbox_fd: int, setup_fd: int, report: socket.socket
) -> int:
    import prctl

    from emilua._core import initscript

    flags = 0
    for key, bit in _CLONE.items():
        if ns.get(key):
            flags |= bit
    # The setup socket carries the init.script and init.fd straight from the
    # program: the supervisor never sees them.
    script, fdarg = None, None
    if setup_fd >= 0:
        setup = socket.socket(fileno=setup_fd)
        data, sfds = recv_fds(setup)
        setup.close()
        script = data.decode() if data else None
        fdarg = sfds[0] if sfds else None
    c = initscript.CTable({"errexit": False})
    if flags:
        _, err = c.unshare(flags)
        if err:
            raise OSError(err, f"unshare: {os.strerror(err)}")
    if flags & _CLONE["new_pid"]:
        pid1 = os.fork()
        if pid1 != 0:
            # Our child is PID 1 of the new namespace: hand its pidfd to the
            # supervisor, then stay as its parent until it ends.
            pidfd = os.pidfd_open(pid1)
            send_fds(report, str(pid1).encode(), [pidfd])
            os.close(pidfd)
            report.close()
            if fdarg is not None:
                os.close(fdarg)
            os.close(inbox_fd)
            _, status = os.waitpid(pid1, 0)
            return os.waitstatus_to_exitcode(status) & 0xFF
        prctl.set_pdeathsig(signal.SIGKILL)
    report.close()
    env = ns.get("environment") or {}
    os.environ.clear()
    os.environ.update(env)
    if script is not None:
        from emilua._sandbox.initscript import run_init_script

        if not run_init_script(script, fdarg, inbox_fd):
            return 1
    if fdarg is not None:
        try:
            os.close(fdarg)
        except OSError:
            pass
    prctl.set_no_new_privs(True)
    if flags & _CLONE["new_pid"] and os.getpid() == 1:
        return _pid1(req, inbox_fd)
    from emilua import _process_actor

    return _process_actor.child_main(req, inbox_fd)


def _pid1(req: dict[str, Any], inbox_fd: int) -> int:
    """PID 1 of a sandbox (manual, "The PID namespace"): fork the actor,
    forward SIGTERM/SIGUSR1/SIGUSR2/SIGHUP/SIGINT to it, reap every zombie,
    and exit with the actor's status."""
    waited = set(_FORWARDED) | {signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    actor = os.fork()
    if actor == 0:
        import prctl

        prctl.set_pdeathsig(signal.SIGKILL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)
        from emilua import _process_actor

        return _process_actor.child_main(req, inbox_fd)
    os.close(inbox_fd)
    while True:
        signo = signal.sigwait(waited)
        if signo != signal.SIGCHLD:
            try:
                os.kill(actor, signo)
            except ProcessLookupError:
                pass
            continue
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return 0
            if pid == 0:
                break
            if pid == actor:
                return os.waitstatus_to_exitcode(status) & 0xFF


if __name__ == "__main__":
    serve(int(sys.argv[1]))
