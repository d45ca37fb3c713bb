# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The io_uring backend (liburing >= 2.3).

An operation is an ``Op`` whose address is the SQE's user_data; the ring
holds a reference to the Op until its CQE is reaped, so the buffer the
kernel writes to outlives any fiber. Cancelling an op
(IORING_OP_ASYNC_CANCEL) never completes it by itself: the op's own CQE
arrives later with its real result or -ECANCELED, and that CQE decides what
the parked fiber sees. ``close(2)`` does not cancel a pending recv on the
same file (the file stays referenced by the request), so closing an IO
object cancels its ops by fd and defers ``close(2)`` until they completed,
which also keeps the fd number from being reused while the kernel may
still deliver data for the old file.

``io_uring_enter(2)`` returns -EINTR when a signal arrives, but not always:
when the same call also submitted SQEs it returns the submitted count. The
hub runs Python's signal handlers (PyErr_CheckSignals) after every wait.

Path operations (statx, openat, unlinkat, renameat, mkdirat, linkat,
symlinkat) are asked of the kernel once, when the ring is created
(io_uring_get_probe_ring): STATX and OPENAT came in Linux 5.6, RENAMEAT and
UNLINKAT in 5.11, MKDIRAT, SYMLINKAT and LINKAT in 5.15. One the kernel
lacks answers None, as on epoll. The kernel runs most of them on its io-wq
workers, which share the process's working directory; a running one is not
stopped by a cancel and completes with its real result. The Op holds the
path bytes and the statx buffer until its CQE is reaped.
"""

cimport cython
from cpython.exc cimport PyErr_CheckSignals
from cpython.buffer cimport PyBUF_SIMPLE, Py_buffer, PyBuffer_Release, PyObject_GetBuffer
from cpython.ref cimport Py_DECREF, Py_INCREF
from libc.errno cimport EAGAIN, EBUSY, EINTR, ENOSYS, ETIME, errno
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memset

from posix.types cimport mode_t

from .backend cimport Backend, Handle, Op, oserror
from .scheduler cimport Fiber, Scheduler
from errno cimport ECANCELED
from fcntl cimport AT_FDCWD
from poll cimport POLLIN, POLLOUT, POLLPRI, POLLRDBAND
from sys_socket cimport (
    MSG_DONTWAIT, MSG_NOSIGNAL, SOCK_CLOEXEC, SOCK_NONBLOCK, accept4, send, sendmsg, sockaddr,
)
from sys_stat cimport statx
from uring cimport *


cdef enum:
    SQ_ENTRIES = 512          # submission queue depth
    # Completion queue size. Every parked fiber has an op in the ring (a
    # server with 10,000 connections keeps 10,000 recvs armed), and a burst
    # of completions larger than the CQ spills into the kernel's overflow
    # list (IORING_FEAT_NODROP), which is flushed back only as the CQ
    # drains: slower, and without NODROP completions are lost. 2 x SQ (the
    # default) filled at 1,000 connections; 64 Ki entries cost 1 MiB.
    CQ_ENTRIES = 65536
    REAP_BATCH = 128          # CQEs copied out per peek
    WAKE_TAG = 1              # user_data of the eventfd read that wakes the hub
    ACCEPT_BURST = 64         # accepts without a park before the acceptor yields
    CANCEL_TAG = 2            # user_data of cancel requests (their CQEs are ignored)
    SIGNAL_TAG = 3            # user_data of the read on the signal wakeup pipe

cdef enum:                    # bits of UringBackend.fs_ops
    FS_STATX = 1 << 0
    FS_OPENAT = 1 << 1
    FS_UNLINKAT = 1 << 2
    FS_RENAMEAT = 1 << 3
    FS_MKDIRAT = 1 << 4
    FS_LINKAT = 1 << 5
    FS_SYMLINKAT = 1 << 6

cdef int _probe = -1          # -1 unknown, 1 io_uring usable, 0 not


@cython.final
cdef class UringBackend(Backend):
    """Raises OSError when the kernel refuses io_uring (then use epoll)."""

    def __cinit__(self, Scheduler sched, *args):
        global _probe
        cdef io_uring_params params
        cdef int ret
        self.name = "io_uring"
        if _probe == 0:
            raise oserror(ENOSYS)      # refused before: do not ask again
        # SINGLE_ISSUER + DEFER_TASKRUN (6.1): completions are processed only
        # when this thread enters the ring, which is the only thread that uses it.
        memset(&params, 0, sizeof(params))
        params.flags = (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
                        | IORING_SETUP_CQSIZE)
        params.cq_entries = CQ_ENTRIES
        ret = io_uring_queue_init_params(SQ_ENTRIES, &self.ring, &params)
        if ret < 0:
            memset(&params, 0, sizeof(params))
            params.flags = IORING_SETUP_CQSIZE
            params.cq_entries = CQ_ENTRIES
            ret = io_uring_queue_init_params(SQ_ENTRIES, &self.ring, &params)
        if ret < 0:
            # ENOSYS (no io_uring), EPERM (io_uring_disabled sysctl or seccomp).
            _probe = 0
            raise oserror(-ret)
        _probe = 1
        self.ring_ready = True
        self.probe_fs_ops()

    cdef void probe_fs_ops(self):
        cdef io_uring_probe *probe = io_uring_get_probe_ring(&self.ring)
        cdef unsigned ops = 0
        if probe == NULL:
            return                     # before Linux 5.6: none of them
        if io_uring_opcode_supported(probe, IORING_OP_STATX):
            ops |= FS_STATX
        if io_uring_opcode_supported(probe, IORING_OP_OPENAT):
            ops |= FS_OPENAT
        if io_uring_opcode_supported(probe, IORING_OP_UNLINKAT):
            ops |= FS_UNLINKAT
        if io_uring_opcode_supported(probe, IORING_OP_RENAMEAT):
            ops |= FS_RENAMEAT
        if io_uring_opcode_supported(probe, IORING_OP_MKDIRAT):
            ops |= FS_MKDIRAT
        if io_uring_opcode_supported(probe, IORING_OP_LINKAT):
            ops |= FS_LINKAT
        if io_uring_opcode_supported(probe, IORING_OP_SYMLINKAT):
            ops |= FS_SYMLINKAT
        io_uring_free_probe(probe)
        self.fs_ops = ops

    def __dealloc__(self):
        self.close()

    cdef void close(self):
        if self.ring_ready and self.inflight == 0:
            io_uring_queue_exit(&self.ring)
            self.ring_ready = False

    # ------------------------------------------------------------ the loop

    cdef io_uring_sqe *get_sqe(self) except NULL:
        cdef io_uring_sqe *sqe = io_uring_get_sqe(&self.ring)
        if sqe == NULL:
            io_uring_submit(&self.ring)
            sqe = io_uring_get_sqe(&self.ring)
            if sqe == NULL:
                raise oserror(EBUSY)
        return sqe

    cdef int watch_signal_fd(self, int fd) except -1:
        self.sigfd = fd                # a read on it is armed before each wait
        return 0

    cdef void unwatch_signal_fd(self):
        # A read the ring may still hold pins the pipe itself, not the fd
        # number, so the pipe may be closed now.
        self.sigfd = -1

    cdef void arm_wake(self):
        cdef io_uring_sqe *sqe
        if not self.wake_armed:
            sqe = io_uring_get_sqe(&self.ring)
            if sqe == NULL:
                return
            io_uring_prep_read(sqe, self.sched.wakefd, &self.wakebuf, 8, <uint64_t>-1)
            io_uring_sqe_set_data64(sqe, WAKE_TAG)
            self.wake_armed = True
        if not self.sig_armed and self.sigfd >= 0 and not self.sched.closing:
            sqe = io_uring_get_sqe(&self.ring)
            if sqe == NULL:
                return
            io_uring_prep_read(sqe, self.sigfd, self.sigbuf, sizeof(self.sigbuf), <uint64_t>-1)
            io_uring_sqe_set_data64(sqe, SIGNAL_TAG)
            self.sig_armed = True

    cdef int poll(self, bint block, double timeout) except -1:
        cdef __kernel_timespec ts
        cdef io_uring_cqe *cqe = NULL
        cdef int ret
        self.arm_wake()
        if block:
            if timeout < 0:
                # Always give a timeout: without one, liburing (2.3) enters the
                # kernel again after an io_uring_enter(2) that submitted SQEs
                # but whose wait a signal cut short, and that second wait
                # sleeps with the signal's Python handler still pending.
                timeout = 3600.0
            ts.tv_sec = <int64_t>timeout
            ts.tv_nsec = <long long>((timeout - ts.tv_sec) * 1e9)
            with nogil:
                ret = io_uring_submit_and_wait_timeout(&self.ring, &cqe, 1, &ts, NULL)
        else:
            ret = io_uring_submit_and_get_events(&self.ring)
        if ret < 0 and ret != -ETIME and ret != -EINTR and ret != -EAGAIN and ret != -EBUSY:
            raise oserror(-ret)
        self.reap()
        if block:
            # Python's handlers only run when asked (the hub executes no
            # bytecode), so ask after every wait; it costs one flag test
            # when no signal is pending.
            PyErr_CheckSignals()
        return 0

    cdef int reap(self) except -1:
        cdef io_uring_cqe *cqes[REAP_BATCH]
        cdef uint64_t datas[REAP_BATCH]
        cdef int results[REAP_BATCH]
        cdef unsigned n, i
        cdef Op op
        cdef Handle h
        cdef Scheduler sched = self.sched
        while True:
            n = io_uring_peek_batch_cqe(&self.ring, cqes, REAP_BATCH)
            if n == 0:
                return 0
            # Copy the batch out and advance the CQ before any fiber runs:
            # resumed fibers submit new ops while the hub iterates.
            for i in range(n):
                datas[i] = cqes[i].user_data
                results[i] = cqes[i].res
            io_uring_cq_advance(&self.ring, n)
            for i in range(n):
                if datas[i] == WAKE_TAG:
                    self.wake_armed = False
                    continue
                if datas[i] == SIGNAL_TAG:
                    self.sig_armed = False     # the read took the bytes; re-armed next poll
                    continue
                if datas[i] == CANCEL_TAG or datas[i] == 0:
                    continue
                op = <Op><void *>datas[i]
                op.res = results[i]
                op.pending = False
                self.inflight -= 1
                h = op.owner
                if h is not None:
                    h.npending -= 1
                    if h.closed and h.npending == 0:
                        h.release_fd()
                op.release()
                try:
                    if op.abandoned:
                        op.drop_result()
                    elif op.fiber is not None:
                        sched.resume(op.fiber, op)
                finally:
                    Py_DECREF(op)       # the ring's reference, taken at submit

    cdef void submitted(self, Op op, Handle h):
        Py_INCREF(op)                  # the ring's reference; reap() drops it
        op.pending = True
        op.owner = h
        self.inflight += 1
        if h is not None:
            h.npending += 1

    cdef int submit_and_park(self, Fiber f, Op op, io_uring_sqe *sqe,
                             Handle h) except -1:
        """Tag the prepared SQE with its Op, count it in flight and park f on it."""
        io_uring_sqe_set_data64(sqe, <uint64_t><void *>op)
        self.submitted(op, h)
        return self.park_op(f, op)

    cdef void shutdown(self):
        """Cancel every op in flight and wait for the kernel to let go."""
        cdef io_uring_sqe *sqe
        cdef __kernel_timespec ts
        cdef io_uring_cqe *cqe = NULL
        cdef int rounds = 0
        if not self.ring_ready:
            return
        sqe = io_uring_get_sqe(&self.ring)
        if sqe == NULL:
            io_uring_submit(&self.ring)
            sqe = io_uring_get_sqe(&self.ring)
        if sqe != NULL:
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ALL | (1 << 2))
            io_uring_sqe_set_data64(sqe, CANCEL_TAG)
        io_uring_submit(&self.ring)
        ts.tv_sec = 0
        ts.tv_nsec = 10000000
        while self.inflight > 0 and rounds < 1000:
            with nogil:
                io_uring_submit_and_wait_timeout(&self.ring, &cqe, 1, &ts, NULL)
            try:
                self.reap()
            except BaseException:
                pass
            rounds += 1

    # -------------------------------------------------------- cancellation

    cdef void cancel_op(self, Op op):
        cdef io_uring_sqe *sqe = io_uring_get_sqe(&self.ring)
        if sqe == NULL:
            io_uring_submit(&self.ring)
            sqe = io_uring_get_sqe(&self.ring)
            if sqe == NULL:
                return
        # io_uring_prep_cancel(3): -ENOENT means the op already completed;
        # its own CQE decides what the fiber sees.
        io_uring_prep_cancel64(sqe, <uint64_t><void *>op, 0)
        io_uring_sqe_set_data64(sqe, CANCEL_TAG)

    cdef void cancel_handle(self, Handle h):
        cdef io_uring_sqe *sqe
        if h.npending == 0:
            return
        sqe = io_uring_get_sqe(&self.ring)
        if sqe == NULL:
            io_uring_submit(&self.ring)
            sqe = io_uring_get_sqe(&self.ring)
            if sqe == NULL:
                return
        io_uring_prep_cancel_fd(sqe, h.fd, IORING_ASYNC_CANCEL_ALL)
        io_uring_sqe_set_data64(sqe, CANCEL_TAG)
        # Submit now: an armed recv stays armed until the cancel reaches
        # the kernel, and would take bytes the peer sends after close(),
        # cancel() or release() returned (the new owner's bytes).
        io_uring_submit(&self.ring)

    # ----------------------------------------------------------- operations

    cdef int recv(self, Fiber f, Handle h, object buf, int flags) except -1:
        cdef Op op = self.new_op()
        cdef io_uring_sqe *sqe
        op.get_view(buf, True)
        sqe = self.get_sqe()
        io_uring_prep_recv(sqe, h.fd, op.view.buf, op.view.len, flags)
        return self.submit_and_park(f, op, sqe, h)

    cdef int send(self, Fiber f, Handle h, object buf, int flags) except -1:
        # Send directly first and park only when the socket buffer is full:
        # parking on a send that could complete at once doubles the switches.
        cdef Op op
        cdef io_uring_sqe *sqe
        cdef Py_buffer view
        cdef ssize_t n
        PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
        try:
            n = send(h.fd, view.buf, view.len, flags | MSG_DONTWAIT | MSG_NOSIGNAL)
            if n >= 0:
                return n
            if errno != EAGAIN:
                raise oserror(errno)
        finally:
            PyBuffer_Release(&view)
        op = self.new_op()
        op.get_view(buf, False)
        sqe = self.get_sqe()
        io_uring_prep_send(sqe, h.fd, op.view.buf, op.view.len, flags | MSG_NOSIGNAL)
        return self.submit_and_park(f, op, sqe, h)

    cdef int read(self, Fiber f, Handle h, object buf, long long offset) except -1:
        cdef Op op = self.new_op()
        cdef io_uring_sqe *sqe
        op.get_view(buf, True)
        sqe = self.get_sqe()
        io_uring_prep_read(sqe, h.fd, op.view.buf, op.view.len, <uint64_t>offset)
        return self.submit_and_park(f, op, sqe, h)

    cdef int write(self, Fiber f, Handle h, object buf, long long offset) except -1:
        cdef Op op = self.new_op()
        cdef io_uring_sqe *sqe
        op.get_view(buf, False)
        sqe = self.get_sqe()
        io_uring_prep_write(sqe, h.fd, op.view.buf, op.view.len, <uint64_t>offset)
        return self.submit_and_park(f, op, sqe, h)

    cdef object read_file(self, Fiber f, Handle h, object buf, long long offset):
        # Regular files are read asynchronously by the ring (io-wq when the
        # page cache misses).
        return self.read(f, h, buf, offset)

    cdef object write_file(self, Fiber f, Handle h, object buf, long long offset):
        return self.write(f, h, buf, offset)

    cdef int accept(self, Fiber f, Handle h) except -1:
        cdef Op op
        cdef io_uring_sqe *sqe
        cdef int fd
        # A connection already queued is taken at once: through the ring, a
        # server took one connection per hub round, and 10,000 clients that
        # connected together waited seconds for their turn. A burst of
        # ACCEPT_BURST immediate accepts then yields, so a flood of new
        # connections cannot starve the ones already served.
        if self.accept_burst >= ACCEPT_BURST:
            self.accept_burst = 0
            self.sched.yield_now(f)    # before accept4: an interruption leaks no fd
        fd = accept4(h.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)
        if fd >= 0:
            self.accept_burst += 1
            return fd
        self.accept_burst = 0
        op = self.new_op()
        sqe = self.get_sqe()
        io_uring_prep_accept(sqe, h.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)
        op.fd_result = True
        return self.submit_and_park(f, op, sqe, h)

    cdef int connect(self, Fiber f, Handle h, Op op) except -1:
        cdef io_uring_sqe *sqe = self.get_sqe()
        io_uring_prep_connect(sqe, h.fd, <sockaddr *>&op.addr, op.addrlen)
        return self.submit_and_park(f, op, sqe, h)

    cdef int wait_fd(self, Fiber f, Handle h, bint write, bint error, object poller) except -1:
        cdef Op op
        cdef io_uring_sqe *sqe
        cdef int events = POLLPRI if error else (POLLOUT if write else POLLIN)
        cdef int res
        while True:
            op = self.new_op()
            sqe = self.get_sqe()
            # POLLERR/POLLHUP always count. io_uring completes a poll with
            # the wake-up key, and sock_def_readable() wakes with
            # EPOLLPRI|EPOLLRDBAND for any data; its wake filter ignores
            # EPOLLPRI (IO_ASYNC_POLL_COMMON, io_uring/poll.c), so a
            # POLLPRI-only poll never wakes at all. Ask for POLLRDBAND too
            # (TCP never sets it) and check POLLPRI ourselves.
            io_uring_prep_poll_add(sqe, h.fd, events | (POLLRDBAND if error else 0))
            res = self.submit_and_park(f, op, sqe, h)
            if not error or poller.poll(0):
                return res
            if h.closed:
                raise oserror(ECANCELED)
            self.sched.enter()

    cdef int wait_readable(self, Fiber f, Handle h) except -1:
        # A poll, not a recv: the ring holds no buffer for this fd while
        # nothing arrives.
        cdef Op op = self.new_op()
        cdef io_uring_sqe *sqe = self.get_sqe()
        io_uring_prep_poll_add(sqe, h.fd, POLLIN)
        return self.submit_and_park(f, op, sqe, h)

    cdef int recvmsg(self, Fiber f, Handle h, Op op, int flags) except -1:
        cdef io_uring_sqe *sqe = self.get_sqe()
        io_uring_prep_recvmsg(sqe, h.fd, &op.msg, flags)
        return self.submit_and_park(f, op, sqe, h)

    cdef int sendmsg(self, Fiber f, Handle h, Op op, int flags) except -1:
        cdef io_uring_sqe *sqe
        cdef ssize_t n = sendmsg(h.fd, &op.msg, flags | MSG_DONTWAIT | MSG_NOSIGNAL)
        if n >= 0:
            return n
        if errno != EAGAIN:
            raise oserror(errno)
        sqe = self.get_sqe()
        io_uring_prep_sendmsg(sqe, h.fd, &op.msg, flags | MSG_NOSIGNAL)
        return self.submit_and_park(f, op, sqe, h)

    # ------------------------------------------------------- path operations

    cdef Op path_op(self, bytes path, bytes path2):
        cdef Op op = self.new_op()
        op.path = path                 # read by the kernel at submission
        op.path2 = path2
        self.fs_async += 1
        return op

    cdef object statx(self, Fiber f, bytes path, int flags, unsigned mask, object buf):
        cdef Op op
        cdef io_uring_sqe *sqe
        if not self.fs_ops & FS_STATX:
            return None
        op = self.path_op(path, None)
        op.get_view(buf, True)         # written at completion; released by reap()
        sqe = self.get_sqe()
        io_uring_prep_statx(sqe, AT_FDCWD, <const char *>op.path, flags, mask,
                            <statx *>op.view.buf)
        return self.submit_and_park(f, op, sqe, None)

    cdef object openat(self, Fiber f, bytes path, int flags, int mode):
        cdef Op op
        cdef io_uring_sqe *sqe
        if not self.fs_ops & FS_OPENAT:
            return None
        op = self.path_op(path, None)
        op.fd_result = True            # closed if its fiber unwound meanwhile
        sqe = self.get_sqe()
        io_uring_prep_openat(sqe, AT_FDCWD, <const char *>op.path, flags, <mode_t>mode)
        return self.submit_and_park(f, op, sqe, None)

    cdef object unlinkat(self, Fiber f, bytes path, int flags):
        cdef Op op
        cdef io_uring_sqe *sqe
        if not self.fs_ops & FS_UNLINKAT:
            return None
        op = self.path_op(path, None)
        sqe = self.get_sqe()
        io_uring_prep_unlinkat(sqe, AT_FDCWD, <const char *>op.path, flags)
        return self.submit_and_park(f, op, sqe, None)

    cdef object renameat(self, Fiber f, bytes old, bytes new, unsigned flags):
        cdef Op op
        cdef io_uring_sqe *sqe
        if not self.fs_ops & FS_RENAMEAT:
            return None
        op = self.path_op(old, new)
        sqe = self.get_sqe()
        io_uring_prep_renameat(sqe, AT_FDCWD, <const char *>op.path, AT_FDCWD,
                               <const char *>op.path2, flags)
        return self.submit_and_park(f, op, sqe, None)

    cdef object mkdirat(self, Fiber f, bytes path, int mode):
        cdef Op op
        cdef io_uring_sqe *sqe
        if not self.fs_ops & FS_MKDIRAT:
            return None
        op = self.path_op(path, None)
        sqe = self.get_sqe()
        io_uring_prep_mkdirat(sqe, AT_FDCWD, <const char *>op.path, <mode_t>mode)
        return self.submit_and_park(f, op, sqe, None)

    cdef object linkat(self, Fiber f, bytes old, bytes new, int flags):
        cdef Op op
        cdef io_uring_sqe *sqe
        if not self.fs_ops & FS_LINKAT:
            return None
        op = self.path_op(old, new)
        sqe = self.get_sqe()
        io_uring_prep_linkat(sqe, AT_FDCWD, <const char *>op.path, AT_FDCWD,
                             <const char *>op.path2, flags)
        return self.submit_and_park(f, op, sqe, None)

    cdef object symlinkat(self, Fiber f, bytes target, bytes linkpath):
        cdef Op op
        cdef io_uring_sqe *sqe
        if not self.fs_ops & FS_SYMLINKAT:
            return None
        op = self.path_op(target, linkpath)
        sqe = self.get_sqe()
        io_uring_prep_symlinkat(sqe, <const char *>op.path, AT_FDCWD, <const char *>op.path2)
        return self.submit_and_park(f, op, sqe, None)
