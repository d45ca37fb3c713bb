"""Deadlines on blocking code: ``emilua.timeout``.

Built on the manual's interruption ("Interruption API"): when the deadline
passes, the operation the fiber is parked in is cancelled as
``fiber.interrupt()`` would cancel it, and the timed block raises
``TimeoutError`` instead of ``FiberInterrupted``. Unlike ``interrupt()``,
the effect ends with the block: the fiber is not left interrupted.

What the manual says of an interrupted operation holds: one that completed
before the cancellation took effect returns its result, and the deadline
then passes unnoticed unless the block reaches another interruption point.
Code with interruption disabled (``this_fiber.disable_interruption()``) sees
the deadline when it enables it again.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, overload

from emilua._core.proactor import Fiber, FiberInterrupted
from emilua._fiber import _proactor
from emilua.time import sleep

__all__ = ["timeout"]

_T = TypeVar("_T")


def _watch(target: Fiber, seconds: float, token: object) -> None:
    try:
        sleep(seconds)
    except FiberInterrupted:
        return  # the block ended first
    target._expire_deadline(token)


class _Deadline:
    """The context manager ``emilua.timeout(seconds)`` returns (single use)."""

    __slots__ = ("_seconds", "_fiber", "_watchdog", "expired")

    def __init__(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError("timeout() takes a number of seconds")
        if seconds != seconds:  # NaN
            raise ValueError("timeout() takes a number of seconds, not NaN")
        self._seconds = float(seconds)
        self._fiber: Fiber | None = None
        self._watchdog: Fiber | None = None
        #: Whether the deadline passed while the block ran.
        self.expired = False

    def __enter__(self) -> _Deadline:
        if self._fiber is not None:
            raise RuntimeError("a timeout() object is used for one block only")
        p = _proactor()
        f = p.current_fiber
        if f is None:
            raise RuntimeError("timeout() needs a fiber")
        self._fiber = f
        if self._seconds <= 0:
            f._expire_deadline(self)  # passed already
        else:
            self._watchdog = p.spawn(_watch, f, self._seconds, self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._fiber is not None
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            # The block leaves no fiber behind: the watchdog ends (at once:
            # its sleep is interrupted) before the block's exit returns. The
            # wait is no interruption point, so an interrupt() of this fiber
            # keeps for its next one.
            watchdog.interrupt()
            p = self._fiber.proactor
            p.disable_interruption()
            try:
                watchdog.join()
            except BaseException:
                if watchdog.joinable:
                    watchdog.detach()
                raise
            finally:
                p.restore_interruption()
        self.expired = self._fiber._end_deadline(self)
        if self.expired and isinstance(exc, FiberInterrupted):
            # Ours, unless interrupt() was called too: _end_deadline() left
            # the fiber interrupted then, and FiberInterrupted goes on.
            if not self._fiber.interruption_requested:
                raise TimeoutError(f"the {self._seconds:g} s deadline passed") from None


@overload
def timeout(seconds: float) -> _Deadline: ...
@overload
def timeout(seconds: float, fn: Callable[..., _T], *args: Any) -> _T: ...


def timeout(seconds: float, fn: Callable[..., Any] | None = None, *args: Any) -> Any:
    """Put a deadline of *seconds* on a block of code.

    ``with emilua.timeout(2.5): ...`` raises ``TimeoutError`` from the block
    when the deadline passes while it runs (the operation the fiber is parked
    in is cancelled); ``emilua.timeout(2.5, fn, *args)`` returns
    ``fn(*args)`` or raises ``TimeoutError``. A zero or negative deadline has
    already passed: the first interruption point in the block raises.
    """
    deadline = _Deadline(seconds)
    if fn is None:
        return deadline
    with deadline:
        return fn(*args)
