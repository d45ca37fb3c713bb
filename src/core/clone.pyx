# cython: language_level=3
"""clone(2) for the supervisor: a child created straight into new namespaces.

os.fork() followed by unshare(2) in the child costs a second fork when the
child needs a new PID namespace (unshare(CLONE_NEWPID) applies to the
caller's children only). clone3(2) with the CLONE_NEW* flags creates the
child in its namespaces (with CLONE_NEWPID it is PID 1 at once) and, with
CLONE_PIDFD, hands the parent a pidfd of it without a pidfd_open(2).

The interpreter is told about the fork as os.fork() tells it:
PyOS_BeforeFork() before, PyOS_AfterFork_Parent()/PyOS_AfterFork_Child()
after (the public C API, Python >= 3.7), so the import lock, the GIL, the
thread states and os.register_at_fork() hooks are handled alike.

What glibc's fork(2) wrapper does and a raw clone does not: run its own
pthread_atfork handlers (they take and reset the malloc and stdio locks so
that a child of a multi-threaded process finds them free) and store the
child's TID in its thread descriptor. The caller must therefore be
single-threaded, as the supervisor is (the emilua command starts it before
any thread exists): with one thread no lock can be held by another across
the clone. The stale TID in the child's descriptor is read by nothing the
child runs (glibc >= 2.34 reads the TID from the kernel where it signals
itself; CPython's locks are not owner-checked mutexes).
"""

from libc.errno cimport ENOSYS, errno
from libc.signal cimport SIGCHLD
from libc.stdint cimport uint64_t
from libc.string cimport memset

from sched cimport CLONE_PIDFD
from sys_syscall cimport SYS_clone, SYS_clone3
from unistd cimport syscall

import os

cdef extern from "Python.h":
    void PyOS_BeforeFork()
    void PyOS_AfterFork_Parent()
    void PyOS_AfterFork_Child()


# struct clone_args of <linux/sched.h>, CLONE_ARGS_SIZE_VER0 (64 bytes): the
# first version, the only fields used here. Declared here because including
# <linux/sched.h> next to glibc's <sched.h> redefines the CLONE_* macros.
cdef struct clone_args:
    uint64_t flags
    uint64_t pidfd
    uint64_t child_tid
    uint64_t parent_tid
    uint64_t exit_signal
    uint64_t stack
    uint64_t stack_size
    uint64_t tls

cdef bint _clone3_missing = False


def clone_process(unsigned long flags):
    """Fork the calling (single-threaded) process into the namespaces of the
    CLONE_NEW* *flags*.

    Returns (pid, pidfd) in the parent, where pidfd is -1 if the kernel could
    not give one (clone3(2) missing: the caller opens it), and (0, -1) in the
    child. Raises OSError with clone's errno (EPERM, ENOSPC, EUSERS, EINVAL
    as clone(2) lists them) when no child was created.
    """
    global _clone3_missing
    cdef clone_args args
    cdef int pidfd = -1
    cdef long pid = -1
    cdef int err = 0
    memset(&args, 0, sizeof(args))
    args.flags = flags | CLONE_PIDFD
    args.pidfd = <uint64_t><size_t>&pidfd
    args.exit_signal = SIGCHLD
    PyOS_BeforeFork()
    if not _clone3_missing:
        pid = syscall(SYS_clone3, &args, sizeof(args))
        err = errno if pid == -1 else 0
        if pid == -1 and err == ENOSYS:
            _clone3_missing = True
    if _clone3_missing:
        # clone(2) with a NULL stack duplicates the caller's stack like fork;
        # every pointer argument is NULL, so their per-architecture order
        # (clone(2), NOTES) does not matter.
        pidfd = -1
        pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL)
        err = errno if pid == -1 else 0
    if pid == 0:
        PyOS_AfterFork_Child()
        return 0, -1
    PyOS_AfterFork_Parent()
    if pid == -1:
        raise OSError(err, os.strerror(err))
    return pid, pidfd


def _set_clone3_missing(bint missing):
    """Use clone(2) instead of clone3(2) from now on (or go back to trying
    clone3): what a kernel or seccomp filter that answers ENOSYS to clone3
    gets. For tests of the fallback."""
    global _clone3_missing
    _clone3_missing = missing
