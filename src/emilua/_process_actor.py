"""Process actors: VMs in child processes of the supervisor, and the channels
that reach them (manual: "Linux namespaces", "Message serialization", "Work
lifetime management", "Flow control").

A channel to a process actor is the sending end of an AF_UNIX/SOCK_SEQPACKET
socket pair; messages use the bounded format of ``emilua._core.codec`` (one
leaf or one flat dict of leaves; fds and addresses travel in SCM_RIGHTS).
Sending an address creates a new pair whose receiving end joins the
addressed inbox, so each copy is its own capability and the kernel counts
the senders: when every copy of a sending end is gone the inbox reads EOF
and drops that socket. This holds for every inbox, in-process VMs included:
the first address of a VM that leaves the process makes its mailbox a
``ProcessMailbox``.

Flow control: an inbox schedules no read until ``receive()`` is called, and
then one read per socket; a message read while nobody waits (the receiver
was interrupted) is queued, never lost. A read in flight does not keep its
VM alive: when the VM ends its sockets are closed (the reads are cancelled)
and the sandboxes it spawned are SIGKILLed.
"""

from __future__ import annotations

import errno as _errno
import json
import os
import select
import signal
import socket
import sys
import threading
import traceback
from collections import deque
from typing import Any

from emilua import _actor, _scm
from emilua._actor import VM, ChannelClosedError, Mailbox, NoSendersError
from emilua._core import codec
from emilua._core import proactor as _core
from emilua._fiber import _proactor
from emilua.file_descriptor import file_descriptor


def _pair() -> tuple[int, int]:
    """(receiving end, sending end), non-blocking and close-on-exec."""
    rx, tx = socket.socketpair(
        socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
    )
    # Each end works one way only, like a pipe (manual, "Work lifetime management").
    rx.shutdown(socket.SHUT_WR)
    tx.shutdown(socket.SHUT_RD)
    return rx.detach(), tx.detach()


def _spawn_helper(p: Any, fn: Any, *args: Any) -> None:
    """A detached fiber that belongs to no VM (it keeps none alive)."""
    f = p.spawn(fn, *args)
    vm = f.vm
    if vm is not None:
        vm.nfibers -= 1
        f.vm = None
    f.detach()


# ---------------------------------------------------------------- sending


def _address_of(value: Any) -> codec.ActorAddress:
    """An ActorAddress leaf for a channel (or inbox) value."""
    if isinstance(value, ProcessChannel):
        return codec.ActorAddress(os.dup(value._raw_fd()))
    if value is _actor.inbox:
        return codec.ActorAddress(_new_address_for(_actor.current_vm().mailbox))
    if isinstance(value, _actor.Channel):
        return codec.ActorAddress(_new_address_for(value._box))
    raise TypeError("not an address")


def _new_address_for(box: _core.MailboxBase) -> int:
    """A new sending end whose receiving end feeds *box*."""
    rx, tx = _pair()
    _attach(box, rx)
    return tx


def _attach(box: _core.MailboxBase, rx: int) -> None:
    """Make the socket *rx* one more source of *box*, on the box's thread.

    An in-process VM's mailbox becomes a ProcessMailbox on its first
    socket: it then reads its sockets only while ``receive()`` waits,
    exactly like an actor in another process.
    """

    def attach() -> None:
        if box.closed:
            os.close(rx)
            return
        if not isinstance(box, ProcessMailbox):
            box.__class__ = ProcessMailbox
            ProcessMailbox._init_sockets(box, [])  # type: ignore[arg-type]
        box.add_socket(rx)  # type: ignore[attr-defined]

    if _core.current() is box.p:
        attach()
        return
    try:
        box.p.post(attach)
    except Exception:
        os.close(rx)
        raise


def _probe_leaf(v: Any) -> Any:
    # fds and addresses take one member and no string space, like True.
    if isinstance(v, file_descriptor):
        v._fileno()  # EBADF for a closed one
        return True
    if isinstance(v, ProcessChannel):
        v._raw_fd()  # ChannelClosedError for a closed one
        return True
    if isinstance(v, _actor.Channel):
        if not v._open:
            raise ChannelClosedError()
        return True
    if v is _actor.inbox:
        return True
    return v


def _check_message(msg: Any) -> None:
    """Raise what encoding *msg* would raise, before any fd or address is
    created for it (nothing is sent or created for an invalid message)."""
    if isinstance(msg, dict):
        fds = [v for v in msg.values() if isinstance(v, file_descriptor)]
        if len({id(v) for v in fds}) != len(fds):
            raise ValueError("the same file_descriptor appears twice in one message")
        codec.encode({k: _probe_leaf(v) for k, v in msg.items()})
    else:
        codec.encode(_probe_leaf(msg))


def _to_wire(msg: Any) -> Any:
    def leaf(v: Any) -> Any:
        if isinstance(v, (ProcessChannel, _actor.Channel)) or v is _actor.inbox:
            return _address_of(v)
        if isinstance(v, file_descriptor):
            # The receiver gets a duplicate; the sender keeps its own copy
            # (the reference engine's behaviour; docs/divergences.md).
            return codec.FileDescriptor(os.dup(v._fileno()))
        return v

    if isinstance(msg, dict):
        wire: dict[str, Any] = {}
        try:
            for k, v in msg.items():
                wire[k] = leaf(v)
        except BaseException:
            _close_leaves(wire)
            raise
        return wire
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

        Leaves: bool, int, float, str (at most 255 UTF-8 bytes),
        file_descriptor (the receiver gets a duplicate: the sender's copy
        stays open and is the sender's to close), a channel or the
        inbox (sent as a new address). A dict has 1 to 20 members and str
        keys of at most 255 bytes. An invalid message raises TypeError or
        ValueError before anything is created or sent; a closed or dead peer
        raises ChannelClosedError.
        """
        p = _proactor()
        h = self._h
        if h is not None and self._p is p:
            # A message of plain leaves (no fd, no address) goes out in one
            # non-blocking sendmsg(2) from the core; the codec raises
            # TypeError, before sending anything, for any other leaf.
            p.check_interruption()
            try:
                return self._send_plain(p, h, msg)
            except TypeError:
                pass
        _check_message(msg)
        wire = _to_wire(msg)
        try:
            data, fds = codec.encode(wire)
            h = self._handle(p)
            control = _scm.rights_control(fds)
            while True:
                try:
                    p.sendmsg(h, data, control)
                    break
                except BlockingIOError:
                    # The socket is O_NONBLOCK, and io_uring completes a
                    # sendmsg to it with -EAGAIN when the receiver's queue is
                    # still full after its internal poll retry (io_wq_submit_work,
                    # io_uring/io_uring.c): wait for room, then send again.
                    _wait_for_room(p, h)
                except (BrokenPipeError, ConnectionResetError, ConnectionRefusedError):
                    raise ChannelClosedError() from None
                except OSError:
                    if h.closed:  # closed while the send was in flight
                        raise ChannelClosedError() from None
                    raise
        finally:
            _close_leaves(wire)

    @staticmethod
    def _send_plain(p: Any, h: Any, msg: Any) -> None:
        while True:
            try:
                codec.send_message(h.fd, msg)
                return
            except BlockingIOError:
                _wait_for_room(p, h)  # the peer's queue is full
            except (BrokenPipeError, ConnectionResetError, ConnectionRefusedError):
                raise ChannelClosedError() from None

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
        """Send *signo* through the process's pidfd; SIGKILL also closes the channel.

        Raises OSError(EINVAL) on a channel received through an inbox or a
        detached process, ProcessLookupError once the process is gone.
        """
        self._spawned().kill(signo)
        if signo == signal.SIGKILL:
            self.close()

    def detach(self) -> None:
        """Let the process outlive the actor that spawned it, and the program.

        Raises OSError(EINVAL) on a channel received through an inbox or a
        process already detached.
        """
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
        except (OSError, ChannelClosedError):
            return 0
        return hash((st.st_dev, st.st_ino))

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        pid = f" pid {self._child.pid}" if self._child is not None else ""
        return f"<process channel{pid}>"


def _wait_for_room(p: Any, h: Any) -> None:
    """Park until the socket *h* can take a message. Raises
    ChannelClosedError if the channel is closed meanwhile (the poll is then
    cancelled, or completes on a handle that no longer has an fd)."""
    try:
        p.poll(h, True)
    except OSError:
        if h.closed:
            raise ChannelClosedError() from None
        raise
    if h.closed:
        raise ChannelClosedError()


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
        if self.detached:
            raise OSError(_errno.EINVAL, "the process was detached")
        if self.pidfd < 0:
            raise ProcessLookupError(_errno.ESRCH, "the process has ended")
        signal.pidfd_send_signal(self.pidfd, signo)

    def detach(self) -> None:
        if self.detached:
            raise OSError(_errno.EINVAL, "the process was detached already")
        self.detached = True
        if self.pidfd >= 0:
            from emilua import _supervisor

            # The supervisor must not kill it when the program ends.
            _supervisor.request({"op": "detach", "pid": self.pid}, [])
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


# Every process actor spawned from this process whose pidfd is still open.
_children: list[_Child] = []
_children_lock = threading.Lock()


def _prune(vm: VM) -> None:
    """Close the pidfds of children that have ended (a long-running program
    that spawns many sandboxes holds one fd per live child only)."""
    release_ended()
    mine = getattr(vm, "sandboxes", None)
    if mine:
        mine[:] = [c for c in mine if c.pidfd >= 0]


def kill_sandboxes(vm: VM) -> None:
    """Manual: every sandbox is SIGKILLed when the actor that spawned it exits."""
    mine = getattr(vm, "sandboxes", None) or []
    for child in mine:
        if not child.detached and child.pidfd >= 0:
            try:
                signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        child._close()
    mine.clear()
    with _children_lock:
        _children[:] = [c for c in _children if c.pidfd >= 0]


def release_ended() -> None:
    """Close the pidfds of process actors that have ended (an engine that
    stops must not hold them; running ones stay for join_children())."""
    with _children_lock:
        for child in _children:
            if not child.alive():
                child._close()
        _children[:] = [c for c in _children if c.pidfd >= 0]


def join_children() -> None:
    """Wait for every non-detached process actor spawned here to exit."""
    with _children_lock:
        waiting = [c for c in _children if c.pidfd >= 0 and not c.detached]
    poller = select.poll()
    pidfds = []
    for child in waiting:
        pidfds.append(child.pidfd)
        poller.register(child.pidfd, select.POLLIN)
    while pidfds:
        for fd, _ in poller.poll():
            poller.unregister(fd)
            pidfds.remove(fd)
    with _children_lock:
        for child in _children:
            child._close()
        _children.clear()


# --------------------------------------------------------------- receiving

_EOF = object()
_BAD = object()
# How long a receive() that finds a stream of messages run dry waits before
# it asks to be woken by the next one.
_STREAM_PAUSE = 100e-6
# Datagrams one receive() may take off a socket at once (they were queued
# there already; the queue's bound is the socket's, times this).
_READ_AHEAD = 32


def _receive_one(p: Any, h: Any) -> Any:
    buf = bytearray(codec.MESSAGE_SIZE + 1)
    n, control, flags = p.recvmsg(h, buf, codec.CONTROL_SIZE)
    fds = _scm.rights(control)
    if n == 0:
        # A zero-length message reads as EOF (manual, "Work lifetime
        # management": a bad actor may do that; only its capability goes).
        for fd in fds:
            os.close(fd)
        return _EOF
    try:
        value = codec.decode_received(buf, n, flags, fds)
    except codec.MessageError:
        return _BAD
    return _from_wire(value, p)


class ProcessMailbox(Mailbox):
    p: _core.Proactor
    """An inbox fed by SEQPACKET sockets (remote senders) and local channels."""

    socks: list[Any]
    reading: set[Any]
    remote: deque[Any]

    def __init__(self, p: Any, vm: VM, fds: list[int]) -> None:
        super().__init__(p, vm)
        self._init_sockets(fds)

    def _init_sockets(self, fds: list[int]) -> None:
        # receive() is this class's own from now on (the core's fast path
        # knows no sockets).
        self.plain = False
        self.socks = [self.p.handle(fd) for fd in fds]
        self.next_sock = 0
        # The last receive() found a message already queued on a socket;
        # a receive() is pausing before it arms reads (see receive()).
        self.streaming = False
        self.pausing = False
        self.reading = set()
        self.remote = deque()

    def add_socket(self, fd: int) -> None:
        if self.closed:
            os.close(fd)
            return
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
        f = p.current_fiber
        if f is None:
            raise RuntimeError("inbox.receive() outside of a fiber")
        if self.closed:
            raise ChannelClosedError()
        if self.receiver is not None or self.pausing:
            raise OSError(_errno.EBUSY, "another fiber is already receiving on this inbox")
        # An interruption point even when a message is waiting.
        p.check_interruption()
        value = self._ready(p)
        if value is not _EOF:
            return value
        if self.streaming:
            # A stream of messages just ran dry: look again a little later
            # before asking to be woken. A receiver woken for every message
            # preempts its sender when both share a core (one context switch
            # per message); after the pause it finds a batch.
            self.streaming = False
            self.pausing = True
            try:
                p.sleep(_STREAM_PAUSE)
            finally:
                self.pausing = False
            if self.closed:
                raise ChannelClosedError()
            value = self._ready(p)
            if value is not _EOF:
                return value
        if self.nsenders == 0 and not self.socks:
            raise NoSendersError()
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
            # Raised without a reference left in this frame: the traceback
            # holds the frames, and a frame holding the exception would make
            # a cycle that keeps the caller's locals (channels, fds) alive
            # until the next collection.
            err, r.error = r.error, None
            try:
                raise err
            finally:
                del err
        return _actor._materialize(r.value, p)

    def _ready(self, p: Any) -> Any:
        """A message that needs no waiting (queued here, or already on a
        socket), or _EOF."""
        ok, msg = self.take()
        if ok:
            return _actor._materialize(msg, p)
        if not self.socks:
            return _EOF
        value = self._read_ready()
        if value is not _EOF:
            # A stream: messages queue up faster than they are taken (one
            # message waiting may be a reply to something we sent).
            self.streaming = bool(self.remote)
        return value

    def _read_ready(self) -> Any:
        """A message already queued on one of the sockets, read without
        parking, or _EOF. One recvmmsg(2) that never waits takes up to
        _READ_AHEAD datagrams the socket holds already; those after the
        first wait in ``remote`` for the next receive() calls.

        Sockets with a read in flight are skipped: that read may hold an
        earlier message. The scan starts after the socket that delivered
        last, so a busy sender cannot starve the others.
        """
        socks = list(self.socks)
        n = len(socks)
        start = self.next_sock
        for k in range(n):
            i = (start + k) % n
            h = socks[i]
            if h in self.reading:
                continue
            try:
                values = codec.recv_messages(h.fd, _READ_AHEAD)
            except BlockingIOError:
                continue
            except OSError:
                self._drop_socket(h)
                continue
            self.next_sock = i + 1
            last = values[-1]
            if isinstance(last, (EOFError, codec.MessageError)):
                # EOF, or a malformed message: that capability goes (as in
                # _reader).
                values.pop()
                self._drop_socket(h)
            if not values:
                continue
            p = self.p
            if len(values) > 1:
                self.remote.extend(_from_wire(v, p) for v in values[1:])
            return _from_wire(values[0], p)
        return _EOF

    def _drop_socket(self, h: Any) -> None:
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

    def _read(self, h: Any) -> None:
        # Flow control: one read per socket, only while someone receives.
        self.reading.add(h)
        _spawn_helper(self.p, self._reader, h)

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
            self._drop_socket(h)
            return
        if self.closed:
            _discard_received(value)
            return
        r = self.receiver
        if r is not None:
            self.receiver = None
            r.value = value
            self.p.wake(r.fiber)
        else:
            self.remote.append(value)

    def _senders_gone(self) -> None:
        if self.nsenders > 0:
            return
        if self.socks:
            # Remote senders remain: nothing to report, but local channels
            # no longer keep the engine running.
            self._release_keepalive()
            return
        super()._senders_gone()

    def close(self) -> None:
        super().close()
        for h in self.socks:
            if not h.closed:
                h.close()
        self.socks = []
        while self.remote:
            _discard_received(self.remote.popleft())


def _discard_received(value: Any) -> None:
    vals = value.values() if isinstance(value, dict) else [value]
    for v in vals:
        if isinstance(v, (ProcessChannel, file_descriptor)):
            try:
                v.close()
            except OSError:
                pass


# ------------------------------------------------------------------ spawning


def spawn(
    kind: str, target: str, linux_namespaces: Any, new_master: bool, parent: VM
) -> ProcessChannel:
    """Ask the supervisor for a child process running the module."""
    from emilua import _supervisor

    ns: dict[str, Any] | None = None
    script: str | None = None
    init_fd: int | None = None
    environment: dict[str, str] = {}
    if linux_namespaces is not None:
        # Every option is checked before anything is created.
        ns, stdio, script, init_fd, environment = _check_namespaces(linux_namespaces)
    else:
        stdio = {"stdin": 0, "stdout": 1, "stderr": 2}
    _prune(parent)
    req: dict[str, Any] = {
        "op": "spawn",
        "kind": kind,
        "target": target,
        "backend": parent.p.backend,
        "sys_path": [p for p in sys.path if p],
    }
    if ns is not None:
        req["linux_namespaces"] = ns
    roles: list[str] = []
    fds: list[int] = []
    for name, fd in stdio.items():
        if fd is None:
            continue
        try:
            os.fstat(fd)
        except OSError:
            continue  # a closed standard fd shared: the actor gets a closed pipe end
        roles.append(name)
        fds.append(fd)
    owned: list[int] = []
    rx, tx = _pair()
    owned.append(rx)
    try:
        roles.append("inbox")
        fds.append(rx)
        if ns is not None:
            # init.script, init.fd and the environment travel on their own
            # socket straight to the sandbox; the supervisor only forwards
            # the other end.
            s_host, s_guest = socket.socketpair(
                socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC
            )
            owned.append(s_guest.detach())
            try:
                payload = json.dumps({"script": script, "environment": environment})
                _scm.send_with_fds(s_host, payload.encode(), [] if init_fd is None else [init_fd])
            finally:
                s_host.close()
            roles.append("setup")
            fds.append(owned[-1])
        req["fd_roles"] = roles
        reply, rfds = _supervisor.request(req, fds)
    except BaseException:
        os.close(tx)
        raise
    finally:
        for fd in owned:
            os.close(fd)
    child = _Child(int(reply["pid"]), rfds[0] if rfds else -1, ns is not None)
    with _children_lock:
        _children.append(child)
    if child.sandbox:
        if not hasattr(parent, "sandboxes"):
            parent.sandboxes = []  # type: ignore[attr-defined]
            parent.end_hooks.append(kill_sandboxes)
        parent.sandboxes.append(child)  # type: ignore[attr-defined]
    return ProcessChannel(tx, child)


_NS_FLAGS = ("new_uts", "new_ipc", "new_pid", "new_user", "new_net", "new_mount")
_STDIO = {"stdin": 0, "stdout": 1, "stderr": 2}


def _check_namespaces(
    opts: Any,
) -> tuple[dict[str, bool], dict[str, int | None], str | None, int | None, dict[str, str]]:
    """Validate spawn_vm's linux_namespaces table (manual, "The option
    linux_namespaces") before anything is created.

    Returns (namespace flags, stdio fds by name (None: a closed pipe end),
    init.script, init.fd, environment).
    """
    if not isinstance(opts, dict):
        raise TypeError("linux_namespaces must be a dict")
    ns: dict[str, bool] = {}
    stdio: dict[str, int | None] = {name: None for name in _STDIO}
    environment: dict[str, str] = {}
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
            for k, v in (value or {}).items():
                if "=" in k or "\0" in k or "\0" in v or not k:
                    raise ValueError(f"invalid environment variable {k!r}")
            environment = dict(value) if value else {}
        elif key in _STDIO:
            if value is None:
                stdio[key] = None
            elif isinstance(value, str) and value == "share":
                stdio[key] = _STDIO[key]
            elif isinstance(value, file_descriptor):
                stdio[key] = value._fileno()
            else:
                raise TypeError(
                    f"linux_namespaces[{key!r}] must be 'share', a file_descriptor or None"
                )
        elif key == "init":
            continue
        else:
            raise ValueError(f"unknown linux_namespaces option {key!r}")
    script: str | None = None
    init_fd: int | None = None
    init = opts.get("init")
    if init is not None:
        if not isinstance(init, dict) or set(init) - {"script", "fd"}:
            raise TypeError(
                "linux_namespaces['init'] must be {'script': str, 'fd': file_descriptor}"
            )
        script = init.get("script")
        if script is not None and not isinstance(script, str):
            raise TypeError("init['script'] must be a str")
        fd = init.get("fd")
        if fd is not None:
            if not isinstance(fd, file_descriptor):
                raise TypeError("init['fd'] must be a file_descriptor")
            init_fd = fd._fileno()
    return ns, stdio, script, init_fd, environment


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
        if e.code is None:
            return 0
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
