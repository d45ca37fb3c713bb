"""Timers and clocks (manual: "time.sleep", "time.steady_clock", "time.steady_timer",
"time.system_clock", "time.system_timer", "time.high_resolution_clock").

Time points hold integer nanoseconds; durations are seconds as numbers.
"""

from __future__ import annotations

import time as _time
from typing import Any

from emilua._core import proactor as _core
from emilua._fiber import _proactor

__all__ = [
    "high_resolution_clock",
    "sleep",
    "steady_clock",
    "steady_timer",
    "system_clock",
    "system_timer",
]


def sleep(secs: float) -> None:
    """Block the calling fiber for *secs* seconds. Interruption point."""
    _proactor().sleep(float(secs))


def _to_ns(secs: float) -> int:
    # Manual: durations are rounded to the nearest tick, ties to even.
    return round(float(secs) * 1e9)


class _TimePoint:
    """A point on one clock, in nanoseconds since the clock's epoch."""

    __slots__ = ("_ns",)
    _clock: str = ""
    _mutable = True

    def __init__(self, ns: int = 0) -> None:
        self._ns = int(ns)

    def add(self, secs: float) -> None:
        """Move the time point forward by *secs* seconds."""
        self._ns += _to_ns(secs)

    def sub(self, secs: float) -> None:
        """Move the time point backward by *secs* seconds."""
        self._ns -= _to_ns(secs)

    @property
    def seconds_since_epoch(self) -> float:
        return self._ns / 1e9

    def _same(self, other: object) -> _TimePoint:
        if type(other) is not type(self):
            raise TypeError("time points of different clocks cannot be combined")
        return other

    def __add__(self, secs: float) -> _TimePoint:
        if isinstance(secs, _TimePoint):
            return NotImplemented
        return type(self)(self._ns + _to_ns(secs))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, _TimePoint):
            return (self._ns - self._same(other)._ns) / 1e9
        return type(self)(self._ns - _to_ns(other))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._ns == other._ns

    def __lt__(self, other: _TimePoint) -> bool:
        return self._ns < self._same(other)._ns

    def __le__(self, other: _TimePoint) -> bool:
        return self._ns <= self._same(other)._ns

    def __gt__(self, other: _TimePoint) -> bool:
        return self._ns > self._same(other)._ns

    def __ge__(self, other: _TimePoint) -> bool:
        return self._ns >= self._same(other)._ns

    __hash__ = None  # type: ignore[assignment]  # mutable through add()/sub()

    def __repr__(self) -> str:
        return f"<{self._clock}.time_point {self.seconds_since_epoch:.9f}>"


class _SteadyTimePoint(_TimePoint):
    __slots__ = ()
    _clock = "steady_clock"


class _SystemTimePoint(_TimePoint):
    __slots__ = ()
    _clock = "system_clock"


class _HighResTimePoint(_TimePoint):
    __slots__ = ()
    _clock = "high_resolution_clock"

    # Manual: high_resolution_clock time points have no add()/sub()/__add__.
    def add(self, secs: float) -> None:
        raise AttributeError("high_resolution_clock time points have no add()")

    def sub(self, secs: float) -> None:
        raise AttributeError("high_resolution_clock time points have no sub()")

    def __add__(self, secs: float) -> _TimePoint:
        return NotImplemented

    __radd__ = __add__


class steady_clock:
    """A monotonic clock (CLOCK_MONOTONIC)."""

    time_point = _SteadyTimePoint
    is_steady = True

    @staticmethod
    def now() -> _SteadyTimePoint:
        return _SteadyTimePoint(_time.clock_gettime_ns(_time.CLOCK_MONOTONIC))

    @staticmethod
    def epoch() -> _SteadyTimePoint:
        return _SteadyTimePoint(0)


class system_clock:
    """The wall clock (CLOCK_REALTIME), UNIX epoch."""

    time_point = _SystemTimePoint
    is_steady = False

    @staticmethod
    def now() -> _SystemTimePoint:
        return _SystemTimePoint(_time.clock_gettime_ns(_time.CLOCK_REALTIME))

    @staticmethod
    def epoch() -> _SystemTimePoint:
        return _SystemTimePoint(0)


class high_resolution_clock:
    """The clock with the smallest tick: CLOCK_MONOTONIC here, so it is steady."""

    time_point = _HighResTimePoint
    is_steady = True

    @staticmethod
    def now() -> _HighResTimePoint:
        return _HighResTimePoint(_time.clock_gettime_ns(_time.CLOCK_MONOTONIC))

    @staticmethod
    def epoch() -> _HighResTimePoint:
        return _HighResTimePoint(0)


class _BasicTimer:
    _point: type[_TimePoint] = _TimePoint

    def __init__(self) -> None:
        self._timer = _proactor().new_timer()
        self._expiry = self._point(0)

    def _monotonic_deadline(self) -> float:
        raise NotImplementedError

    def expires_at(self, tp: _TimePoint) -> int:
        """Set the absolute expiry; cancels pending waits and returns their count."""
        if type(tp) is not self._point:
            raise TypeError(f"expires_at() needs a {self._point._clock}.time_point")
        n = self._timer.cancel()
        self._expiry = self._point(tp._ns)
        return int(n)

    def wait(self) -> None:
        """Block until the expiry time. Interruption point.

        Raises OSError(ECANCELED) when the wait is cancelled (cancel(),
        expires_at(), expires_after()).
        """
        deadline = self._monotonic_deadline()
        self._timer.deadline = deadline
        self._timer.wait()

    def cancel(self) -> int:
        """Cancel every pending wait; returns how many were cancelled."""
        return int(self._timer.cancel())

    @property
    def expiry(self) -> _TimePoint:
        return self._point(self._expiry._ns)


class steady_timer(_BasicTimer):
    """A timer on steady_clock (manual, "time.steady_timer")."""

    _point = _SteadyTimePoint

    def expires_after(self, secs: float) -> int:
        """Set the expiry relative to now; cancels pending waits, returns their count."""
        return self.expires_at(steady_clock.now() + float(secs))

    def _monotonic_deadline(self) -> float:
        return self._expiry._ns / 1e9


class system_timer(_BasicTimer):
    """A timer on system_clock (manual, "time.system_timer").

    The deadline is converted to the monotonic clock when wait() starts.
    """

    _point = _SystemTimePoint

    def expires_after(self, secs: float) -> int:
        """Set the expiry relative to now; cancels pending waits, returns their count."""
        return self.expires_at(system_clock.now() + float(secs))

    def _monotonic_deadline(self) -> float:
        remaining = self._expiry._ns - _time.clock_gettime_ns(_time.CLOCK_REALTIME)
        return _core.monotonic_time() + max(remaining, 0) / 1e9
