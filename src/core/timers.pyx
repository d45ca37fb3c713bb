# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Timers: a heap of timer waits on CLOCK_MONOTONIC, and the Timer object.

The hub asks next_timeout() before it waits for kernel events and calls
expire() after; a timer wait is not a kernel op on either backend (the
wait's timeout is the nearest deadline).
"""

cimport cython

from errno cimport ECANCELED
from .scheduler cimport Fiber, Scheduler, Waiter

import heapq
import os

from .scheduler import FiberInterrupted


def monotonic_time():
    """CLOCK_MONOTONIC in seconds: the clock of timers."""
    return monotonic()


@cython.freelist(32)
@cython.final
cdef class TimerWait(Waiter):
    """One fiber parked until a deadline."""

    cdef int withdraw(self, Fiber f, bint interrupt) except -1:
        if self.pending:
            if interrupt:
                self.interrupted = True
            self.queue.finish(self, -ECANCELED)
        return 0

    # The heap holds the waits themselves, ordered by (deadline, seq): no
    # tuple, float and int per sleeping fiber.
    def __lt__(self, TimerWait other):
        if self.deadline != other.deadline:
            return self.deadline < other.deadline
        return self.seq < other.seq

    def __repr__(self):
        return "timer wait"


@cython.final
cdef class TimerQueue:
    def __cinit__(self, Scheduler sched):
        self.sched = sched
        self.heap = []

    cdef int wait(self, Fiber f, double deadline, Timer t) except -1:
        """Park f until *deadline* (monotonic seconds). Interruption point
        (the caller made the checks). Raises OSError(ECANCELED) when the
        wait is cancelled (Timer.cancel())."""
        cdef TimerWait w = TimerWait.__new__(TimerWait)
        w.fiber = f
        w.queue = self
        w.deadline = deadline if deadline > 0 else 1e-9
        w.timer = t
        w.pending = True
        self.seq += 1
        w.seq = self.seq
        heapq.heappush(self.heap, w)
        self.count += 1
        if t is not None:
            t.waiting.append(w)
        try:
            self.sched.park(f, w)
        finally:
            w.fiber = None
            if w.pending:
                self.finish(w, -ECANCELED)
        if w.res < 0:
            if w.interrupted:
                raise FiberInterrupted()
            raise OSError(-w.res, os.strerror(-w.res))
        return 0

    cdef double next_timeout(self):
        """Seconds until the nearest deadline (-1: none)."""
        cdef TimerWait w
        while self.heap:
            w = <TimerWait>self.heap[0]
            if not w.pending:
                heapq.heappop(self.heap)
                continue
            return max(0.0, w.deadline - monotonic())
        return -1.0

    cdef int expire(self) except -1:
        cdef TimerWait w
        cdef double now
        if self.count == 0:
            return 0
        now = monotonic()
        while self.heap:
            w = <TimerWait>self.heap[0]
            if not w.pending:
                heapq.heappop(self.heap)
                continue
            if w.deadline > now:
                break
            heapq.heappop(self.heap)
            self.finish(w, 0)
        return 0

    cdef int finish(self, TimerWait w, int res) except -1:
        w.pending = False
        w.res = res
        self.count -= 1
        if w.timer is not None:
            try:
                w.timer.waiting.remove(w)
            except ValueError:
                pass
        if w.fiber is not None:
            self.sched.resume(w.fiber, w)
        return 0

    cdef void clear(self):
        self.heap = []
        self.count = 0


@cython.final
cdef class Timer:
    """A timer on the monotonic clock; any number of fibers may wait on it."""

    def __cinit__(self, TimerQueue queue):
        self.queue = queue
        self.deadline = 0.0
        self.waiting = []

    def wait(self):
        """Park until the deadline. Interruption point.

        Raises OSError(ECANCELED) if cancelled."""
        cdef Scheduler p = self.queue.sched
        cdef Fiber f = p.enter()
        self.queue.wait(f, self.deadline, self)

    def cancel(self):
        """Cancel every pending wait; returns how many were cancelled."""
        cdef TimerWait w
        cdef int n = 0
        waiting = self.waiting
        self.waiting = []
        for w in waiting:
            if w.pending:
                self.queue.finish(w, -ECANCELED)
                n += 1
        return n

    @property
    def pending(self):
        return len(self.waiting)
