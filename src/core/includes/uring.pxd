# The part of liburing.h (>= 2.3) that the proactor calls, with liburing's own
# names so that `man io_uring_prep_recv` answers questions. Every function
# reports failure as a negative errno return; none of them sets errno.
from libc.stdint cimport int64_t, uint32_t, uint64_t
from posix.types cimport mode_t, sigset_t

from sys_socket cimport msghdr, sockaddr, socklen_t
from sys_stat cimport statx

cdef extern from "liburing.h" nogil:
    struct __kernel_timespec:
        int64_t tv_sec
        long long tv_nsec

    struct io_uring:
        pass                         # opaque: only liburing looks inside
    struct io_uring_sqe:
        pass
    struct io_uring_cqe:
        uint64_t user_data
        int res
        unsigned flags               # IORING_CQE_F_MORE: a multishot op stays armed
    struct io_uring_params:
        unsigned sq_entries
        unsigned cq_entries          # with IORING_SETUP_CQSIZE: the CQ size asked for
        unsigned flags
        unsigned features
    struct io_uring_probe:
        pass

    enum:
        IORING_SETUP_COOP_TASKRUN
        IORING_SETUP_SINGLE_ISSUER
        IORING_SETUP_DEFER_TASKRUN
        IORING_SETUP_SUBMIT_ALL
        IORING_SETUP_CQSIZE
        IORING_FEAT_EXT_ARG
        IORING_FEAT_NODROP
        IORING_ASYNC_CANCEL_ALL
        IORING_ASYNC_CANCEL_FD
        IOSQE_ASYNC
        IORING_OP_STATX
        IORING_OP_OPENAT
        IORING_OP_UNLINKAT
        IORING_OP_RENAMEAT
        IORING_OP_MKDIRAT
        IORING_OP_LINKAT
        IORING_OP_SYMLINKAT

    int io_uring_queue_init(unsigned entries, io_uring *ring, unsigned flags)
    int io_uring_queue_init_params(unsigned entries, io_uring *ring, io_uring_params *p)
    void io_uring_queue_exit(io_uring *ring)

    # Which opcodes the kernel knows (io_uring_get_probe_ring(3)): NULL when
    # it cannot tell (before Linux 5.6, which had none of the path ops).
    io_uring_probe *io_uring_get_probe_ring(io_uring *ring)
    void io_uring_free_probe(io_uring_probe *probe)
    int io_uring_opcode_supported(const io_uring_probe *p, int op)

    # Submission
    io_uring_sqe *io_uring_get_sqe(io_uring *ring)     # NULL when the SQ is full
    void io_uring_sqe_set_data64(io_uring_sqe *sqe, uint64_t data)
    void io_uring_sqe_set_flags(io_uring_sqe *sqe, unsigned flags)
    void io_uring_prep_recv(io_uring_sqe *sqe, int fd, void *buf, size_t n, int flags)
    void io_uring_prep_send(io_uring_sqe *sqe, int fd, const void *buf, size_t n, int flags)
    void io_uring_prep_read(io_uring_sqe *sqe, int fd, void *buf, unsigned n, uint64_t off)
    void io_uring_prep_write(io_uring_sqe *sqe, int fd, const void *buf, unsigned n,
                             uint64_t off)
    void io_uring_prep_recvmsg(io_uring_sqe *sqe, int fd, msghdr *msg, unsigned flags)
    void io_uring_prep_sendmsg(io_uring_sqe *sqe, int fd, const msghdr *msg, unsigned flags)
    void io_uring_prep_accept(io_uring_sqe *sqe, int fd, sockaddr *addr, socklen_t *addrlen,
                              int flags)
    void io_uring_prep_connect(io_uring_sqe *sqe, int fd, const sockaddr *addr,
                               socklen_t addrlen)
    void io_uring_prep_poll_add(io_uring_sqe *sqe, int fd, unsigned poll_mask)
    void io_uring_prep_cancel64(io_uring_sqe *sqe, uint64_t user_data, int flags)
    void io_uring_prep_cancel_fd(io_uring_sqe *sqe, int fd, unsigned flags)
    # Path operations (io_uring_prep_statx(3) and its neighbours): the kernel
    # reads the paths and writes the statx buffer after submission.
    void io_uring_prep_statx(io_uring_sqe *sqe, int dfd, const char *path, int flags,
                             unsigned mask, statx *statxbuf)
    void io_uring_prep_openat(io_uring_sqe *sqe, int dfd, const char *path, int flags,
                              mode_t mode)
    void io_uring_prep_unlinkat(io_uring_sqe *sqe, int dfd, const char *path, int flags)
    void io_uring_prep_renameat(io_uring_sqe *sqe, int olddfd, const char *oldpath,
                                int newdfd, const char *newpath, unsigned flags)
    void io_uring_prep_mkdirat(io_uring_sqe *sqe, int dfd, const char *path, mode_t mode)
    void io_uring_prep_linkat(io_uring_sqe *sqe, int olddfd, const char *oldpath,
                              int newdfd, const char *newpath, int flags)
    void io_uring_prep_symlinkat(io_uring_sqe *sqe, const char *target, int newdirfd,
                                 const char *linkpath)
    int io_uring_submit(io_uring *ring)
    int io_uring_submit_and_get_events(io_uring *ring)
    int io_uring_submit_and_wait_timeout(io_uring *ring, io_uring_cqe **cqe_ptr,
                                         unsigned wait_nr, __kernel_timespec *ts,
                                         sigset_t *sigmask)
    unsigned io_uring_sq_ready(const io_uring *ring)

    # Completion. io_uring_for_each_cqe is a macro: use peek_batch + cq_advance.
    unsigned io_uring_peek_batch_cqe(io_uring *ring, io_uring_cqe **cqes, unsigned n)
    void io_uring_cq_advance(io_uring *ring, unsigned n)
