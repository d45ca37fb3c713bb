# The fiber scheduler: fibers, the ready queue, park()/resume() and the hub
# loop. Everything that makes a fiber wait goes through Scheduler.park();
# everything that ends a wait goes through Scheduler.resume(). See
# scheduler.pyx for the contract.

cdef enum:
    FIBER_NEW = 0
    FIBER_STARTED = 1
    FIBER_DONE = 2


cdef class Waiter:
    """Base of the core's own waits (kernel ops, timer waits).

    withdraw() is called when the fiber parked on it is interrupted
    (interrupt=True) or its VM ends (interrupt=False). It must make sure
    the fiber is resumed exactly once, now or when the operation's
    completion arrives."""
    cdef int withdraw(self, Fiber f, bint interrupt) except -1


cdef class VmHooks:
    """What the core needs from the actor layer, per VM (see scheduler.pyx)."""
    cdef public object mailbox
    cdef public bint inbox_used
    cpdef fiber_started(self, Fiber f)
    cpdef fiber_done(self, Fiber f)
    cpdef object address(self)


cdef class Fiber:
    cdef readonly Scheduler proactor
    cdef object glet
    cdef object func
    cdef tuple args
    cdef object value
    cdef object error
    cdef int state
    cdef bint joined
    cdef bint detached
    cdef bint interrupted          # interruption requested
    cdef bint interrupt_requested  # interrupt() was called (a deadline sets only interrupted)
    cdef object deadline_token     # the expired emilua.timeout() deadline that interrupted it
    cdef bint caught               # ended by FiberInterrupted
    cdef bint cancelled_wait       # a wait was withdrawn by interruption
    cdef bint killed               # its VM ended (system.exit): unwind at the next park
    cdef bint resumed              # debug builds: resume() ran, the fiber has not run yet
    cdef int no_interrupt          # disable_interruption() depth
    cdef int no_suspend            # forbid_suspend() depth
    cdef object waiter             # what it is parked on, when parked
    cdef Fiber joiner
    cdef object local_
    cdef str name_                 # the start function's name, kept for an error report
    cdef readonly bint is_main
    cdef readonly unsigned long long serial
    cdef public list scopes        # cleanup handler lists, innermost last
    cdef public VmHooks vm         # the actor this fiber belongs to
    cdef object __weakref__

    cdef int bootstrap(self) except -1
    cdef int body_raised(self) except -1
    cdef int finish(self) except -1


cdef class Scheduler:
    cdef list ready                # Fibers to run, in order
    cdef list spare                # the previous round's list, empty, reused
    cdef Fiber current
    cdef object hub
    cdef set live                  # fibers not yet done
    cdef Py_ssize_t live_peak      # most live fibers since memory was last trimmed
    cdef list idle_glets           # greenlets of ended fibers, parked for reuse
    cdef unsigned long long nfibers
    cdef public Py_ssize_t keepalive   # external reasons to keep running (actors)
    cdef public Py_ssize_t offloaded   # calls on other threads that will post back
    cdef int wakefd                # eventfd: post() from another thread wakes the hub
    cdef object posted             # callables posted from other threads
    cdef object post_lock
    cdef bint stopping
    cdef bint closing
    cdef object fatal              # exception that terminates the VM
    cdef object deadlock           # why the main fiber can never resume, if so
    cdef readonly unsigned long long number   # engines created in this process so far
    cdef public object main_fiber
    cdef public VmHooks vm         # owner VM object (actors)
    cdef public object on_idle     # callable: more work may appear (actors)
    cdef readonly unsigned long long switches  # fiber switches so far (diagnostics)

    # The one way a fiber waits, and the one way a wait ends.
    cdef int park(self, Fiber f, object waiter) except -1
    cdef int resume(self, Fiber f, object waiter) except -1
    cdef int park_cancellable(self, Fiber f, object waiter) except -1
    cdef int yield_now(self, Fiber f) except -1

    cdef object take_glet(self, Fiber f)
    cdef Fiber new_fiber(self, object func, tuple args, bint is_main, VmHooks vm=*)
    cdef int check_park(self, Fiber f) except -1
    cdef int check_suspend(self, Fiber f) except -1
    cdef Fiber enter(self)
    cdef Fiber current_or_raise(self)
    cdef int withdraw(self, Fiber f, bint interrupt) except -1
    cdef void on_fiber_done(self, Fiber f)
    cpdef post(self, func)
    cdef void run_posted(self)
    cdef int loop(self) except -1
    cdef bint idle_changed(self) except -1
    cdef void trim_if_shrunk(self)
    cdef void report_deadlock(self)
    cdef void unwind_fibers(self)

    # Implemented by the engine above the scheduler (the Proactor).
    cdef int start_io(self) except -1
    cdef void stop_io(self)
    cdef void shutdown_io(self)
    cdef bint events_pending(self)
    cdef int poll_events(self, bint block) except -1


cpdef Scheduler current()
