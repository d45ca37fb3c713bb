# Kernel interfaces that Cython's libc/posix .pxd files lack: epoll, eventfd,
# socket calls with the flags the proactor uses.
from libc.stdint cimport uint32_t, uint64_t


cdef extern from "<sys/epoll.h>" nogil:
    union epoll_data_t "epoll_data":
        void *ptr
        int fd
        uint32_t u32
        uint64_t u64
    struct epoll_event:
        uint32_t events
        epoll_data_t data
    enum:
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP
        EPOLLPRI
        EPOLLET
        EPOLLONESHOT
        EPOLL_CTL_ADD
        EPOLL_CTL_MOD
        EPOLL_CTL_DEL
        EPOLL_CLOEXEC
    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *event)
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)

cdef extern from *:
    """
    #include <sys/syscall.h>
    #include <unistd.h>
    #ifndef SYS_epoll_pwait2
    #define SYS_epoll_pwait2 441   /* the same number on every architecture */
    #endif
    """
    enum:
        SYS_epoll_pwait2
    long syscall(long number, ...) nogil

cdef extern from "<sys/eventfd.h>" nogil:
    enum:
        EFD_CLOEXEC
        EFD_NONBLOCK
    int eventfd(unsigned int initval, int flags)

cdef extern from "<poll.h>" nogil:
    enum:
        POLLIN
        POLLOUT
        POLLERR
        POLLHUP
        POLLPRI

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    struct sockaddr:
        sa_family_t sa_family
    struct sockaddr_storage:
        sa_family_t ss_family
    struct iovec:
        void *iov_base
        size_t iov_len
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    cmsghdr *CMSG_FIRSTHDR(msghdr *msg)
    cmsghdr *CMSG_NXTHDR(msghdr *msg, cmsghdr *cmsg)
    unsigned char *CMSG_DATA(cmsghdr *cmsg)
    size_t CMSG_LEN(size_t length)
    enum:
        SCM_RIGHTS
        MSG_DONTWAIT
        MSG_NOSIGNAL
        MSG_PEEK
        MSG_CMSG_CLOEXEC
        MSG_TRUNC
        MSG_CTRUNC
        SOCK_CLOEXEC
        SOCK_NONBLOCK
        SOL_SOCKET
        SO_ERROR
        AF_INET
        AF_INET6
        AF_UNIX
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    ssize_t send(int fd, const void *buf, size_t n, int flags)
    ssize_t recvmsg(int fd, msghdr *msg, int flags)
    ssize_t sendmsg(int fd, const msghdr *msg, int flags)
    int accept4(int fd, sockaddr *addr, socklen_t *addrlen, int flags)
    int connect(int fd, const sockaddr *addr, socklen_t addrlen)
    int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    enum:
        CLOCK_MONOTONIC
        CLOCK_REALTIME
    int clock_gettime(int clk, timespec *ts)

cdef extern from "<errno.h>" nogil:
    int errno
    enum:
        EAGAIN
        EBADF
        EBUSY
        ECANCELED
        EDEADLK
        EINPROGRESS
        EINTR
        EINVAL
        ENOSYS
        EPERM
        ETIME
        ENOENT
        EPIPE
