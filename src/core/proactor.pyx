# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The proactor: one engine, the scheduler with an IO backend and timers.

``Proactor`` derives from the scheduler (scheduler.pyx: fibers, park(), the
hub loop) and owns one IO backend, chosen once when it is created:
io_uring (backend_uring.pyx) when the kernel allows it, epoll
(backend_epoll.pyx) otherwise or when asked (``EMILUA_BACKEND=epoll``).
Both implement the Backend interface (backend.pxd); nothing here or above
branches on which one runs. The Python methods below are the API the
package uses; each makes the checks of an interruption point and hands the
operation to the backend.

This module also re-exports the core's other Python-level names (sync
primitives, channels, timers), so that ``emilua._core.proactor`` stays the
one import of the package.
"""

from libc.errno cimport EAGAIN, EBADF, EINTR, EINVAL, errno
from libc.string cimport memcpy, memset
from posix.unistd cimport close as c_close

from .backend cimport Backend, Handle, Op, oserror
from .byte_span cimport span_from_memory
from errno cimport ECANCELED
from .backend_epoll cimport EpollBackend
from .backend_uring cimport UringBackend
from .scheduler cimport Fiber, Scheduler
from .timers cimport Timer, TimerQueue, monotonic
from fcntl cimport AT_NO_AUTOMOUNT, AT_REMOVEDIR, AT_STATX_SYNC_AS_STAT, AT_SYMLINK_NOFOLLOW
from posix.fcntl cimport O_CLOEXEC
from sys_stat cimport STATX_BASIC_STATS, statx
from sys_sysmacros cimport makedev
from sys_socket cimport (
    MSG_CMSG_CLOEXEC, MSG_DONTWAIT, connect, msghdr, recv as c_recv, recvmsg as c_recvmsg,
    sockaddr, sockaddr_storage, socklen_t,
)

import os
import signal
import threading

from . import backend as _backend_module, scheduler as _scheduler_module, timers as _timers_module
from .channels import (
    Carrier, Channel, ChannelClosedError, Inbox, MailboxBase, NoSendersError, ReceiveOp,
    SendOp, copy_message, inbox, materialize, set_actor_hooks,
)
from .scheduler import (
    DeadlockError, FiberInterrupted, VmHooks, _Shutdown, current, debug_build,
    set_cleanup_runner, set_error_reporter,
)
from .sync import ConditionVariable, Mutex
from .timers import monotonic_time

__all__ = [
    "Carrier", "Channel", "ChannelClosedError", "ConditionVariable", "DeadlockError", "Fiber",
    "FiberInterrupted", "Handle", "Inbox", "MailboxBase", "Mutex", "NoSendersError", "Proactor",
    "ReceiveOp", "SendOp", "Timer", "VmHooks", "copy_message", "current", "debug_build", "inbox",
    "materialize", "monotonic_time", "raw_connect", "set_actor_hooks", "set_cleanup_runner",
    "set_error_reporter",
]

# The classes this module also cimports are re-exported by name.
globals().update(
    Handle=_backend_module.Handle,
    Fiber=_scheduler_module.Fiber,
    Timer=_timers_module.Timer,
)


cdef enum:
    # The shared receive buffer of recv_shared(): one per process, used only
    # with the interpreter lock held and copied out before the call returns,
    # so every engine thread may share it. Its pages are touched only as far
    # as the largest receive, and it is never freed.
    SHARED_RECV_SIZE = 65536

cdef char _shared_recv[SHARED_RECV_SIZE]


cdef class Proactor(Scheduler):
    """One engine's event loop, scheduler and IO backend, bound to one thread."""
    cdef Backend io
    cdef TimerQueue timers
    cdef int sigrfd                # signal wakeup pipe (main thread only), or -1
    cdef int sigwfd
    cdef object old_wakeup_fd
    cdef Py_ssize_t fs_fallback    # path ops the backend handed back (None)

    def __cinit__(self, backend=None):
        self.sigrfd = -1
        self.sigwfd = -1
        if backend is None:
            backend = os.environ.get("EMILUA_BACKEND") or "io_uring"
        if backend not in ("io_uring", "epoll"):
            raise ValueError("unknown backend %r (expected 'io_uring' or 'epoll')" % (backend,))
        if backend == "io_uring":
            try:
                self.io = UringBackend(self)
            except OSError:
                pass                   # ENOSYS, or EPERM (sysctl, seccomp): use epoll
        if self.io is None:
            self.io = EpollBackend(self)
        self.timers = TimerQueue(self)

    def __dealloc__(self):
        self.release_kernel_resources()

    @property
    def backend(self):
        """The IO backend in use: "io_uring" or "epoll"."""
        return self.io.name

    cdef void release_kernel_resources(self):
        if self.io is not None:
            self.io.close()
        if self.sigrfd >= 0:
            # A read the ring may still hold pins the pipe itself, not the
            # fd number, so closing is safe.
            c_close(self.sigrfd)
            c_close(self.sigwfd)
            self.sigrfd = self.sigwfd = -1

    # ------------------------------------------------- the scheduler's hooks

    cdef int start_io(self) except -1:
        """Make every signal end the kernel wait (main thread only).

        Python's C-level handler only sets a flag; its Python handler runs when
        the hub next asks (PyErr_CheckSignals). A signal landing between that
        check and the next kernel wait would wait for the next event, so the
        handler also writes to signal.set_wakeup_fd()'s pipe, which the
        backend watches like the eventfd.
        """
        if threading.current_thread() is not threading.main_thread():
            return 0
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            self.old_wakeup_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except ValueError:             # not the main interpreter
            os.close(r)
            os.close(w)
            return 0
        self.sigrfd = r
        self.sigwfd = w
        self.io.watch_signal_fd(r)
        return 0

    cdef void stop_io(self):
        if self.sigrfd >= 0:
            try:
                if signal.set_wakeup_fd(self.old_wakeup_fd) != self.sigwfd:
                    # Someone replaced ours meanwhile: theirs stays.
                    signal.set_wakeup_fd(signal.set_wakeup_fd(-1))
            except Exception:
                pass
            self.old_wakeup_fd = None
            self.io.unwatch_signal_fd()
        self.release_kernel_resources()

    cdef void shutdown_io(self):
        self.io.shutdown()
        self.timers.clear()

    cdef bint events_pending(self):
        return self.io.inflight > 0 or self.timers.count > 0

    cdef int poll_events(self, bint block) except -1:
        # Between rounds a poll only matters when the kernel holds ops
        # whose completions it could deliver; fibers that merely yield to
        # each other need no system call (timers are checked below).
        if block or self.io.inflight > 0:
            self.io.poll(block, self.timers.next_timeout() if block else 0.0)
        self.timers.expire()
        return 0

    # ---------------------------------------------------------------- timers

    def sleep(self, double seconds):
        """Park the current fiber for at least *seconds*. Interruption point."""
        cdef Fiber f = self.enter()
        self.timers.wait(f, monotonic() + (seconds if seconds > 0 else 0.0), None)

    def wait_timer(self, Timer t not None, double deadline):
        cdef Fiber f = self.enter()
        self.timers.wait(f, deadline, t)

    def new_timer(self):
        return Timer(self.timers)

    # ------------------------------------------------------------ IO objects

    def handle(self, int fd):
        """Wrap an fd the engine now owns (it must be O_NONBLOCK and O_CLOEXEC)."""
        return Handle(self.io, fd)

    cdef inline Fiber enter_io(self, Handle h):
        cdef Fiber f = self.enter()
        if h.closed:
            raise oserror(EBADF)
        return f

    cpdef int recv(self, Handle h, object buf, int flags=0) except -1:
        """Receive into buf; returns the count (0: end of stream). Interruption point."""
        cdef Fiber f = self.enter_io(h)
        return self.io.recv(f, h, buf, flags)

    def recv_shared(self, Handle h not None, Py_ssize_t max_len):
        """Wait until h is readable, then receive up to max_len bytes (at most
        SHARED_RECV_SIZE) into the thread's shared buffer; return a new
        byte_span holding a copy of them (empty: end of stream).

        A fiber parked here pins no buffer of its own, so idle connections
        cost no receive memory. Interruption point.
        """
        cdef Fiber f = self.enter_io(h)
        cdef ssize_t n
        if max_len <= 0 or max_len > SHARED_RECV_SIZE:
            max_len = SHARED_RECV_SIZE
        while True:
            n = c_recv(h.fd, _shared_recv, <size_t>max_len, MSG_DONTWAIT)
            if n >= 0:
                return span_from_memory(_shared_recv, n)
            if errno != EAGAIN and errno != EINTR:
                raise oserror(errno)
            self.io.wait_readable(f, h)
            if h.closed:
                raise oserror(ECANCELED)

    cpdef int send(self, Handle h, object buf, int flags=0) except -1:
        """Send from buf; returns the count written. Interruption point."""
        cdef Fiber f = self.enter_io(h)
        return self.io.send(f, h, buf, flags)

    cpdef int read(self, Handle h, object buf, long long offset=-1) except -1:
        """read(2)/pread(2) into buf (pipes, ttys, files). Interruption point."""
        cdef Fiber f = self.enter_io(h)
        return self.io.read(f, h, buf, offset)

    cpdef int write(self, Handle h, object buf, long long offset=-1) except -1:
        """write(2)/pwrite(2) from buf. Interruption point."""
        cdef Fiber f = self.enter_io(h)
        return self.io.write(f, h, buf, offset)

    def read_file(self, Handle h not None, object buf, long long offset):
        """pread(2) of a regular file; None when it would wait for the disk.

        io_uring reads asynchronously and never returns None. epoll serves
        what the page cache holds (preadv2 RWF_NOWAIT) and returns None
        otherwise: the caller then reads on another thread. Interruption point.
        """
        cdef Fiber f = self.enter_io(h)
        return self.io.read_file(f, h, buf, offset)

    def write_file(self, Handle h not None, object buf, long long offset):
        """pwrite(2) to a regular file; None when it would wait for the disk
        (see read_file). Interruption point."""
        cdef Fiber f = self.enter_io(h)
        return self.io.write_file(f, h, buf, offset)

    cpdef int accept(self, Handle h) except -1:
        """accept4(2) a connection; returns the new fd (O_NONBLOCK, O_CLOEXEC).

        Interruption point. A failed accept suspends before it raises (the
        other ready fibers run first), on both backends."""
        cdef Fiber f = self.enter_io(h)
        return self.io.accept(f, h)

    cpdef int connect(self, Handle h, bytes sockaddr_bytes) except -1:
        """connect(2) to a raw sockaddr. Interruption point."""
        cdef Fiber f = self.enter_io(h)
        cdef Op op = self.io.new_op()
        cdef Py_ssize_t alen = len(sockaddr_bytes)
        if alen > <Py_ssize_t>sizeof(sockaddr_storage) or alen < 2:
            raise oserror(EINVAL)
        memcpy(&op.addr, <char *>sockaddr_bytes, alen)
        op.addrlen = <socklen_t>alen
        return self.io.connect(f, h, op)

    cpdef int poll(self, Handle h, bint write=False, bint error=False) except -1:
        """Wait until h is readable, writable, or (error) has urgent data or an
        error pending (POLLPRI, POLLERR, POLLHUP). Interruption point."""
        cdef Fiber f = self.enter_io(h)
        import select
        # Error waits re-check the level after each wake-up: neither backend
        # reports POLLPRI exactly, and a wake-up for in-band data must not
        # end the wait.
        poller = select.poll()
        poller.register(h.fd, select.POLLPRI if error else (
            select.POLLOUT if write else select.POLLIN))
        return self.io.wait_fd(f, h, write, error, poller)

    cpdef object recvmsg(self, Handle h, object buf, Py_ssize_t ancbufsize, int flags=0):
        """recvmsg(2): returns (nbytes, ancillary bytes, msg_flags). Interruption point.

        Received fds get MSG_CMSG_CLOEXEC.
        """
        cdef Fiber f = self.enter_io(h)
        cdef Op op = self.io.new_op()
        cdef int res
        op.get_view(buf, True)
        op.control = bytearray(ancbufsize)
        op.iov.iov_base = op.view.buf
        op.iov.iov_len = op.view.len
        memset(&op.msg, 0, sizeof(msghdr))
        op.msg.msg_iov = &op.iov
        op.msg.msg_iovlen = 1
        if ancbufsize > 0:
            op.msg.msg_control = <char *>op.control
            op.msg.msg_controllen = ancbufsize
        res = self.io.recvmsg(f, h, op, flags | MSG_CMSG_CLOEXEC)
        return (res, bytes(op.control[:op.msg.msg_controllen]) if ancbufsize > 0 else b"",
                op.msg.msg_flags)

    cpdef int sendmsg(self, Handle h, object buf, bytes control, int flags=0) except -1:
        """sendmsg(2) with ancillary data (e.g. SCM_RIGHTS). Interruption point."""
        cdef Fiber f = self.enter_io(h)
        cdef Op op = self.io.new_op()
        op.get_view(buf, False)
        op.control = bytearray(control)
        op.iov.iov_base = op.view.buf
        op.iov.iov_len = op.view.len
        memset(&op.msg, 0, sizeof(msghdr))
        op.msg.msg_iov = &op.iov
        op.msg.msg_iovlen = 1
        if len(control) > 0:
            op.msg.msg_control = <char *>op.control
            op.msg.msg_controllen = len(control)
        return self.io.sendmsg(f, h, op, flags)

    # ------------------------------------------------------- path operations
    #
    # The kernel's asynchronous forms of stat(2), open(2), unlink(2),
    # rmdir(2), rename(2), mkdir(2), link(2) and symlink(2), relative to the
    # working directory. Each is an interruption point and returns None when
    # the backend has no asynchronous form of the call: the caller then makes
    # it on a worker thread. Errors are OSError with the kernel's errno and
    # the path(s), as the os module raises them. A call that completed
    # before an interruption reached it returns its result (the
    # interruption is raised at the next interruption point); an fd opened
    # for a fiber that unwound meanwhile is closed.

    cdef object path_done(self, object r):
        if r is None:
            self.fs_fallback += 1
        return r

    def statx(self, path, bint follow=True):
        """stat(2) (lstat(2) unless *follow*): an os.stat_result, or None."""
        cdef Fiber f = self.enter()
        cdef bytes p = _path_bytes(path)
        cdef bytearray buf = bytearray(sizeof(statx))
        cdef int flags = AT_STATX_SYNC_AS_STAT | AT_NO_AUTOMOUNT
        if not follow:
            flags |= AT_SYMLINK_NOFOLLOW
        try:
            r = self.io.statx(f, p, flags, STATX_BASIC_STATS, buf)
        except OSError as e:
            raise _path_error(e, path, None) from None
        if self.path_done(r) is None:
            return None
        return _stat_result(<statx *><char *>buf)

    def openat(self, path, int flags, int mode=0o777):
        """open(2) with O_CLOEXEC added: the new fd, or None."""
        cdef Fiber f = self.enter()
        cdef bytes p = _path_bytes(path)
        try:
            return self.path_done(self.io.openat(f, p, flags | O_CLOEXEC, mode))
        except OSError as e:
            raise _path_error(e, path, None) from None

    def unlinkat(self, path, bint directory=False):
        """unlink(2), or rmdir(2) when *directory*: 0, or None."""
        cdef Fiber f = self.enter()
        cdef bytes p = _path_bytes(path)
        try:
            return self.path_done(self.io.unlinkat(f, p, AT_REMOVEDIR if directory else 0))
        except OSError as e:
            raise _path_error(e, path, None) from None

    def renameat(self, old, new):
        """rename(2): 0, or None."""
        cdef Fiber f = self.enter()
        cdef bytes p = _path_bytes(old)
        cdef bytes q = _path_bytes(new)
        try:
            return self.path_done(self.io.renameat(f, p, q, 0))
        except OSError as e:
            raise _path_error(e, old, new) from None

    def mkdirat(self, path, int mode=0o777):
        """mkdir(2): 0, or None."""
        cdef Fiber f = self.enter()
        cdef bytes p = _path_bytes(path)
        try:
            return self.path_done(self.io.mkdirat(f, p, mode))
        except OSError as e:
            raise _path_error(e, path, None) from None

    def linkat(self, old, new):
        """link(2) (a symlink *old* is not followed): 0, or None."""
        cdef Fiber f = self.enter()
        cdef bytes p = _path_bytes(old)
        cdef bytes q = _path_bytes(new)
        try:
            return self.path_done(self.io.linkat(f, p, q, 0))
        except OSError as e:
            raise _path_error(e, old, new) from None

    def symlinkat(self, target, linkpath):
        """symlink(2): 0, or None."""
        cdef Fiber f = self.enter()
        cdef bytes p = _path_bytes(target)
        cdef bytes q = _path_bytes(linkpath)
        try:
            return self.path_done(self.io.symlinkat(f, p, q))
        except OSError as e:
            raise _path_error(e, target, linkpath) from None

    cpdef tuple recvfrom(self, Handle h, object buf, int flags=0):
        """recvmsg(2) of one datagram with its source: returns (nbytes, the
        sender's raw sockaddr, msg_flags). Interruption point.

        A datagram longer than buf is cut to len(buf) and MSG_TRUNC is set in
        msg_flags. The datagram is taken at once when one is queued (a busy
        server's common case: no trip through the hub); otherwise one op on
        the backend: the ring's recvmsg, or epoll's wait-then-retry loop.
        The ring's op can end with EAGAIN when, after its readiness wake-up,
        another reader took the datagram first; it is then submitted again.
        """
        cdef Fiber f
        cdef Op op
        cdef int res
        cdef ssize_t n
        if h is None:
            raise TypeError("recvfrom() needs a Handle, not None")
        while True:
            f = self.enter_io(h)
            op = self.io.new_op()
            op.get_view(buf, True)
            op.iov.iov_base = op.view.buf
            op.iov.iov_len = op.view.len
            memset(&op.msg, 0, sizeof(msghdr))
            op.msg.msg_name = &op.addr
            op.msg.msg_namelen = sizeof(sockaddr_storage)
            op.msg.msg_iov = &op.iov
            op.msg.msg_iovlen = 1
            n = c_recvmsg(h.fd, &op.msg, flags | MSG_DONTWAIT)
            if n >= 0:
                op.release()
                return (<int>n, (<char *>&op.addr)[:op.msg.msg_namelen], op.msg.msg_flags)
            if errno != EAGAIN:
                op.release()
                raise oserror(errno)
            op.msg.msg_namelen = sizeof(sockaddr_storage)
            try:
                res = self.io.recvmsg(f, h, op, flags)
            except BlockingIOError:
                continue
            return (res, (<char *>&op.addr)[:op.msg.msg_namelen], op.msg.msg_flags)

    cpdef int sendto(self, Handle h, object buf, bytes sockaddr_bytes, int flags=0) except -1:
        """sendmsg(2) of one datagram to a raw sockaddr. Interruption point."""
        if h is None or sockaddr_bytes is None:
            raise TypeError("sendto() needs a Handle and the sockaddr bytes")
        cdef Fiber f = self.enter_io(h)
        cdef Op op = self.io.new_op()
        cdef Py_ssize_t alen = len(sockaddr_bytes)
        if alen > <Py_ssize_t>sizeof(sockaddr_storage) or alen < 2:
            raise oserror(EINVAL)
        memcpy(&op.addr, <char *>sockaddr_bytes, alen)
        op.get_view(buf, False)
        op.iov.iov_base = op.view.buf
        op.iov.iov_len = op.view.len
        memset(&op.msg, 0, sizeof(msghdr))
        op.msg.msg_name = &op.addr
        op.msg.msg_namelen = <socklen_t>alen
        op.msg.msg_iov = &op.iov
        op.msg.msg_iovlen = 1
        return self.io.sendmsg(f, h, op, flags)

    # ------------------------------------------------------------ debugging

    def stats(self):
        """Counters for tests: ops in flight, timers, live fibers."""
        return {"inflight": self.io.inflight, "timers": self.timers.count,
                "fibers": len(self.live), "ready": len(self.ready), "backend": self.io.name,
                # path ops run by the kernel asynchronously / handed back for a thread
                "fs_async": self.io.fs_async, "fs_fallback": self.fs_fallback}


cdef bytes _path_bytes(object path):
    cdef bytes p = os.fsencode(path)
    if b"\0" in p:
        raise ValueError("embedded null byte")   # as the os module says
    return p


cdef object _path_error(object e, object p1, object p2):
    """The backend's OSError with the path(s) the call was given, errno untouched."""
    if p2 is None:
        return OSError(e.errno, e.strerror, p1)
    return OSError(e.errno, e.strerror, p1, None, p2)


cdef object _stat_result(statx *s):
    """An os.stat_result from statx(2)'s answer, field for field as os.stat()."""
    cdef object asec = s.stx_atime.tv_sec, msec = s.stx_mtime.tv_sec
    cdef object csec = s.stx_ctime.tv_sec
    return os.stat_result(
        (s.stx_mode, s.stx_ino, makedev(s.stx_dev_major, s.stx_dev_minor), s.stx_nlink,
         s.stx_uid, s.stx_gid, s.stx_size, asec, msec, csec),
        {"st_atime": <double>s.stx_atime.tv_sec + s.stx_atime.tv_nsec * 1e-9,
         "st_mtime": <double>s.stx_mtime.tv_sec + s.stx_mtime.tv_nsec * 1e-9,
         "st_ctime": <double>s.stx_ctime.tv_sec + s.stx_ctime.tv_nsec * 1e-9,
         "st_atime_ns": asec * 1000000000 + s.stx_atime.tv_nsec,
         "st_mtime_ns": msec * 1000000000 + s.stx_mtime.tv_nsec,
         "st_ctime_ns": csec * 1000000000 + s.stx_ctime.tv_nsec,
         "st_blksize": s.stx_blksize, "st_blocks": s.stx_blocks,
         "st_rdev": makedev(s.stx_rdev_major, s.stx_rdev_minor)})


def raw_connect(int fd, bytes sockaddr_bytes):
    """connect(2) without waiting (e.g. AF_UNSPEC to dissolve an association)."""
    cdef sockaddr_storage ss
    cdef Py_ssize_t alen = len(sockaddr_bytes)
    if alen > <Py_ssize_t>sizeof(sockaddr_storage) or alen < 2:
        raise oserror(EINVAL)
    memcpy(&ss, <char *>sockaddr_bytes, alen)
    if connect(fd, <sockaddr *>&ss, <socklen_t>alen) < 0:
        raise oserror(errno)
