"""Fibers: spawn, this_fiber, scopes (manual: "Fibers", "Interruption API").

The scheduler itself is in the core (``emilua._core.proactor``); this module is
the Python surface over it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emilua._core import proactor as _core
from emilua._core.proactor import FiberInterrupted

__all__ = [
    "FiberInterrupted",
    "scope",
    "scope_cleanup_pop",
    "scope_cleanup_push",
    "spawn",
    "this_fiber",
]


def _proactor() -> _core.Proactor:
    p = _core.current()
    if p is None:
        raise RuntimeError(
            "no emilua engine runs in this thread (start one with emilua.run() "
            "or the emilua command)"
        )
    return p


def spawn(f: Callable[..., Any], *args: Any) -> _core.Fiber:
    """Spawn a fiber running ``f(*args)`` (manual, "Fibers": post semantics).

    The caller keeps running until it reaches a suspension point.
    """
    return _proactor().spawn(f, *args)


class _ThisFiber:
    """The manual's ``this_fiber``: operations on the calling fiber."""

    __slots__ = ()

    def yield_(self) -> None:
        """Let every other ready fiber run, then continue. Interruption point."""
        _proactor().yield_()

    def forbid_suspend(self) -> None:
        """Enter (or nest) the suspension-disallowed state.

        While it lasts every suspending call raises RuntimeError before doing
        anything, even one that would not have had to wait.
        """
        _proactor().forbid_suspend()

    def allow_suspend(self) -> None:
        """Leave one level of forbid_suspend(); raises RuntimeError if unbalanced."""
        _proactor().allow_suspend()

    def disable_interruption(self) -> None:
        """Defer interruption until the matching restore_interruption().

        Nests. Meanwhile interruption points do not raise and interrupt() does
        not disturb the call the fiber is parked in; a pending request is
        raised at the first interruption point after the last restore.
        """
        _proactor().disable_interruption()

    def restore_interruption(self) -> None:
        """Undo one disable_interruption(); raises RuntimeError if unbalanced."""
        _proactor().restore_interruption()

    @property
    def is_main(self) -> bool:
        """Whether the calling fiber is the main fiber of its VM."""
        f = _proactor().current_fiber
        return bool(f is not None and f.is_main)

    @property
    def id(self) -> str:
        """An id string for debugging only."""
        f = _proactor().current_fiber
        if f is None:
            raise RuntimeError("not inside a fiber")
        return str(f.id)

    @property
    def local(self) -> dict[Any, Any]:
        """Fiber-local storage: a dict private to the calling fiber."""
        return _proactor().fiber_local()

    local_ = local

    def __repr__(self) -> str:
        return "<this_fiber>"


this_fiber = _ThisFiber()


def _own_fiber() -> _core.Fiber:
    # Scopes follow the fiber's own call stack; a greenlet created inside the
    # fiber has a stack of its own, so it may not touch them.
    return _proactor().own_fiber()


def _scopes(f: _core.Fiber) -> list[list[Callable[[], Any]]]:
    if f.scopes is None:
        f.scopes = [[]]  # the root scope, run when the fiber ends
    return f.scopes


def run_cleanup_handlers(handlers: list[Callable[[], Any]]) -> None:
    """Run *handlers* last first, with interruption disabled; they may suspend.

    Manual ("The scope() facility"): a handler that raises terminates the VM.
    While the engine tears a VM down no handler runs: the fibers are only
    unwound so that ``finally`` blocks release what they hold.
    """
    p = _proactor()
    if p.closing:
        handlers.clear()
        return
    p.disable_interruption()
    try:
        while handlers:
            h = handlers.pop()
            try:
                h()
            except BaseException as e:
                handlers.clear()
                p.terminate(e, f"the scope cleanup handler {h!r} raised")
                raise
    finally:
        if p.current_fiber is not None:
            p.restore_interruption()


# The core runs a finished fiber's root scope with it.
_core.set_cleanup_runner(run_cleanup_handlers)


def scope_cleanup_push(handler: Callable[[], Any]) -> None:
    """Register *handler* in the innermost scope of the calling fiber.

    Handlers run in reverse order of registration when the scope ends, by
    any path (manual, "The scope() facility"). Outside any ``scope()`` the
    innermost scope is the fiber's root scope, which ends with the fiber.
    """
    if not callable(handler):
        raise TypeError("scope_cleanup_push() needs a callable")
    _scopes(_own_fiber())[-1].append(handler)


def scope_cleanup_pop(execute: bool = True) -> None:
    """Remove the last handler of the innermost scope; run it if *execute*.

    Raises RuntimeError if the innermost scope has no handler left.
    """
    handlers = _scopes(_own_fiber())[-1]
    if not handlers:
        raise RuntimeError("scope_cleanup_pop(): the innermost scope has no handler")
    h = handlers.pop()
    if execute:
        run_cleanup_handlers([h])


class _Scope:
    __slots__ = ("_fiber", "_handlers")

    def __enter__(self) -> _Scope:
        self._fiber = _own_fiber()
        self._handlers: list[Callable[[], Any]] = []
        _scopes(self._fiber).append(self._handlers)
        return self

    def __exit__(self, *exc: object) -> None:
        stack = self._fiber.scopes
        assert stack is not None  # __enter__ made it
        # Normally our list is the innermost one. A generator that left a
        # scope open across a yield may have pushed one above it; only our own
        # list is ours to remove (docs/fibers.md, "Greenlets and generators").
        for i in range(len(stack) - 1, 0, -1):
            if stack[i] is self._handlers:
                del stack[i]
                break
        run_cleanup_handlers(self._handlers)


def scope(f: Callable[[], Any] | None = None) -> Any:
    """``scope(f)`` runs f in a new cleanup scope and returns its result;
    ``with scope():`` does the same for a block (manual, "The scope() facility").

    The scope's handlers run when it ends: normally, by an exception, or by
    interruption.
    """
    if f is None:
        return _Scope()
    with _Scope():
        return f()
