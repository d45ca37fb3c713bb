"""Actors: VMs, channels and inboxes (manual: "Threads and the actor model",
"Internals": "Multiple lua VMs", "Channels and resources").

A VM is a program: its entry module runs in a fresh namespace with
``_CONTEXT`` set, with its own fibers and its own inbox. A VM runs on the
caller's proactor (same thread), on a new thread with its own proactor
(``inherit_context=False``), or in a child process (``subprocess=True``, see
``_process_actor``).

Channels. A tx-channel is an address: a counted reference to the target's
mailbox. ``send`` is a rendezvous: the sender stays parked until a receiver
takes the message (or the inbox closes, or the sender is interrupted, which
withdraws the message). Every state change of a pending send happens under
one lock, so a message is either taken once or withdrawn, never both, even
when sender and receiver live on different threads. Work that must run on
the mailbox's thread is posted to its proactor (eventfd wake-up).
"""

from __future__ import annotations

import builtins
import errno as _errno
import gc
import importlib.util
import io
import os
import sys
import threading
import traceback
from collections import deque
from typing import Any

from emilua import _context
from emilua._core import proactor as _core
from emilua._core.proactor import FiberInterrupted
from emilua._fiber import _proactor

__all__ = [
    "ChannelClosedError",
    "NoSendersError",
    "VM",
    "inbox",
    "is_master",
    "require_master",
    "spawn_vm",
]

_lock = threading.Lock()


class ChannelClosedError(Exception):
    """The channel (or the inbox it addresses) is closed."""

    errno = _errno.EPIPE

    def __init__(self, msg: str = "channel closed") -> None:
        super().__init__(msg)


class NoSendersError(Exception):
    """inbox.receive() with no live sender anywhere: nothing can ever arrive."""

    def __init__(self, msg: str = "no senders") -> None:
        super().__init__(msg)


# ---------------------------------------------------------------- messages


class _Moved:
    """An IO object in transit: its class, its fd and its other state."""

    __slots__ = ("obj", "cls", "fd", "state")

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.cls = type(obj)
        self.fd = -1
        self.state: dict[str, Any] = {}


def _io_slots(cls: type) -> list[str]:
    names = []
    for klass in cls.__mro__:
        for name in getattr(klass, "__slots__", ()):
            if name not in ("_h", "_p", "__weakref__") and name not in names:
                names.append(name)
    return names


# Immutable values sent as they are; exact types, the common case first.
_SCALARS = frozenset({type(None), bool, int, float, str, bytes})


def _copy(value: Any, path: set[int], moves: list[_Moved]) -> Any:
    """Deep-copy a message; channels travel as addresses, IO objects are moved."""
    if type(value) in _SCALARS:
        return value
    from emilua._io import IOObject
    from emilua.byte_span import byte_span

    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, Channel):
        return value._clone()
    clone = getattr(type(value), "_clone_address", None)
    if clone is not None:
        return clone(value)
    if value is inbox:
        # Sending the rx-end sends an address: the receiver gets a tx-channel.
        return current_vm().address()
    if isinstance(value, byte_span):
        return _copy_span(value)
    if isinstance(value, bytearray):
        return bytearray(value)
    if isinstance(value, IOObject):
        if not value.is_open:
            raise ValueError("cannot send a closed IO object")
        for m in moves:
            if m.obj is value:
                raise ValueError("the same IO object appears twice in one message")
        m = _Moved(value)
        moves.append(m)
        return m
    if isinstance(value, (list, tuple, dict)):
        key = id(value)
        if key in path:
            raise ValueError("a message cannot contain a reference cycle")
        path.add(key)
        try:
            if isinstance(value, dict):
                return {_copy(k, path, moves): _copy(v, path, moves) for k, v in value.items()}
            items = [_copy(v, path, moves) for v in value]
            return items if isinstance(value, list) else tuple(items)
        finally:
            path.discard(key)
    raise TypeError(f"a {type(value).__name__} cannot be sent over a channel")


def _copy_span(span: Any) -> Any:
    from emilua.byte_span import byte_span

    out = byte_span(len(span))
    out.copy(span)
    return out


def _detach_moves(moves: list[_Moved]) -> None:
    """Take the fds of every moved IO object, all or nothing (EBUSY)."""
    for m in moves:
        h = m.obj._h
        if h is None or h.closed:
            raise OSError(_errno.EBADF, "cannot send a closed IO object")
        if h.busy:
            raise OSError(_errno.EBUSY, "cannot send an IO object with an operation in flight")
    for m in moves:
        m.state = {name: getattr(m.obj, name) for name in _io_slots(m.cls) if hasattr(m.obj, name)}
        m.fd = m.obj._move_out()


def _restore_moves(moves: list[_Moved]) -> None:
    """A send failed: give each moved fd back to the object it came from."""
    for m in moves:
        if m.fd >= 0:
            m.obj._adopt_fd(m.fd)
            m.fd = -1


class _Carrier:
    """A message carrying moved IO objects; other messages travel unwrapped."""

    __slots__ = ("msg",)

    def __init__(self, msg: Any) -> None:
        self.msg = msg


def _materialize(value: Any, p: Any) -> Any:
    """Receiver side: the message, its moved IO objects rebuilt on *p*."""
    if type(value) is _Carrier:
        return _rebuild(value.msg, p)
    return value


def _rebuild(value: Any, p: Any) -> Any:
    if isinstance(value, _Moved):
        obj = value.cls.__new__(value.cls)
        obj._h = None
        obj._p = p
        for k, v in value.state.items():
            setattr(obj, k, v)
        obj._h = p.handle(value.fd)
        value.fd = -1
        return obj
    if isinstance(value, list):
        return [_rebuild(v, p) for v in value]
    if isinstance(value, tuple):
        return tuple(_rebuild(v, p) for v in value)
    if isinstance(value, dict):
        return {_rebuild(k, p): _rebuild(v, p) for k, v in value.items()}
    return value


def _discard(value: Any) -> None:
    """A message nobody will receive: close the fds it carries."""
    if type(value) is _Carrier:
        _discard(value.msg)
    elif isinstance(value, _Moved):
        if value.fd >= 0:
            os.close(value.fd)
            value.fd = -1
    elif isinstance(value, (list, tuple)):
        for v in value:
            _discard(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            _discard(k)
            _discard(v)


# ---------------------------------------------------------------- mailboxes

_PENDING, _TAKEN, _WITHDRAWN, _REJECTED = range(4)


class _Send:
    """A message waiting for a receiver, and the parked sender.

    ``parked`` is true only while the sender sits in ``suspend()`` for this
    send; it is read and written on the sender's thread only. A message can
    be taken before the sender parks (a receiver was already waiting), and a
    fiber that is not parked must not be made ready: it would resume from
    whatever it parks on next.
    """

    __slots__ = ("msg", "moves", "state", "fiber", "proactor", "remote", "parked")

    def __init__(self, msg: Any, moves: list[_Moved], fiber: Any, p: Any) -> None:
        self.msg = msg
        self.moves = moves
        self.state = _PENDING
        self.fiber = fiber
        self.proactor = p
        self.remote = False
        self.parked = False

    def cancel(self, fiber: Any) -> bool:
        # Interruption of the sender: withdraw the message unless taken already.
        with _lock:
            if self.state != _PENDING:
                return False
            self.state = _WITHDRAWN
        if self.remote:
            self.proactor.keepalive -= 1
        return True

    def settle(self, state: int) -> None:
        """Called by the mailbox side once the message is taken or rejected."""
        with _lock:
            if self.state != _PENDING:
                return
            self.state = state
        self.notify()

    def notify(self) -> None:
        """The message was taken or rejected: resume the sender."""
        if self.remote:
            self.proactor.post(self._wake_remote)
        elif self.parked:
            self.proactor.wake(self.fiber)

    def _wake_remote(self) -> None:
        # On the sender's thread.
        self.proactor.keepalive -= 1
        if self.parked:
            self.proactor.wake(self.fiber)

    def __repr__(self) -> str:
        return "channel send"


class _Receive:
    __slots__ = ("box", "value", "error", "fiber")

    def __init__(self, box: Mailbox, fiber: Any) -> None:
        self.box = box
        self.value: Any = None
        self.error: BaseException | None = None
        self.fiber = fiber

    def cancel(self, fiber: Any) -> bool:
        if self.box.receiver is self:
            self.box.receiver = None
            return True
        return False

    def __repr__(self) -> str:
        return f"inbox.receive() of {self.box.vm!r}"


class Mailbox:
    """The receiving side of a VM's inbox. Lives on the VM's proactor thread."""

    def __init__(self, p: Any, vm: VM) -> None:
        self.p = p
        self.vm = vm
        self.closed = False
        self.queue: deque[_Send] = deque()
        self.receiver: _Receive | None = None
        self.nsenders = 0
        self.kept_alive = False
        # Sends posted from other threads and not offered yet. close() rejects
        # them: once the VM's thread is gone nothing would run the posted offer.
        self.incoming: set[_Send] = set()

    # -- sender accounting (any thread) --

    def add_sender(self) -> None:
        with _lock:
            self.nsenders += 1
            first = self.nsenders == 1
        if first:
            self._on_box_thread(self._senders_appeared)

    def drop_sender(self) -> None:
        with _lock:
            self.nsenders -= 1
            last = self.nsenders == 0
        if last:
            self._on_box_thread(self._senders_gone)

    def _on_box_thread(self, fn: Any) -> None:
        if _core.current() is self.p:
            fn()
        else:
            try:
                self.p.post(fn)
            except Exception:
                pass

    def _senders_appeared(self) -> None:
        if not self.closed and not self.kept_alive and self.nsenders > 0:
            # Tx-channels keep the target's execution context alive (manual,
            # "Channels and resources").
            self.kept_alive = True
            self.p.keepalive += 1

    def _senders_gone(self) -> None:
        if self.nsenders > 0:
            return
        self._release_keepalive()
        r = self.receiver
        if r is not None:
            self.receiver = None
            r.error = NoSendersError()
            self.p.wake(r.fiber)
        self.vm.maybe_end()

    def _release_keepalive(self) -> None:
        if self.kept_alive:
            self.kept_alive = False
            self.p.keepalive -= 1

    # -- on the mailbox's thread --

    def offer(self, op: _Send) -> None:
        if op.remote:
            with _lock:
                self.incoming.discard(op)
        if self.closed:
            op.settle(_REJECTED)
            return
        r = self.receiver
        if r is not None:
            with _lock:
                if op.state != _PENDING:
                    return
                op.state = _TAKEN
            self.receiver = None
            r.value = op.msg
            # The sender's op must not keep the message (and the addresses
            # in it) alive once the receiver owns it.
            op.msg = None
            self.p.wake(r.fiber)
            op.notify()
            return
        self.queue.append(op)

    def take(self) -> tuple[bool, Any]:
        while self.queue:
            op = self.queue.popleft()
            with _lock:
                if op.state != _PENDING:
                    continue
                op.state = _TAKEN
            msg, op.msg = op.msg, None
            op.notify()
            return True, msg
        return False, None

    def receive(self) -> Any:
        p = self.p
        f = p.current_fiber
        if f is None:
            raise RuntimeError("inbox.receive() outside of a fiber")
        if self.closed:
            raise ChannelClosedError()
        if self.receiver is not None:
            raise OSError(_errno.EBUSY, "another fiber is already receiving on this inbox")
        # An interruption point even when a message is waiting: a pending
        # interruption raises here and the message stays queued.
        p.check_interruption()
        ok, msg = self.take()
        if ok:
            return _materialize(msg, p)
        if self.nsenders == 0:
            raise NoSendersError()
        r = _Receive(self, f)
        self.receiver = r
        try:
            p.suspend(r)
        finally:
            if self.receiver is r:
                self.receiver = None
        if r.error is not None:
            raise r.error
        return _materialize(r.value, p)

    def close(self) -> None:
        if self.closed:
            return
        with _lock:
            self.closed = True
            incoming = list(self.incoming)
            self.incoming.clear()
        self._release_keepalive()
        for op in incoming:
            op.settle(_REJECTED)
        while self.queue:
            op = self.queue.popleft()
            op.settle(_REJECTED)
        r = self.receiver
        if r is not None:
            self.receiver = None
            r.error = ChannelClosedError()
            self.p.wake(r.fiber)


class Channel:
    """A tx-channel: the address of an actor (manual: "Communication").

    Copies of an address compare equal. While it exists it keeps the target
    VM's execution context alive; ``close()`` (or the GC) lets it go.
    """

    __slots__ = ("_box", "_open", "__weakref__")

    def __init__(self, box: Mailbox) -> None:
        self._box = box
        self._open = True
        box.add_sender()

    def _clone(self) -> Channel:
        if not self._open:
            raise ChannelClosedError()
        return Channel(self._box)

    def send(self, msg: Any) -> None:
        """Send a deep copy of *msg*; park until a receiver takes it.

        Interruption point: an interrupted send withdraws its message.
        Raises ChannelClosedError if the target's inbox is (or gets) closed,
        TypeError for unsendable values, OSError(EBUSY) for an IO object with
        an operation in flight.
        """
        if not self._open:
            raise ChannelClosedError()
        p = _proactor()
        f = p.current_fiber
        if f is None:
            raise RuntimeError("send() outside of a fiber")
        # An interruption point even when a receiver takes the message at
        # once: a pending interruption raises before anything is sent.
        p.check_interruption()
        moves: list[_Moved] = []
        copy = _copy(msg, set(), moves)
        if moves:
            copy = _Carrier(copy)
        _detach_moves(moves)
        box = self._box
        op = _Send(copy, moves, f, p)
        try:
            if box.p is p:
                box.offer(op)
            else:
                op.remote = True
                with _lock:
                    if box.closed:
                        op.state = _REJECTED
                    else:
                        box.incoming.add(op)
                if op.state == _PENDING:
                    p.keepalive += 1
                    box.p.post(lambda: box.offer(op))
            if op.state == _PENDING:
                op.parked = True
                try:
                    p.suspend(op)
                finally:
                    op.parked = False
        except BaseException as exc:
            # suspend() raised before parking (a pending interruption, or
            # suspension forbidden) or was unwound: withdraw the message.
            if op.cancel(f) or op.state == _WITHDRAWN:
                _restore_moves(moves)
                raise
            if op.state == _TAKEN and isinstance(exc, FiberInterrupted):
                # Taken concurrently before the interruption was seen: the
                # send completed; the interruption stays pending for the next
                # interruption point (manual, "Interruption API").
                return
            if op.state == _REJECTED:
                _restore_moves(moves)
            raise
        if op.state == _REJECTED:
            _restore_moves(moves)
            raise ChannelClosedError()

    def close(self) -> None:
        """Drop this address (the target may exit once no address is left)."""
        if self._open:
            self._open = False
            self._box.drop_sender()

    def receive(self) -> Any:
        raise TypeError("receive() is only valid on an inbox (this is a tx-channel)")

    def __del__(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            try:
                self._box.drop_sender()
            except Exception:
                pass

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Channel) and other._box is self._box

    def __hash__(self) -> int:
        return id(self._box)

    def __repr__(self) -> str:
        return f"<channel to {self._box.vm!r}>"

    def __reduce__(self) -> Any:
        raise TypeError("channels cannot be pickled; send them over a channel")


# ---------------------------------------------------------------------- VMs


class _IdleCollector:
    """The proactor's idle hook: collect garbage that may hold channels.

    A channel in a reference cycle (a finished VM's namespace referenced by
    its functions, a fiber's frame) is dropped only by the cycle collector,
    and dropping it can wake a receiver (NoSendersError) or end a VM. When
    nothing else can happen that is the only way forward, so the loop asks
    before it blocks. A full collection costs milliseconds, and a fiber
    waiting for another thread makes the loop idle once per message, so it
    runs only when a fiber ended since the last one (the usual way such
    cycles become garbage) or when the engine would otherwise stop
    (keepalive <= 0: nothing from other threads is awaited).
    """

    __slots__ = ("p", "dirty")

    def __init__(self, p: Any) -> None:
        self.p = p
        self.dirty = True

    def __call__(self) -> None:
        p = self.p
        if p.keepalive <= 0 and p.live_fibers == 0:
            # The engine stops whatever garbage holds: nobody waits on it.
            return
        if self.dirty or p.keepalive <= 0:
            self.dirty = False
            gc.collect()


class VM:
    """An actor: a program with its own namespace, fibers and inbox."""

    _serial = 0

    def __init__(self, p: Any, context: str, module: str | None = None) -> None:
        if p.on_idle is None:
            p.on_idle = _IdleCollector(p)
        VM._serial += 1
        self.serial = VM._serial
        self.p = p
        self.context = context
        self.module = module
        self.mailbox = Mailbox(p, self)
        self.nfibers = 0
        self.main_done = False
        self.ended = False
        self.inbox_used = False
        self.namespace: dict[str, Any] | None = None
        self.master = context == "main"

    # Hooks called by the core.
    def fiber_started(self, f: Any) -> None:
        self.nfibers += 1

    def fiber_done(self, f: Any) -> None:
        self.nfibers -= 1
        hook = self.p.on_idle
        if isinstance(hook, _IdleCollector):
            hook.dirty = True
        if f.is_main:
            self.main_done = True
            imported = self._inbox_imported()
            # The namespace may hold channels; the VM must not keep them alive.
            self.namespace = None
            if not imported:
                # Manual, "Channels and resources": the runtime closes an inbox
                # that the main fiber never imported.
                self.mailbox.close()
            exc = f._take_error() if self is not self.p.vm else None
            if exc is not None:
                if not isinstance(exc, (FiberInterrupted, SystemExit)):
                    sys.stderr.write(f"Exception in the main fiber of {self!r}:\n")
                    traceback.print_exception(type(exc), exc, exc.__traceback__)
                # Manual, "Dead fibers": an error escaping the main fiber ends
                # the VM, so its other fibers unwind too.
                self.p.end_vm_fibers(self)
                self.end()
        if self.nfibers == 0:
            self.maybe_end()

    def _inbox_imported(self) -> bool:
        if self.inbox_used:
            return True
        ns = self.namespace
        return ns is not None and any(v is inbox for v in list(ns.values()))

    def maybe_end(self) -> None:
        # Manual, "Channels and resources": tx-channels hold only a weak
        # reference to the VM, so a VM whose last fiber ended closes even while
        # addresses of it exist (a send then raises ChannelClosedError instead
        # of parking for ever). What tx-channels keep alive is the execution
        # context: the proactor keeps running while a fiber waits in receive().
        if self.nfibers == 0 and not self.ended:
            self.end()

    def end(self) -> None:
        """Channels (tx and rx) are closed when the VM ends."""
        if self.ended:
            return
        self.ended = True
        self.mailbox.close()
        if getattr(self, "sandboxes", None):
            from emilua._process_actor import kill_sandboxes

            kill_sandboxes(self)

    def address(self) -> Channel:
        return Channel(self.mailbox)

    def __repr__(self) -> str:
        return f"<vm {self.serial} {self.context} {self.module or ''}>".replace(" >", ">")


def current_vm() -> VM:
    p = _proactor()
    f = p.current_fiber
    vm = f.vm if f is not None else p.vm
    if vm is None:
        vm = VM(p, "main")
        p.vm = vm
    return vm  # type: ignore[no-any-return]


class _Inbox:
    """The calling VM's inbox (manual: "Communication": ``inbox``)."""

    __slots__ = ()

    def receive(self) -> Any:
        """Receive the next message. Interruption point.

        Checks, in order: inbox closed (ChannelClosedError), another fiber
        already receiving (OSError EBUSY), a queued message, no live sender
        anywhere (NoSendersError), else waits.
        """
        vm = current_vm()
        vm.inbox_used = True
        return vm.mailbox.receive()

    def close(self) -> None:
        """Close the inbox: pending and future sends fail with ChannelClosedError."""
        vm = current_vm()
        vm.inbox_used = True
        vm.mailbox.close()

    def send(self, msg: Any) -> None:
        raise TypeError("send() is only valid on a tx-channel (this is the inbox)")

    def __repr__(self) -> str:
        return "<inbox>"


inbox = _Inbox()


def _resolve_module(module: str) -> tuple[str, str]:
    """('path', file) or ('name', dotted module name) for spawn_vm's argument."""
    if module == ".":
        entry = current_vm().module or _context.entry_module
        if entry is None:
            raise ValueError("spawn_vm('.') needs a program started by the emilua command")
        return "path", entry
    if not isinstance(module, str) or not module:
        raise TypeError("spawn_vm() needs a module name or path")
    if module.endswith(".py") or os.sep in module:
        path = os.path.abspath(module)
        if not os.path.exists(path):
            raise FileNotFoundError(_errno.ENOENT, os.strerror(_errno.ENOENT), module)
        return "path", path
    return "name", module


def run_module(kind: str, target: str, context: str) -> dict[str, Any]:
    """Run a VM's entry module in a fresh namespace with _CONTEXT set.

    runpy is not used: run_path() (and run_module() with alter_sys) installs
    the module as sys.modules['__main__'] and restores the previous entry when
    it returns. Entry modules of VMs interleave (fibers of one thread, or
    threads), so the restores come out of order and leave a finished VM's
    namespace in sys.modules, keeping its channels (and their targets) alive
    for ever. Nothing process-wide is touched here.
    """
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, "_CONTEXT": context}
    if kind == "path":
        path = target
        if os.path.isdir(path):
            path = os.path.join(path, "__main__.py")
        with io.open_code(path) as f:
            source = f.read()
        code = compile(source, path, "exec", dont_inherit=True)
        ns.update(__file__=path, __package__=None, __loader__=None, __spec__=None)
    else:
        spec = importlib.util.find_spec(target)
        if spec is None:
            raise ModuleNotFoundError(f"no module named {target!r}", name=target)
        if spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(target + ".__main__")
            if spec is None:
                raise ImportError(f"{target!r} is a package with no __main__ module")
        loader = spec.loader
        get_code = getattr(loader, "get_code", None)
        code = get_code(spec.name) if get_code is not None else None
        if code is None:
            raise ImportError(f"no code object available for {spec.name!r}")
        ns.update(
            __file__=spec.origin,
            __cached__=spec.cached,
            __package__=spec.parent,
            __loader__=loader,
            __spec__=spec,
        )
    exec(code, ns)
    return ns


def is_master() -> bool:
    """Whether the calling VM holds the master role (manual: spawn_vm, new_master)."""
    return current_vm().master


def require_master(operation: str) -> None:
    """Raise PermissionError(EPERM) unless the calling VM is the master VM.

    Manual ("Threads and the actor model", new_master): only the master VM
    may change process-wide state that does not play well with threads, such
    as the working directory and signal dispositions. Every emilua function
    that changes such state calls this first.
    """
    if not current_vm().master:
        raise PermissionError(
            _errno.EPERM, f"{operation} is reserved to the master VM (spawn_vm new_master)"
        )


def _check_master(vm: VM, new_master: bool) -> None:
    if new_master and not vm.master:
        raise PermissionError(_errno.EPERM, "only the master VM can transfer the master role")


def spawn_vm(
    module: str,
    inherit_context: bool = True,
    new_master: bool = False,
    subprocess: bool = False,
    linux_namespaces: dict[str, Any] | None = None,
    backend: str | None = None,
) -> Any:
    """Start a new actor running *module*; return a tx-channel to it.

    ``module`` is a dotted module name, a path, or ``'.'`` (the caller's own
    entry module). The module runs with ``_CONTEXT == 'worker'`` in a fresh
    namespace. ``inherit_context=False`` runs it on a new thread with its own
    proactor; ``subprocess=True`` (or ``linux_namespaces``) in a child process.
    ``new_master=True`` hands the master role (process-wide state such as the
    working directory and signal dispositions) to the new VM.
    """
    parent = current_vm()
    _check_master(parent, new_master)
    if linux_namespaces is not None and module != ".":
        # Manual ("The mount namespace"): with namespaces the module is only
        # passed along; it names a file (or module) inside the sandbox.
        if not isinstance(module, str) or not module:
            raise TypeError("spawn_vm() needs a module name or path")
        kind, target = ("path", module) if module.endswith(".py") or "/" in module else (
            "name",
            module,
        )
    else:
        kind, target = _resolve_module(module)
    if subprocess or linux_namespaces is not None:
        from emilua import _process_actor

        return _process_actor.spawn(kind, target, linux_namespaces, new_master, parent)
    if inherit_context:
        return _spawn_same_thread(parent, kind, target, new_master)
    return _spawn_thread(parent, kind, target, new_master, backend)


def _spawn_same_thread(parent: VM, kind: str, target: str, new_master: bool) -> Channel:
    p = parent.p
    vm = VM(p, "worker", target)
    chan = vm.address()

    def main() -> None:
        vm.namespace = {}
        ns = run_module(kind, target, "worker")
        vm.namespace = ns

    p.spawn_main(vm, main)
    if new_master:
        parent.master = False
        vm.master = True
    return chan


_threads: list[threading.Thread] = []


def _spawn_thread(
    parent: VM, kind: str, target: str, new_master: bool, backend: str | None
) -> Channel:
    ready = threading.Event()
    box: list[Any] = []
    backend = backend or parent.p.backend

    def thread_main() -> None:
        try:
            p = _core.Proactor(backend)
        except BaseException as exc:
            # The caller waits for `ready`: hand it the error instead.
            box.append(exc)
            ready.set()
            return
        vm = VM(p, "worker", target)
        p.vm = vm
        if new_master:
            vm.master = True
        box.append(vm.address())
        ready.set()

        def main() -> None:
            vm.namespace = run_module(kind, target, "worker")

        try:
            p.run(main)
        except SystemExit:
            pass
        except BaseException as exc:
            sys.stderr.write(f"Exception in the main fiber of {vm!r}:\n")
            traceback.print_exception(type(exc), exc, exc.__traceback__)
        finally:
            vm.end()
            gc.collect()

    t = threading.Thread(target=thread_main, name=f"emilua-vm-{target}", daemon=False)
    t.start()
    _threads.append(t)
    ready.wait()
    result = box.pop()
    if isinstance(result, BaseException):
        t.join()
        _threads.remove(t)
        raise result
    if new_master:
        parent.master = False
    return result  # type: ignore[no-any-return]


def join_threads() -> None:
    """Wait for every VM thread and process actor (the program lives while its
    VMs live)."""
    while _threads:
        _threads.pop().join()
    mod = sys.modules.get("emilua._process_actor")
    if mod is not None:
        mod.join_children()
