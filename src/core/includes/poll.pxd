# <poll.h>: the event bits of poll(2), which io_uring's IORING_OP_POLL_ADD takes.
cdef extern from "<poll.h>" nogil:
    enum:
        POLLIN
        POLLOUT
        POLLERR
        POLLHUP
        POLLPRI
        POLLRDBAND
