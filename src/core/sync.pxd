from .scheduler cimport Fiber


cdef class Mutex:
    cdef bint locked
    cdef Fiber owner              # the fiber that took it last (diagnostics, wait())
    cdef object waiters           # deque of Fiber

    cdef int park(self, Fiber f) except -1
    cdef int release(self) except -1


cdef class ConditionVariable:
    cdef object waiters           # deque of Fiber
