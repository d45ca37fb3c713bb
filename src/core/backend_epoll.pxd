from .backend cimport Backend, Handle, Op
from .scheduler cimport Fiber


cdef class EpollBackend(Backend):
    cdef int epfd
    cdef char sigbuf[64]
    cdef int accept_burst          # accepts served at once since the last park

    cdef int ensure_registered(self, Handle h) except -1
    cdef int wait_ready(self, Fiber f, Handle h, bint write) except -1
    cdef void unlink_wait(self, Op op)
    cdef int end_wait(self, Op op, int res) except -1
