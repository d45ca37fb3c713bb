# <sys/socket.h>: socket calls with the flags the engine uses, and cmsg(3)
# for SCM_RIGHTS ancillary data. CMSG_* are macros; declaring them as
# functions is how Cython calls a macro.
from posix.uio cimport iovec


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    struct sockaddr:
        sa_family_t sa_family
    struct sockaddr_storage:
        sa_family_t ss_family
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
    size_t CMSG_SPACE(size_t length)
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
        SOCK_SEQPACKET
        SO_TYPE
        SO_DOMAIN
    # recvmmsg(2): a batch of datagrams in one call (Linux)
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    int recvmmsg(int fd, mmsghdr *msgvec, unsigned int vlen, int flags, void *timeout)
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    ssize_t send(int fd, const void *buf, size_t n, int flags)
    ssize_t recvmsg(int fd, msghdr *msg, int flags)
    ssize_t sendmsg(int fd, const msghdr *msg, int flags)
    int accept4(int fd, sockaddr *addr, socklen_t *addrlen, int flags)
    int connect(int fd, const sockaddr *addr, socklen_t addrlen)
    int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
