# <sys/stat.h>: what Cython's posix.stat lacks.
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t
from posix.types cimport mode_t


cdef extern from "<sys/stat.h>" nogil:
    mode_t umask(mode_t mask)       # umask(2): always succeeds

# statx(2)'s result: what IORING_OP_STATX writes (glibc's copy of the
# kernel's struct, <sys/stat.h> with _GNU_SOURCE, which Python.h defines).
cdef extern from "<sys/stat.h>" nogil:
    struct statx_timestamp:
        int64_t tv_sec
        uint32_t tv_nsec
    struct statx:
        uint32_t stx_mask
        uint32_t stx_blksize
        uint64_t stx_attributes
        uint32_t stx_nlink
        uint32_t stx_uid
        uint32_t stx_gid
        uint16_t stx_mode
        uint64_t stx_ino
        uint64_t stx_size
        uint64_t stx_blocks
        statx_timestamp stx_atime
        statx_timestamp stx_ctime
        statx_timestamp stx_mtime
        uint32_t stx_rdev_major
        uint32_t stx_rdev_minor
        uint32_t stx_dev_major
        uint32_t stx_dev_minor
    enum:
        STATX_BASIC_STATS
