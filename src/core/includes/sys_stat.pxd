# <sys/stat.h>: what Cython's posix.stat lacks.
from posix.types cimport mode_t


cdef extern from "<sys/stat.h>" nogil:
    mode_t umask(mode_t mask)       # umask(2): always succeeds
