# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The epoll backend (readiness), for kernels or sandboxes without io_uring.

An operation tries its system call first; on EAGAIN the fiber parks on an
Op in the handle's read or write wait list until epoll reports readiness,
then retries. Every fd is registered once, edge-triggered
(EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET), so an edge seen once is not reported
again: a wait always follows a call that returned EAGAIN. Cancelling a wait
unlinks it and resumes the fiber with -ECANCELED, so no byte is ever
consumed by a cancelled op. epoll_ctl(2) refuses regular files and
directories (EPERM): they are always "ready", and their calls block.

``epoll_wait(2)`` returns -1/EINTR when a signal arrives; the hub then runs
Python's signal handlers. Timeouts go through epoll_pwait2(2) (Linux 5.11),
to the microsecond; older kernels answer ENOSYS and get epoll_wait(2)'s
milliseconds.
"""

cimport cython
from cpython.buffer cimport (
    PyBUF_SIMPLE, PyBUF_WRITABLE, Py_buffer, PyBuffer_Release, PyObject_GetBuffer,
)
from cpython.exc cimport PyErr_CheckSignals
from libc.errno cimport EAGAIN, EINPROGRESS, EINTR, EINVAL, ENOSYS, EOPNOTSUPP, EPERM, errno
from libc.stdint cimport uint32_t, uint64_t
from posix.time cimport timespec
from posix.unistd cimport close as c_close, read as c_read, write as c_write

from .backend cimport Backend, Handle, Op, oserror
from .scheduler cimport Fiber, Scheduler
from errno cimport ECANCELED
from sys_epoll cimport *
from sys_socket cimport (
    MSG_DONTWAIT, MSG_NOSIGNAL, SO_ERROR, SOCK_CLOEXEC, SOCK_NONBLOCK, SOL_SOCKET, accept4,
    connect, getsockopt, recv, recvmsg, send, sendmsg, sockaddr, socklen_t,
)
from sys_syscall cimport SYS_epoll_pwait2
from unistd cimport syscall

import os

from .scheduler import FiberInterrupted


cdef enum:
    EPOLL_BATCH = 256
    ACCEPT_BURST = 64         # accepts without a park before the acceptor yields

cdef bint _pwait2_missing = False  # the kernel answered ENOSYS to epoll_pwait2


@cython.final
cdef class EpollBackend(Backend):

    def __cinit__(self, Scheduler sched, *args):
        cdef epoll_event ev
        self.name = "epoll"
        self.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.epfd < 0:
            raise oserror(errno)
        ev.events = EPOLLIN
        ev.data.ptr = NULL             # the scheduler's eventfd
        if epoll_ctl(self.epfd, EPOLL_CTL_ADD, sched.wakefd, &ev) < 0:
            raise oserror(errno)

    def __dealloc__(self):
        self.close()

    cdef void close(self):
        if self.epfd >= 0:
            c_close(self.epfd)
            self.epfd = -1

    # ------------------------------------------------------------ the loop

    cdef int watch_signal_fd(self, int fd) except -1:
        cdef epoll_event ev
        ev.events = EPOLLIN
        ev.data.ptr = <void *>self
        if epoll_ctl(self.epfd, EPOLL_CTL_ADD, fd, &ev) < 0:
            raise oserror(errno)
        self.sigfd = fd
        return 0

    cdef void unwatch_signal_fd(self):
        if self.sigfd >= 0 and self.epfd >= 0:
            epoll_ctl(self.epfd, EPOLL_CTL_DEL, self.sigfd, NULL)
        self.sigfd = -1

    cdef int poll(self, bint block, double timeout) except -1:
        global _pwait2_missing
        cdef epoll_event events[EPOLL_BATCH]
        cdef int n, i, timeout_ms
        cdef Handle h
        cdef Op op
        cdef uint32_t ev
        cdef list lst
        cdef timespec ts
        cdef uint64_t v
        cdef int err = 0
        n = -1
        if block:
            if timeout >= 0 and not _pwait2_missing:
                # epoll_pwait2(2) (Linux 5.11): a timer due in 100 µs waits
                # 100 µs, not a whole millisecond.
                ts.tv_sec = <long>timeout
                ts.tv_nsec = <long>((timeout - ts.tv_sec) * 1e9)
                with nogil:
                    n = syscall(SYS_epoll_pwait2, self.epfd, events, EPOLL_BATCH, &ts,
                                NULL, <size_t>0)
                    if n < 0:
                        err = errno
                if n < 0 and err == ENOSYS:
                    _pwait2_missing = True
            if timeout < 0 or _pwait2_missing:
                if timeout < 0:
                    timeout_ms = -1
                else:
                    timeout_ms = <int>(timeout * 1000.0 + 0.999)
                with nogil:
                    n = epoll_wait(self.epfd, events, EPOLL_BATCH, timeout_ms)
                    if n < 0:
                        err = errno
        else:
            n = epoll_wait(self.epfd, events, EPOLL_BATCH, 0)
            if n < 0:
                err = errno
        if n < 0:
            if err == EINTR:
                PyErr_CheckSignals()
                return 0
            raise oserror(err)
        for i in range(n):
            if events[i].data.ptr == NULL:
                c_read(self.sched.wakefd, &v, 8)
                continue
            if events[i].data.ptr == <void *>self:
                # The signal wakeup pipe: drained; the handlers run below.
                while c_read(self.sigfd, self.sigbuf, sizeof(self.sigbuf)) > 0:
                    pass
                continue
            h = <Handle>events[i].data.ptr
            ev = events[i].events
            if ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP | EPOLLPRI):
                if h.rwait:
                    lst = h.rwait
                    h.rwait = []
                    for op in lst:
                        op.waitlist = None
                        self.end_wait(op, 0)
            if ev & (EPOLLOUT | EPOLLERR | EPOLLHUP):
                if h.wwait:
                    lst = h.wwait
                    h.wwait = []
                    for op in lst:
                        op.waitlist = None
                        self.end_wait(op, 0)
        if block:
            PyErr_CheckSignals()           # see the uring backend
        return 0

    # ------------------------------------------------------------ waiting

    cdef int ensure_registered(self, Handle h) except -1:
        cdef epoll_event ev
        if h.registered:
            return 0
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET
        ev.data.ptr = <void *>h
        if epoll_ctl(self.epfd, EPOLL_CTL_ADD, h.fd, &ev) < 0:
            if errno == EPERM:
                # Regular files and directories are always "ready" (epoll_ctl(2)).
                h.pollable = False
                return 0
            raise oserror(errno)
        h.registered = True
        return 0

    cdef void forget(self, Handle h):
        if h.registered:
            if self.epfd >= 0:
                epoll_ctl(self.epfd, EPOLL_CTL_DEL, h.fd, NULL)
            h.registered = False

    cdef int wait_ready(self, Fiber f, Handle h, bint write) except -1:
        """Park f until h is readable/writable. Raises on cancellation."""
        cdef Op op
        if f.interrupted and f.no_interrupt == 0:
            # Woken by readiness but the retried call found nothing (another
            # waiter took the data): an interruption that arrived meanwhile
            # found no wait to cancel, so it is raised before waiting again.
            raise FiberInterrupted()
        self.ensure_registered(h)
        if not h.pollable:
            return 0
        op = self.new_op()
        op.fiber = f
        op.owner = h
        op.pending = True
        if write:
            if h.wwait is None:
                h.wwait = []
            op.waitlist = h.wwait
        else:
            if h.rwait is None:
                h.rwait = []
            op.waitlist = h.rwait
        op.waitlist.append(op)
        self.inflight += 1
        try:
            self.sched.park(f, op)
        finally:
            op.fiber = None
            if op.pending:
                self.unlink_wait(op)
        if op.res < 0:
            if op.interrupted:
                raise FiberInterrupted()
            raise oserror(-op.res)
        if h.closed:
            raise oserror(ECANCELED)
        return 0

    cdef void unlink_wait(self, Op op):
        op.pending = False
        self.inflight -= 1
        if op.waitlist is not None:
            try:
                op.waitlist.remove(op)
            except ValueError:
                pass
            op.waitlist = None

    cdef int end_wait(self, Op op, int res) except -1:
        if not op.pending:
            return 0
        self.unlink_wait(op)
        op.res = res
        if op.fiber is not None:
            self.sched.resume(op.fiber, op)
        return 0

    cdef void cancel_op(self, Op op):
        try:
            self.end_wait(op, -ECANCELED)
        except BaseException:
            pass

    cdef void cancel_handle(self, Handle h):
        cdef Op op
        for lst in (h.rwait, h.wwait):
            if lst:
                for op in list(lst):
                    try:
                        self.end_wait(op, -ECANCELED)
                    except BaseException:
                        pass

    # ----------------------------------------------------------- operations

    cdef int recv(self, Fiber f, Handle h, object buf, int flags) except -1:
        cdef Py_buffer view
        cdef ssize_t n
        PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
        try:
            while True:
                n = recv(h.fd, view.buf, view.len, flags | MSG_DONTWAIT)
                if n >= 0:
                    return n
                if errno != EAGAIN:
                    raise oserror(errno)
                self.wait_ready(f, h, False)
        finally:
            PyBuffer_Release(&view)

    cdef int send(self, Fiber f, Handle h, object buf, int flags) except -1:
        cdef Py_buffer view
        cdef ssize_t n
        PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
        try:
            while True:
                n = send(h.fd, view.buf, view.len, flags | MSG_DONTWAIT | MSG_NOSIGNAL)
                if n >= 0:
                    return n
                if errno != EAGAIN:
                    raise oserror(errno)
                self.wait_ready(f, h, True)
        finally:
            PyBuffer_Release(&view)

    cdef int read(self, Fiber f, Handle h, object buf, long long offset) except -1:
        cdef Py_buffer view
        cdef ssize_t n
        PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
        try:
            while True:
                if offset >= 0:
                    return os.preadv(h.fd, [memoryview(buf)[:view.len]], offset)
                self.ensure_registered(h)
                if h.registered:
                    n = c_read(h.fd, view.buf, view.len)
                    if n >= 0:
                        return n
                    if errno != EAGAIN:
                        raise oserror(errno)
                    self.wait_ready(f, h, False)
                else:
                    n = c_read(h.fd, view.buf, view.len)
                    if n < 0:
                        raise oserror(errno)
                    return n
        finally:
            PyBuffer_Release(&view)

    cdef int write(self, Fiber f, Handle h, object buf, long long offset) except -1:
        cdef Py_buffer view
        cdef ssize_t n
        PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
        try:
            while True:
                if offset >= 0:
                    return os.pwrite(h.fd, memoryview(buf)[:view.len], offset)
                self.ensure_registered(h)
                n = c_write(h.fd, view.buf, view.len)
                if n >= 0:
                    return n
                if errno != EAGAIN or not h.registered:
                    raise oserror(errno)
                self.wait_ready(f, h, True)
        finally:
            PyBuffer_Release(&view)

    cdef object read_file(self, Fiber f, Handle h, object buf, long long offset):
        # Readiness says nothing about disk files: read what the page cache
        # holds without blocking (preadv2(2) RWF_NOWAIT); None asks the
        # caller to do the read on another thread.
        if not h.no_nowait_read:
            try:
                return os.preadv(h.fd, [buf], offset, os.RWF_NOWAIT)
            except BlockingIOError:
                pass          # the page cache does not hold it all: the disk must be waited for
            except OSError as e:
                if e.errno != EOPNOTSUPP:
                    raise
                h.no_nowait_read = True
        return None

    cdef object write_file(self, Fiber f, Handle h, object buf, long long offset):
        if not h.no_nowait_write:
            try:
                return os.pwritev(h.fd, [buf], offset, os.RWF_NOWAIT)
            except BlockingIOError:
                pass
            except OSError as e:
                # Buffered writes: EOPNOTSUPP (ext4, tmpfs) or EINVAL
                # (generic_write_checks_count() without FMODE_BUF_WASYNC).
                if e.errno != EOPNOTSUPP and e.errno != EINVAL:
                    raise
                h.no_nowait_write = True
        return None

    cdef int accept(self, Fiber f, Handle h) except -1:
        cdef int fd, err
        # A burst of ACCEPT_BURST accepts that found a connection waiting
        # yields (before accept4: an interruption leaks no fd), so a flood of
        # new connections cannot starve the ones already served.
        if self.accept_burst >= ACCEPT_BURST:
            self.accept_burst = 0
            self.sched.yield_now(f)
        while True:
            fd = accept4(h.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)
            if fd >= 0:
                self.accept_burst += 1
                return fd
            self.accept_burst = 0
            err = errno
            if err != EAGAIN:
                # A failed accept (EMFILE, ENFILE, ENOBUFS...) suspends before
                # it raises, as its io_uring twin does: a server that retries
                # at once must not starve the other fibers.
                self.sched.yield_now(f)
                raise oserror(err)
            self.wait_ready(f, h, False)

    cdef int connect(self, Fiber f, Handle h, Op op) except -1:
        cdef int err = 0
        cdef socklen_t errlen = sizeof(int)
        if connect(h.fd, <sockaddr *>&op.addr, op.addrlen) == 0:
            return 0
        if errno != EINPROGRESS:
            raise oserror(errno)
        self.wait_ready(f, h, True)
        if getsockopt(h.fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0:
            raise oserror(errno)
        if err != 0:
            raise oserror(err)
        return 0

    cdef int wait_fd(self, Fiber f, Handle h, bint write, bint error, object poller) except -1:
        # The registration is edge-triggered and an edge seen earlier (by the
        # hub or another op) is not reported again: check the level first.
        # Urgent data has no waiter list of its own: it arrives with an
        # EPOLLIN edge (tcp_urg wakes readers), so error waits ride on the
        # read list.
        while True:
            if poller.poll(0):
                return 0
            self.wait_ready(f, h, write and not error)
            if not error:
                return 0
            self.sched.enter()

    cdef int wait_readable(self, Fiber f, Handle h) except -1:
        return self.wait_ready(f, h, False)

    cdef int recvmsg(self, Fiber f, Handle h, Op op, int flags) except -1:
        cdef ssize_t n
        try:
            while True:
                n = recvmsg(h.fd, &op.msg, flags | MSG_DONTWAIT)
                if n >= 0:
                    return n
                if errno != EAGAIN:
                    raise oserror(errno)
                self.wait_ready(f, h, False)
        finally:
            op.release()

    cdef int sendmsg(self, Fiber f, Handle h, Op op, int flags) except -1:
        cdef ssize_t n
        try:
            while True:
                n = sendmsg(h.fd, &op.msg, flags | MSG_DONTWAIT | MSG_NOSIGNAL)
                if n >= 0:
                    return n
                if errno != EAGAIN:
                    raise oserror(errno)
                self.wait_ready(f, h, True)
        finally:
            op.release()
