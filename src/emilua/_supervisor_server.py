"""The process-actor supervisor, its side (manual: "Linux namespaces", "Spawning a new
process").

A plain fork of CPython would carry the parent's argv, environment and heap
into every actor, so the supervisor is a fresh interpreter: the ``emilua``
command starts it first thing (fork + exec, empty environment, the control
socket its only extra fd). It imports the whole engine once and then waits on
a blocking AF_UNIX/SOCK_SEQPACKET socket for requests, forking one child per
process actor. Actors are its children, so the main process's SIGCHLD
handling is untouched; it reaps them itself.

Requests are JSON objects with fds in SCM_RIGHTS; the main process is
trusted by the supervisor (the manual's threat model), the actors are not
and never talk to it. What configures one sandbox (the init.script, its fd,
the environment) never passes through here: it travels on a setup socket
straight from the program to the sandbox, so no later sandbox forked from
this process can find it in its memory.

Requests: ``spawn`` (fork an actor; answers its PID and a pidfd), ``detach``
(the actor may outlive the program), ``loopback_up`` (bring ``lo`` up in a
sandbox's network namespace from a short-lived child that joins it), and
``ping`` (reap, then answer the supervisor's PID).

When the program ends (the control socket reads EOF) the supervisor SIGKILLs
every actor that was not detached, gives its standard streams back, and
stays as the reaper of the detached ones until they end.

The chain of processes of a sandbox with a new PID namespace::

    supervisor
      `- PID 1: created in its namespaces by clone(2); runs the init.script,
           |    forks the actor, forwards signals, reaps, exits with its status
           `- PID 2: the actor's engine

Start-up cost is mostly forks: each copies the supervisor's page tables and
then pays a copy-on-write fault for every page the child writes (refcounts).
So the supervisor keeps its heap small (no library a child does not need),
imports everything a child does need, and a sandbox costs one fork more
than a plain process actor only when it has a PID 1.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import json
import os
import pkgutil
import select
import signal
import socket
import struct
import sys
from typing import Any

from emilua._scm import recv_with_fds, send_with_fds

# Direct children: pid -> [the actor's pid as reported to the program, detached]
_kids: dict[int, list[Any]] = {}


def _reap(signum: int = 0, frame: Any = None) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _kids.pop(pid, None)


def _warm_up() -> None:
    # Every module of the engine is imported once here, so that every child
    # starts with it loaded: a sandbox with an empty root can still import
    # any of them (what is not preloaded fails with ModuleNotFoundError).
    import traceback  # noqa: F401 - used by every actor that reports an error

    # Every child arms PDEATHSIG with prctl first thing: imported there, it
    # cost each child about 3 ms (measured).
    import prctl  # noqa: F401

    import emilua

    for info in pkgutil.walk_packages(emilua.__path__, "emilua."):
        if info.name in ("emilua.__main__", __name__):
            continue
        try:
            __import__(info.name)
        except Exception:  # an optional part that cannot load here is not needed
            pass


def _standard_fds(ctl_fd: int) -> int:
    """Make fds 0-2 open (on /dev/null if the program had them closed) and
    the control socket not one of them; return the control socket's fd.

    The fds a request brings must never land on 0-2: a child sets its
    standard streams up with dup2().
    """
    if ctl_fd <= 2:
        moved = fcntl.fcntl(ctl_fd, fcntl.F_DUPFD_CLOEXEC, 3)
        os.close(ctl_fd)
        ctl_fd = moved
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    return ctl_fd


def serve(ctl_fd: int) -> None:
    ctl_fd = _standard_fds(ctl_fd)
    ctl = socket.socket(fileno=ctl_fd)
    os.set_inheritable(ctl_fd, False)
    _warm_up()
    # Every child starts as a copy-on-write image of this process: a
    # collection there would write to the GC header of every object we
    # hold (and copy the page). Frozen objects are never traversed. Measured
    # here (fork to exit of an actor whose module is empty): 45-65 ms
    # without, 10-20 ms with.
    gc.freeze()
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's ^C is for the program
    # The program going away (exit, crash, SIGKILL) shows as EOF or an error
    # on the control socket, in recv or in the reply's send: either ends the
    # loop quietly, and the supervisor shuts down.
    while True:
        try:
            data, fds = recv_with_fds(ctl)
        except OSError:
            break
        if not data:
            break
        _reap()
        rfds: list[int] = []
        try:
            try:
                req = json.loads(data)
                reply, rfds = _handle(req, fds)
            except OSError as e:
                reply = _error_reply(e)
                rfds = []
            except Exception as e:
                reply = {"error": repr(e), "errno": 0}
            send_with_fds(ctl, json.dumps(reply).encode(), rfds)
        except OSError:
            break  # the program is gone: nobody reads the reply
        finally:
            for fd in fds + rfds:
                try:
                    os.close(fd)
                except OSError:
                    pass
    _shutdown()


def _error_reply(e: OSError) -> dict[str, Any]:
    """The reply for an OSError: its errno, and its message without the
    "[Errno N]" that OSError's str() puts in front (the program's OSError
    adds its own)."""
    if not e.errno:
        return {"error": str(e), "errno": 0}
    reply: dict[str, Any] = {"error": e.strerror or os.strerror(e.errno), "errno": e.errno}
    if e.filename is not None and isinstance(e.filename, str):
        reply["filename"] = [e.filename]
    return reply


def _handle(req: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
    op = req.get("op")
    if op == "spawn":
        child, actor, pidfd = _spawn(req, fds)
        _kids[child] = [actor, False]
        return {"pid": actor}, [pidfd]
    if op == "detach":
        for kid in _kids.values():
            if kid[0] == req["pid"]:
                kid[1] = True
        return {}, []
    if op == "loopback_up":
        _loopback_up(_given(req, fds))
        return {}, []
    if op == "ping":
        return {"pid": os.getpid()}, []
    raise ValueError(f"unknown request {op!r}")


def _shutdown() -> None:
    """The program ended: kill its actors, wait for the detached ones."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    _reap()
    for child, (_, detached) in list(_kids.items()):
        if not detached:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
    # Don't keep the program's terminal or pipes open while detached actors
    # live on (a shell pipeline would wait for us).
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def _given(req: dict[str, Any], fds: list[int]) -> dict[str, int]:
    roles = req.get("fd_roles", [])
    if len(fds) != len(roles):
        raise ValueError("the fds of a request do not match its fd_roles")
    return dict(zip(roles, fds, strict=True))


def _spawn(req: dict[str, Any], fds: list[int]) -> tuple[int, int, int]:
    """Fork the child of a spawn request.

    Returns (our child's PID, the actor's PID as the program sees it, a
    pidfd for the latter): both PIDs are the same, PID 1 of its namespace
    for a sandbox with a new PID namespace. A sandbox's child is created in
    its namespaces by clone(2), so spawn_vm() reports clone's errno when
    they cannot be created; the init.script runs in the child, while the
    program goes on.
    """
    given = _given(req, fds)
    if "inbox" not in given:
        raise ValueError("a spawn request needs an inbox fd")
    flags = 0
    for key, bit in _CLONE.items():
        if (req.get("linux_namespaces") or {}).get(key):
            flags |= bit
    from emilua._core.clone import clone_process

    # The child checks this pidfd once it has armed PDEATHSIG.
    me = os.pidfd_open(os.getpid())
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        try:
            pid, pidfd = clone_process(flags)
        except OSError as e:
            if not flags:
                raise
            code = e.errno or 0
            raise OSError(code, f"creating the sandbox's namespaces: {os.strerror(code)}") from None
        if pid == 0:
            code = 1
            try:
                code = _child(req, given, flags, me)
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
        if pidfd < 0:
            pidfd = os.pidfd_open(pid)
        return pid, pid, pidfd
    finally:
        os.close(me)
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


def _exit_code(status: int) -> int:
    """A wait status as an exit status: the code, or 128 + signal (sh(1))."""
    code = os.waitstatus_to_exitcode(status)
    return code & 0xFF if code >= 0 else 128 - code


def _close_all_but(keep: set[int]) -> None:
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 20)


def _child(req: dict[str, Any], given: dict[str, int], flags: int, supervisor: int) -> int:
    import prctl

    # The actor dies with the supervisor (and so with the program, unless
    # detached: then the supervisor outlives the program). The supervisor
    # may have died before PDEATHSIG was armed; its pidfd tells (getppid()
    # cannot: in a new PID namespace the parent is outside and reads as 0).
    prctl.set_pdeathsig(signal.SIGKILL)
    if select.select([supervisor], [], [], 0)[0]:
        return 1
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ns = req.get("linux_namespaces")
    inbox_fd = given["inbox"]
    setup_fd = given.get("setup", -1)
    _stdio(given)
    # An actor holds no fd it was not given: the control socket and anything
    # else the supervisor had open are closed.
    keep = {0, 1, 2, inbox_fd}
    if setup_fd >= 0:
        keep.add(setup_fd)
    _close_all_but(keep)
    os.set_blocking(inbox_fd, False)
    for entry in req.get("sys_path", []):
        if entry not in sys.path:
            sys.path.append(entry)
    if ns is None:
        from emilua import _process_actor

        return _process_actor.child_main(req, inbox_fd)
    return _sandbox_child(req, flags, inbox_fd, setup_fd)


def _stdio(given: dict[str, int]) -> None:
    """stdin/stdout/stderr: the fd the program gave (its own for 'share'),
    or a closed pipe end (None): reading it gives EOF, writing EPIPE."""
    for std, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if name in given:
            os.dup2(given[name], std)
            continue
        r, w = os.pipe()
        os.dup2(r if std == 0 else w, std)
        os.close(r)
        os.close(w)


def _receive_setup(setup_fd: int) -> tuple[str | None, dict[str, str], int | None]:
    """The init.script, environment and init.fd, straight from the program."""
    if setup_fd < 0:
        return None, {}, None
    setup = socket.socket(fileno=setup_fd)
    try:
        # MSG_PEEK | MSG_TRUNC gives the datagram's real size (unix(7)); with
        # no control buffer a peek installs none of its fds.
        size = setup.recv_into(bytearray(1), 1, socket.MSG_PEEK | socket.MSG_TRUNC)
        data, fds = recv_with_fds(setup, max(size, 1))
    finally:
        setup.close()
    payload = json.loads(data) if data else {}
    return payload.get("script"), payload.get("environment") or {}, fds[0] if fds else None


def _sandbox_child(req: dict[str, Any], flags: int, inbox_fd: int, setup_fd: int) -> int:
    """The sandbox, in its namespaces since clone(2): PID 1 of a new PID
    namespace. Runs the init.script, then the actor (forked as PID 2 when
    this is PID 1)."""
    import prctl

    script, env, fdarg = _receive_setup(setup_fd)
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
    and exit with the actor's status (128 + signal if a signal killed it).

    pid_namespaces(7): signals from inside the namespace reach PID 1 only
    for handled signals, from an ancestor namespace too (SIGKILL aside);
    blocked signals are always queued, so PID 1 blocks them and takes them
    with sigwait().
    """
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
                return _exit_code(status)


# ------------------------------------------------------------ loopback_up

_SIOCGIFFLAGS = 0x8913  # <linux/sockios.h>
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = struct.Struct("16sh22x")  # struct ifreq: name, then ifr_flags in a 24-byte union


def _loopback_up(given: dict[str, int]) -> None:
    """Bring ``lo`` up in the network namespace ``given['netns']``.

    setns(2) into a user namespace needs a single-threaded process, and into
    a network namespace CAP_SYS_ADMIN over it, which an unprivileged program
    only gains by joining the sandbox's user namespace first (its creator
    owns it, user_namespaces(7)). So a short-lived child of this
    single-threaded process joins ``userns`` (if given), then ``netns``, and
    sets the link up over rtnetlink with pyroute2 (the SIOCSIFFLAGS ioctl of
    netdevice(7) when pyroute2 is missing or fails).
    """
    if "netns" not in given:
        raise ValueError("loopback_up needs a netns fd")
    _import_rtnetlink()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _loopback_up_child(given)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise OSError(code, f"loopback_up: {os.strerror(code)}" if code > 0 else "loopback_up")


_IPRoute: Any = None


def _import_rtnetlink() -> None:
    """Import pyroute2 here, at the first loopback_up request, so that each
    child that sets a link up finds it loaded. Not in _warm_up(): it takes
    the image every sandbox fork copies from 21 to 38 MB (a fork then costs
    0.93 ms instead of 0.43), a price only programs that use it pay."""
    global _IPRoute
    if _IPRoute is None:
        try:
            from pyroute2.iproute.linux import IPRoute
        except ImportError:
            return
        _IPRoute = IPRoute


def _loopback_up_child(given: dict[str, int]) -> int:
    from emilua._core import initscript

    c = initscript.CTable({"errexit": False})
    if "userns" in given:
        _, err = c.setns(given["userns"], _CLONE["new_user"])
        if err:
            return int(err)
    _, err = c.setns(given["netns"], _CLONE["new_net"])
    if err:
        return int(err)
    if _IPRoute is not None:
        # rtnetlink in the namespace we just joined, as `ip link set lo up`.
        try:
            with _IPRoute() as ipr:
                idx = ipr.link_lookup(ifname="lo")
                if not idx:
                    return errno.ENODEV
                ipr.link("set", index=idx[0], state="up")
            return 0
        except OSError as e:
            return e.errno or 1
        except Exception:
            pass  # pyroute2's own error types: try the ioctl below
    # SIOCGIFFLAGS/SIOCSIFFLAGS (netdevice(7)) on a socket created in the
    # namespace we just joined: the same flag change, without pyroute2.
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            res = fcntl.ioctl(s, _SIOCGIFFLAGS, _IFREQ.pack(b"lo", 0))
            flags = _IFREQ.unpack(res)[1]
            fcntl.ioctl(s, _SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | _IFF_UP))
    except OSError as e:
        return e.errno or 1
    return 0


if __name__ == "__main__":
    serve(int(sys.argv[1]))
