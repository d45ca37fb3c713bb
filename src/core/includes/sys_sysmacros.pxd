# <sys/sysmacros.h>: device numbers.
cdef extern from "<sys/sysmacros.h>" nogil:
    unsigned long long makedev(unsigned int major, unsigned int minor)
