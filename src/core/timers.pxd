# Timers on CLOCK_MONOTONIC: the engine's timer heap and the Timer object.
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from .scheduler cimport Fiber, Scheduler, Waiter


cdef inline double monotonic() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef class TimerWait(Waiter):
    cdef Fiber fiber
    cdef TimerQueue queue
    cdef Timer timer
    cdef double deadline
    cdef unsigned long long seq
    cdef int res
    cdef bint pending
    cdef bint interrupted


cdef class TimerQueue:
    cdef Scheduler sched
    cdef list heap                 # TimerWait, ordered by (deadline, seq)
    cdef unsigned long long seq
    cdef Py_ssize_t count          # waits pending

    cdef int wait(self, Fiber f, double deadline, Timer t) except -1
    cdef double next_timeout(self)
    cdef int expire(self) except -1
    cdef int finish(self, TimerWait w, int res) except -1
    cdef void clear(self)


cdef class Timer:
    cdef TimerQueue queue
    cdef public double deadline
    cdef list waiting
