# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The proactor and the fiber scheduler: the engine's hot path.

One Proactor per OS thread that runs an engine. A fiber is a greenlet whose
parent is the hub: the greenlet that called ``Proactor.run``. A suspending
call *parks* the current fiber (it records what it waits for and switches to
the hub); only the hub switches back into a fiber, and only after the thing
it waited for completed, was cancelled, or the fiber was interrupted.

Two backends share every entry point:

io_uring (liburing). An operation is an ``Op`` whose address is the SQE's
user_data; the ring holds a reference to the Op until its CQE is reaped, so
the buffer the kernel writes to outlives any fiber. Cancelling an op
(IORING_OP_ASYNC_CANCEL) never completes it by itself: the op's own CQE
arrives later with its real result or -ECANCELED, and that CQE decides what
the parked fiber sees. ``close(2)`` does not cancel a pending recv on the
same file (the file stays referenced by the request), so closing an IO
object cancels its ops by fd and defers ``close(2)`` until they completed,
which also keeps the fd number from being reused while the kernel may
still deliver data for the old file.

epoll (readiness). The op tries the syscall first; on EAGAIN the fiber waits
for readiness of the fd, registered once, edge-triggered, and retries.
Cancelling a wait unlinks it and resumes the fiber with -ECANCELED, so no
byte is ever consumed by a cancelled op.

Both: ``io_uring_enter``/``epoll_wait`` return -EINTR when a signal arrives;
the hub then runs Python's signal handlers (PyErr_CheckSignals) so that
SIGINT and friends work while the engine idles.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.exc cimport PyErr_CheckSignals
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF


from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from posix.unistd cimport close as c_close, read as c_read, write as c_write

from kernel cimport *
from uring cimport *

import errno as _errno
import heapq
import os
import signal
import sys
import threading
import traceback
from collections import deque

from greenlet import getcurrent, greenlet

# greenlet's C API: the hot path switches and asks for the current greenlet
# with direct calls instead of a Python method call (lookup of ``switch``,
# bound method, vectorcall) each time.
cdef extern from "greenlet.h":
    ctypedef struct PyGreenlet:
        pass
    void **_PyGreenlet_API
    void PyGreenlet_Import()
    PyGreenlet *PyGreenlet_GetCurrent()             # new reference
    object PyGreenlet_Switch(PyGreenlet *g, PyObject *args, PyObject *kwargs)

PyGreenlet_Import()
if _PyGreenlet_API == NULL:
    raise ImportError("greenlet's C API (greenlet._C_API) is unavailable")


cdef inline bint running_on(object g):
    """Whether the calling code runs on greenlet g (getcurrent() is g)."""
    cdef PyGreenlet *cur = PyGreenlet_GetCurrent()
    Py_XDECREF(<PyObject *>cur)       # only compared: g or the thread holds it
    return <PyObject *>cur == <PyObject *>g


cdef inline int glet_switch(object g) except -1:
    """g.switch() with no arguments; the value switched back is dropped."""
    PyGreenlet_Switch(<PyGreenlet *>g, NULL, NULL)
    return 0


cdef enum:
    SQ_ENTRIES = 512          # submission queue depth; the CQ is twice that
    REAP_BATCH = 128          # CQEs copied out per peek
    EPOLL_BATCH = 256
    GLET_POOL = 1024          # finished fibers' greenlets kept for reuse (~4 KiB each)
    WAKE_TAG = 1              # user_data of the eventfd read that wakes the hub
    CANCEL_TAG = 2            # user_data of cancel requests (their CQEs are ignored)
    SIGNAL_TAG = 3            # user_data of the read on the signal wakeup pipe

cdef enum:
    FIBER_NEW = 0
    FIBER_STARTED = 1
    FIBER_DONE = 2


class FiberInterrupted(BaseException):
    """Raised at an interruption point of a fiber whose interruption was requested.

    A BaseException so that ``except Exception`` does not swallow it (manual,
    "Interruption API").
    """


class DeadlockError(RuntimeError):
    """The main fiber waits on a primitive that nothing can signal any more."""


cdef object _oserror(int err):
    return OSError(err, os.strerror(err))


# Every park allocates one Op; a freelist turns that into a pointer pop.
@cython.freelist(64)
cdef class Op:
    """One kernel operation (or timer wait) and the fiber parked on it."""
    cdef Fiber fiber
    cdef Handle owner             # keeps the fd's handle alive while in flight
    cdef int res
    cdef bint pending             # submitted and not completed
    cdef bint interrupted         # cancelled because its fiber was interrupted
    cdef bint has_view
    cdef Py_buffer view
    cdef list waitlist            # epoll: the handle's list this op waits in
    cdef double deadline          # timers
    cdef Timer timer
    cdef sockaddr_storage addr
    cdef socklen_t addrlen
    cdef msghdr msg
    cdef iovec iov
    cdef bytearray control
    cdef bint fd_result           # res >= 0 is a new fd (accept)
    cdef bint abandoned           # its fiber unwound while it was in flight

    def __dealloc__(self):
        if self.has_view:
            PyBuffer_Release(&self.view)
            self.has_view = False

    cdef inline void release(self):
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


cdef class Handle:
    """An fd owned by the engine. Closing it cancels what is in flight first."""
    cdef readonly int fd
    cdef Proactor proactor
    cdef readonly bint closed
    cdef int npending             # io_uring ops in flight on this fd
    cdef bint registered          # epoll: added to the interest list
    cdef bint pollable            # epoll refused it (regular files): do blocking syscalls
    cdef list rwait
    cdef list wwait

    def __cinit__(self, Proactor proactor, int fd):
        self.proactor = proactor
        self.fd = fd
        self.pollable = True

    def __dealloc__(self):
        if not self.closed and self.fd >= 0:
            if self.registered and self.proactor is not None and self.proactor.epfd >= 0:
                epoll_ctl(self.proactor.epfd, EPOLL_CTL_DEL, self.fd, NULL)
            c_close(self.fd)

    @property
    def busy(self):
        """Whether an operation is in flight on this fd."""
        return self.npending > 0 or bool(self.rwait) or bool(self.wwait)

    def fileno(self):
        if self.closed:
            raise _oserror(EBADF)
        return self.fd

    def detach(self):
        """Give up ownership of the fd and return it (for moving an IO object)."""
        if self.closed:
            raise _oserror(EBADF)
        if self.busy:
            raise _oserror(_errno.EBUSY)
        if self.registered:
            epoll_ctl(self.proactor.epfd, EPOLL_CTL_DEL, self.fd, NULL)
            self.registered = False
        fd = self.fd
        self.fd = -1
        self.closed = True
        return fd

    def cancel(self):
        """Cancel every operation in flight on this fd; they fail with ECANCELED."""
        if self.closed:
            raise _oserror(EBADF)
        self.proactor.cancel_handle(self)

    def close(self):
        """Close the fd once every operation in flight on it has completed.

        Ops in flight are cancelled. The fd number is not released until the
        kernel is done with it, so a new fd can never receive data meant for
        this one.
        """
        if self.closed:
            raise _oserror(EBADF)
        self.closed = True
        self.proactor.cancel_handle(self)
        if self.npending == 0:
            self.release_fd()

    cdef void release_fd(self):
        if self.registered:
            epoll_ctl(self.proactor.epfd, EPOLL_CTL_DEL, self.fd, NULL)
            self.registered = False
        if self.fd >= 0:
            c_close(self.fd)
            self.fd = -1


@cython.final
cdef class Timer:
    """A timer on the monotonic clock; any number of fibers may wait on it."""
    cdef Proactor proactor
    cdef public double deadline
    cdef list waiting

    def __cinit__(self, Proactor proactor):
        self.proactor = proactor
        self.deadline = 0.0
        self.waiting = []

    def wait(self):
        """Park until the deadline. Raises OSError(ECANCELED) if cancelled."""
        return self.proactor.wait_timer(self, self.deadline)

    def cancel(self):
        """Cancel every pending wait; returns how many were cancelled."""
        cdef Op op
        cdef int n = 0
        waiting = self.waiting
        self.waiting = []
        for op in waiting:
            if op.pending:
                self.proactor.finish_timer(op, -ECANCELED)
                n += 1
        return n

    @property
    def pending(self):
        return len(self.waiting)


cdef class Fiber:
    """A fiber handle (manual, "Fibers")."""
    cdef readonly Proactor proactor
    cdef object glet
    cdef object func
    cdef tuple args
    cdef object value
    cdef object error
    cdef int state
    cdef bint joined
    cdef bint detached
    cdef bint interrupted          # interruption requested
    cdef bint caught               # ended by FiberInterrupted
    cdef bint cancelled_wait       # a sync wait was withdrawn by interruption
    cdef bint killed               # its VM ended (system.exit): unwind at the next park
    cdef int no_interrupt          # disable_interruption() depth
    cdef int no_suspend            # forbid_suspend() depth
    cdef object waiter             # what it is parked on, when parked
    cdef Fiber joiner
    cdef object local_
    cdef readonly bint is_main
    cdef readonly unsigned long long serial
    cdef public list scopes        # cleanup handler lists, innermost last
    cdef public object vm          # the actor this fiber belongs to (upper layers)
    cdef object __weakref__

    # Manual "Fibers": join() returns the values of the start function or
    # re-raises its error, and the fiber counts as joined either way.
    def join(self):
        """Wait for the fiber to end; return its result or re-raise its error.

        Interruption point. Raises OSError(EDEADLK) when joining oneself and
        OSError(EINVAL) when the handle is not joinable.
        """
        cdef Proactor p = self.proactor
        cdef Fiber cur
        if p is None:
            raise TypeError("this fiber was not made by a proactor")
        cur = p.current
        if cur is self:
            raise _oserror(EDEADLK)
        if self.joined or self.detached or self.joiner is not None:
            raise _oserror(EINVAL)
        if cur is None:
            raise RuntimeError("join() outside of a fiber")
        # An interruption point even when the fiber already ended: a fiber
        # that was interrupted raises here (manual, "Interruption API").
        cur.proactor.check_park(cur)
        if self.state != FIBER_DONE:
            self.joiner = cur
            try:
                p.suspend(_JoinWait(self))
            finally:
                # Kept until now so that the handle stays unjoinable for
                # others between the target's end and the joiner's resumption.
                self.joiner = None
        self.joined = True
        if self.error is not None:
            err = self.error
            self.error = None
            raise err
        return self.value

    def _take_error(self):
        """The error the fiber ended with (cleared), for the actor layer."""
        err = self.error
        self.error = None
        return err

    def detach(self):
        """Let the fiber run on its own; its error will be printed, not re-raised."""
        if self.joined or self.detached or self.joiner is not None:
            raise _oserror(EINVAL)
        self.detached = True
        if self.state == FIBER_DONE and self.error is not None:
            self.proactor.report_detached(self, self.error)
            self.error = None

    def interrupt(self):
        """Request interruption (manual, "Interruption API").

        Never an interruption point nor a suspension point. A no-op on a
        detached, joined or finished fiber.
        """
        if self.detached or self.joined or self.state == FIBER_DONE:
            return
        self.interrupted = True
        if self.waiter is not None and self.no_interrupt == 0:
            self.proactor.withdraw(self)

    @property
    def joinable(self):
        """False once joined or detached, and while another fiber joins it."""
        return not (self.joined or self.detached or self.joiner is not None)

    @property
    def interruption_caught(self):
        """Whether the fiber ended by interruption; readable after join() only."""
        if not self.joined:
            raise _oserror(EINVAL)
        return self.caught

    @property
    def id(self):
        """"engine:fiber" numbers, unique in the process; for debugging only."""
        return "%d:%d" % (self.proactor.number, self.serial)

    def __repr__(self):
        state = ("new", "running", "done")[self.state]
        if self.func is None:
            return "<fiber %s %s>" % (self.id, state)
        name = getattr(self.func, "__qualname__", None) or repr(self.func)
        return "<fiber %s %s %s>" % (self.id, name, state)

    def __del__(self):
        # Manual: a fiber handle collected without join()/detach() is detached,
        # so an error it ended with is reported like a detached fiber's.
        if self.state == FIBER_DONE and self.error is not None and not self.joined:
            self.proactor.report_detached(self, self.error)
            self.error = None

    def _bootstrap(self):
        cdef Proactor p = self.proactor
        if p is None:
            raise TypeError("only its proactor starts a fiber")
        self.state = FIBER_STARTED
        try:
            if self.killed:
                raise _Shutdown()
            self.value = self.func(*self.args)
        except FiberInterrupted:
            self.caught = True
        except _Shutdown:
            pass
        except BaseException as e:
            # While the engine tears the VM down, what the unwinding raises
            # (say, a mutex released by a `with` whose wait was cut short) is
            # a consequence of the teardown, not an error of the program.
            if not p.closing:
                self.error = e
        self.func = None
        self.args = None
        if self.error is not None and self.detached and not self.is_main:
            # Manual "Dead fibers": the error is reported first, then the
            # handlers of the root scope run.
            p.report_detached(self, self.error)
            self.error = None
        # A VM being torn down runs no more cleanup handlers (its fibers are
        # unwound only so that ``finally`` blocks release what they hold).
        if self.scopes and not p.closing:
            try:
                p.run_root_cleanup(self)
            except BaseException as e:
                p.terminate(e, "a scope cleanup handler raised")
        p.on_fiber_done(self)


cdef class _JoinWait:
    cdef Fiber target

    def __cinit__(self, Fiber target):
        self.target = target

    def cancel(self, Fiber waiter):
        # A target that already ended has made its joiner ready: the join
        # completed, so it returns the result and the interruption waits for
        # the next interruption point.
        if self.target.joiner is waiter and self.target.state != FIBER_DONE:
            return True
        return False

    def __repr__(self):
        return "join(%r)" % (self.target,)


cdef class _YieldWait:
    def cancel(self, Fiber waiter):
        return False

    def __repr__(self):
        return "yield"


cdef _YieldWait YIELD_WAIT = _YieldWait()
# The engine running in this thread: a C thread-local (a threading.local
# lookup costs a dict access per channel send). Borrowed: run() holds the
# reference for as long as it is set.
cdef extern from *:
    """
    static __thread PyObject *emilua_current_proactor = NULL;
    """
    PyObject *emilua_current_proactor
cdef int _backend_probe = -1      # -1 unknown, 1 io_uring usable, 0 not
cdef bint _pwait2_missing = False  # the kernel answered ENOSYS to epoll_pwait2
cdef unsigned long long _nengines = 0   # numbers engines, for fiber ids unique in the process


cpdef Proactor current():
    """The proactor of the engine running in this thread, or None."""
    if emilua_current_proactor == NULL:
        return None
    return <Proactor>emilua_current_proactor


cdef inline double monotonic() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


def monotonic_time():
    """CLOCK_MONOTONIC in seconds: the clock of timers."""
    return monotonic()


cdef class Proactor:
    """One engine's event loop, scheduler and IO backend, bound to one thread."""
    cdef readonly str backend
    cdef bint uring
    cdef io_uring ring
    cdef bint ring_ready
    cdef int epfd
    cdef int wakefd
    cdef uint64_t wakebuf
    cdef bint wake_armed
    cdef int sigrfd                # signal wakeup pipe (main thread only), or -1
    cdef int sigwfd
    cdef bint sig_armed
    cdef char sigbuf[64]
    cdef object old_wakeup_fd
    cdef list ready                # Fibers to run, in order
    cdef list spare                # the previous round's list, empty, reused
    cdef Fiber current
    cdef object hub
    cdef Py_ssize_t inflight       # ring ops and epoll waits in flight
    cdef list timers               # heap of (deadline, seq, Op)
    cdef unsigned long long seq
    cdef Py_ssize_t ntimers
    cdef unsigned long long nfibers
    cdef set live                  # fibers not yet done
    cdef list idle_glets           # greenlets of ended fibers, parked for reuse
    cdef public Py_ssize_t keepalive   # external reasons to keep running (actors)
    # Calls running on other threads that will post their completion (each
    # also holds a keepalive). While one is pending the hub is not idle: it
    # skips on_idle, a full gc.collect() that would cost every offloaded file
    # operation milliseconds.
    cdef public Py_ssize_t offloaded
    cdef object posted             # callables posted from other threads
    cdef object post_lock
    cdef bint stopping
    cdef bint closing
    cdef object fatal              # exception that terminates the VM
    cdef object deadlock           # why the main fiber can never resume, if so
    cdef readonly unsigned long long number   # engines created in this process so far
    cdef public object main_fiber
    cdef public object vm          # owner VM object (actors); free for upper layers
    cdef public object on_idle     # callable: more work may appear (actors)

    def __cinit__(self, backend=None):
        global _nengines
        _nengines += 1
        self.number = _nengines
        self.epfd = -1
        self.wakefd = -1
        self.sigrfd = -1
        self.sigwfd = -1
        self.ready = []
        self.spare = []
        self.timers = []
        self.live = set()
        self.idle_glets = []
        self.posted = []
        self.post_lock = threading.Lock()
        if backend is None:
            backend = os.environ.get("EMILUA_BACKEND") or "io_uring"
        if backend not in ("io_uring", "epoll"):
            raise ValueError("unknown backend %r (expected 'io_uring' or 'epoll')" % (backend,))
        self.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
        if self.wakefd < 0:
            raise _oserror(errno)
        if backend == "io_uring" and self.init_uring():
            self.backend = "io_uring"
            self.uring = True
        else:
            self.backend = "epoll"
            self.uring = False
            self.epfd = epoll_create1(EPOLL_CLOEXEC)
            if self.epfd < 0:
                raise _oserror(errno)
            self.register_wakefd()

    cdef bint init_uring(self) except -1:
        global _backend_probe
        cdef io_uring_params params
        cdef int ret
        if _backend_probe == 0:
            return False
        # SINGLE_ISSUER + DEFER_TASKRUN (6.1): completions are processed only
        # when this thread enters the ring, which is the only thread that uses it.
        memset(&params, 0, sizeof(params))
        params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
        ret = io_uring_queue_init_params(SQ_ENTRIES, &self.ring, &params)
        if ret < 0:
            memset(&params, 0, sizeof(params))
            ret = io_uring_queue_init_params(SQ_ENTRIES, &self.ring, &params)
        if ret < 0:
            # ENOSYS (no io_uring), EPERM (io_uring_disabled sysctl or seccomp).
            _backend_probe = 0
            return False
        _backend_probe = 1
        self.ring_ready = True
        return True

    def __dealloc__(self):
        self.release_kernel_resources()

    cdef void release_kernel_resources(self):
        if self.ring_ready and self.inflight == 0:
            io_uring_queue_exit(&self.ring)
            self.ring_ready = False
        if self.epfd >= 0:
            c_close(self.epfd)
            self.epfd = -1
        if self.wakefd >= 0:
            c_close(self.wakefd)
            self.wakefd = -1
        if self.sigrfd >= 0:
            # A read the ring may still hold pins the pipe itself, not the
            # fd number, so closing is safe (as for the eventfd above).
            c_close(self.sigrfd)
            c_close(self.sigwfd)
            self.sigrfd = self.sigwfd = -1

    cdef int install_signal_wakeup(self) except -1:
        """Make every signal end the kernel wait (main thread only).

        Python's C-level handler only sets a flag; its Python handler runs when
        the hub next asks (PyErr_CheckSignals). A signal landing between that
        check and the next io_uring_enter/epoll_wait would wait for the next
        event, so the handler also writes to signal.set_wakeup_fd()'s pipe,
        which the hub keeps armed like the eventfd.
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
        cdef epoll_event ev
        if not self.uring:
            ev.events = EPOLLIN
            ev.data.ptr = <void *>self
            if epoll_ctl(self.epfd, EPOLL_CTL_ADD, self.sigrfd, &ev) < 0:
                raise _oserror(errno)
        return 0

    cdef void remove_signal_wakeup(self):
        if self.sigrfd < 0:
            return
        try:
            if signal.set_wakeup_fd(self.old_wakeup_fd) != self.sigwfd:
                # Someone replaced ours meanwhile: theirs stays.
                signal.set_wakeup_fd(signal.set_wakeup_fd(-1))
        except Exception:
            pass
        self.old_wakeup_fd = None
        if self.epfd >= 0:
            epoll_ctl(self.epfd, EPOLL_CTL_DEL, self.sigrfd, NULL)

    cdef void drain_sigfd(self):
        while c_read(self.sigrfd, self.sigbuf, sizeof(self.sigbuf)) > 0:
            pass

    # ------------------------------------------------------------------ fibers

    def spawn(self, func, *args):
        """Create a fiber running func(*args); post semantics (it runs later)."""
        return self.new_fiber(func, args, False)

    cdef Fiber new_fiber(self, object func, tuple args, bint is_main, object vm=None):
        cdef Fiber f = Fiber.__new__(Fiber)
        if self.closing:
            raise RuntimeError("the engine is shutting down")
        f.proactor = self
        f.func = func
        f.args = args
        f.is_main = is_main
        # A fiber belongs to the VM of the fiber that spawned it.
        if vm is not None:
            f.vm = vm
        else:
            f.vm = self.current.vm if self.current is not None else self.vm
        if f.vm is not None:
            f.vm.fiber_started(f)
        self.nfibers += 1
        f.serial = self.nfibers
        # A greenlet's birth and death cost several µs each (CPython gives
        # every greenlet its own frame stack, mmap'ed at the first call and
        # unmapped at the end); a finished fiber's greenlet runs the next one.
        if self.idle_glets:
            g = self.idle_glets.pop()
        else:
            g = greenlet(self.run_fibers, self.hub)
        f.glet = g
        self.live.add(f)
        self.ready.append(f)
        return f

    def spawn_main(self, vm, func, *args):
        """Create the main fiber of a VM that shares this proactor."""
        return self.new_fiber(func, args, True, vm)

    @property
    def current_fiber(self):
        return self.current

    def run_fibers(self):
        """The body of every fiber greenlet.

        Runs the fiber the hub switched in (self.current); when that fiber
        has ended, parks in the pool until a new fiber takes this greenlet.
        """
        cdef Fiber f
        # No local holds this greenlet: a parked greenlet that referenced
        # itself from its own frame would be a cycle the collector never
        # frees (greenlet does not collect suspended greenlets), so a pool
        # cleared at shutdown, or left by an ended thread, kept its greenlets
        # and, through their frames, this proactor and its VMs.
        while True:
            f = self.current
            f._bootstrap()
            f = None                   # the pool must not keep the fiber alive
            if self.closing or len(self.idle_glets) >= GLET_POOL:
                return
            self.idle_glets.append(getcurrent())
            glet_switch(self.hub)
            # Like a new greenlet, the next fiber starts in an empty
            # contextvars context. (Set from inside: a greenlet parked with
            # no Python frame on its stack refuses it from outside.)
            getcurrent().gr_context = None

    cdef int check_park(self, Fiber f) except -1:
        """The checks of every interruption point, made before it registers anything."""
        self.check_suspend(f)
        if f.interrupted and f.no_interrupt == 0:
            raise FiberInterrupted()
        return 0

    cdef int check_suspend(self, Fiber f) except -1:
        """The checks of every suspending call (mutex.lock() is not an interruption point)."""
        if f is None:
            raise RuntimeError("suspending call outside of a fiber")
        if not running_on(f.glet):
            # A greenlet the user created inside the fiber: the hub only ever
            # switches back to the fiber's own greenlet, so parking this one
            # would strand it (docs/fibers.md, "Greenlets and generators").
            raise RuntimeError("a suspending call was made from a greenlet that is not "
                               "the fiber's own (see docs/fibers.md)")
        if f.killed:
            raise _Shutdown()
        if f.no_suspend > 0:
            raise RuntimeError("fiber suspension is forbidden here (this_fiber.forbid_suspend())")
        if self.closing:
            raise RuntimeError("the engine is shutting down")
        return 0

    cdef inline Fiber enter(self):
        """The current fiber, after the checks every interruption point makes."""
        cdef Fiber f = self.current
        self.check_park(f)
        return f

    cdef int switch_to_hub(self, Fiber f) except -1:
        # check_park() made sure f's own greenlet is the one parking.
        glet_switch(self.hub)
        if f.killed:
            # Its VM ended while it was parked: unwind it (finally blocks run).
            raise _Shutdown()
        return 0

    def suspend(self, waiter):
        """Park the current fiber on a user-level primitive.

        ``waiter.cancel(fiber)`` is called on interruption; it returns True if
        it withdrew the fiber (which then raises FiberInterrupted) and False
        if the fiber was already woken. The primitive wakes the fiber with
        ``wake(fiber)``. Interruption point.
        """
        cdef Fiber f = self.enter()
        f.waiter = waiter
        f.cancelled_wait = False
        try:
            self.switch_to_hub(f)
        finally:
            f.waiter = None
        if f.cancelled_wait:
            f.cancelled_wait = False
            raise FiberInterrupted()

    def wake(self, Fiber f):
        """Make a fiber parked with suspend() ready to run."""
        self.ready.append(f)

    def yield_(self):
        """Let the other ready fibers run first. Interruption point."""
        cdef Fiber f = self.enter()
        self.ready.append(f)
        f.waiter = YIELD_WAIT
        try:
            self.switch_to_hub(f)
        finally:
            f.waiter = None

    cdef void withdraw(self, Fiber f):
        """Cancel what an interrupted fiber is parked on."""
        w = f.waiter
        cdef Op op
        if isinstance(w, Op):
            op = <Op>w
            if op.pending and not op.interrupted:
                op.interrupted = True
                self.cancel_op(op)
        elif w is not None:
            if w.cancel(f):
                f.cancelled_wait = True
                self.ready.append(f)

    def interruption_enabled(self):
        cdef Fiber f = self.current
        return f is not None and f.no_interrupt == 0

    def check_interruption(self):
        """The checks of a suspending call, for one that completes without parking.

        Raises FiberInterrupted if the current fiber's interruption is pending
        (an operation done inline, such as a file read served from the page
        cache on the epoll backend, is still an interruption point).
        """
        self.enter()

    # ------------------------------------------------------ this_fiber surface

    def disable_interruption(self):
        cdef Fiber f = self.current_or_raise()
        f.no_interrupt += 1

    def restore_interruption(self):
        cdef Fiber f = self.current_or_raise()
        if f.no_interrupt == 0:
            raise RuntimeError("restore_interruption() without a matching disable_interruption()")
        f.no_interrupt -= 1

    def forbid_suspend(self):
        cdef Fiber f = self.current_or_raise()
        f.no_suspend += 1

    def allow_suspend(self):
        cdef Fiber f = self.current_or_raise()
        if f.no_suspend == 0:
            raise RuntimeError("allow_suspend() without a matching forbid_suspend()")
        f.no_suspend -= 1

    def fiber_local(self):
        cdef Fiber f = self.current_or_raise()
        if f.local_ is None:
            f.local_ = {}
        return f.local_

    cdef Fiber current_or_raise(self):
        if self.current is None:
            raise RuntimeError("not inside a fiber")
        return self.current

    # ------------------------------------------------------------ completion

    cdef void on_fiber_done(self, Fiber f):
        f.state = FIBER_DONE
        f.glet = None
        self.live.discard(f)
        if f.joiner is not None:
            self.ready.append(f.joiner)    # join() clears f.joiner when it resumes
        if f.vm is not None and f.vm is not self.vm:
            # A VM sharing this proactor: its own rules (actors), not the loop's.
            f.vm.fiber_done(f)
            return
        if f.vm is not None:
            f.vm.fiber_done(f)
        if f.error is not None:
            if f.is_main:
                # Manual "Dead fibers": an error escaping the main fiber ends the VM.
                self.stopping = True
            elif f.detached:
                self.report_detached(f, f.error)
                f.error = None

    def report_detached(self, Fiber f, exc):
        if isinstance(exc, FiberInterrupted):
            return
        if isinstance(exc, SystemExit):
            return
        try:
            sys.stderr.write("Exception in detached fiber %s:\n" % (f.id,))
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
            sys.stderr.flush()
        except Exception:
            pass

    def run_root_cleanup(self, Fiber f not None):
        from emilua._fiber import run_cleanup_handlers
        while f.scopes:
            handlers = f.scopes.pop()
            run_cleanup_handlers(handlers)

    def terminate(self, exc, reason):
        """End the VM: no fiber runs any more; run() raises exc."""
        if self.fatal is None:
            self.fatal = exc
            try:
                # run() raises exc with its traceback; this line says why.
                sys.stderr.write("emilua: VM terminated: %s: %r\n" % (reason, exc))
                sys.stderr.flush()
            except Exception:
                pass
        self.stopping = True
        if self.closing:
            return                     # teardown is already unwinding every fiber
        f = self.current
        if f is not None and getcurrent() is not self.hub:
            self.hub.switch()

    def exit_vm(self, int code):
        """system.exit(): end the VM; run() raises SystemExit(code)."""
        if self.fatal is None:
            self.fatal = SystemExit(code)
        self.stopping = True
        if self.current is not None and getcurrent() is not self.hub:
            self.hub.switch()
        raise SystemExit(code)

    def end_vm_fibers(self, vm):
        """End every fiber of *vm* (a VM sharing this proactor) but the caller.

        Each one unwinds from the point where it is parked (kernel ops are
        cancelled first, and the fiber resumes once their completion arrived),
        or at its next suspending call if it is ready to run; one that has not
        started never runs. Used by system.exit() in such a VM.
        """
        cdef Fiber f
        for f in list(self.live):
            if f.vm is not vm or f is self.current or f.killed:
                continue
            f.killed = True
            if f.waiter is not None:
                self.withdraw_for_kill(f)

    cdef void withdraw_for_kill(self, Fiber f):
        w = f.waiter
        cdef Op op
        if isinstance(w, Op):
            op = <Op>w
            if op.pending and not op.interrupted:
                self.cancel_op(op)
        elif w is not None:
            if w.cancel(f):
                self.ready.append(f)

    def stop(self):
        """Stop the loop as soon as the current fiber suspends."""
        self.stopping = True

    @property
    def live_fibers(self):
        """How many fibers have not ended yet."""
        return len(self.live)

    @property
    def closing(self):
        """Whether the engine is tearing its fibers down."""
        return self.closing

    def own_fiber(self):
        """The current fiber, if the caller runs on that fiber's own greenlet.

        Raises RuntimeError outside a fiber and in a greenlet created by user
        code inside one (scopes belong to the fiber's own call stack).
        """
        cdef Fiber f = self.current
        if f is None:
            raise RuntimeError("not inside a fiber")
        if getcurrent() is not f.glet:
            raise RuntimeError("scopes cannot be used from a greenlet that is not the "
                               "fiber's own (see docs/fibers.md)")
        return f

    # ----------------------------------------------------------------- loop

    def run(self, main, *args):
        """Run main(*args) as the main fiber until the VM has nothing left to do.

        Returns main's result or re-raises its error.
        """
        global emilua_current_proactor
        if current() is not None:
            raise RuntimeError("an engine already runs in this thread")
        self.hub = getcurrent()
        emilua_current_proactor = <PyObject *>self
        cdef Fiber mf
        try:
            self.install_signal_wakeup()
            mf = self.new_fiber(main, args, True)
            self.main_fiber = mf
            self.loop()
        finally:
            try:
                self.shutdown()
            finally:
                emilua_current_proactor = NULL
                self.remove_signal_wakeup()
                self.release_kernel_resources()
                # The hub is this thread's main greenlet. A Proactor kept by a
                # garbage cycle must not hold it once the thread may exit: a
                # collection in another thread then crashed in tp_traverse on
                # the freed greenlet (greenlet 3.5).
                self.hub = None
        if self.fatal is not None:
            raise self.fatal
        if self.deadlock is not None:
            raise DeadlockError(self.deadlock)
        mf.joined = True
        if mf.error is not None:
            err = mf.error
            mf.error = None
            raise err
        return mf.value

    cdef int loop(self) except -1:
        cdef Fiber f
        cdef bint block
        cdef list batch
        cdef Py_ssize_t i, n
        while True:
            # One round runs the fibers that were ready when it began; a
            # fiber that yields runs again after the next poll, so a busy
            # fiber cannot starve completions and timers. The round takes the
            # whole ready list and the fibers it wakes go to a fresh one
            # (lists swapped, not a deque popped: no method call per fiber).
            if self.ready and not self.stopping:
                batch = self.ready
                self.ready = self.spare
                n = len(batch)
                i = 0
                try:
                    while i < n and not self.stopping:
                        f = <Fiber>batch[i]
                        batch[i] = None    # the round must not keep it alive
                        i += 1
                        if f.state == FIBER_DONE:
                            continue
                        self.current = f
                        try:
                            glet_switch(f.glet)
                        finally:
                            self.current = None
                finally:
                    if i < n:
                        # Stopped (or raised) mid-round: the rest keep their turn.
                        self.ready[0:0] = batch[i:]
                    del batch[:]
                    self.spare = batch
            if self.stopping:
                return 0
            if self.posted:
                self.run_posted()
                continue
            if not self.ready and self.inflight == 0 and self.ntimers == 0:
                # Nothing can wake a fiber but another thread (keepalive) or
                # garbage whose finalizers change state (dropped channels).
                if self.on_idle is not None and self.offloaded <= 0 and self.idle_changed():
                    continue
                if self.keepalive <= 0:
                    if self.live:
                        self.report_deadlock()
                    return 0
            block = not self.ready
            # Between rounds a poll only matters when the kernel holds ops
            # whose completions it could deliver; fibers that merely yield to
            # each other need no system call (timers are checked below).
            if block or self.inflight > 0:
                if self.uring:
                    self.poll_uring(block)
                else:
                    self.poll_epoll(block)
            self.expire_timers()

    cdef bint idle_changed(self) except -1:
        cdef Py_ssize_t before_ready = len(self.ready)
        cdef Py_ssize_t before_keep = self.keepalive
        self.on_idle()
        return (len(self.ready) != before_ready or self.keepalive != before_keep
                or bool(self.posted))

    cdef void report_deadlock(self):
        """Name each primitive that blocks fibers nothing can wake any more.

        Called when no fiber is ready and no kernel op, timer or other thread
        can make one ready. The main fiber's wait becomes run()'s DeadlockError.
        """
        cdef Fiber f
        groups = {}                    # id(waiter) -> (waiter, [fibers])
        for f in sorted(self.live, key=lambda f: (<Fiber>f).serial):
            w = f.waiter
            groups.setdefault(id(w), (w, []))[1].append(f)
            if f is self.main_fiber:
                self.deadlock = "the main fiber waits on %r, which nothing can signal any more" % (w,)
        for w, fibers in groups.values():
            names = ", ".join(
                [f.id + (" (main)" if f.is_main else "") for f in fibers])
            try:
                sys.stderr.write("emilua: possible deadlock: %r blocks fiber%s %s\n" % (
                    w, "s" if len(fibers) > 1 else "", names))
            except Exception:
                pass

    cdef double next_timeout(self):
        """Seconds until the nearest timer (-1: none)."""
        cdef Op op
        while self.timers:
            op = <Op>self.timers[0][2]
            if not op.pending:
                heapq.heappop(self.timers)
                continue
            return max(0.0, op.deadline - monotonic())
        return -1.0

    cdef void expire_timers(self):
        cdef Op op
        cdef double now
        if self.ntimers == 0:
            return
        now = monotonic()
        while self.timers:
            op = <Op>self.timers[0][2]
            if not op.pending:
                heapq.heappop(self.timers)
                continue
            if op.deadline > now:
                break
            heapq.heappop(self.timers)
            self.finish_timer(op, 0)

    cdef void finish_timer(self, Op op, int res):
        op.pending = False
        op.res = res
        self.ntimers -= 1
        if op.timer is not None:
            try:
                op.timer.waiting.remove(op)
            except ValueError:
                pass
        if op.fiber is not None:
            self.ready.append(op.fiber)

    # ---------------------------------------------------------- io_uring side

    cdef io_uring_sqe *get_sqe(self) except NULL:
        cdef io_uring_sqe *sqe = io_uring_get_sqe(&self.ring)
        if sqe == NULL:
            io_uring_submit(&self.ring)
            sqe = io_uring_get_sqe(&self.ring)
            if sqe == NULL:
                raise _oserror(_errno.EBUSY)
        return sqe

    cdef void arm_wake(self):
        cdef io_uring_sqe *sqe
        if not self.uring:
            return
        if not self.wake_armed:
            sqe = io_uring_get_sqe(&self.ring)
            if sqe == NULL:
                return
            io_uring_prep_read(sqe, self.wakefd, &self.wakebuf, 8, <uint64_t>-1)
            io_uring_sqe_set_data64(sqe, WAKE_TAG)
            self.wake_armed = True
        if not self.sig_armed and self.sigrfd >= 0 and not self.closing:
            sqe = io_uring_get_sqe(&self.ring)
            if sqe == NULL:
                return
            io_uring_prep_read(sqe, self.sigrfd, self.sigbuf, sizeof(self.sigbuf), <uint64_t>-1)
            io_uring_sqe_set_data64(sqe, SIGNAL_TAG)
            self.sig_armed = True

    cdef int poll_uring(self, bint block) except -1:
        cdef __kernel_timespec ts
        cdef io_uring_cqe *cqe = NULL
        cdef int ret
        cdef double timeout
        self.arm_wake()
        if block:
            timeout = self.next_timeout()
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
            raise _oserror(-ret)
        self.reap_uring()
        if block:
            # A signal that interrupts the wait does not always surface as
            # -EINTR: when the same io_uring_enter(2) also submitted SQEs it
            # returns the submitted count. Python's handlers only run when
            # asked (the hub executes no bytecode), so ask after every wait;
            # it costs one flag test when no signal is pending.
            PyErr_CheckSignals()
        return 0

    cdef int reap_uring(self) except -1:
        cdef io_uring_cqe *cqes[REAP_BATCH]
        cdef uint64_t datas[REAP_BATCH]
        cdef int results[REAP_BATCH]
        cdef unsigned n, i
        cdef Op op
        cdef Handle h
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
                if op.abandoned:
                    op.drop_result()
                elif op.fiber is not None:
                    self.ready.append(op.fiber)
                Py_DECREF(op)           # the ring's reference, taken at submit

    cdef inline void submitted(self, Op op, Handle h):
        Py_INCREF(op)                  # the ring's reference; reap_uring drops it
        op.pending = True
        op.owner = h
        self.inflight += 1
        if h is not None:
            h.npending += 1

    cdef void cancel_op(self, Op op):
        cdef io_uring_sqe *sqe
        if self.uring:
            if op.deadline != 0.0 or op.timer is not None:
                self.finish_timer(op, -ECANCELED)
                return
            sqe = io_uring_get_sqe(&self.ring)
            if sqe == NULL:
                io_uring_submit(&self.ring)
                sqe = io_uring_get_sqe(&self.ring)
                if sqe == NULL:
                    return
            # io_uring_prep_cancel(3): -ENOENT means the op already completed;
            # its own CQE decides what the fiber sees.
            io_uring_prep_cancel64(sqe, <uint64_t><void *>op, 0)
            io_uring_sqe_set_data64(sqe, CANCEL_TAG)
        else:
            if op.deadline != 0.0 or op.timer is not None:
                self.finish_timer(op, -ECANCELED)
                return
            self.cancel_wait(op, -ECANCELED)

    cdef void cancel_handle(self, Handle h):
        cdef io_uring_sqe *sqe
        cdef Op op
        if self.uring:
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
        else:
            for lst in (h.rwait, h.wwait):
                if lst:
                    for op in list(lst):
                        self.cancel_wait(op, -ECANCELED)

    # ------------------------------------------------------------- epoll side

    cdef int register_wakefd(self) except -1:
        cdef epoll_event ev
        ev.events = EPOLLIN
        ev.data.ptr = NULL
        if epoll_ctl(self.epfd, EPOLL_CTL_ADD, self.wakefd, &ev) < 0:
            raise _oserror(errno)
        return 0

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
            raise _oserror(errno)
        h.registered = True
        return 0

    cdef int wait_ready(self, Fiber f, Handle h, bint write) except -1:
        """epoll: park f until h is readable/writable. Raises on cancellation."""
        cdef Op op = Op.__new__(Op)
        if f.interrupted and f.no_interrupt == 0:
            # Woken by readiness but the retried call found nothing (another
            # waiter took the data): an interruption that arrived meanwhile
            # found no wait to cancel, so it is raised before waiting again.
            raise FiberInterrupted()
        self.ensure_registered(h)
        if not h.pollable:
            return 0
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
        f.waiter = op
        try:
            self.switch_to_hub(f)
        finally:
            f.waiter = None
            if op.pending:
                self.unlink_wait(op)
        if op.res < 0:
            if op.interrupted:
                raise FiberInterrupted()
            raise _oserror(-op.res)
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

    cdef void cancel_wait(self, Op op, int res):
        if not op.pending:
            return
        self.unlink_wait(op)
        op.res = res
        if op.fiber is not None:
            self.ready.append(op.fiber)

    cdef int poll_epoll(self, bint block) except -1:
        cdef epoll_event events[EPOLL_BATCH]
        cdef int n, i, timeout_ms
        cdef double timeout
        cdef Handle h
        cdef Op op
        cdef uint32_t ev
        cdef list lst
        global _pwait2_missing
        cdef timespec ts
        cdef int err = 0
        n = -1
        if block:
            timeout = self.next_timeout()
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
            raise _oserror(err)
        for i in range(n):
            if events[i].data.ptr == NULL:
                self.drain_wakefd()
                continue
            if events[i].data.ptr == <void *>self:
                self.drain_sigfd()         # the handlers run below
                continue
            h = <Handle>events[i].data.ptr
            ev = events[i].events
            if ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP | EPOLLPRI):
                if h.rwait:
                    lst = h.rwait
                    h.rwait = []
                    for op in lst:
                        op.waitlist = None
                        self.cancel_wait(op, 0)
            if ev & (EPOLLOUT | EPOLLERR | EPOLLHUP):
                if h.wwait:
                    lst = h.wwait
                    h.wwait = []
                    for op in lst:
                        op.waitlist = None
                        self.cancel_wait(op, 0)
        if block:
            PyErr_CheckSignals()           # see poll_uring
        return 0

    cdef void drain_wakefd(self):
        cdef uint64_t v
        c_read(self.wakefd, &v, 8)

    # --------------------------------------------------- cross-thread posting

    def post(self, func):
        """Run func() in this engine's thread (thread-safe; wakes the hub)."""
        cdef uint64_t one = 1
        with self.post_lock:
            self.posted.append(func)
        c_write(self.wakefd, &one, 8)

    cdef void run_posted(self):
        with self.post_lock:
            items = self.posted
            self.posted = []
        for func in items:
            try:
                func()
            except BaseException as e:
                self.terminate(e, "a posted callback raised")

    # -------------------------------------------------------------- shutdown

    cdef void shutdown(self):
        """Stop every fiber, cancel every op and wait for the kernel to let go."""
        cdef Fiber f
        cdef int rounds = 0
        self.closing = True
        self.stopping = True
        for f in sorted(self.live, key=lambda f: (<Fiber>f).serial):
            g = f.glet
            if f.state == FIBER_NEW:
                # Never ran: its (possibly pooled) greenlet has no frame of
                # this fiber to unwind.
                f.glet = None
            elif g is not None and g:
                try:
                    self.current = f
                    g.throw(_Shutdown)
                except BaseException:
                    pass
                finally:
                    self.current = None
            elif g is not None:
                f.glet = None
        self.live.clear()
        self.ready.clear()
        self.idle_glets.clear()        # each dies by GreenletExit in its pool wait
        if self.uring and self.ring_ready:
            self.cancel_everything()
            while self.inflight > 0 and rounds < 1000:
                self.poll_uring_shutdown()
                rounds += 1
        self.timers = []
        self.ntimers = 0

    cdef void cancel_everything(self):
        cdef io_uring_sqe *sqe = io_uring_get_sqe(&self.ring)
        if sqe == NULL:
            io_uring_submit(&self.ring)
            sqe = io_uring_get_sqe(&self.ring)
        if sqe != NULL:
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ALL | (1 << 2))
            io_uring_sqe_set_data64(sqe, CANCEL_TAG)
        io_uring_submit(&self.ring)

    cdef void poll_uring_shutdown(self):
        cdef __kernel_timespec ts
        cdef io_uring_cqe *cqe = NULL
        ts.tv_sec = 0
        ts.tv_nsec = 10000000
        with nogil:
            io_uring_submit_and_wait_timeout(&self.ring, &cqe, 1, &ts, NULL)
        self.reap_uring()

    # ---------------------------------------------------------------- timers

    def sleep(self, double seconds):
        """Park the current fiber for at least *seconds*. Interruption point."""
        cdef Fiber f = self.enter()
        return self.park_timer(f, monotonic() + (seconds if seconds > 0 else 0.0), None)

    def wait_timer(self, Timer t, double deadline):
        cdef Fiber f = self.enter()
        return self.park_timer(f, deadline, t)

    cdef object park_timer(self, Fiber f, double deadline, Timer t):
        cdef Op op = Op.__new__(Op)
        op.fiber = f
        op.deadline = deadline if deadline > 0 else 1e-9
        op.timer = t
        op.pending = True
        self.seq += 1
        heapq.heappush(self.timers, (op.deadline, self.seq, op))
        self.ntimers += 1
        if t is not None:
            t.waiting.append(op)
        f.waiter = op
        try:
            self.switch_to_hub(f)
        finally:
            f.waiter = None
            if op.pending:
                self.finish_timer(op, -ECANCELED)
                op.fiber = None
        if op.res < 0:
            if op.interrupted:
                raise FiberInterrupted()
            raise _oserror(-op.res)
        return None

    def new_timer(self):
        return Timer(self)

    # ------------------------------------------------------------ socket ops

    def handle(self, int fd):
        """Wrap an fd the engine now owns (it must be O_NONBLOCK and O_CLOEXEC)."""
        return Handle(self, fd)

    cdef inline int get_view(self, Op op, object buf, bint writable) except -1:
        PyObject_GetBuffer(buf, &op.view, PyBUF_WRITABLE if writable else PyBUF_SIMPLE)
        op.has_view = True
        return 0

    cdef inline int finish(self, Op op) except -1:
        if op.res >= 0:
            return op.res
        if op.interrupted and (op.res == -ECANCELED or op.res == -EINTR):
            raise FiberInterrupted()
        raise _oserror(-op.res)

    cdef inline int submit_and_park(self, Fiber f, Op op, io_uring_sqe *sqe,
                                    Handle h) except -1:
        """Tag the prepared SQE with its Op, count it in flight and park f on it."""
        io_uring_sqe_set_data64(sqe, <uint64_t><void *>op)
        self.submitted(op, h)
        return self.park_op(f, op)

    cdef int park_op(self, Fiber f, Op op) except -1:
        op.fiber = f
        f.waiter = op
        try:
            self.switch_to_hub(f)
        except BaseException:
            # Unwound while parked (its VM ended): nobody takes the result.
            # An fd it brings is closed now, or when the op completes.
            if op.pending:
                op.abandoned = True
            else:
                op.drop_result()
            raise
        finally:
            f.waiter = None
            op.fiber = None
        return self.finish(op)

    cpdef int recv(self, Handle h, object buf, int flags=0) except -1:
        """Receive into buf; returns the count (0: end of stream). Interruption point."""
        cdef Fiber f = self.enter()
        cdef Op op
        cdef io_uring_sqe *sqe
        cdef Py_buffer view
        cdef ssize_t n
        if h.closed:
            raise _oserror(EBADF)
        if self.uring:
            op = Op.__new__(Op)
            self.get_view(op, buf, True)
            sqe = self.get_sqe()
            io_uring_prep_recv(sqe, h.fd, op.view.buf, op.view.len, flags)
            return self.submit_and_park(f, op, sqe, h)
        PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
        try:
            while True:
                n = recv(h.fd, view.buf, view.len, flags | MSG_DONTWAIT)
                if n >= 0:
                    return n
                if errno != EAGAIN:
                    raise _oserror(errno)
                self.wait_ready(f, h, False)
                if h.closed:
                    raise _oserror(ECANCELED)
        finally:
            PyBuffer_Release(&view)

    cpdef int send(self, Handle h, object buf, int flags=0) except -1:
        """Send from buf; returns the count written. Interruption point.

        Sends directly first and parks only when the socket buffer is full:
        parking on a send that could complete at once doubles the switches.
        """
        cdef Fiber f = self.enter()
        cdef Op op
        cdef io_uring_sqe *sqe
        cdef Py_buffer view
        cdef ssize_t n
        if h.closed:
            raise _oserror(EBADF)
        PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
        try:
            while True:
                n = send(h.fd, view.buf, view.len, flags | MSG_DONTWAIT | MSG_NOSIGNAL)
                if n >= 0:
                    return n
                if errno != EAGAIN:
                    raise _oserror(errno)
                if self.uring:
                    break
                self.wait_ready(f, h, True)
                if h.closed:
                    raise _oserror(ECANCELED)
        finally:
            PyBuffer_Release(&view)
        op = Op.__new__(Op)
        self.get_view(op, buf, False)
        sqe = self.get_sqe()
        io_uring_prep_send(sqe, h.fd, op.view.buf, op.view.len, flags | MSG_NOSIGNAL)
        return self.submit_and_park(f, op, sqe, h)

    cpdef int read(self, Handle h, object buf, long long offset=-1) except -1:
        """read(2)/pread(2) into buf (pipes, ttys, files). Interruption point."""
        cdef Fiber f = self.enter()
        cdef Op op
        cdef io_uring_sqe *sqe
        cdef Py_buffer view
        cdef ssize_t n
        if h.closed:
            raise _oserror(EBADF)
        if self.uring:
            op = Op.__new__(Op)
            self.get_view(op, buf, True)
            sqe = self.get_sqe()
            io_uring_prep_read(sqe, h.fd, op.view.buf, op.view.len, <uint64_t>offset)
            return self.submit_and_park(f, op, sqe, h)
        PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
        try:
            while True:
                if offset >= 0:
                    n = os.preadv(h.fd, [memoryview(buf)[:view.len]], offset)
                    return n
                self.ensure_registered(h)
                if h.registered:
                    n = c_read(h.fd, view.buf, view.len)
                    if n >= 0:
                        return n
                    if errno != EAGAIN:
                        raise _oserror(errno)
                    self.wait_ready(f, h, False)
                    if h.closed:
                        raise _oserror(ECANCELED)
                else:
                    n = c_read(h.fd, view.buf, view.len)
                    if n < 0:
                        raise _oserror(errno)
                    return n
        finally:
            PyBuffer_Release(&view)

    cpdef int write(self, Handle h, object buf, long long offset=-1) except -1:
        """write(2)/pwrite(2) from buf. Interruption point."""
        cdef Fiber f = self.enter()
        cdef Op op
        cdef io_uring_sqe *sqe
        cdef Py_buffer view
        cdef ssize_t n
        if h.closed:
            raise _oserror(EBADF)
        if self.uring:
            op = Op.__new__(Op)
            self.get_view(op, buf, False)
            sqe = self.get_sqe()
            io_uring_prep_write(sqe, h.fd, op.view.buf, op.view.len, <uint64_t>offset)
            return self.submit_and_park(f, op, sqe, h)
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
                    raise _oserror(errno)
                self.wait_ready(f, h, True)
                if h.closed:
                    raise _oserror(ECANCELED)
        finally:
            PyBuffer_Release(&view)

    cpdef int accept(self, Handle h) except -1:
        """accept4(2) a connection; returns the new fd (O_NONBLOCK, O_CLOEXEC)."""
        cdef Fiber f = self.enter()
        cdef Op op
        cdef io_uring_sqe *sqe
        cdef int fd
        if h.closed:
            raise _oserror(EBADF)
        if self.uring:
            op = Op.__new__(Op)
            sqe = self.get_sqe()
            io_uring_prep_accept(sqe, h.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)
            op.fd_result = True
            return self.submit_and_park(f, op, sqe, h)
        while True:
            fd = accept4(h.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)
            if fd >= 0:
                return fd
            if errno != EAGAIN:
                raise _oserror(errno)
            self.wait_ready(f, h, False)
            if h.closed:
                raise _oserror(ECANCELED)

    cpdef int connect(self, Handle h, bytes sockaddr_bytes) except -1:
        """connect(2) to a raw sockaddr. Interruption point."""
        cdef Fiber f = self.enter()
        cdef Op op = Op.__new__(Op)
        cdef io_uring_sqe *sqe
        cdef int err = 0
        cdef socklen_t errlen = sizeof(int)
        cdef Py_ssize_t alen = len(sockaddr_bytes)
        if h.closed:
            raise _oserror(EBADF)
        if alen > <Py_ssize_t>sizeof(sockaddr_storage) or alen < 2:
            raise _oserror(EINVAL)
        memcpy(&op.addr, <char *>sockaddr_bytes, alen)
        op.addrlen = <socklen_t>alen
        if self.uring:
            sqe = self.get_sqe()
            io_uring_prep_connect(sqe, h.fd, <sockaddr *>&op.addr, op.addrlen)
            return self.submit_and_park(f, op, sqe, h)
        if connect(h.fd, <sockaddr *>&op.addr, op.addrlen) == 0:
            return 0
        if errno != EINPROGRESS:
            raise _oserror(errno)
        try:
            self.wait_ready(f, h, True)
        except FiberInterrupted:
            raise
        if h.closed:
            raise _oserror(ECANCELED)
        if getsockopt(h.fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0:
            raise _oserror(errno)
        if err != 0:
            raise _oserror(err)
        return 0

    cpdef int poll(self, Handle h, bint write=False, bint error=False) except -1:
        """Wait until h is readable, writable, or (error) has urgent data or an
        error pending (POLLPRI, POLLERR, POLLHUP). Interruption point."""
        cdef Fiber f = self.enter()
        cdef Op op
        cdef io_uring_sqe *sqe
        cdef int events = POLLPRI if error else (POLLOUT if write else POLLIN)
        cdef int res
        import select
        if h.closed:
            raise _oserror(EBADF)
        # Error waits re-check the level after each wake-up: neither backend
        # reports POLLPRI exactly (below), and a wake-up for in-band data
        # must not end the wait.
        poller = select.poll()
        poller.register(h.fd, events)
        if self.uring:
            while True:
                op = Op.__new__(Op)
                sqe = self.get_sqe()
                # POLLERR/POLLHUP always count. io_uring completes a poll with
                # the wake-up key, and sock_def_readable() wakes with
                # EPOLLPRI|EPOLLRDBAND for any data; its wake filter ignores
                # EPOLLPRI (IO_ASYNC_POLL_COMMON, io_uring/poll.c), so a
                # POLLPRI-only poll never wakes at all. Ask for POLLRDBAND too
                # (TCP never sets it) and check POLLPRI ourselves.
                io_uring_prep_poll_add(sqe, h.fd, events | (select.POLLRDBAND if error else 0))
                res = self.submit_and_park(f, op, sqe, h)
                if not error or poller.poll(0):
                    return res
                if h.closed:
                    raise _oserror(ECANCELED)
                self.enter()
        # The registration is edge-triggered and an edge seen earlier (by the
        # hub or another op) is not reported again: check the level first.
        # Urgent data has no waiter list of its own: it arrives with an
        # EPOLLIN edge (tcp_urg wakes readers), so error waits ride on the
        # read list.
        while True:
            if poller.poll(0):
                return 0
            self.wait_ready(f, h, write and not error)
            if h.closed:
                raise _oserror(ECANCELED)
            if not error:
                return 0
            self.enter()

    cpdef object recvmsg(self, Handle h, object buf, Py_ssize_t ancbufsize, int flags=0):
        """recvmsg(2): returns (nbytes, ancillary bytes, msg_flags). Interruption point.

        Received fds get MSG_CMSG_CLOEXEC.
        """
        cdef Fiber f = self.enter()
        cdef Op op = Op.__new__(Op)
        cdef io_uring_sqe *sqe
        cdef ssize_t n
        cdef int res
        if h.closed:
            raise _oserror(EBADF)
        self.get_view(op, buf, True)
        op.control = bytearray(ancbufsize)
        op.iov.iov_base = op.view.buf
        op.iov.iov_len = op.view.len
        memset(&op.msg, 0, sizeof(msghdr))
        op.msg.msg_iov = &op.iov
        op.msg.msg_iovlen = 1
        if ancbufsize > 0:
            op.msg.msg_control = <char *>op.control
            op.msg.msg_controllen = ancbufsize
        flags |= MSG_CMSG_CLOEXEC
        if self.uring:
            sqe = self.get_sqe()
            io_uring_prep_recvmsg(sqe, h.fd, &op.msg, flags)
            res = self.submit_and_park(f, op, sqe, h)
        else:
            try:
                while True:
                    n = recvmsg(h.fd, &op.msg, flags | MSG_DONTWAIT)
                    if n >= 0:
                        res = n
                        break
                    if errno != EAGAIN:
                        raise _oserror(errno)
                    self.wait_ready(f, h, False)
                    if h.closed:
                        raise _oserror(ECANCELED)
            finally:
                op.release()
        return (res, bytes(op.control[:op.msg.msg_controllen]) if ancbufsize > 0 else b"",
                op.msg.msg_flags)

    cpdef int sendmsg(self, Handle h, object buf, bytes control, int flags=0) except -1:
        """sendmsg(2) with ancillary data (e.g. SCM_RIGHTS). Interruption point."""
        cdef Fiber f = self.enter()
        cdef Op op = Op.__new__(Op)
        cdef io_uring_sqe *sqe
        cdef ssize_t n
        if h.closed:
            raise _oserror(EBADF)
        self.get_view(op, buf, False)
        op.control = bytearray(control)
        op.iov.iov_base = op.view.buf
        op.iov.iov_len = op.view.len
        memset(&op.msg, 0, sizeof(msghdr))
        op.msg.msg_iov = &op.iov
        op.msg.msg_iovlen = 1
        if len(control) > 0:
            op.msg.msg_control = <char *>op.control
            op.msg.msg_controllen = len(control)
        try:
            n = sendmsg(h.fd, &op.msg, flags | MSG_DONTWAIT | MSG_NOSIGNAL)
            if n >= 0:
                return n
            if errno != EAGAIN:
                raise _oserror(errno)
            if not self.uring:
                while True:
                    self.wait_ready(f, h, True)
                    if h.closed:
                        raise _oserror(ECANCELED)
                    n = sendmsg(h.fd, &op.msg, flags | MSG_DONTWAIT | MSG_NOSIGNAL)
                    if n >= 0:
                        return n
                    if errno != EAGAIN:
                        raise _oserror(errno)
        finally:
            if not self.uring:
                op.release()
        sqe = self.get_sqe()
        io_uring_prep_sendmsg(sqe, h.fd, &op.msg, flags | MSG_NOSIGNAL)
        return self.submit_and_park(f, op, sqe, h)

    # ------------------------------------------------------------ debugging

    def stats(self):
        """Counters for tests: ops in flight, timers, live fibers."""
        return {"inflight": self.inflight, "timers": self.ntimers, "fibers": len(self.live),
                "ready": len(self.ready), "backend": self.backend}


def raw_connect(int fd, bytes sockaddr_bytes):
    """connect(2) without waiting (e.g. AF_UNSPEC to dissolve an association)."""
    cdef sockaddr_storage ss
    cdef Py_ssize_t alen = len(sockaddr_bytes)
    if alen > <Py_ssize_t>sizeof(sockaddr_storage) or alen < 2:
        raise _oserror(EINVAL)
    memcpy(&ss, <char *>sockaddr_bytes, alen)
    if connect(fd, <sockaddr *>&ss, <socklen_t>alen) < 0:
        raise _oserror(errno)


# ------------------------------------------------------ sync primitives
#
# Manual: "mutex", "condition_variable". They live in the core because a
# lock/unlock pair is on the hot path of any program that shares an IO object
# between fibers; bench/sync.py measures them. Waking a fiber is a post: it is
# appended to its proactor's ready queue and runs when the waker suspends.


cdef inline Fiber _sync_caller(str what):
    cdef Proactor p = current()
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
    cdef bint locked
    cdef Fiber owner              # the fiber that took it last (diagnostics, wait())
    cdef object waiters           # deque of Fiber

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
        f.waiter = self
        try:
            f.proactor.switch_to_hub(f)
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
        finally:
            f.waiter = None
        return 0

    def unlock(self):
        """Unlock the mutex; the longest waiter, if any, now owns it.

        Raises OSError(EPERM) if the mutex is not locked. Any fiber may
        unlock it, as in the manual's engine. Never suspends.
        """
        if not self.locked:
            raise _oserror(EPERM)
        self.release()

    cdef void release(self):
        cdef Fiber nxt
        if self.waiters:
            nxt = <Fiber>self.waiters.popleft()
            self.owner = nxt
            nxt.proactor.ready.append(nxt)
        else:
            self.locked = False
            self.owner = None

    def cancel(self, Fiber f):
        # Waiter protocol of Proactor.withdraw(): interruption never takes a
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
    cdef object waiters           # deque of Fiber

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
        if not m.locked or m.owner is not f:
            raise _oserror(EPERM)
        f.proactor.check_park(f)
        self.waiters.append(f)
        m.release()
        f.waiter = self
        f.cancelled_wait = False
        try:
            f.proactor.switch_to_hub(f)
        except BaseException:
            try:
                self.waiters.remove(f)
            except ValueError:
                pass
            raise
        finally:
            f.waiter = None
        if not m.locked:
            m.locked = True
            m.owner = f
        else:
            m.park(f)
        if f.cancelled_wait:
            f.cancelled_wait = False
            raise FiberInterrupted()

    def notify_one(self):
        """Wake the longest waiter, if any. Never suspends."""
        cdef Fiber f
        if self.waiters:
            f = <Fiber>self.waiters.popleft()
            f.proactor.ready.append(f)

    def notify_all(self):
        """Wake every waiter, in the order they started waiting. Never suspends."""
        cdef Fiber f
        waiters = self.waiters
        while waiters:
            f = <Fiber>waiters.popleft()
            f.proactor.ready.append(f)

    def cancel(self, Fiber f):
        # Waiter protocol of Proactor.withdraw(): an interrupted waiter that
        # was not notified yet leaves the queue.
        try:
            self.waiters.remove(f)
        except ValueError:
            return False
        return True

    def __repr__(self):
        return "<condition_variable at 0x%x, %d waiting>" % (id(self), len(self.waiters))


# ------------------------------------------------------------------ actors
#
# The message path between actors of one process (manual: "Communication",
# "Channels and resources"); emilua/_actor.py builds VMs, sender accounting
# and process mailboxes on top of it.
#
# A send is a rendezvous. The sender deep-copies the message (channels
# travel as new addresses, IO objects are moved, see _actor.py) and hands it
# straight to a receiver parked in receive(), or queues a SendOp and parks
# until a receiver takes it, the inbox closes, or it is interrupted (which
# withdraws the message). An op of a sender on another thread is "remote":
# its state changes under _send_lock, because the sender's thread may
# withdraw it while the mailbox's thread takes it; every other op is only
# ever touched by the one thread that runs both sides.


class ChannelClosedError(Exception):
    """The channel (or the inbox it addresses) is closed."""

    errno = _errno.EPIPE

    def __init__(self, msg="channel closed"):
        super().__init__(msg)


class NoSendersError(Exception):
    """inbox.receive() with no live sender anywhere: nothing can ever arrive."""

    def __init__(self, msg="no senders"):
        super().__init__(msg)


cdef enum:
    SEND_PENDING = 0
    SEND_TAKEN = 1
    SEND_WITHDRAWN = 2
    SEND_REJECTED = 3

cdef object _send_lock = threading.Lock()
cdef object _NOTHING = object()     # take_queued(): no message waits

# Set by emilua._actor (set_actor_hooks): the parts of a message's journey
# that are rare and need the Python layer.
cdef object _copy_other = None      # (value, path, moves) -> copy: IO objects, spans, subclasses
cdef object _detach_moves = None    # (moves) -> None: take the fds of moved IO objects
cdef object _restore_moves = None   # (moves) -> None: a send failed, give them back
cdef object _rebuild = None         # (value, proactor) -> message with IO objects rebuilt
cdef object _current_vm = None      # () -> the calling VM (creates the main VM)


def set_actor_hooks(copy_other, detach_moves, restore_moves, rebuild, current_vm):
    global _copy_other, _detach_moves, _restore_moves, _rebuild, _current_vm
    _copy_other = copy_other
    _detach_moves = detach_moves
    _restore_moves = restore_moves
    _rebuild = rebuild
    _current_vm = current_vm


@cython.final
cdef class Carrier:
    """A message carrying moved IO objects; other messages travel unwrapped."""
    cdef public object msg

    def __cinit__(self, msg):
        self.msg = msg


cdef inline bint _is_leaf(object v):
    """An immutable value that a copy may share: exact builtin scalar types."""
    t = type(v)
    return (v is None or t is int or t is str or t is float or t is bool
            or t is bytes)


cdef object _copy_value(object v, set path, list moves):
    """A deep copy of one message value (path: ids of the enclosing containers)."""
    if _is_leaf(v):
        return v
    t = type(v)
    if t is tuple or t is list or t is dict:
        return _copy_container(v, path, moves)
    if t is Channel:
        return (<Channel>v)._clone()
    if v is inbox:
        # Sending the rx-end sends an address: the receiver gets a tx-channel.
        return _current_vm().address()
    if path is None:
        path = set()
    return _copy_other(v, path, moves)


cdef object _copy_container(object v, set path, list moves):
    cdef Py_ssize_t i, n
    t = type(v)
    # A container of leaves cannot close a cycle: copy it without bookkeeping.
    # A tuple of leaves is immutable all the way down and is shared.
    if t is dict:
        for k, x in (<dict>v).items():
            if not (_is_leaf(k) and _is_leaf(x)):
                break
        else:
            return (<dict>v).copy()
    else:
        for x in v:
            if not _is_leaf(x):
                break
        else:
            return v if t is tuple else list(<list>v)
    if path is None:
        path = set()
    key = id(v)
    if key in path:
        raise ValueError("a message cannot contain a reference cycle")
    path.add(key)
    try:
        if t is dict:
            return {_copy_value(k, path, moves): _copy_value(x, path, moves)
                    for k, x in (<dict>v).items()}
        items = [_copy_value(x, path, moves) for x in v]
        return tuple(items) if t is tuple else items
    finally:
        path.discard(key)


def copy_message(value, path, list moves):
    """A deep copy of *value* for a channel; moved IO objects go to *moves*.

    For the Python layer (container subclasses found by ``_copy_other``)."""
    return _copy_value(value, path, moves)


cdef inline object _materialize(object msg, Proactor p):
    """Receiver side: the message, its moved IO objects rebuilt on p."""
    if type(msg) is Carrier:
        return _rebuild((<Carrier>msg).msg, p)
    return msg


def materialize(msg, Proactor p):
    return _materialize(msg, p)


@cython.final
cdef class SendOp:
    """A message waiting for a receiver, and its sender.

    ``parked`` is true only while the sender is parked for this send; it is
    read and written on the sender's thread only. A message can be taken
    before its sender parks (a receiver was already waiting), and a fiber
    that is not parked must not be made ready: it would resume from whatever
    it parks on next.
    """
    cdef public object msg
    cdef public list moves
    cdef public int state
    cdef public Fiber fiber
    cdef public Proactor proactor
    cdef public MailboxBase target
    cdef public bint remote
    cdef public bint parked

    cdef bint claim(self, int state) except -1:
        """PENDING -> state. False when the op was settled or withdrawn already."""
        if self.remote:
            with _send_lock:
                if self.state != SEND_PENDING:
                    return False
                self.state = state
            return True
        if self.state != SEND_PENDING:
            return False
        self.state = state
        return True

    def cancel(self, Fiber fiber):
        # Waiter protocol of Proactor.withdraw(): the interrupted sender
        # withdraws its message unless a receiver took it already.
        if not self.claim(SEND_WITHDRAWN):
            return False
        if self.remote:
            self.proactor.keepalive -= 1
        return True

    def settle(self, int state):
        """On the mailbox's thread: the message is taken or rejected."""
        if self.claim(state):
            self.notify()

    cdef int notify(self) except -1:
        """The message was taken or rejected: resume the sender."""
        if self.remote:
            self.proactor.post(self._wake_remote)
        elif self.parked:
            self.proactor.ready.append(self.fiber)
        return 0

    def _wake_remote(self):
        # On the sender's thread.
        self.proactor.keepalive -= 1
        if self.parked:
            self.proactor.ready.append(self.fiber)

    def _offer(self):
        # Posted to the mailbox's thread by a remote sender.
        self.target.offer(self)

    def __repr__(self):
        return "channel send"


@cython.final
cdef class ReceiveOp:
    """A fiber parked in inbox.receive(), and what it is handed."""
    cdef public MailboxBase box
    cdef public object value
    cdef public object error
    cdef public Fiber fiber

    def __cinit__(self, MailboxBase box, Fiber fiber):
        self.box = box
        self.fiber = fiber

    def cancel(self, Fiber fiber):
        if self.box.receiver is self:
            self.box.receiver = None
            return True
        return False

    def __repr__(self):
        return "inbox.receive() of %r" % (self.box.vm,)


cdef class MailboxBase:
    """The receiving side of a VM's inbox; lives on the VM's proactor thread.

    ``plain`` is cleared by mailboxes that read sockets too (process
    mailboxes, emilua/_process_actor.py), whose receive() is their own.
    """
    cdef public Proactor p
    cdef public object vm
    cdef public bint closed
    cdef public object queue          # deque of SendOp
    cdef public ReceiveOp receiver
    cdef public Py_ssize_t nsenders
    cdef public bint kept_alive
    cdef public set incoming          # remote sends posted, not offered yet
    cdef public bint plain

    def __cinit__(self, *args, **kwargs):
        self.queue = deque()
        self.incoming = set()
        self.plain = True

    def __init__(self, Proactor p, vm):
        self.p = p
        self.vm = vm

    def _release_keepalive(self):
        if self.kept_alive:
            self.kept_alive = False
            self.p.keepalive -= 1

    def offer(self, SendOp op):
        """On the mailbox's thread: a sender's message arrives."""
        cdef ReceiveOp r
        if op.remote:
            with _send_lock:
                self.incoming.discard(op)
        if self.closed:
            op.settle(SEND_REJECTED)
            return
        r = self.receiver
        if r is not None:
            if not op.claim(SEND_TAKEN):
                return
            self.receiver = None
            r.value = op.msg
            # The sender's op must not keep the message (and the addresses
            # in it) alive once the receiver owns it.
            op.msg = None
            self.p.ready.append(r.fiber)
            op.notify()
            return
        self.queue.append(op)

    cdef object take_queued(self):
        """The first queued send's message (its sender released), or _NOTHING."""
        cdef SendOp op
        queue = self.queue
        while queue:
            op = <SendOp>queue.popleft()
            if not op.claim(SEND_TAKEN):
                continue
            msg = op.msg
            op.msg = None
            op.notify()
            return msg
        return _NOTHING

    def take(self):
        """(True, message) for the first queued send, or (False, None)."""
        msg = self.take_queued()
        if msg is _NOTHING:
            return False, None
        return True, msg

    cdef object receive_in(self, Proactor p, Fiber f):
        cdef ReceiveOp r
        if f is None:
            raise RuntimeError("inbox.receive() outside of a fiber")
        if self.closed:
            raise ChannelClosedError()
        if self.receiver is not None:
            raise _oserror_msg(EBUSY, "another fiber is already receiving on this inbox")
        # An interruption point even when a message is waiting: a pending
        # interruption raises here and the message stays queued.
        p.check_park(f)
        msg = self.take_queued()
        if msg is not _NOTHING:
            return _materialize(msg, p)
        if self.nsenders == 0:
            raise NoSendersError()
        r = ReceiveOp.__new__(ReceiveOp, self, f)
        self.receiver = r
        f.waiter = r
        f.cancelled_wait = False
        try:
            p.switch_to_hub(f)
        finally:
            f.waiter = None
            if self.receiver is r:
                self.receiver = None
        if f.cancelled_wait:
            f.cancelled_wait = False
            raise FiberInterrupted()
        if r.error is not None:
            err = r.error
            r.error = None
            raise err
        msg = r.value
        r.value = None
        return _materialize(msg, p)

    def receive(self):
        cdef Proactor p = self.p
        if p is None:
            raise TypeError("this mailbox has no proactor")
        return self.receive_in(p, p.current)

    def close(self):
        cdef SendOp op
        cdef ReceiveOp r
        if self.closed:
            return
        with _send_lock:
            self.closed = True
            incoming = list(self.incoming)
            self.incoming.clear()
        self._release_keepalive()
        for op in incoming:
            op.settle(SEND_REJECTED)
        while self.queue:
            op = <SendOp>self.queue.popleft()
            op.settle(SEND_REJECTED)
        r = self.receiver
        if r is not None:
            self.receiver = None
            r.error = ChannelClosedError()
            self.p.ready.append(r.fiber)


cdef object _oserror_msg(int err, str msg):
    return OSError(err, msg)


cdef class Channel:
    """A tx-channel: the address of an actor (manual: "Communication").

    Copies of an address compare equal. While it exists it keeps the target
    VM's execution context alive; ``close()`` (or the GC) lets it go.
    """
    cdef readonly MailboxBase _box
    cdef readonly bint _open
    cdef object __weakref__

    def __init__(self, MailboxBase box not None):
        self._box = box
        self._open = True
        box.add_sender()

    def _clone(self):
        if not self._open:
            raise ChannelClosedError()
        return Channel(self._box)

    def send(self, msg):
        """Send a deep copy of *msg*; park until a receiver takes it.

        Interruption point: an interrupted send withdraws its message.
        Raises ChannelClosedError if the target's inbox is (or gets) closed,
        TypeError for unsendable values, OSError(EBUSY) for an IO object with
        an operation in flight.
        """
        cdef Proactor p
        cdef Fiber f
        cdef MailboxBase box
        cdef ReceiveOp r
        cdef SendOp op
        cdef list moves
        if not self._open:
            raise ChannelClosedError()
        p = current()
        if p is None:
            raise RuntimeError(
                "no emilua engine runs in this thread (start one with emilua.run() "
                "or the emilua command)")
        f = p.current
        if f is None:
            raise RuntimeError("send() outside of a fiber")
        # An interruption point even when a receiver takes the message at
        # once: a pending interruption raises before anything is sent.
        p.check_park(f)
        moves = []
        copy = _copy_value(msg, None, moves)
        if moves:
            copy = Carrier(copy)
            _detach_moves(moves)
        box = self._box
        if box.p is p:
            if box.closed:
                if moves:
                    _restore_moves(moves)
                raise ChannelClosedError()
            r = box.receiver
            if r is not None:
                # Immediate delivery: the receiver already waits.
                box.receiver = None
                r.value = copy
                p.ready.append(r.fiber)
                return
        op = SendOp.__new__(SendOp)
        op.msg = copy
        op.moves = moves
        op.fiber = f
        op.proactor = p
        op.target = box
        op.state = SEND_PENDING
        if box.p is p:
            box.queue.append(op)
        else:
            op.remote = True
            with _send_lock:
                if box.closed:
                    op.state = SEND_REJECTED
                else:
                    box.incoming.add(op)
            if op.state == SEND_PENDING:
                p.keepalive += 1
                box.p.post(op._offer)
        if op.state == SEND_PENDING:
            op.parked = True
            f.waiter = op
            f.cancelled_wait = False
            try:
                p.switch_to_hub(f)
            except BaseException:
                # Unwound while parked (the VM ended): withdraw the message.
                if op.claim(SEND_WITHDRAWN):
                    if op.remote:
                        p.keepalive -= 1
                    if moves:
                        _restore_moves(moves)
                elif op.state != SEND_TAKEN and moves:
                    # Withdrawn by an interruption, or rejected by a closing inbox.
                    _restore_moves(moves)
                raise
            finally:
                op.parked = False
                f.waiter = None
            if f.cancelled_wait:
                # Withdrawn by the interruption (SendOp.cancel).
                f.cancelled_wait = False
                if moves:
                    _restore_moves(moves)
                raise FiberInterrupted()
        if op.state == SEND_REJECTED:
            if moves:
                _restore_moves(moves)
            raise ChannelClosedError()

    def close(self):
        """Drop this address (the target may exit once no address is left)."""
        if self._open:
            self._open = False
            self._box.drop_sender()

    def receive(self):
        raise TypeError("receive() is only valid on an inbox (this is a tx-channel)")

    def __del__(self):
        if self._open:
            self._open = False
            try:
                self._box.drop_sender()
            except Exception:
                pass

    def __eq__(self, other):
        return isinstance(other, Channel) and (<Channel>other)._box is self._box

    def __hash__(self):
        return id(self._box)

    def __repr__(self):
        if self._box is None:
            return "<channel to nothing>"
        return "<channel to %r>" % (self._box.vm,)

    def __reduce__(self):
        raise TypeError("channels cannot be pickled; send them over a channel")


@cython.final
cdef class Inbox:
    """The calling VM's inbox (manual: "Communication": ``inbox``)."""

    def receive(self):
        """Receive the next message. Interruption point.

        Checks, in order: inbox closed (ChannelClosedError), another fiber
        already receiving (OSError EBUSY), a queued message, no live sender
        anywhere (NoSendersError), else waits.
        """
        cdef Proactor p = current()
        cdef Fiber f = p.current if p is not None else None
        if f is not None and f.vm is not None:
            vm = f.vm
        else:
            vm = _current_vm()
        vm.inbox_used = True
        box = vm.mailbox
        if (<MailboxBase>box).plain:
            return (<MailboxBase>box).receive_in((<MailboxBase>box).p, f)
        return box.receive()

    def close(self):
        """Close the inbox: pending and future sends fail with ChannelClosedError."""
        vm = _current_vm()
        vm.inbox_used = True
        vm.mailbox.close()

    def send(self, msg):
        raise TypeError("send() is only valid on a tx-channel (this is the inbox)")

    def __repr__(self):
        return "<inbox>"


inbox = Inbox()


class _Shutdown(BaseException):
    """Thrown into fibers still parked when their VM ends."""
