"""Condition variable (manual: "condition_variable").

``condition_variable.condition_variable()`` (or ``condition_variable.new()``)
creates one. The implementation is in the core
(``emilua._core.proactor.ConditionVariable``).
"""

from __future__ import annotations

from emilua._core.proactor import ConditionVariable as _ConditionVariable

__all__ = ["condition_variable", "new"]


class condition_variable(_ConditionVariable):
    """A condition variable for the fibers of one VM.

    ``wait(m)`` unlocks the ``emilua.mutex.mutex`` *m*, parks until notified
    and locks *m* again before it returns or raises. It is an interruption
    point: an interrupted waiter leaves the queue at once, so it never takes
    a notification meant for another waiter, then re-acquires *m* and raises
    ``FiberInterrupted``. A notification that reached the fiber before the
    interruption wins: ``wait()`` returns normally and the interruption is
    raised at the next interruption point. ``wait(m)`` raises
    ``OSError(EPERM)`` if the caller does not hold *m*.

    ``notify_one()`` wakes the longest waiter, ``notify_all()`` every waiter in
    the order they started waiting. Neither suspends, and neither needs the
    mutex (manual, "Notifying without a lock"): with no suspension point
    between testing the condition and calling ``wait()``, no notification can
    fall in between.
    """

    __slots__ = ()


new = condition_variable
