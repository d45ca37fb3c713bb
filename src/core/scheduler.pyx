# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The fiber scheduler: fibers, the ready queue, park() and the hub loop.

One scheduler per OS thread that runs an engine. A fiber is a greenlet whose
parent is the hub: the greenlet that called ``run``. A fiber waits only by
``Scheduler.park()``; a wait ends only by ``Scheduler.resume()``, called by
whoever holds what the fiber waits on (a kernel op's completion, a timer, a
mutex handing itself over, a channel delivering a message). The hub switches
into the fibers that were resumed, in order.

The scheduler knows nothing of kernel IO: the engine above it (the Proactor,
proactor.pyx) supplies ``events_pending()`` and ``poll_events()``, which the
loop calls when no fiber is ready or between rounds.

What the core needs from the actor layer above it is declared here, not
imported: ``VmHooks`` (one per VM; the package's VM class derives from it)
and the cleanup-handler runner registered once with ``set_cleanup_runner``.
"""

cimport cython
from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF
from posix.unistd cimport close as c_close, write as c_write
from libc.errno cimport EINVAL, errno
from libc.stdint cimport uint64_t

from errno cimport EDEADLK
from greenlet cimport (
    PyGreenlet, PyGreenlet_GetCurrent, PyGreenlet_Import, PyGreenlet_Switch, _PyGreenlet_API,
)
from sys_eventfd cimport EFD_CLOEXEC, EFD_NONBLOCK, eventfd

import os
import sys
import threading
import traceback

from greenlet import getcurrent, greenlet

PyGreenlet_Import()
if _PyGreenlet_API == NULL:
    raise ImportError("greenlet's C API (greenlet._C_API) is unavailable")

# Debug builds (meson -Ddebug_counters=true) check the park contract: a
# resume() by anything but what the fiber is parked on raises RuntimeError.
cdef extern from *:
    """
    #ifdef EMILUA_DEBUG_COUNTERS
    #define EMILUA_CHECK_PARKS 1
    #else
    #define EMILUA_CHECK_PARKS 0
    #endif
    """
    const bint EMILUA_CHECK_PARKS

debug_build = bool(EMILUA_CHECK_PARKS)


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
    GLET_POOL = 1024          # finished fibers' greenlets kept for reuse (~4 KiB each)


class FiberInterrupted(BaseException):
    """Raised at an interruption point of a fiber whose interruption was requested.

    A BaseException so that ``except Exception`` does not swallow it (manual,
    "Interruption API").
    """


class DeadlockError(RuntimeError):
    """The main fiber waits on a primitive that nothing can signal any more."""


class _Shutdown(BaseException):
    """Thrown into fibers still parked when their VM ends."""


cdef object _oserror(int err):
    return OSError(err, os.strerror(err))


# Registered once by emilua._fiber (set_cleanup_runner): runs one scope's
# cleanup handlers, innermost first, the way the manual's scope() does.
cdef object _run_cleanup_handlers = None


def set_cleanup_runner(run_cleanup_handlers):
    """Register the callable that runs a list of scope cleanup handlers."""
    global _run_cleanup_handlers
    _run_cleanup_handlers = run_cleanup_handlers


cdef class Waiter:
    cdef int withdraw(self, Fiber f, bint interrupt) except -1:
        raise NotImplementedError


cdef class VmHooks:
    """The interface of a VM (an actor) as the core sees it.

    The actor layer derives its VM class from this one. The scheduler calls
    ``fiber_started``/``fiber_done`` for every fiber of the VM; the message
    path reads ``mailbox`` (the VM's MailboxBase), sets ``inbox_used`` and
    calls ``address()`` (a new tx-channel to the VM) when the inbox itself is
    sent. A mailbox whose last sender is gone calls ``senders_gone()``.
    """

    cpdef fiber_started(self, Fiber f):
        pass

    cpdef fiber_done(self, Fiber f):
        pass

    cpdef object address(self):
        raise NotImplementedError

    def senders_gone(self):
        pass


cdef class Fiber:
    """A fiber handle (manual, "Fibers")."""

    # Manual "Fibers": join() returns the values of the start function or
    # re-raises its error, and the fiber counts as joined either way.
    def join(self):
        """Wait for the fiber to end; return its result or re-raise its error.

        Interruption point. Raises OSError(EDEADLK) when joining oneself and
        OSError(EINVAL) when the handle is not joinable.
        """
        cdef Scheduler p = self.proactor
        cdef Fiber cur
        cdef _JoinWait w
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
            w = _JoinWait.__new__(_JoinWait, self)
            try:
                p.park_cancellable(cur, w)
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
            self.proactor.withdraw(self, True)

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
        cdef Scheduler p = self.proactor
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


@cython.final
cdef class _JoinWait:
    cdef Fiber target

    def __cinit__(self, Fiber target):
        self.target = target

    def cancel(self, Fiber waiter):
        # A target that already ended has made its joiner ready: the join
        # completed, so it returns the result and the interruption waits for
        # the next interruption point.
        if self.target.joiner is waiter and self.target.state != FIBER_DONE:
            # Withdrawn: the target's end must not resume the joiner again.
            self.target.joiner = None
            return True
        return False

    def __repr__(self):
        return "join(%r)" % (self.target,)


@cython.final
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
cdef unsigned long long _nengines = 0   # numbers engines, for fiber ids unique in the process


cpdef Scheduler current():
    """The engine running in this thread, or None."""
    if emilua_current_proactor == NULL:
        return None
    return <Scheduler>emilua_current_proactor


cdef class Scheduler:
    """Fibers and the hub loop of one engine, bound to one thread.

    Not used alone: the Proactor (proactor.pyx) derives from it and adds
    the IO backend and timers.
    """

    def __cinit__(self, *args, **kwargs):
        global _nengines
        _nengines += 1
        self.number = _nengines
        self.wakefd = -1
        self.ready = []
        self.spare = []
        self.live = set()
        self.idle_glets = []
        self.posted = []
        self.post_lock = threading.Lock()
        self.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
        if self.wakefd < 0:
            raise _oserror(errno)

    def __dealloc__(self):
        if self.wakefd >= 0:
            c_close(self.wakefd)
            self.wakefd = -1

    # ------------------------------------------------------------ park/resume

    cdef int park(self, Fiber f, object waiter) except -1:
        """Suspend fiber f, the running fiber, until its wait on *waiter* ends.

        The contract, which every suspending call of the core follows:

        - Caller: f's own greenlet, after check_park() (interruption points)
          or check_suspend() (suspending calls that are not interruption
          points) passed. *waiter* is what f waits on: a kernel Op, a timer
          wait, a mutex, a channel op, or a Python object of the package
          (suspend()). While parked, f.waiter is *waiter*.
        - Who may resume f: only the holder of *waiter*, through
          resume(f, waiter), once. That is the completion of the op (the hub
          reaping a CQE or an epoll event), the timer queue, the primitive
          handing itself over, or a withdrawal (below). A debug build
          (EMILUA_DEBUG_COUNTERS) raises RuntimeError on a resume by any
          other waiter, of a fiber that is not parked, or a second one.
        - Interruption: Fiber.interrupt() never switches to f. It calls
          withdraw(f), which asks *waiter* to give f up (a kernel op is
          cancelled and its own completion resumes f later; a Python waiter's
          cancel(f) returns True if it withdrew f, and the scheduler resumes
          f with f.cancelled_wait set). What the interruption means is read
          by the caller from the waiter (op.res, f.cancelled_wait) after park
          returns.
        - Returns 0 once resumed. Raises _Shutdown if f's VM ended while it
          was parked (it unwinds), and whatever the engine's teardown throws
          into f; f.waiter is cleared in every case.
        """
        f.waiter = waiter
        try:
            glet_switch(self.hub)
        finally:
            f.waiter = None
            if EMILUA_CHECK_PARKS:
                f.resumed = False
        if f.killed:
            # Its VM ended while it was parked: unwind it (finally blocks run).
            raise _Shutdown()
        return 0

    cdef int resume(self, Fiber f, object waiter) except -1:
        """End f's wait on *waiter*: f runs in the hub's next round (see park())."""
        if EMILUA_CHECK_PARKS:
            if waiter is None or f.waiter is not waiter:
                raise RuntimeError("resume of %r by %r, but it is parked on %r"
                                   % (f, waiter, f.waiter))
            if f.resumed:
                raise RuntimeError("%r resumed twice by %r" % (f, waiter))
            f.resumed = True
        self.ready.append(f)
        return 0

    cdef int park_cancellable(self, Fiber f, object waiter) except -1:
        """park() on a Python-protocol waiter; raises FiberInterrupted if an
        interruption withdrew f (waiter.cancel(f) returned True)."""
        f.cancelled_wait = False
        self.park(f, waiter)
        if f.cancelled_wait:
            f.cancelled_wait = False
            raise FiberInterrupted()
        return 0

    cdef int withdraw(self, Fiber f, bint interrupt) except -1:
        """Ask what f is parked on to give it up (interrupt() or its VM's end).

        The core's own waits (Waiter) withdraw themselves. Any other waiter
        follows the Python protocol: ``waiter.cancel(fiber)`` returns True if
        it withdrew the fiber, False if the fiber was already woken.
        """
        w = f.waiter
        if isinstance(w, Waiter):
            (<Waiter>w).withdraw(f, interrupt)
        elif w is not None:
            if w.cancel(f):
                if interrupt:
                    f.cancelled_wait = True
                self.resume(f, w)
        return 0

    # ------------------------------------------------------------------ fibers

    def spawn(self, func, *args):
        """Create a fiber running func(*args); post semantics (it runs later)."""
        return self.new_fiber(func, args, False)

    cdef Fiber new_fiber(self, object func, tuple args, bint is_main, VmHooks vm=None):
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

    def spawn_main(self, VmHooks vm, func, *args):
        """Create the main fiber of a VM that shares this engine."""
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

    cdef Fiber enter(self):
        """The current fiber, after the checks every interruption point makes."""
        cdef Fiber f = self.current
        self.check_park(f)
        return f

    def suspend(self, waiter):
        """Park the current fiber on a user-level primitive.

        ``waiter.cancel(fiber)`` is called on interruption; it returns True if
        it withdrew the fiber (which then raises FiberInterrupted) and False
        if the fiber was already woken. The primitive wakes the fiber with
        ``wake(fiber)``. Interruption point.
        """
        cdef Fiber f = self.enter()
        self.park_cancellable(f, waiter)

    def wake(self, Fiber f not None):
        """Make a fiber parked with suspend() ready to run.

        Raises RuntimeError if the fiber is not parked (a debug build also
        when it was resumed already).
        """
        if f.waiter is None:
            raise RuntimeError("wake() of %r, which is not parked" % (f,))
        self.resume(f, f.waiter)

    def yield_(self):
        """Let the other ready fibers run first. Interruption point."""
        self.yield_now(self.enter())

    cdef int yield_now(self, Fiber f) except -1:
        """Park f behind the fibers ready now (it resumes itself first)."""
        f.waiter = YIELD_WAIT
        self.resume(f, YIELD_WAIT)
        return self.park(f, YIELD_WAIT)

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
        cdef Fiber j
        f.state = FIBER_DONE
        f.glet = None
        self.live.discard(f)
        j = f.joiner
        if j is not None:
            # join() clears f.joiner when it resumes.
            try:
                self.resume(j, j.waiter)
            except BaseException as e:
                self.terminate(e, "resuming a joiner failed")
        if f.vm is not None and f.vm is not self.vm:
            # A VM sharing this engine: its own rules (actors), not the loop's.
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
        while f.scopes:
            handlers = f.scopes.pop()
            _run_cleanup_handlers(handlers)

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
        """End every fiber of *vm* (a VM sharing this engine) but the caller.

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
                self.withdraw(f, False)

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

    cdef int start_io(self) except -1:
        return 0

    cdef void stop_io(self):
        pass

    cdef void shutdown_io(self):
        pass

    cdef bint events_pending(self):
        return False

    cdef int poll_events(self, bint block) except -1:
        return 0

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
            self.start_io()
            mf = self.new_fiber(main, args, True)
            self.main_fiber = mf
            self.loop()
        finally:
            try:
                self.unwind_fibers()
                self.shutdown_io()
            finally:
                emilua_current_proactor = NULL
                self.stop_io()
                if self.wakefd >= 0:
                    c_close(self.wakefd)
                    self.wakefd = -1
                # The hub is this thread's main greenlet. An engine kept by a
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
                        if EMILUA_CHECK_PARKS and f.waiter is not None and not f.resumed:
                            raise RuntimeError("%r is ready but was never resumed" % (f,))
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
            if not self.ready and not self.events_pending():
                # Nothing can wake a fiber but another thread (keepalive) or
                # garbage whose finalizers change state (dropped channels).
                if self.on_idle is not None and self.offloaded <= 0 and self.idle_changed():
                    continue
                if self.keepalive <= 0:
                    if self.live:
                        self.report_deadlock()
                    return 0
            self.poll_events(not self.ready)

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
                self.deadlock = ("the main fiber waits on %r, which nothing can signal "
                                 "any more" % (w,))
        for w, fibers in groups.values():
            names = ", ".join(
                [f.id + (" (main)" if f.is_main else "") for f in fibers])
            try:
                sys.stderr.write("emilua: possible deadlock: %r blocks fiber%s %s\n" % (
                    w, "s" if len(fibers) > 1 else "", names))
            except Exception:
                pass

    # --------------------------------------------------- cross-thread posting

    cpdef post(self, func):
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

    cdef void unwind_fibers(self):
        """Stop every fiber: each parked one unwinds by _Shutdown."""
        cdef Fiber f
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
