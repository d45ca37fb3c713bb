"""The engine's entry points above the actor layer: ``run`` (an engine with
its main VM in this thread) and ``spawn_vm`` (which picks the kind of actor:
a fiber's VM, a thread's, or a process's).

Layering: :mod:`emilua._fiber` (fibers) < :mod:`emilua._io` < :mod:`emilua._actor`
(VMs, channels, threads) < :mod:`emilua._process_actor` < this module.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from emilua import _diagnostics
from emilua._actor import (
    VM,
    _check_master,
    _resolve_module,
    _spawn_same_thread,
    _spawn_thread,
    current_vm,
)
from emilua._core import proactor as _core

__all__ = ["run", "spawn_vm"]


def run(main: Callable[..., Any], *args: Any, backend: str | None = None) -> Any:
    """Run ``main(*args)`` as the main fiber of a new engine in this thread.

    Returns when the VM has nothing left to do, with main's result (or main's
    error re-raised). *backend* is ``"io_uring"`` (default, falls back to epoll
    where the kernel refuses io_uring) or ``"epoll"``; ``EMILUA_BACKEND`` sets
    the default.
    """
    p = _core.Proactor(backend)
    vm = VM(p, "main")
    p.vm = vm
    watch = _diagnostics.watch_engine(p)
    try:
        return p.run(main, *args)
    finally:
        if watch is not None:
            watch.close()
        vm.end()
        # Process actors are loaded only by a program that spawns one: the
        # ones ended in this engine are released if the module is loaded.
        pa = sys.modules.get("emilua._process_actor")
        if pa is not None:
            pa.release_ended()


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
        kind, target = (
            ("path", module)
            if module.endswith(".py") or "/" in module
            else (
                "name",
                module,
            )
        )
    else:
        kind, target = _resolve_module(module)
    if subprocess or linux_namespaces is not None:
        # Imported on first use, a deliberate start-up cost decision: a
        # program without process actors never loads their module (and its
        # codec, supervisor client and sandbox checks).
        from emilua import _process_actor

        return _process_actor.spawn(kind, target, linux_namespaces, new_master, parent)
    if inherit_context:
        return _spawn_same_thread(parent, kind, target, new_master)
    return _spawn_thread(parent, kind, target, new_master, backend)
