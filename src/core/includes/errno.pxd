# <errno.h>: the codes Cython's libc.errno lacks. errno(3): on Linux
# ENOTSUP == EOPNOTSUPP, EWOULDBLOCK == EAGAIN and EDEADLK == EDEADLOCK.
cdef extern from "<errno.h>" nogil:
    enum:
        ECANCELED
        EDEADLK
        ENOTSUP
        EWOULDBLOCK
        EOWNERDEAD
        ENOTRECOVERABLE
