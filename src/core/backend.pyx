# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The IO backend interface and what both backends share: Op and Handle.

An operation is an ``Op``; the fiber that started it parks on it
(Scheduler.park) and the backend resumes the fiber when the op completes,
fails or was cancelled. Each backend file opens with the kernel behaviour it
relies on.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from libc.errno cimport EBADF, EBUSY, EINTR
from libc.string cimport memcpy
from posix.unistd cimport close as c_close

from .scheduler cimport Fiber, Scheduler, Waiter
from errno cimport ECANCELED
from sys_socket cimport (
    CMSG_DATA, CMSG_FIRSTHDR, CMSG_LEN, CMSG_NXTHDR, SCM_RIGHTS, SOL_SOCKET, cmsghdr,
)

import os

from .scheduler import FiberInterrupted


cdef object oserror(int err):
    return OSError(err, os.strerror(err))


cdef int op_result(Op op) except -1:
    """What the fiber parked on a completed op sees: the result, or the error."""
    if op.res >= 0:
        return op.res                  # completed: the result beats a pending interrupt
    if op.interrupted and (op.res == -ECANCELED or op.res == -EINTR):
        raise FiberInterrupted()       # cancelled at our request (manual, "Interruption API")
    raise oserror(-op.res)             # errno untouched; OSError picks the subclass


# Every park on a kernel op allocates one Op; a freelist turns that into a
# pointer pop.
@cython.freelist(64)
@cython.final
cdef class Op(Waiter):
    """One kernel operation and the fiber parked on it."""

    def __dealloc__(self):
        if self.has_view:
            PyBuffer_Release(&self.view)
            self.has_view = False

    cdef int withdraw(self, Fiber f, bint interrupt) except -1:
        # Interruption and a VM's end cancel the op; its own completion
        # (with -ECANCELED, or its real result if it won the race) resumes f.
        if self.pending and not self.interrupted:
            if interrupt:
                self.interrupted = True
            self.backend.cancel_op(self)
        return 0

    cdef int get_view(self, object buf, bint writable) except -1:
        PyObject_GetBuffer(buf, &self.view, PyBUF_WRITABLE if writable else PyBUF_SIMPLE)
        self.has_view = True
        return 0

    cdef void release(self):
        if self.has_view:
            PyBuffer_Release(&self.view)
            self.has_view = False

    cdef void drop_result(self):
        """Nobody will take this op's result: close the fds it brought (a
        new connection, or SCM_RIGHTS descriptors a recvmsg received)."""
        cdef cmsghdr *c
        cdef size_t count, j
        cdef int fd
        if self.res < 0:
            return
        if self.fd_result:
            c_close(self.res)
            self.res = -1
        elif self.control is not None and self.msg.msg_controllen > 0:
            c = CMSG_FIRSTHDR(&self.msg)
            while c != NULL:
                if c.cmsg_level == SOL_SOCKET and c.cmsg_type == SCM_RIGHTS:
                    count = (c.cmsg_len - CMSG_LEN(0)) // sizeof(int)
                    for j in range(count):
                        memcpy(&fd, CMSG_DATA(c) + j * sizeof(int), sizeof(int))
                        c_close(fd)
                c = CMSG_NXTHDR(&self.msg, c)
            self.msg.msg_controllen = 0

    def __repr__(self):
        return "kernel op"


cdef class Handle:
    """An fd owned by the engine. Closing it cancels what is in flight first."""

    def __cinit__(self, Backend backend, int fd):
        self.backend = backend
        self.fd = fd
        self.pollable = True

    def __dealloc__(self):
        if not self.closed and self.fd >= 0:
            if self.backend is not None:
                self.backend.forget(self)
            c_close(self.fd)

    @property
    def busy(self):
        """Whether an operation is in flight on this fd."""
        return self.npending > 0 or bool(self.rwait) or bool(self.wwait)

    def fileno(self):
        if self.closed:
            raise oserror(EBADF)
        return self.fd

    def detach(self):
        """Give up ownership of the fd and return it (for moving an IO object)."""
        if self.closed:
            raise oserror(EBADF)
        if self.busy:
            raise oserror(EBUSY)
        self.backend.forget(self)
        fd = self.fd
        self.fd = -1
        self.closed = True
        return fd

    def cancel(self):
        """Cancel every operation in flight on this fd; they fail with ECANCELED."""
        if self.closed:
            raise oserror(EBADF)
        self.backend.cancel_handle(self)

    def close(self):
        """Close the fd once every operation in flight on it has completed.

        Ops in flight are cancelled. The fd number is not released until the
        kernel is done with it, so a new fd can never receive data meant for
        this one.
        """
        if self.closed:
            raise oserror(EBADF)
        self.closed = True
        self.backend.cancel_handle(self)
        if self.npending == 0:
            self.release_fd()

    cdef void release_fd(self):
        self.backend.forget(self)
        if self.fd >= 0:
            c_close(self.fd)
            self.fd = -1


cdef class Backend:
    """The interface both IO backends implement (cdef methods, one vtable)."""

    def __cinit__(self, Scheduler sched, *args):
        self.sched = sched
        self.sigfd = -1

    cdef Op new_op(self):
        cdef Op op = Op.__new__(Op)
        op.backend = self
        return op

    cdef int park_op(self, Fiber f, Op op) except -1:
        """Park f on op until the backend resumes it; the op's result or error."""
        op.fiber = f
        try:
            self.sched.park(f, op)
        except BaseException:
            # Unwound while parked (its VM ended): nobody takes the result.
            # An fd it brings is closed now, or when the op completes.
            if op.pending:
                op.abandoned = True
            else:
                op.drop_result()
            raise
        finally:
            op.fiber = None
        return op_result(op)

    cdef int poll(self, bint block, double timeout) except -1:
        raise NotImplementedError

    cdef int watch_signal_fd(self, int fd) except -1:
        raise NotImplementedError

    cdef void unwatch_signal_fd(self):
        pass

    cdef void shutdown(self):
        pass

    cdef void close(self):
        pass

    cdef void cancel_op(self, Op op):
        pass

    cdef void cancel_handle(self, Handle h):
        pass

    cdef void forget(self, Handle h):
        pass

    cdef int recv(self, Fiber f, Handle h, object buf, int flags) except -1:
        raise NotImplementedError

    cdef int send(self, Fiber f, Handle h, object buf, int flags) except -1:
        raise NotImplementedError

    cdef int read(self, Fiber f, Handle h, object buf, long long offset) except -1:
        raise NotImplementedError

    cdef int write(self, Fiber f, Handle h, object buf, long long offset) except -1:
        raise NotImplementedError

    cdef object read_file(self, Fiber f, Handle h, object buf, long long offset):
        raise NotImplementedError

    cdef object write_file(self, Fiber f, Handle h, object buf, long long offset):
        raise NotImplementedError

    cdef int accept(self, Fiber f, Handle h) except -1:
        raise NotImplementedError

    cdef int connect(self, Fiber f, Handle h, Op op) except -1:
        raise NotImplementedError

    cdef int wait_fd(self, Fiber f, Handle h, bint write, bint error, object poller) except -1:
        raise NotImplementedError

    cdef int wait_readable(self, Fiber f, Handle h) except -1:
        raise NotImplementedError

    cdef int recvmsg(self, Fiber f, Handle h, Op op, int flags) except -1:
        raise NotImplementedError

    cdef int sendmsg(self, Fiber f, Handle h, Op op, int flags) except -1:
        raise NotImplementedError

    # Path operations: no asynchronous form unless a backend has one.

    cdef object statx(self, Fiber f, bytes path, int flags, unsigned mask, object buf):
        return None

    cdef object openat(self, Fiber f, bytes path, int flags, int mode):
        return None

    cdef object unlinkat(self, Fiber f, bytes path, int flags):
        return None

    cdef object renameat(self, Fiber f, bytes old, bytes new, unsigned flags):
        return None

    cdef object mkdirat(self, Fiber f, bytes path, int mode):
        return None

    cdef object linkat(self, Fiber f, bytes old, bytes new, int flags):
        return None

    cdef object symlinkat(self, Fiber f, bytes target, bytes linkpath):
        return None
