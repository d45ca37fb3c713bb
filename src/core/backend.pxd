# The IO backend interface: Op (one kernel operation), Handle (an fd the
# engine owns) and Backend, which UringBackend (backend_uring.pyx) and
# EpollBackend (backend_epoll.pyx) implement. The Proactor picks one when it
# is created; nothing above this interface knows which.
from cpython.buffer cimport Py_buffer
from posix.uio cimport iovec

from .scheduler cimport Fiber, Scheduler, Waiter
from sys_socket cimport msghdr, sockaddr_storage, socklen_t


cdef class Op(Waiter):
    cdef Fiber fiber
    cdef Backend backend
    cdef Handle owner             # keeps the fd's handle alive while in flight
    cdef int res
    cdef bint pending             # submitted and not completed
    cdef bint interrupted         # cancelled because its fiber was interrupted
    cdef bint has_view
    cdef Py_buffer view
    cdef list waitlist            # epoll: the handle's list this op waits in
    cdef sockaddr_storage addr
    cdef socklen_t addrlen
    cdef msghdr msg
    cdef iovec iov
    cdef bytearray control
    cdef bint fd_result           # res >= 0 is a new fd (accept)
    cdef bint abandoned           # its fiber unwound while it was in flight
    cdef bytes path               # path ops: the kernel reads these after submission
    cdef bytes path2

    cdef void release(self)
    cdef void drop_result(self)
    cdef int get_view(self, object buf, bint writable) except -1


cdef class Handle:
    cdef readonly int fd
    cdef Backend backend
    cdef readonly bint closed
    cdef int npending             # io_uring ops in flight on this fd
    cdef bint registered          # epoll: added to the interest list
    cdef bint pollable            # epoll refused it (regular files): do blocking syscalls
    cdef bint no_nowait_read      # preadv2(RWF_NOWAIT) answered EOPNOTSUPP on this file
    cdef bint no_nowait_write
    cdef list rwait
    cdef list wwait

    cdef void release_fd(self)


cdef class Backend:
    cdef Scheduler sched
    cdef readonly str name
    cdef Py_ssize_t inflight      # kernel ops and readiness waits in flight
    cdef int sigfd                # signal wakeup pipe (main thread only), or -1
    cdef Py_ssize_t fs_async      # path ops the kernel ran asynchronously

    cdef Op new_op(self)
    cdef int park_op(self, Fiber f, Op op) except -1

    # The loop
    cdef int poll(self, bint block, double timeout) except -1
    cdef int watch_signal_fd(self, int fd) except -1
    cdef void unwatch_signal_fd(self)
    cdef void shutdown(self)
    cdef void close(self)

    # Cancellation and fd life
    cdef void cancel_op(self, Op op)
    cdef void cancel_handle(self, Handle h)
    cdef void forget(self, Handle h)

    # Operations: each one is an interruption point whose checks the caller
    # made (Scheduler.enter()); h is open.
    cdef int recv(self, Fiber f, Handle h, object buf, int flags) except -1
    cdef int send(self, Fiber f, Handle h, object buf, int flags) except -1
    cdef int read(self, Fiber f, Handle h, object buf, long long offset) except -1
    cdef int write(self, Fiber f, Handle h, object buf, long long offset) except -1
    cdef object read_file(self, Fiber f, Handle h, object buf, long long offset)
    cdef object write_file(self, Fiber f, Handle h, object buf, long long offset)
    cdef int accept(self, Fiber f, Handle h) except -1
    cdef int connect(self, Fiber f, Handle h, Op op) except -1
    cdef int wait_fd(self, Fiber f, Handle h, bint write, bint error, object poller) except -1
    # Park f until h may be readable (a wake-up may be spurious: the caller
    # retries its non-blocking call). Holds no buffer while it waits.
    cdef int wait_readable(self, Fiber f, Handle h) except -1
    cdef int recvmsg(self, Fiber f, Handle h, Op op, int flags) except -1
    cdef int sendmsg(self, Fiber f, Handle h, Op op, int flags) except -1

    # Path operations, relative to the working directory (AT_FDCWD). Each
    # returns None when the backend has no asynchronous form of it (the
    # caller then makes the call on a worker thread), else the kernel's
    # result (openat: a new fd, which an abandoned op closes; the others:
    # 0), or raises OSError. statx writes a struct statx into buf.
    cdef object statx(self, Fiber f, bytes path, int flags, unsigned mask, object buf)
    cdef object openat(self, Fiber f, bytes path, int flags, int mode)
    cdef object unlinkat(self, Fiber f, bytes path, int flags)
    cdef object renameat(self, Fiber f, bytes old, bytes new, unsigned flags)
    cdef object mkdirat(self, Fiber f, bytes path, int mode)
    cdef object linkat(self, Fiber f, bytes old, bytes new, int flags)
    cdef object symlinkat(self, Fiber f, bytes target, bytes linkpath)


cdef object oserror(int err)
cdef int op_result(Op op) except -1
