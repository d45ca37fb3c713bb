"""The client side of the process-actor supervisor: what the main process
uses to start it and ask it for process actors (manual: "Linux namespaces",
"Spawning a new process"). The supervisor itself, the processes it forks and
a sandbox's PID 1 are in :mod:`emilua._supervisor_server`, which documents the
protocol.

Requests are JSON objects with fds in SCM_RIGHTS, one per SOCK_SEQPACKET
message; the supervisor answers each one at once.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import threading
from typing import Any

from emilua._scm import recv_with_fds, send_with_fds

_ctl: socket.socket | None = None
_proc: subprocess.Popen[bytes] | None = None
_lock = threading.Lock()
# Whether an actor was detached: the supervisor then outlives the program.
_detached = False


def start() -> None:
    """Start the supervisor (the CLI does it before any user code runs)."""
    global _ctl, _proc
    with _lock:
        if _ctl is not None:
            return
        ours, theirs = socket.socketpair(
            socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC
        )
        try:
            _proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "emilua._supervisor_server", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env={},
                close_fds=True,
            )
        finally:
            theirs.close()
        _ctl = ours
        atexit.register(_stop)


def _stop() -> None:
    """At exit: let the supervisor go (EOF on its control socket) and reap it.

    It kills the actors that were not detached and ends once they have; a
    supervisor that detached actors depend on stays (their PDEATHSIG points
    at it) and is reaped by whoever inherits it, so it is not waited for.
    """
    global _ctl
    with _lock:
        ctl, _ctl = _ctl, None
    if ctl is None or _proc is None:
        return
    ctl.close()
    if not _detached:
        _proc.wait()
    else:
        # Not ours to wait for any more; Popen must not report it as a
        # child left running.
        _proc.returncode = 0


def request(msg: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
    """One request/reply exchange with the supervisor (serialised by a lock).

    The supervisor answers at once (it only forks), so a blocking exchange
    costs about as much as a fork; it runs off the engine's hot path.
    """
    global _detached
    start()
    if msg.get("op") == "detach":
        _detached = True  # from now on the supervisor may outlive us
    with _lock:
        if _ctl is None:
            raise RuntimeError("the supervisor was stopped (the program is exiting)")
        send_with_fds(_ctl, json.dumps(msg).encode(), fds)
        data, rfds = recv_with_fds(_ctl)
    if not data:
        raise RuntimeError("the supervisor has ended")
    reply = json.loads(data)
    if "error" in reply:
        for fd in rfds:
            os.close(fd)
        code = reply.get("errno", 0)
        if code:
            # The message is the supervisor's strerror-like text: OSError
            # prints the errno in front of it, once.
            raise OSError(code, reply["error"], *reply.get("filename", ()))
        raise RuntimeError(reply["error"])
    return reply, rfds


def pid() -> int:
    """The supervisor's PID, once every child that has ended is reaped."""
    reply, _ = request({"op": "ping"}, [])
    return int(reply["pid"])
