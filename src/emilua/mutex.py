"""Mutex (manual: "mutex").

``from emilua import mutex`` gives the module; ``mutex.mutex()`` (or
``mutex.new()``, the manual's spelling) creates one. The implementation is in
the core (``emilua._core.proactor.Mutex``).
"""

from __future__ import annotations

from emilua._core.proactor import Mutex as _Mutex

__all__ = ["mutex", "new"]


class mutex(_Mutex):
    """A mutex shared by the fibers of one VM.

    ``lock()`` takes a free mutex without a context switch (dispatch
    semantics) and otherwise parks the caller in a FIFO queue. It suspends,
    so it raises under ``this_fiber.forbid_suspend()``, but it is *not* an
    interruption point: an interrupted fiber still gets the mutex, and
    ``lock()`` followed by ``scope_cleanup_push(m.unlock)`` never leaks it.

    ``unlock()`` hands the mutex to the longest waiter, who owns it from then
    on (no later ``lock()`` can overtake it). It raises ``OSError(EPERM)``
    when the mutex is not locked, and never suspends. ``with m:`` locks and
    unlocks around a block.
    """

    __slots__ = ()


new = mutex
