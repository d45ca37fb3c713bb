# cython: language_level=3
"""Process creation for system.spawn: clone(2) with CLONE_VM | CLONE_VFORK.

The child shares the parent's memory until it calls execve(2) (or exits), and
the calling thread is suspended until then (clone(2), CLONE_VFORK), so nothing
of the address space is copied: the cost does not grow with the size of the
interpreter. The price is that the child must not touch anything the parent
relies on: between clone and execve it runs only child_main() below, on a
stack of its own, calling system calls only (no malloc, no stdio, no Python,
no lock). Everything it needs is prepared by the parent in a Plan.

What the child does, in this order:
- every signal disposition to SIG_DFL (its handler table is its own copy: no
  CLONE_SIGHAND). The parent blocks every signal around the clone, so no
  handler of the parent (Python's own writes into shared memory) can run in
  the child before that; the mask is emptied just before execve.
- setns(2) into the requested namespaces, the user namespace first;
- file descriptors: every source fd is first duplicated above 9, then dup2'ed
  to its target (dup2 clears FD_CLOEXEC on the target), fds 3..9 that are not
  targets are closed, and close_range(10, ~0, CLOSE_RANGE_CLOEXEC) (Linux
  5.11) makes sure nothing else survives execve;
- umask, working directory, scheduler, setsid/TIOCSCTTY, setpgid,
  tcsetpgrp (SIGTTOU is blocked at that point, as the manual asks),
  setgroups/setresgid/setresuid (raw system calls: glibc's wrappers would try
  to broadcast the change to the parent's threads), then PR_SET_PDEATHSIG
  (after the credentials: commit_creds() clears it when they change);
- execve(2), execveat(2) with AT_EMPTY_PATH for an fd, or a PATH search.

A step that fails stores its errno in the Plan, which the parent reads once
clone returns (the memory is shared, so no pipe is needed), and the child
exits with status 127. The parent reaps it and raises OSError with that errno.
"""

from libc.errno cimport EACCES, ENOENT, ENOTDIR, errno
from libc.stdlib cimport calloc, free
from libc.string cimport memset
from posix.types cimport gid_t

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
    int sigfillset(sigset_t *s)
    int sigemptyset(sigset_t *s)
    int pthread_sigmask(int how, const sigset_t *s, sigset_t *old)
    sighandler_t SIG_DFL
    int SIG_SETMASK
    int SIGKILL
    int SIGSTOP
    int SIGCHLD

cdef extern from "<sched.h>" nogil:
    int clone(int (*fn)(void *) noexcept nogil, void *stack, int flags, void *arg, ...)
    int CLONE_VM
    int CLONE_VFORK
    int CLONE_PIDFD
    int CLONE_NEWUSER
    int CLONE_NEWNS
    int CLONE_NEWUTS
    int CLONE_NEWIPC
    int CLONE_NEWNET
    struct sched_param:
        int sched_priority
    int SCHED_RESET_ON_FORK

cdef extern from "<sys/mman.h>" nogil:
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void *addr, size_t length)
    void *MAP_FAILED
    int PROT_READ
    int PROT_WRITE
    int MAP_PRIVATE
    int MAP_ANONYMOUS
    int MAP_STACK

cdef extern from "<sys/ioctl.h>" nogil:
    unsigned long TIOCSCTTY
    unsigned long TIOCSPGRP

cdef extern from "<sys/prctl.h>" nogil:
    int PR_SET_PDEATHSIG

cdef extern from "<fcntl.h>" nogil:
    int F_DUPFD_CLOEXEC
    int AT_EMPTY_PATH

cdef extern from "<unistd.h>" nogil:
    long syscall(long number, ...)
    void _exit(int status)

cdef extern from "<sys/syscall.h>" nogil:
    long SYS_setns
    long SYS_fcntl
    long SYS_dup3
    long SYS_close
    long SYS_close_range
    long SYS_umask
    long SYS_chdir
    long SYS_fchdir
    long SYS_sched_setscheduler
    long SYS_setsid
    long SYS_ioctl
    long SYS_setpgid
    long SYS_getpgid
    long SYS_setgroups
    long SYS_setresgid
    long SYS_setresuid
    long SYS_prctl
    long SYS_getppid
    long SYS_getpid
    long SYS_kill
    long SYS_rt_sigprocmask
    long SYS_execve
    long SYS_execveat

# <linux/close_range.h>; declared here as glibc's <unistd.h> does not export it.
DEF CLOSE_RANGE_CLOEXEC = 4
DEF NFDS = 10           # targets 0..9: stdin, stdout, stderr and extra_fds 3..9
DEF NNS = 5             # user, mount, uts, ipc, net (setns in this order)
DEF STACK_SIZE = 65536

# Step names, for the error the parent raises.
cdef enum Step:
    STEP_NONE
    STEP_SETNS
    STEP_FDS
    STEP_CWD
    STEP_SCHED
    STEP_SETSID
    STEP_CTTY
    STEP_SETPGID
    STEP_FOREGROUND
    STEP_SETGROUPS
    STEP_SETRESGID
    STEP_SETRESUID
    STEP_PDEATHSIG
    STEP_EXEC

_STEP_NAMES = {
    STEP_SETNS: "setns", STEP_FDS: "dup2", STEP_CWD: "chdir",
    STEP_SCHED: "sched_setscheduler", STEP_SETSID: "setsid",
    STEP_CTTY: "ioctl(TIOCSCTTY)", STEP_SETPGID: "setpgid",
    STEP_FOREGROUND: "tcsetpgrp", STEP_SETGROUPS: "setgroups",
    STEP_SETRESGID: "setresgid", STEP_SETRESUID: "setresuid",
    STEP_PDEATHSIG: "prctl(PR_SET_PDEATHSIG)", STEP_EXEC: "execve",
}


cdef struct Plan:
    char *path                  # execve(2) this path, or
    char **candidates           # try each (a PATH search), or
    int program_fd              # execveat(2) this fd
    char **argv
    char **envp
    int fds[NFDS]               # source fd of each target; -1: close it, -2: keep it
    int ns_fds[NNS]
    int ns_types[NNS]
    int umask                   # -1: unchanged
    char *cwd_path
    int cwd_fd
    int sched_policy            # -1: unchanged
    int sched_priority
    bint new_session
    int ctty_fd
    int pgid                    # -1: unchanged
    int fg_fd
    long ruid, euid, rgid, egid   # -1: unchanged
    int ngroups                 # -1: unchanged
    gid_t *groups
    int pdeathsig               # 0: none
    long parent_pid
    # Written by the child when a step fails.
    int err
    int step


cdef inline int fail(Plan *c, int step) noexcept nogil:
    c.err = errno
    c.step = step
    _exit(127)
    return -1


cdef int child_main(void *arg) noexcept nogil:
    cdef Plan *c = <Plan *>arg
    cdef sigaction_t sa
    cdef int i, fd, saved_errno
    cdef int moved[NFDS]
    cdef sched_param sp
    cdef long pgrp
    cdef unsigned long long empty_mask = 0
    cdef char **cand
    cdef bint eacces = False

    memset(&sa, 0, sizeof(sa))
    sa.sa_handler = SIG_DFL
    for i in range(1, 65):
        if i != SIGKILL and i != SIGSTOP:
            c_sigaction(i, &sa, NULL)   # glibc refuses its own 32 and 33: harmless

    for i in range(NNS):
        if c.ns_fds[i] >= 0 and syscall(SYS_setns, c.ns_fds[i], c.ns_types[i]) < 0:
            return fail(c, STEP_SETNS)

    # Directory and terminal fds are used before the fd table is rearranged.
    if c.cwd_path != NULL:
        if syscall(SYS_chdir, c.cwd_path) < 0:
            return fail(c, STEP_CWD)
    elif c.cwd_fd >= 0 and syscall(SYS_fchdir, c.cwd_fd) < 0:
        return fail(c, STEP_CWD)
    if c.umask >= 0:
        syscall(SYS_umask, c.umask)
    if c.sched_policy >= 0:
        sp.sched_priority = c.sched_priority
        if syscall(SYS_sched_setscheduler, 0, c.sched_policy, &sp) < 0:
            return fail(c, STEP_SCHED)
    if c.new_session and syscall(SYS_setsid) < 0:
        return fail(c, STEP_SETSID)
    if c.ctty_fd >= 0 and syscall(SYS_ioctl, c.ctty_fd, TIOCSCTTY, 0) < 0:
        return fail(c, STEP_CTTY)
    if c.pgid >= 0 and syscall(SYS_setpgid, 0, c.pgid) < 0:
        return fail(c, STEP_SETPGID)
    if c.fg_fd >= 0:
        # Every signal is still blocked, SIGTTOU included (tcsetpgrp(3)).
        pgrp = syscall(SYS_getpgid, 0)
        fd = <int>pgrp
        if syscall(SYS_ioctl, c.fg_fd, TIOCSPGRP, &fd) < 0:
            return fail(c, STEP_FOREGROUND)

    for i in range(NFDS):
        moved[i] = -1
        if c.fds[i] >= 0:
            moved[i] = <int>syscall(SYS_fcntl, c.fds[i], F_DUPFD_CLOEXEC, NFDS)
            if moved[i] < 0:
                return fail(c, STEP_FDS)
    for i in range(NFDS):
        if moved[i] >= 0:
            if syscall(SYS_dup3, moved[i], i, 0) < 0:
                return fail(c, STEP_FDS)
        elif c.fds[i] == -1:
            syscall(SYS_close, i)
    # The moved copies are >= NFDS and close-on-exec, like everything else.
    if syscall(SYS_close_range, NFDS, <unsigned int>0xFFFFFFFF, CLOSE_RANGE_CLOEXEC) < 0:
        return fail(c, STEP_FDS)

    if c.ngroups >= 0 and syscall(SYS_setgroups, c.ngroups, c.groups) < 0:
        return fail(c, STEP_SETGROUPS)
    if (c.rgid >= 0 or c.egid >= 0) and syscall(SYS_setresgid, c.rgid, c.egid, -1) < 0:
        return fail(c, STEP_SETRESGID)
    if (c.ruid >= 0 or c.euid >= 0) and syscall(SYS_setresuid, c.ruid, c.euid, -1) < 0:
        return fail(c, STEP_SETRESUID)
    if c.pdeathsig > 0:
        if syscall(SYS_prctl, PR_SET_PDEATHSIG, c.pdeathsig, 0, 0, 0) < 0:
            return fail(c, STEP_PDEATHSIG)
        if syscall(SYS_getppid) != c.parent_pid:
            # The parent died before the request took effect.
            syscall(SYS_kill, syscall(SYS_getpid), c.pdeathsig)

    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, NULL, 8)
    if c.program_fd >= 0:
        syscall(SYS_execveat, c.program_fd, b"", c.argv, c.envp, AT_EMPTY_PATH)
    elif c.candidates != NULL:
        # execvp(3): EACCES from any candidate wins over a later ENOENT.
        saved_errno = 0
        cand = c.candidates
        while cand[0] != NULL:
            syscall(SYS_execve, cand[0], c.argv, c.envp)
            saved_errno = errno
            if saved_errno == EACCES:
                eacces = True
            elif saved_errno != ENOENT and saved_errno != ENOTDIR:
                break
            cand += 1
        c.err = EACCES if eacces and (saved_errno == ENOENT or saved_errno == ENOTDIR) else saved_errno
        c.step = STEP_EXEC
        _exit(127)
        return -1
    else:
        syscall(SYS_execve, c.path, c.argv, c.envp)
    return fail(c, STEP_EXEC)


cdef char **to_array(list items, list keep) except? NULL:
    """A NULL-terminated char *[] over the bytes in *items* (kept alive by *keep*)."""
    cdef char **arr = <char **>calloc(len(items) + 1, sizeof(char *))
    if arr == NULL:
        raise MemoryError()
    for i, item in enumerate(items):
        b = bytes(item)
        if b"\0" in b:
            free(arr)
            raise ValueError("embedded null byte")
        keep.append(b)
        arr[i] = b
    return arr


_NS_TYPES = {"user": 0, "mount": 1, "uts": 2, "ipc": 3, "net": 4}


def spawn(*, path=None, candidates=None, int program_fd=-1, list argv, list envp,
          dict fds, dict nsenter, int umask=-1, cwd_path=None, int cwd_fd=-1,
          int sched_policy=-1, int sched_priority=0, bint sched_reset=False,
          bint new_session=False, int ctty_fd=-1, int pgid=-1, int fg_fd=-1,
          long ruid=-1, long euid=-1, long rgid=-1, long egid=-1, groups=None,
          int pdeathsig=0):
    """Start a process as the module docstring describes.

    *fds* maps a target fd (0..9) to a source fd, or to -2 to keep the
    target as the parent has it; targets not in *fds* are closed. *nsenter*
    maps "user", "mount", "uts", "ipc", "net" to namespace fds.
    Returns (pid, pidfd); pidfd is close-on-exec. Raises OSError with the
    errno of the step that failed (``filename`` names the step), after
    reaping the child.
    """
    cdef Plan plan
    cdef list keep = []
    cdef void *stack = NULL
    cdef int pidfd = -1
    cdef int pid
    cdef int flags
    cdef int err = 0
    cdef sigset_t all_signals, old_mask
    cdef gid_t *groups_arr = NULL
    memset(&plan, 0, sizeof(plan))
    plan.program_fd = program_fd
    plan.umask = umask
    plan.cwd_fd = cwd_fd
    plan.sched_policy = sched_policy | (SCHED_RESET_ON_FORK if sched_reset and sched_policy >= 0 else 0)
    plan.sched_priority = sched_priority
    plan.new_session = new_session
    plan.ctty_fd = ctty_fd
    plan.pgid = pgid
    plan.fg_fd = fg_fd
    plan.ruid, plan.euid, plan.rgid, plan.egid = ruid, euid, rgid, egid
    plan.pdeathsig = pdeathsig
    plan.parent_pid = os.getpid()
    plan.ngroups = -1
    ns_types = (CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNET)
    for i in range(NNS):
        plan.ns_fds[i] = -1
        plan.ns_types[i] = ns_types[i]
    for name, fd in nsenter.items():
        plan.ns_fds[_NS_TYPES[name]] = fd
    for i in range(NFDS):
        plan.fds[i] = fds.get(i, -1)
    try:
        plan.argv = to_array(argv, keep)
        plan.envp = to_array(envp, keep)
        if candidates is not None:
            plan.candidates = to_array(candidates, keep)
        elif path is not None:
            b = bytes(path)
            keep.append(b)
            plan.path = b
        if cwd_path is not None:
            b = bytes(cwd_path)
            keep.append(b)
            plan.cwd_path = b
        if groups is not None:
            plan.ngroups = len(groups)
            groups_arr = <gid_t *>calloc(len(groups) + 1, sizeof(gid_t))
            if groups_arr == NULL:
                raise MemoryError()
            for i, g in enumerate(groups):
                groups_arr[i] = g
            plan.groups = groups_arr
        stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)
        if stack == MAP_FAILED:
            stack = NULL
            raise OSError(errno, os.strerror(errno))
        flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD
        sigfillset(&all_signals)
        with nogil:
            pthread_sigmask(SIG_SETMASK, &all_signals, &old_mask)
            # The stack grows down on every architecture Linux runs CPython on
            # but hppa; clone(2) takes its top.
            pid = clone(child_main, <char *>stack + STACK_SIZE, flags, &plan, &pidfd)
            err = errno
            pthread_sigmask(SIG_SETMASK, &old_mask, NULL)
        if pid < 0:
            raise OSError(err, os.strerror(err))
    finally:
        if stack != NULL:
            munmap(stack, STACK_SIZE)
        free(plan.argv)
        free(plan.envp)
        free(plan.candidates)
        free(groups_arr)
    if plan.err:
        try:
            os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
        finally:
            os.close(pidfd)
        raise OSError(plan.err, os.strerror(plan.err), _STEP_NAMES.get(plan.step))
    return pid, pidfd
