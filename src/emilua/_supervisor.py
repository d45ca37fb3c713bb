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
    if len(fds) != 1:
        raise ValueError("a spawn request carries exactly one fd (the actor's inbox)")
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _child(req, fds[0], me, ctl_fd)
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
    return pid, os.pidfd_open(pid)


def _child(req: dict[str, Any], inbox_fd: int, supervisor: int, ctl_fd: int) -> int:
    import prctl

    # The actor dies with the supervisor (and so with the program).
    prctl.set_pdeathsig(signal.SIGKILL)
    if os.getppid() != supervisor:
        return 1
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # An actor holds no fd it was not given: the control socket and anything
    # else the supervisor had open are closed.
    keep = sorted({0, 1, 2, inbox_fd})
    low = 3
    for fd in keep:
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 20)
    os.set_blocking(inbox_fd, False)
    for entry in req.get("sys_path", []):
        if entry not in sys.path:
            sys.path.append(entry)

    from emilua import _process_actor

    return _process_actor.child_main(req, inbox_fd)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
