# <unistd.h>: what Cython's posix.unistd lacks. Python.h defines _GNU_SOURCE
# before any header is read, which several of these need.
from posix.types cimport gid_t, uid_t


cdef extern from "<unistd.h>" nogil:
    long syscall(long number, ...)
    int chroot(const char *path)
    int setresuid(uid_t ruid, uid_t euid, uid_t suid)
    int setresgid(gid_t rgid, gid_t egid, gid_t sgid)
    int sethostname(const char *name, size_t len)
    int setdomainname(const char *name, size_t len)
    int fexecve(int fd, char *const argv[], char *const envp[])
