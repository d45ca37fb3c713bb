# cython: language_level=3
"""signalfd(2) and sigaction(2) for system.signal.

The standard library has pthread_sigmask() and sigtimedwait() but neither
signalfd() nor a way to set a disposition from a thread other than the main
one (signal.signal() refuses); these two are all this module adds.
"""

from libc.errno cimport errno

import os

cdef extern from "<signal.h>" nogil:
    ctypedef struct sigset_t:
        pass
    ctypedef void (*sighandler_t)(int)
    struct sigaction_t "sigaction":
        sighandler_t sa_handler
        sigset_t sa_mask
        int sa_flags
    int c_sigaction "sigaction"(int signum, const sigaction_t *act, sigaction_t *oldact)
    int sigemptyset(sigset_t *s)
    int sigaddset(sigset_t *s, int signum)
    sighandler_t SIG_DFL
    sighandler_t SIG_IGN

cdef extern from "<sys/signalfd.h>" nogil:
    int c_signalfd "signalfd"(int fd, const sigset_t *mask, int flags)
    int SFD_NONBLOCK
    int SFD_CLOEXEC


def signalfd(int fd, signals):
    """signalfd(2) over the signal numbers in *signals*: a new non-blocking,
    close-on-exec fd when *fd* is -1, otherwise *fd* with its mask replaced.
    Raises OSError (EINVAL for a number that is not a signal)."""
    cdef sigset_t mask
    sigemptyset(&mask)
    for s in signals:
        if sigaddset(&mask, s) < 0:
            raise OSError(errno, os.strerror(errno))
    cdef int r = c_signalfd(fd, &mask, SFD_NONBLOCK | SFD_CLOEXEC)
    if r < 0:
        raise OSError(errno, os.strerror(errno))
    return r


def set_disposition(int signum, bint ignore):
    """sigaction(2): SIG_IGN (*ignore*) or SIG_DFL for *signum*, from any
    thread. Raises OSError (EINVAL for SIGKILL, SIGSTOP or no signal)."""
    cdef sigaction_t sa
    sigemptyset(&sa.sa_mask)
    sa.sa_flags = 0
    sa.sa_handler = SIG_IGN if ignore else SIG_DFL
    if c_sigaction(signum, &sa, NULL) < 0:
        raise OSError(errno, os.strerror(errno))


SIGNALFD_SIGINFO_SIZE = 128  # sizeof(struct signalfd_siginfo), signalfd(2)
