"""Process actors: VMs in child processes of the supervisor, and the channels
that reach them (manual: "Linux namespaces", "Message serialization", "Work
lifetime management", "Flow control").

A channel to a process actor is the sending end of an AF_UNIX/SOCK_SEQPACKET
socket pair; messages use the bounded format of ``emilua._core.codec`` (one
leaf or one flat dict of leaves; fds and addresses travel in SCM_RIGHTS).
Sending an address creates a new pair whose receiving end joins the
addressed inbox, so each copy is its own capability and the kernel counts
the senders: when every copy of a sending end is gone the inbox reads EOF
and drops that socket. An inbox schedules no read until ``receive()`` is
called; a message read while nobody waits (the receiver was interrupted) is
queued, never lost.
"""

from __future__ import annotations

import errno as _errno
import os
import select
import signal
import socket
import struct
import sys
import traceback
from collections import deque
from typing import Any

from emilua import _actor
from emilua._actor import ChannelClosedError, Mailbox, NoSendersError, VM
from emilua._core import codec
from emilua._core import proactor as _core
from emilua._fiber import _proactor
from emilua.file_descriptor import file_descriptor

_CMSG = struct.Struct("@Nii")  # struct cmsghdr: len, level, type
_INT = struct.Struct("@i")


def _pair() -> tuple[int, int]:
    """(receiving end, sending end), non-blocking and close-on-exec."""
    rx, tx = socket.socketpair(
        socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
    )
    # Each end works one way only, like a pipe (manual, "Work lifetime management").
    rx.shutdown(socket.SHUT_WR)
    tx.shutdown(socket.SHUT_RD)
    return rx.detach(), tx.detach()


def _rights(control: bytes) -> list[int]:
    """The fds of every SCM_RIGHTS block in ancillary data."""
    fds: list[int] = []
    off = 0
    align = struct.calcsize("@N")
    while off + _CMSG.size <= len(control):
        length, level, kind = _CMSG.unpack_from(control, off)
        if length < _CMSG.size or off + length > len(control):
            break
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            data = control[off + _CMSG.size : off + length]
            fds.extend(_INT.unpack_from(data, i)[0] for i in range(0, len(data) - 3, 4))
        off += (length + align - 1) & ~(align - 1)
    return fds


def _rights_control(fds: list[int]) -> bytes:
    if not fds:
        return b""
    payload = b"".join(_INT.pack(fd) for fd in fds)
    length = _CMSG.size + len(payload)
    space = socket.CMSG_SPACE(len(payload))
    return _CMSG.pack(length, socket.SOL_SOCKET, socket.SCM_RIGHTS) + payload + bytes(
        space - length
    )


# ---------------------------------------------------------------- sending


def _address_of(value: Any) -> codec.ActorAddress:
    """An ActorAddress leaf for a channel (or inbox) value."""
    if isinstance(value, ProcessChannel):
        return codec.ActorAddress(os.dup(value._raw_fd()))
    if value is _actor.inbox:
        vm = _actor.current_vm()
        return codec.ActorAddress(_new_address_for(vm.mailbox))
    if isinstance(value, _actor.Channel):
        return codec.ActorAddress(_new_address_for(value._box))
    raise TypeError("not an address")


def _new_address_for(box: Mailbox) -> int:
    """A new sending end whose receiving end feeds *box*."""
    rx, tx = _pair()
    if isinstance(box, ProcessMailbox):
        box.add_socket(rx)
    else:
        _bridge(box, rx)
    return tx


def _bridge(box: Mailbox, rx: int) -> None:
    """Feed messages arriving on *rx* into an in-process mailbox.

    The bridge fiber holds a tx-channel, so it counts as a sender (and keeps
    the target alive) until every remote copy of the address is gone.
    """
    chan = _actor.Channel(box)

    def bridge() -> None:
        p = _proactor()
        h = p.handle(rx)
        try:
            while True:
                value = _receive_one(p, h)
                if value is _EOF:
                    return
                if value is _BAD:
                    return
                try:
                    chan.send(value)
                except ChannelClosedError:
                    return
        finally:
            chan.close()
            if not h.closed:
                h.close()

    def start() -> None:
        p = box.p
        p.spawn(bridge).detach()

    if _core.current() is box.p:
        start()
    else:
        box.p.post(start)


def _to_wire(msg: Any, moved: list[file_descriptor]) -> Any:
    def leaf(v: Any) -> Any:
        if isinstance(v, (ProcessChannel, _actor.Channel)) or v is _actor.inbox:
            return _address_of(v)
        if isinstance(v, file_descriptor):
            moved.append(v)
            return codec.FileDescriptor(os.dup(v._fileno()))
        if isinstance(v, (dict, list, tuple)):
            raise TypeError("messages to a process actor cannot nest containers")
        return v

    if isinstance(msg, dict):
        return {k: leaf(v) for k, v in msg.items()}
    return leaf(msg)


def _from_wire(value: Any, p: Any) -> Any:
    if isinstance(value, dict):
        return {k: _from_wire(v, p) for k, v in value.items()}
    if isinstance(value, codec.ActorAddress):
        return ProcessChannel(value.detach())
    if isinstance(value, codec.FileDescriptor):
        return file_descriptor._adopt(value.detach())
    return value


def _close_leaves(value: Any) -> None:
    vals = value.values() if isinstance(value, dict) else [value]
    for v in vals:
        if isinstance(v, (codec.ActorAddress, codec.FileDescriptor)):
            v.close()


class ProcessChannel:
    """A tx-channel to an actor in another process.

    ``child_pid``, ``kill()`` and ``detach()`` are available on the channel
    returned by ``spawn_vm`` only.
    """

    __slots__ = ("_fd", "_h", "_p", "_child", "__weakref__")

    def __init__(self, fd: int, child: _Child | None = None) -> None:
        self._fd = fd
        self._h: Any = None
        self._p: Any = None
        self._child = child

    def _clone_address(self) -> ProcessChannel:
        return ProcessChannel(os.dup(self._raw_fd()))

    def _raw_fd(self) -> int:
        if self._fd < 0 and self._h is None:
            raise ChannelClosedError()
        return self._fd if self._h is None else int(self._h.fd)

    def _handle(self, p: Any) -> Any:
        if self._h is None or self._p is not p:
            fd = self._raw_fd()
            if self._h is not None:
                fd = self._h.detach()
            self._h = p.handle(fd)
            self._p = p
            self._fd = -1
        return self._h

    def send(self, msg: Any) -> None:
        """Send *msg* (one leaf or a flat dict of leaves). Interruption point.

        Invalid messages raise TypeError/ValueError before anything is sent;
        a closed or dead peer raises ChannelClosedError.
        """
        p = _proactor()
        moved: list[file_descriptor] = []
        wire = _to_wire(msg, moved)
        try:
            data, fds = codec.encode(wire)
            h = self._handle(p)
            try:
                p.sendmsg(h, data, _rights_control(fds))
            except (BrokenPipeError, ConnectionResetError, ConnectionRefusedError):
                raise ChannelClosedError() from None
        finally:
            _close_leaves(wire)
        for fd in moved:
            fd.close()

    def close(self) -> None:
        """Drop this address; the actor sees EOF once every copy is gone."""
        if self._h is not None and not self._h.closed:
            self._h.close()
        elif self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        self._h = None

    def receive(self) -> Any:
        raise TypeError("receive() is only valid on an inbox (this is a tx-channel)")

    def _spawned(self) -> _Child:
        if self._child is None:
            raise OSError(
                _errno.EINVAL, "only the channel returned by spawn_vm controls the process"
            )
        return self._child

    @property
    def child_pid(self) -> int:
        """The actor's PID (as seen from this process's PID namespace).

        For a sandbox with a new PID namespace this is its PID 1. Racy by
        nature (the manual's "PID dance"): prefer kill().
        """
        return self._spawned().pid

    def kill(self, signo: int = signal.SIGKILL) -> None:
        """Send *signo* through the process's pidfd; SIGKILL also closes the channel."""
        self._spawned().kill(signo)
        if signo == signal.SIGKILL:
            self.close()

    def detach(self) -> None:
        """Let the process outlive the actor that spawned it (no SIGKILL at its end)."""
        self._spawned().detach()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProcessChannel):
            return False
        try:
            a, b = os.fstat(self._raw_fd()), os.fstat(other._raw_fd())
        except (OSError, ChannelClosedError):
            return False
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

    def __hash__(self) -> int:
        try:
            st = os.fstat(self._raw_fd())
        except OSError:
            return 0
        return hash((st.st_dev, st.st_ino))

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        pid = f" pid {self._pid}" if self._pid is not None else ""
        return f"<process channel{pid}>"


class _Child:
    """A process spawned for an actor: its PID and pidfd (signals never race
    with PID reuse)."""

    __slots__ = ("pid", "pidfd", "detached", "sandbox")

    def __init__(self, pid: int, pidfd: int, sandbox: bool) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.detached = False
        self.sandbox = sandbox

    def kill(self, signo: int) -> None:
        if self.detached or self.pidfd < 0:
            raise OSError(_errno.EINVAL, "the process was detached")
        signal.pidfd_send_signal(self.pidfd, signo)

    def detach(self) -> None:
        if self.detached:
            raise OSError(_errno.EINVAL, "the process was detached already")
        self.detached = True
        self._close()

    def alive(self) -> bool:
        if self.pidfd < 0:
            return False
        p = select.poll()
        p.register(self.pidfd, select.POLLIN)
        return not p.poll(0)

    def _close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1

    def __del__(self) -> None:
        self._close()


_children: list[_Child] = []


def kill_sandboxes(vm: VM) -> None:
    """Manual: every sandbox is SIGKILLed when the actor that spawned it exits."""
    for child in getattr(vm, "sandboxes", ()):
        if not child.detached and child.pidfd >= 0:
            try:
                signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass


def join_children() -> None:
    """Wait for every non-detached process actor spawned here to exit."""
    poller = select.poll()
    pidfds = []
    for child in _children:
        if child.pidfd >= 0 and not child.detached:
            pidfds.append(child.pidfd)
            poller.register(child.pidfd, select.POLLIN)
    while pidfds:
        for fd, _ in poller.poll():
            poller.unregister(fd)
            pidfds.remove(fd)
    for child in _children:
        child._close()
    _children.clear()


# --------------------------------------------------------------- receiving

_EOF = object()
_BAD = object()


def _receive_one(p: Any, h: Any) -> Any:
    buf = bytearray(codec.MESSAGE_SIZE + 1)
    n, control, flags = p.recvmsg(h, buf, codec.CONTROL_SIZE)
    fds = _rights(control)
    if n == 0:
        for fd in fds:
            os.close(fd)
        return _EOF
    try:
        value = codec.decode_received(buf, n, flags, fds)
    except codec.MessageError:
        return _BAD
    return _from_wire(value, p)


class ProcessMailbox(Mailbox):
    """An inbox fed by SEQPACKET sockets (remote senders) and local channels."""

    def __init__(self, p: Any, vm: VM, fds: list[int]) -> None:
        super().__init__(p, vm)
        self.socks: list[Any] = [p.handle(fd) for fd in fds]
        self.reading: set[Any] = set()
        self.remote: deque[Any] = deque()

    def add_socket(self, fd: int) -> None:
        h = self.p.handle(fd)
        self.socks.append(h)
        if self.receiver is not None:
            self._read(h)

    def take(self) -> tuple[bool, Any]:
        ok, msg = super().take()
        if ok:
            return ok, msg
        if self.remote:
            return True, self.remote.popleft()
        return False, None

    def receive(self) -> Any:
        p = self.p
        if self.closed:
            raise ChannelClosedError()
        if self.receiver is not None:
            raise OSError(_errno.EBUSY, "another fiber is already receiving on this inbox")
        ok, msg = self.take()
        if ok:
            return _actor._materialize(msg, p)
        if self.nsenders == 0 and not self.socks:
            raise NoSendersError()
        f = p.current_fiber
        r = _actor._Receive(self, f)
        self.receiver = r
        for h in list(self.socks):
            if h not in self.reading:
                self._read(h)
        try:
            p.suspend(r)
        finally:
            if self.receiver is r:
                self.receiver = None
        if r.error is not None:
            raise r.error
        return _actor._materialize(r.value, p)

    def _read(self, h: Any) -> None:
        # Flow control: one read per socket, only while someone receives.
        self.reading.add(h)
        self.p.spawn(self._reader, h).detach()

    def _reader(self, h: Any) -> None:
        try:
            value = _receive_one(self.p, h)
        except OSError:
            value = _EOF
        finally:
            self.reading.discard(h)
        if value is _EOF or value is _BAD:
            # EOF: every copy of that sending end is gone. A malformed message
            # revokes that capability: its socket is closed.
            if h in self.socks:
                self.socks.remove(h)
            if not h.closed:
                h.close()
            if not self.socks and self.nsenders == 0:
                r = self.receiver
                if r is not None:
                    self.receiver = None
                    r.error = NoSendersError()
                    self.p.wake(r.fiber)
            elif self.receiver is not None and h not in self.reading:
                pass
            return
        r = self.receiver
        if r is not None and not self.closed:
            self.receiver = None
            r.value = value
            self.p.wake(r.fiber)
        else:
            self.remote.append(value)

    def _senders_gone(self) -> None:
        if self.socks:
            return
        super()._senders_gone()

    def close(self) -> None:
        super().close()
        for h in self.socks:
            if not h.closed:
                h.close()
        self.socks = []


# ------------------------------------------------------------------ spawning


def spawn(
    kind: str, target: str, linux_namespaces: Any, new_master: bool, parent: VM
) -> ProcessChannel:
    """Ask the supervisor for a child process running the module."""
    from emilua import _supervisor

    rx, tx = _pair()
    req: dict[str, Any] = {
        "op": "spawn",
        "kind": kind,
        "target": target,
        "backend": parent.p.backend,
        "sys_path": [p for p in sys.path if p],
    }
    roles = ["inbox"]
    fds = [rx]
    owned: list[int] = []
    if linux_namespaces is not None:
        ns, extra, script, init_fd = _check_namespaces(linux_namespaces)
        req["linux_namespaces"] = ns
        for role, fd in extra:
            roles.append(role)
            fds.append(fd)
        # init.script and init.fd travel on their own socket straight to the
        # sandbox; the supervisor only forwards the other end.
        s_host, s_guest = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            anc = []
            if init_fd is not None:
                anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", init_fd))]
            s_host.sendmsg([script.encode() if script is not None else b""], anc)
        finally:
            s_host.close()
        roles.append("setup")
        fds.append(s_guest.fileno())
        owned.append(s_guest.detach())
    req["fd_roles"] = roles
    try:
        reply, rfds = _supervisor.request(req, fds)
    except BaseException:
        os.close(tx)
        raise
    finally:
        os.close(rx)
        for fd in owned:
            os.close(fd)
    child = _Child(int(reply["pid"]), rfds[0] if rfds else -1, linux_namespaces is not None)
    _children.append(child)
    if child.sandbox:
        if not hasattr(parent, "sandboxes"):
            parent.sandboxes = []
        parent.sandboxes.append(child)
    return ProcessChannel(tx, child)


_NS_FLAGS = ("new_uts", "new_ipc", "new_pid", "new_user", "new_net", "new_mount")


def _check_namespaces(
    opts: Any,
) -> tuple[dict[str, Any], list[tuple[str, int]], str | None, int | None]:
    """Validate spawn_vm's linux_namespaces table (manual, "The option
    linux_namespaces") before anything is created."""
    if not isinstance(opts, dict):
        raise TypeError("linux_namespaces must be a dict")
    ns: dict[str, Any] = {}
    extra: list[tuple[str, int]] = []
    for key, value in opts.items():
        if key in _NS_FLAGS:
            if not isinstance(value, bool):
                raise TypeError(f"linux_namespaces[{key!r}] must be a bool")
            ns[key] = value
        elif key == "environment":
            if value is not None and not (
                isinstance(value, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            ):
                raise TypeError("linux_namespaces['environment'] must map str to str")
            ns[key] = dict(value) if value else {}
        elif key in ("stdin", "stdout", "stderr"):
            if value is None:
                ns[key] = None
            elif value == "share":
                ns[key] = "share"
            elif isinstance(value, file_descriptor):
                ns[key] = "fd"
                extra.append((key, value._fileno()))
            else:
                raise TypeError(f"linux_namespaces[{key!r}] must be 'share', a file_descriptor or None")
        elif key == "init":
            continue
        else:
            raise ValueError(f"unknown linux_namespaces option {key!r}")
    script: str | None = None
    init_fd: int | None = None
    init = opts.get("init")
    if init is not None:
        if not isinstance(init, dict) or set(init) - {"script", "fd"}:
            raise TypeError("linux_namespaces['init'] must be {'script': str, 'fd': file_descriptor}")
        script = init.get("script")
        if script is not None and not isinstance(script, str):
            raise TypeError("init['script'] must be a str")
        fd = init.get("fd")
        if fd is not None:
            if not isinstance(fd, file_descriptor):
                raise TypeError("init['fd'] must be a file_descriptor")
            init_fd = fd._fileno()
    return ns, extra, script, init_fd


def child_main(req: dict[str, Any], inbox_fd: int) -> int:
    """Entry point of a process actor, in a fresh child of the supervisor."""
    # An actor may be SIGKILLed by its spawner's exit: don't hold output back.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    p = _core.Proactor(req.get("backend"))
    vm = VM(p, "worker", req["target"])
    vm.mailbox = ProcessMailbox(p, vm, [inbox_fd])
    p.vm = vm

    def main() -> None:
        vm.namespace = _actor.run_module(req["kind"], req["target"], "worker")

    try:
        p.run(main)
        vm.end()
    except SystemExit as e:
        vm.end()
        return e.code if isinstance(e.code, int) else 1
    except BaseException as exc:
        sys.stderr.write(f"Exception in the main fiber of {vm!r}:\n")
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        return 1
    finally:
        try:
            _actor.join_threads()
            join_children()
        except BaseException:
            pass
    return 0
