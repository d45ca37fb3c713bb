# src/core/includes/linux.pxd: the part of glibc's Linux headers that Cython's
# libc/ and posix/ .pxd files lack. Names are the headers' own, so the man page
# of each name answers questions about it. Python.h defines _GNU_SOURCE before
# any of these headers is read, which the GNU extensions below (O_PATH,
# O_TMPFILE, setns, sethostname...) require.

from posix.types cimport gid_t, mode_t, pid_t, uid_t

cdef extern from "<errno.h>" nogil:
    # errno(3): on Linux ENOTSUP == EOPNOTSUPP, EWOULDBLOCK == EAGAIN and
    # EDEADLK == EDEADLOCK.
    enum:
        ECANCELED
        EDEADLK
        ENOTSUP
        EWOULDBLOCK
        EOWNERDEAD
        ENOTRECOVERABLE

cdef extern from "<fcntl.h>" nogil:
    # open(2). O_LARGEFILE is 0 in glibc on 64-bit targets: the kernel sets it
    # itself on every open from a 64-bit process.
    enum:
        O_ASYNC
        O_LARGEFILE
        O_NOATIME
        O_NOFOLLOW
        O_PATH
        O_TMPFILE

cdef extern from "<sys/stat.h>" nogil:
    mode_t umask(mode_t mask)       # umask(2): always succeeds

cdef extern from "<unistd.h>" nogil:
    int chroot(const char *path)
    int setresuid(uid_t ruid, uid_t euid, uid_t suid)
    int setresgid(gid_t rgid, gid_t egid, gid_t sgid)
    int sethostname(const char *name, size_t len)
    int setdomainname(const char *name, size_t len)
    int fexecve(int fd, char *const argv[], char *const envp[])
    long syscall(long number, ...)

cdef extern from "<grp.h>" nogil:
    int setgroups(size_t size, const gid_t *list)

cdef extern from "<sys/syscall.h>" nogil:
    # pivot_root(2): glibc has no wrapper; the man page calls it via syscall(2).
    # clone3(2) (Linux 5.3) neither; clone(2) is called raw where clone3 is not
    # there (older kernels, seccomp filters answering ENOSYS).
    enum:
        SYS_pivot_root
        SYS_clone
        SYS_clone3

cdef extern from "<sys/mount.h>" nogil:
    # mount(2). MS_NOSYMFOLLOW needs Linux 5.10 and glibc 2.34.
    enum:
        MS_RDONLY
        MS_NOSUID
        MS_NODEV
        MS_NOEXEC
        MS_SYNCHRONOUS
        MS_REMOUNT
        MS_MANDLOCK
        MS_DIRSYNC
        MS_NOSYMFOLLOW
        MS_NOATIME
        MS_NODIRATIME
        MS_BIND
        MS_MOVE
        MS_REC
        MS_SILENT
        MS_UNBINDABLE
        MS_PRIVATE
        MS_SLAVE
        MS_SHARED
        MS_RELATIME
        MS_STRICTATIME
        MS_LAZYTIME
    # umount(2)
    enum:
        MNT_FORCE
        MNT_DETACH
        MNT_EXPIRE
        UMOUNT_NOFOLLOW
    int mount(const char *source, const char *target, const char *filesystemtype,
              unsigned long mountflags, const void *data)
    int umount(const char *target)
    int umount2(const char *target, int flags)

cdef extern from "<sched.h>" nogil:
    # unshare(2), setns(2). CLONE_NEWTIME needs Linux 5.6 and glibc 2.36
    # (older glibc: <linux/sched.h> has it).
    enum:
        CLONE_NEWCGROUP
        CLONE_NEWIPC
        CLONE_NEWNET
        CLONE_NEWNS
        CLONE_NEWPID
        CLONE_NEWTIME
        CLONE_NEWUSER
        CLONE_NEWUTS
        CLONE_PIDFD     # clone(2): Linux 5.2, glibc 2.31
    int unshare(int flags)
    int setns(int fd, int nstype)

cdef extern from "<linux/securebits.h>" nogil:
    # capabilities(7), "The securebits flags": each SECBIT_* is a mask, the
    # *_LOCKED bit freezes its base flag until the next execve(2).
    enum:
        SECBIT_NOROOT
        SECBIT_NOROOT_LOCKED
        SECBIT_NO_SETUID_FIXUP
        SECBIT_NO_SETUID_FIXUP_LOCKED
        SECBIT_KEEP_CAPS
        SECBIT_KEEP_CAPS_LOCKED
        SECBIT_NO_CAP_AMBIENT_RAISE
        SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED

cdef extern from "<sys/socket.h>" nogil:
    # unix(7), cmsg(3): SCM_RIGHTS ancillary data. CMSG_* are macros; declaring
    # them as functions is how Cython calls a macro.
    ctypedef unsigned int socklen_t
    struct iovec:
        void *iov_base
        size_t iov_len
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
    enum:
        SOL_SOCKET
        SCM_RIGHTS
        MSG_CMSG_CLOEXEC
        MSG_CTRUNC
        MSG_NOSIGNAL
    ssize_t sendmsg(int sockfd, const msghdr *msg, int flags)
    ssize_t recvmsg(int sockfd, msghdr *msg, int flags)
    cmsghdr *CMSG_FIRSTHDR(msghdr *msg)
    cmsghdr *CMSG_NXTHDR(msghdr *msg, cmsghdr *cmsg)
    unsigned char *CMSG_DATA(cmsghdr *cmsg)
    size_t CMSG_SPACE(size_t length)
    size_t CMSG_LEN(size_t length)
