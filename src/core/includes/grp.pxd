# <grp.h>: setgroups(2).
from posix.types cimport gid_t


cdef extern from "<grp.h>" nogil:
    int setgroups(size_t size, const gid_t *list)
