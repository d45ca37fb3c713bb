# <sched.h>: unshare(2), setns(2), clone flags. CLONE_NEWTIME needs Linux 5.6
# and glibc 2.36 (older glibc: <linux/sched.h> has it).
cdef extern from "<sched.h>" nogil:
    enum:
        CLONE_NEWCGROUP
        CLONE_NEWIPC
        CLONE_NEWNET
        CLONE_NEWNS
        CLONE_NEWPID
        CLONE_NEWTIME
        CLONE_NEWUSER
        CLONE_NEWUTS
        CLONE_PIDFD     # clone(2): Linux 5.2, glibc 2.31
    int unshare(int flags)
    int setns(int fd, int nstype)
