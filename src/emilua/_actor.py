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
from collections.abc import Callable
from typing import Any

from emilua import _context
from emilua._core import proactor as _core
from emilua._core.proactor import FiberInterrupted
from emilua._fiber import _proactor
from emilua._io import IOObject
from emilua.byte_span import byte_span

__all__ = [
    "ChannelClosedError",
    "NoSendersError",
    "VM",
    "inbox",
    "is_master",
    "require_master",
]

# Defined in the core with the message path; raised from there.
ChannelClosedError = _core.ChannelClosedError
NoSendersError = _core.NoSendersError
ChannelClosedError.__module__ = NoSendersError.__module__ = "emilua"


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


def _copy_other(value: Any, path: set[int], moves: list[_Moved]) -> Any:
    """Deep-copy what the core's message copy leaves to Python: scalar and
    container subclasses, addresses of process actors, spans, IO objects
    (moved). The core handles exact builtin types, channels and the inbox."""
    if isinstance(value, (bool, int, float, str, bytes)):
        return value
    clone = getattr(type(value), "_clone_address", None)
    if clone is not None:
        return clone(value)
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
                return {
                    _core.copy_message(k, path, moves): _core.copy_message(v, path, moves)
                    for k, v in value.items()
                }
            items = [_core.copy_message(v, path, moves) for v in value]
            return items if isinstance(value, list) else tuple(items)
        finally:
            path.discard(key)
    raise TypeError(f"a {type(value).__name__} cannot be sent over a channel")


def _copy_span(span: Any) -> Any:
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


_Carrier = _core.Carrier
_materialize = _core.materialize


def _rebuild(value: Any, p: Any) -> Any:
    if isinstance(value, _Moved):
        cls: Any = value.cls
        obj = cls.__new__(cls)
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


# ---------------------------------------------------------------- mailboxes

_Receive = _core.ReceiveOp


class Mailbox(_core.MailboxBase):
    """The receiving side of a VM's inbox. Lives on the VM's proactor thread.

    The message path (offer, take, receive, close) and the sender count are
    the core's ``MailboxBase``.
    """


Channel = _core.Channel


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


class VM(_core.VmHooks):
    """An actor: a program with its own namespace, fibers and inbox.

    The core calls the hooks of ``VmHooks`` (fiber_started, fiber_done,
    senders_gone, address) and reads ``mailbox``/``inbox_used``.
    """

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
        # Called with the VM when it ends: the layers above (process actors)
        # register what must go with it, without this module knowing them.
        self.end_hooks: list[Callable[[VM], None]] = []

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

    def senders_gone(self) -> None:
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
        for hook in self.end_hooks:
            hook(self)

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
    assert isinstance(vm, VM)
    return vm


inbox = _core.inbox


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
        loaded = get_code(spec.name) if get_code is not None else None
        if loaded is None:
            raise ImportError(f"no code object available for {spec.name!r}")
        code = loaded
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
    # Threads that have ended need no join: a program spawning thread actors
    # for ever keeps only the live ones here.
    _threads[:] = [x for x in _threads if x.is_alive()]
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


_core.set_actor_hooks(_copy_other, _detach_moves, _restore_moves, _rebuild, current_vm)
