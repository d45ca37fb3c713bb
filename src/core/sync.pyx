# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Sync primitives (manual: "mutex", "condition_variable").

They live in the core because a lock/unlock pair is on the hot path of any
program that shares an IO object between fibers; bench/sync.py measures
them. A fiber waits on them with Scheduler.park() and is woken by
Scheduler.resume(): it runs when the waker suspends.
"""

from libc.errno cimport EPERM

from .scheduler cimport Fiber, Scheduler, current

import os
from collections import deque

from .scheduler import FiberInterrupted


cdef inline Fiber _sync_caller(str what):
    cdef Scheduler p = current()
    if p is None or p.current is None:
        raise RuntimeError("%s outside of a fiber" % (what,))
    return p.current


cdef class Mutex:
    """A mutex for the fibers of one engine (manual: "mutex").

    lock() has dispatch semantics: an unlocked mutex is taken with no context
    switch. Fibers that find it locked queue in FIFO order and unlock() hands
    the mutex straight to the first of them, so it is never free in between
    and no later caller can overtake a waiter. lock() suspends but is not an
    interruption point: interrupt() leaves a queued fiber where it is.
    """

    def __cinit__(self):
        self.waiters = deque()

    def lock(self):
        """Lock the mutex, parking until it is handed over if it is locked.

        Not an interruption point. Raises RuntimeError under
        this_fiber.forbid_suspend(), even when the mutex is free (the
        suspension check does not depend on contention, as in the manual's
        engine).
        """
        cdef Fiber f = _sync_caller("mutex.lock()")
        f.proactor.check_suspend(f)
        if not self.locked:
            self.locked = True
            self.owner = f
            return
        self.park(f)

    cdef int park(self, Fiber f) except -1:
        """Queue f and park it until unlock() hands the mutex over."""
        self.waiters.append(f)
        try:
            f.proactor.park(f, self)
        except BaseException:
            # Only the engine's own teardown throws into a parked fiber.
            if self.owner is f:
                self.release()
            else:
                try:
                    self.waiters.remove(f)
                except ValueError:
                    pass
            raise
        return 0

    def unlock(self):
        """Unlock the mutex; the longest waiter, if any, now owns it.

        Raises OSError(EPERM) if the mutex is not locked. Any fiber may
        unlock it, as in the manual's engine. Never suspends.
        """
        if not self.locked:
            raise OSError(EPERM, os.strerror(EPERM))
        self.release()

    cdef int release(self) except -1:
        cdef Fiber nxt
        if self.waiters:
            nxt = <Fiber>self.waiters.popleft()
            self.owner = nxt
            nxt.proactor.resume(nxt, self)
        else:
            self.locked = False
            self.owner = None
        return 0

    def cancel(self, Fiber f not None):
        # Waiter protocol of Scheduler.withdraw(): interruption never takes a
        # fiber out of a mutex queue.
        return False

    def __enter__(self):
        self.lock()
        return self

    def __exit__(self, *exc):
        self.unlock()

    def __repr__(self):
        if not self.locked:
            return "<mutex at 0x%x unlocked>" % (id(self),)
        owner = self.owner.id if self.owner is not None else "?"
        return "<mutex at 0x%x locked by fiber %s, %d waiting>" % (
            id(self), owner, len(self.waiters))


cdef class ConditionVariable:
    """A condition variable (manual: "condition_variable").

    wait() is an interruption point; the mutex is always re-acquired before
    wait() returns or raises. Notifications wake waiters in FIFO order and
    may be sent without holding the mutex (manual, "Notifying without a
    lock"): a notification finds the waiters registered at that moment.
    """

    def __cinit__(self):
        self.waiters = deque()

    def wait(self, Mutex m not None):
        """Unlock m, park until notified, lock m again.

        Interruption point: an interrupted waiter leaves the queue at once (so
        it never takes a notification meant for another waiter), re-acquires
        m, then raises FiberInterrupted. A notification delivered before the
        interruption wins: wait() returns and the next interruption point
        raises. Raises OSError(EPERM) if the calling fiber does not hold m.
        """
        cdef Fiber f = _sync_caller("condition_variable.wait()")
        cdef bint interrupted
        if not m.locked or m.owner is not f:
            raise OSError(EPERM, os.strerror(EPERM))
        f.proactor.check_park(f)
        self.waiters.append(f)
        m.release()
        f.cancelled_wait = False
        try:
            f.proactor.park(f, self)
        except BaseException:
            try:
                self.waiters.remove(f)
            except ValueError:
                pass
            raise
        interrupted = f.cancelled_wait
        f.cancelled_wait = False
        if not m.locked:
            m.locked = True
            m.owner = f
        else:
            m.park(f)
        if interrupted:
            raise FiberInterrupted()

    def notify_one(self):
        """Wake the longest waiter, if any. Never suspends."""
        cdef Fiber f
        if self.waiters:
            f = <Fiber>self.waiters.popleft()
            f.proactor.resume(f, self)

    def notify_all(self):
        """Wake every waiter, in the order they started waiting. Never suspends."""
        cdef Fiber f
        waiters = self.waiters
        while waiters:
            f = <Fiber>waiters.popleft()
            f.proactor.resume(f, self)

    def cancel(self, Fiber f not None):
        # Waiter protocol of Scheduler.withdraw(): an interrupted waiter that
        # was not notified yet leaves the queue.
        try:
            self.waiters.remove(f)
        except ValueError:
            return False
        return True

    def __repr__(self):
        return "<condition_variable at 0x%x, %d waiting>" % (id(self), len(self.waiters))
