from libc.stdint cimport uint64_t

from .backend cimport Backend, Handle, Op
from .scheduler cimport Fiber
from uring cimport io_uring, io_uring_sqe


cdef class UringBackend(Backend):
    cdef io_uring ring
    cdef bint ring_ready
    cdef uint64_t wakebuf
    cdef bint wake_armed
    cdef bint sig_armed
    cdef int accept_burst          # accepts served at once since the last park
    cdef char sigbuf[64]
    cdef unsigned fs_ops          # path ops the kernel has (1 << FS_*), probed at creation

    cdef io_uring_sqe *get_sqe(self) except NULL
    cdef void arm_wake(self)
    cdef int reap(self) except -1
    cdef void submitted(self, Op op, Handle h)
    cdef int submit_and_park(self, Fiber f, Op op, io_uring_sqe *sqe, Handle h) except -1
    cdef void probe_fs_ops(self)
    cdef Op path_op(self, bytes path, bytes path2)
