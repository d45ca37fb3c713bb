# <sys/syscall.h>: numbers of the system calls glibc has no wrapper for
# (pivot_root(2)), or not on every supported version (clone3(2), Linux 5.3;
# epoll_pwait2(2), Linux 5.11, glibc 2.35). Called through unistd.syscall.
cdef extern from *:
    """
    #include <sys/syscall.h>
    #ifndef SYS_epoll_pwait2
    #define SYS_epoll_pwait2 441   /* the same number on every architecture */
    #endif
    """
    enum:
        SYS_pivot_root
        SYS_clone
        SYS_clone3
        SYS_epoll_pwait2
