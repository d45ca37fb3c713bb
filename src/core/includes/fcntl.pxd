# <fcntl.h>: the open(2) flags Cython's posix.fcntl lacks (GNU extensions).
# O_LARGEFILE is 0 in glibc on 64-bit targets: the kernel sets it itself on
# every open from a 64-bit process.
cdef extern from "<fcntl.h>" nogil:
    enum:
        O_ASYNC
        O_LARGEFILE
        O_NOATIME
        O_NOFOLLOW
        O_PATH
        O_TMPFILE

# The *at(2) calls' directory and flags.
cdef extern from "<fcntl.h>" nogil:
    enum:
        AT_FDCWD
        AT_SYMLINK_NOFOLLOW
        AT_SYMLINK_FOLLOW
        AT_REMOVEDIR
        AT_NO_AUTOMOUNT
        AT_STATX_SYNC_AS_STAT
