# cython: language_level=3
"""The C API of the init.script (manual: "The C API exposed to init.script").

An init.script runs in the sandboxed process, after clone(2) created its
namespaces and before the actor's engine starts. It drives the kernel through
the functions of the table ``C`` (a ``CTable``) and the helpers
``send_with_fd``/``receive_with_fd`` (a ``Helpers``) and ``mode``.

Every function calls the libc or libcap function of the same name (or the raw
syscall where glibc has no wrapper) and returns the C result and ``errno`` as a
pair, ``(result, 0)`` on success. errno is read right after the call, before any
Python code can run and overwrite it. A C failure never raises: it is reported
through the pair or, while the script's global ``errexit`` is true, ends the
process (manual: "errexit"). Wrong Python arguments (a path holding a NUL byte,
a value that does not fit the C type) raise, as they are bugs in the script,
not refusals of the kernel.

Strings crossing to C are ``str`` (encoded with ``os.fsencode``, the file system
encoding with surrogateescape) or bytes-like; ``None`` stands for a NULL
pointer where the manual passes ``nil`` (``mount``'s source, fstype and data).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.errno cimport (
    E2BIG, EACCES, EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT, EAGAIN, EALREADY, EBADF,
    EBADMSG, EBUSY, ECHILD, ECONNABORTED, ECONNREFUSED, ECONNRESET, EDESTADDRREQ, EDOM,
    EEXIST, EFAULT, EFBIG, EHOSTUNREACH, EIDRM, EILSEQ, EINPROGRESS, EINTR, EINVAL, EIO,
    EISCONN, EISDIR, ELOOP, EMFILE, EMLINK, EMSGSIZE, ENAMETOOLONG, ENETDOWN, ENETRESET,
    ENETUNREACH, ENFILE, ENOBUFS, ENODATA, ENODEV, ENOENT, ENOEXEC, ENOLCK, ENOLINK,
    ENOMEM, ENOMSG, ENOPROTOOPT, ENOSPC, ENOSR, ENOSTR, ENOSYS, ENOTCONN, ENOTDIR,
    ENOTEMPTY, ENOTSOCK, ENOTTY, ENXIO, EOPNOTSUPP, EOVERFLOW, EPERM, EPIPE, EPROTO,
    EPROTONOSUPPORT, EPROTOTYPE, ERANGE, EROFS, ESPIPE, ESRCH, ETIME, ETIMEDOUT, ETXTBSY,
    EXDEV, errno,
)
from libc cimport errno as libc_errno
from libc.string cimport memcpy, memset
from posix.fcntl cimport (
    O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECT, O_DIRECTORY, O_DSYNC, O_EXCL, O_NOCTTY,
    O_NONBLOCK, O_RDONLY, O_RDWR, O_SYNC, O_TRUNC, O_WRONLY,
)
from posix.fcntl cimport open as c_open
from posix.stat cimport (
    S_IRGRP, S_IROTH, S_IRUSR, S_IRWXG, S_IRWXO, S_IRWXU, S_ISGID, S_ISUID, S_ISVTX,
    S_IWGRP, S_IWOTH, S_IWUSR, S_IXGRP, S_IXOTH, S_IXUSR,
)
from posix.stat cimport mkdir as c_mkdir
from posix.types cimport gid_t, mode_t, pid_t, uid_t
from posix.unistd cimport _exit
from posix.unistd cimport chdir as c_chdir
from posix.unistd cimport close as c_close
from posix.unistd cimport execve as c_execve
from posix.unistd cimport read as c_read
from posix.unistd cimport setpgid as c_setpgid
from posix.unistd cimport setsid as c_setsid
from posix.unistd cimport write as c_write

from errno cimport ECANCELED, EDEADLK, ENOTRECOVERABLE, ENOTSUP, EOWNERDEAD, EWOULDBLOCK
from fcntl cimport O_ASYNC, O_LARGEFILE, O_NOATIME, O_NOFOLLOW, O_PATH, O_TMPFILE
from grp cimport setgroups
from linux_securebits cimport (
    SECBIT_KEEP_CAPS, SECBIT_KEEP_CAPS_LOCKED, SECBIT_NO_CAP_AMBIENT_RAISE,
    SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED, SECBIT_NO_SETUID_FIXUP,
    SECBIT_NO_SETUID_FIXUP_LOCKED, SECBIT_NOROOT, SECBIT_NOROOT_LOCKED,
)
from posix.uio cimport iovec
from sched cimport (
    CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME,
    CLONE_NEWUSER, CLONE_NEWUTS, setns, unshare,
)
from sys_mount cimport (
    MNT_DETACH, MNT_EXPIRE, MNT_FORCE, MS_BIND, MS_DIRSYNC, MS_LAZYTIME, MS_MANDLOCK,
    MS_MOVE, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_NOSYMFOLLOW,
    MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT, MS_SHARED, MS_SILENT,
    MS_SLAVE, MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE, UMOUNT_NOFOLLOW, mount, umount,
    umount2,
)
from sys_socket cimport (
    CMSG_DATA, CMSG_FIRSTHDR, CMSG_LEN, CMSG_NXTHDR, CMSG_SPACE, MSG_CMSG_CLOEXEC,
    MSG_NOSIGNAL, SCM_RIGHTS, SOL_SOCKET, cmsghdr, msghdr, recvmsg, sendmsg,
)
from sys_stat cimport umask
from sys_syscall cimport SYS_pivot_root
from unistd cimport (
    chroot, fexecve, setdomainname, sethostname, setresgid, setresuid, syscall,
)

import errno as _errno_names
import os
import sys

# libcap (sys/capability.h, libcap >= 2.26 for the ambient and securebits calls).
# Declared here because this module is its only user.
cdef extern from "<sys/capability.h>" nogil:
    ctypedef void *cap_t
    ctypedef int cap_value_t
    ctypedef enum cap_flag_value_t:
        CAP_CLEAR
        CAP_SET
    cap_t cap_from_text(const char *text)         # cap_from_text(3): NULL, errno set
    int cap_from_name(const char *name, cap_value_t *value)   # -1 on unknown name
    int cap_set_proc(cap_t caps)                   # capset(2) of all three sets
    int cap_free(void *obj)
    int cap_drop_bound(cap_value_t cap)            # prctl(PR_CAPBSET_DROP)
    int cap_set_ambient(cap_value_t cap, cap_flag_value_t value)   # PR_CAP_AMBIENT_RAISE/LOWER
    int cap_reset_ambient()                        # PR_CAP_AMBIENT_CLEAR_ALL
    int cap_set_secbits(unsigned bits)             # prctl(PR_SET_SECUREBITS)


_CONSTANTS = {
    # errno values (errno(3))
    'EAFNOSUPPORT': EAFNOSUPPORT, 'EADDRINUSE': EADDRINUSE, 'EADDRNOTAVAIL': EADDRNOTAVAIL,
    'EISCONN': EISCONN, 'E2BIG': E2BIG, 'EDOM': EDOM, 'EFAULT': EFAULT, 'EBADF': EBADF,
    'EBADMSG': EBADMSG, 'EPIPE': EPIPE, 'ECONNABORTED': ECONNABORTED, 'EALREADY': EALREADY,
    'ECONNREFUSED': ECONNREFUSED, 'ECONNRESET': ECONNRESET, 'EXDEV': EXDEV,
    'EDESTADDRREQ': EDESTADDRREQ, 'EBUSY': EBUSY, 'ENOTEMPTY': ENOTEMPTY,
    'ENOEXEC': ENOEXEC, 'EEXIST': EEXIST, 'EFBIG': EFBIG, 'ENAMETOOLONG': ENAMETOOLONG,
    'ENOSYS': ENOSYS, 'EHOSTUNREACH': EHOSTUNREACH, 'EIDRM': EIDRM, 'EILSEQ': EILSEQ,
    'ENOTTY': ENOTTY, 'EINTR': EINTR, 'EINVAL': EINVAL, 'ESPIPE': ESPIPE, 'EIO': EIO,
    'EISDIR': EISDIR, 'EMSGSIZE': EMSGSIZE, 'ENETDOWN': ENETDOWN, 'ENETRESET': ENETRESET,
    'ENETUNREACH': ENETUNREACH, 'ENOBUFS': ENOBUFS, 'ECHILD': ECHILD, 'ENOLINK': ENOLINK,
    'ENOLCK': ENOLCK, 'ENODATA': ENODATA, 'ENOMSG': ENOMSG, 'ENOPROTOOPT': ENOPROTOOPT,
    'ENOSPC': ENOSPC, 'ENOSR': ENOSR, 'ENXIO': ENXIO, 'ENODEV': ENODEV, 'ENOENT': ENOENT,
    'ESRCH': ESRCH, 'ENOTDIR': ENOTDIR, 'ENOTSOCK': ENOTSOCK, 'ENOSTR': ENOSTR,
    'ENOTCONN': ENOTCONN, 'ENOMEM': ENOMEM, 'ENOTSUP': ENOTSUP, 'ECANCELED': ECANCELED,
    'EINPROGRESS': EINPROGRESS, 'EPERM': EPERM, 'EOPNOTSUPP': EOPNOTSUPP,
    'EWOULDBLOCK': EWOULDBLOCK, 'EOWNERDEAD': EOWNERDEAD, 'EACCES': EACCES,
    'EPROTO': EPROTO, 'EPROTONOSUPPORT': EPROTONOSUPPORT, 'EROFS': EROFS,
    'EDEADLK': EDEADLK, 'EAGAIN': EAGAIN, 'ERANGE': ERANGE,
    'ENOTRECOVERABLE': ENOTRECOVERABLE, 'ETIME': ETIME, 'ETXTBSY': ETXTBSY,
    'ETIMEDOUT': ETIMEDOUT, 'ENFILE': ENFILE, 'EMFILE': EMFILE, 'EMLINK': EMLINK,
    'ELOOP': ELOOP, 'EOVERFLOW': EOVERFLOW, 'EPROTOTYPE': EPROTOTYPE,
    # open(2) flags
    'O_CLOEXEC': O_CLOEXEC, 'O_CREAT': O_CREAT, 'O_RDONLY': O_RDONLY,
    'O_WRONLY': O_WRONLY, 'O_RDWR': O_RDWR, 'O_DIRECTORY': O_DIRECTORY, 'O_EXCL': O_EXCL,
    'O_NOCTTY': O_NOCTTY, 'O_NOFOLLOW': O_NOFOLLOW, 'O_TMPFILE': O_TMPFILE,
    'O_TRUNC': O_TRUNC, 'O_APPEND': O_APPEND, 'O_ASYNC': O_ASYNC, 'O_DIRECT': O_DIRECT,
    'O_DSYNC': O_DSYNC, 'O_LARGEFILE': O_LARGEFILE, 'O_NOATIME': O_NOATIME,
    'O_NONBLOCK': O_NONBLOCK, 'O_PATH': O_PATH, 'O_SYNC': O_SYNC,
    # inode(7) permission bits
    'S_IRWXU': S_IRWXU, 'S_IRUSR': S_IRUSR, 'S_IWUSR': S_IWUSR, 'S_IXUSR': S_IXUSR,
    'S_IRWXG': S_IRWXG, 'S_IRGRP': S_IRGRP, 'S_IWGRP': S_IWGRP, 'S_IXGRP': S_IXGRP,
    'S_IRWXO': S_IRWXO, 'S_IROTH': S_IROTH, 'S_IWOTH': S_IWOTH, 'S_IXOTH': S_IXOTH,
    'S_ISUID': S_ISUID, 'S_ISGID': S_ISGID, 'S_ISVTX': S_ISVTX,
    # mount(2) flags
    'MS_REMOUNT': MS_REMOUNT, 'MS_BIND': MS_BIND, 'MS_SHARED': MS_SHARED,
    'MS_PRIVATE': MS_PRIVATE, 'MS_SLAVE': MS_SLAVE, 'MS_UNBINDABLE': MS_UNBINDABLE,
    'MS_MOVE': MS_MOVE, 'MS_DIRSYNC': MS_DIRSYNC, 'MS_LAZYTIME': MS_LAZYTIME,
    'MS_MANDLOCK': MS_MANDLOCK, 'MS_NOATIME': MS_NOATIME, 'MS_NODEV': MS_NODEV,
    'MS_NODIRATIME': MS_NODIRATIME, 'MS_NOEXEC': MS_NOEXEC, 'MS_NOSUID': MS_NOSUID,
    'MS_RDONLY': MS_RDONLY, 'MS_REC': MS_REC, 'MS_RELATIME': MS_RELATIME,
    'MS_SILENT': MS_SILENT, 'MS_STRICTATIME': MS_STRICTATIME,
    'MS_SYNCHRONOUS': MS_SYNCHRONOUS, 'MS_NOSYMFOLLOW': MS_NOSYMFOLLOW,
    # umount2(2) flags
    'MNT_FORCE': MNT_FORCE, 'MNT_DETACH': MNT_DETACH, 'MNT_EXPIRE': MNT_EXPIRE,
    'UMOUNT_NOFOLLOW': UMOUNT_NOFOLLOW,
    # unshare(2), setns(2) namespace types
    'CLONE_NEWCGROUP': CLONE_NEWCGROUP, 'CLONE_NEWIPC': CLONE_NEWIPC,
    'CLONE_NEWNET': CLONE_NEWNET, 'CLONE_NEWNS': CLONE_NEWNS, 'CLONE_NEWPID': CLONE_NEWPID,
    'CLONE_NEWTIME': CLONE_NEWTIME, 'CLONE_NEWUSER': CLONE_NEWUSER,
    'CLONE_NEWUTS': CLONE_NEWUTS,
    # capabilities(7) securebits masks
    'SECBIT_NOROOT': SECBIT_NOROOT, 'SECBIT_NOROOT_LOCKED': SECBIT_NOROOT_LOCKED,
    'SECBIT_NO_SETUID_FIXUP': SECBIT_NO_SETUID_FIXUP,
    'SECBIT_NO_SETUID_FIXUP_LOCKED': SECBIT_NO_SETUID_FIXUP_LOCKED,
    'SECBIT_KEEP_CAPS': SECBIT_KEEP_CAPS, 'SECBIT_KEEP_CAPS_LOCKED': SECBIT_KEEP_CAPS_LOCKED,
    'SECBIT_NO_CAP_AMBIENT_RAISE': SECBIT_NO_CAP_AMBIENT_RAISE,
    'SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED': SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
}
globals().update(_CONSTANTS)

#: Names of the constants of the table C, in the manual's order of kinds.
CONSTANT_NAMES = tuple(_CONSTANTS)
#: Names of the functions of the table C: the manual's list, then close.
FUNCTION_NAMES = (
    'read', 'write', 'sethostname', 'setdomainname', 'setgroups', 'cap_set_proc',
    'cap_drop_bound', 'cap_set_ambient', 'execve', 'fexecve', 'open', 'mkdir', 'chdir',
    'umask', 'mount', 'umount', 'umount2', 'pivot_root', 'chroot', 'setsid', 'setpgid',
    'setresuid', 'setresgid', 'cap_reset_ambient', 'cap_set_secbits', 'unshare', 'setns',
    'close',
)

# SCM_RIGHTS control buffers. Sending carries exactly one fd. Receiving leaves
# room for many: the kernel installs as many fds as fit in msg_controllen
# (unix(7), "Ancillary messages"; CMSG_SPACE(sizeof(int)) already fits two on
# 64-bit), so a peer may push more than one, and each installed one is ours to
# close. 512 bytes hold 124 fds; the kernel's cap per message is SCM_MAX_FD (253),
# and what does not fit is dropped by the kernel with MSG_CTRUNC.
cdef union SendControl:
    cmsghdr align
    unsigned char buf[64]

cdef union ReceiveControl:
    cmsghdr align
    unsigned char buf[512]

cdef int EXIT_ERREXIT = 1


def mode(user, group, other):
    """Permission bits from three octal digits: ``mode(7, 5, 5) == 0o755``.

    Manual: "The C API exposed to init.script", Helpers. As in the manual the
    digits are shifted and or-ed unchecked.
    """
    return (user << 6) | (group << 3) | other


cdef inline void clear_errno() noexcept nogil:
    # cap_from_text(3) may fail without setting errno (a parse error). Written
    # through the module so that Cython assigns the C variable, not a local.
    libc_errno.errno = 0


cdef bint errexit_enabled(dict namespace):
    # A script that deletes its errexit global gets the safe behaviour.
    return bool(namespace.get('errexit', True))


cdef void die(str call, int err) noexcept:
    """Report the failed call on stderr and end the process at once.

    The manual says the process aborts; it ends through _exit(2) with status 1,
    not abort(3): SIGABRT may dump core, and a core file of the sandbox holds
    whatever the init.script had in memory (core_pattern pipes even run in the
    host's namespaces, core(5)). Python's buffered stdout/stderr are flushed
    first so the script's own output comes before the message.
    """
    cdef bytes message
    cdef const char *p
    cdef Py_ssize_t left
    cdef ssize_t n
    try:
        message = os.fsencode(
            f'emilua init.script: {call}() failed with errno {err} '
            f'({_errno_names.errorcode.get(err, "?")}: {os.strerror(err)}); '
            f'errexit is true, exiting\n')
    except BaseException:
        message = b'emilua init.script: a C API call failed; errexit is true, exiting\n'
    flush_std_streams()
    p = PyBytes_AS_STRING(message)
    left = len(message)
    while left > 0:
        n = c_write(2, p, left)
        if n < 0:
            if errno == EINTR:
                continue
            break
        p += n
        left -= n
    _exit(EXIT_ERREXIT)


cdef bytes to_cstring(object value, str what):
    """str (file system encoding) or bytes-like to bytes with no NUL inside."""
    cdef bytes b
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        b = os.fsencode(value)
    elif isinstance(value, bytes):
        b = <bytes>value
    else:
        try:
            b = bytes(memoryview(value))
        except TypeError:
            raise TypeError(f'{what}: expected str or bytes-like, '
                            f'got {type(value).__name__}') from None
    if b'\0' in b:
        raise ValueError(f'{what}: embedded null byte')
    return b


cdef bytes to_buffer(object value, str what):
    """Like to_cstring, for data: NUL bytes allowed."""
    if isinstance(value, str):
        return os.fsencode(value)
    if isinstance(value, bytes):
        return <bytes>value
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise TypeError(f'{what}: expected str or bytes-like, '
                        f'got {type(value).__name__}') from None


cdef const char *c_or_null(bytes b):
    return NULL if b is None else PyBytes_AS_STRING(b)


cdef uid_t to_id(object value, str what) except? 0:
    """uid_t/gid_t from an int; -1 is (uid_t)-1, "leave unchanged" (setresuid(2))."""
    if value == -1:
        return <uid_t>-1
    if not 0 <= value <= 0xFFFFFFFE:
        raise OverflowError(f'{what}: {value!r} is not a valid id')
    return <uid_t>value


cdef class StringArray:
    """A NULL-terminated char * array (argv/envp of execve(2)) and its storage."""
    cdef list items
    cdef char **array

    def __cinit__(self, object values, str what):
        cdef Py_ssize_t i
        if isinstance(values, (str, bytes)):
            raise TypeError(f'{what}: expected a sequence of strings')
        if hasattr(values, 'items'):
            # envp given as a mapping: the NAME=value strings of environ(7).
            values = [to_cstring(k, what) + b'=' + to_cstring(v, what)
                      for k, v in values.items()]
        self.items = [to_cstring(v, what) for v in values]
        self.array = <char **>PyMem_Malloc((len(self.items) + 1) * sizeof(char *))
        if self.array == NULL:
            raise MemoryError()
        for i in range(len(self.items)):
            self.array[i] = PyBytes_AS_STRING(self.items[i])
        self.array[len(self.items)] = NULL

    def __dealloc__(self):
        PyMem_Free(self.array)


cdef class ScriptBound:
    """Base of the objects handed to an init.script: knows where errexit lives.

    *namespace* is the dict the script runs in. ``errexit`` is a plain global
    of the script (manual: "errexit is just a global boolean"), so it is read
    from there at each failure; a missing key counts as true.
    """
    cdef readonly dict namespace

    def __cinit__(self, dict namespace not None, *args, **kwargs):
        self.namespace = namespace

    cdef inline object done(self, str call, object result, int err):
        if err != 0 and errexit_enabled(self.namespace):
            die(call, err)
        return (result, err)


cdef class CTable(ScriptBound):
    """The table ``C`` of an init.script: the functions and constants of the
    manual's "The C API exposed to init.script", as methods and attributes.

    Each function returns ``(result, errno)``; errno is 0 on success. Unless
    noted, result is the C return value (-1 on failure). While the script's
    ``errexit`` is true a failure ends the process instead of returning.
    """
    def __getattr__(self, str name):
        # Called only for names that are not methods: the constants.
        try:
            return _CONSTANTS[name]
        except KeyError:
            raise AttributeError(f"C has no attribute {name!r}") from None

    def __dir__(self):
        return sorted(set(FUNCTION_NAMES) | set(CONSTANT_NAMES))

    # Functions whose arguments differ from C (manual: "Functions").

    def read(self, int fd, Py_ssize_t size):
        """read(2) into a fresh buffer of *size* bytes: ``(bytes, 0)`` with the
        bytes read (b'' at end of file), or ``(None, errno)``."""
        if size < 0:
            raise ValueError('read: size must be >= 0')
        cdef char *buf = <char *>PyMem_Malloc(size if size > 0 else 1)
        if buf == NULL:
            raise MemoryError()
        cdef ssize_t n = c_read(fd, buf, size)
        cdef int err = errno if n == -1 else 0
        try:
            if n == -1:
                return self.done('C.read', None, err)
            return (PyBytes_FromStringAndSize(buf, n), 0)
        finally:
            PyMem_Free(buf)

    def write(self, int fd, data):
        """write(2) of *data* (str or bytes-like): ``(bytes written, errno)``."""
        cdef bytes b = to_buffer(data, 'write')
        cdef ssize_t n = c_write(fd, PyBytes_AS_STRING(b), len(b))
        cdef int err = errno if n == -1 else 0
        return self.done('C.write', n, err)

    def sethostname(self, name):
        """sethostname(2) with the length taken from *name*."""
        cdef bytes b = to_buffer(name, 'sethostname')
        cdef int r = sethostname(PyBytes_AS_STRING(b), len(b))
        cdef int err = errno if r == -1 else 0
        return self.done('C.sethostname', r, err)

    def setdomainname(self, name):
        """setdomainname(2) with the length taken from *name*."""
        cdef bytes b = to_buffer(name, 'setdomainname')
        cdef int r = setdomainname(PyBytes_AS_STRING(b), len(b))
        cdef int err = errno if r == -1 else 0
        return self.done('C.setdomainname', r, err)

    def setgroups(self, groups):
        """setgroups(2) from a sequence of gids; an empty one drops every
        supplementary group."""
        cdef list gids = [to_id(g, 'setgroups') for g in groups]
        cdef Py_ssize_t i, n = len(gids)
        cdef gid_t *array = NULL
        if n > 0:
            array = <gid_t *>PyMem_Malloc(n * sizeof(gid_t))
            if array == NULL:
                raise MemoryError()
            for i in range(n):
                array[i] = <gid_t>gids[i]
        cdef int r = setgroups(n, array)
        cdef int err = errno if r == -1 else 0
        PyMem_Free(array)
        return self.done('C.setgroups', r, err)

    def cap_set_proc(self, text):
        """cap_set_proc(3) of ``cap_from_text(text)`` (cap_from_text(3)): sets
        the permitted, effective and inheritable sets at once; ``'='`` clears
        all three. An unparsable text fails with EINVAL."""
        cdef bytes b = to_cstring(text, 'cap_set_proc')
        clear_errno()
        cdef cap_t caps = cap_from_text(PyBytes_AS_STRING(b))
        if caps == NULL:
            return self.done('C.cap_set_proc', -1, errno or EINVAL)
        cdef int r = cap_set_proc(caps)
        cdef int err = errno if r == -1 else 0
        cap_free(caps)
        return self.done('C.cap_set_proc', r, err)

    def cap_drop_bound(self, name):
        """cap_drop_bound(3) of ``cap_from_name(name)`` (e.g. 'cap_sys_admin'):
        removes the capability from the bounding set. An unknown name fails
        with EINVAL."""
        cdef bytes b = to_cstring(name, 'cap_drop_bound')
        cdef cap_value_t value
        if cap_from_name(PyBytes_AS_STRING(b), &value) != 0:
            return self.done('C.cap_drop_bound', -1, EINVAL)
        cdef int r = cap_drop_bound(value)
        cdef int err = errno if r == -1 else 0
        return self.done('C.cap_drop_bound', r, err)

    def cap_set_ambient(self, name, bint value):
        """cap_set_ambient(3): raise (*value* true) or lower the ambient
        capability ``cap_from_name(name)``. Raising needs it in the permitted
        and inheritable sets (capabilities(7)). An unknown name fails with
        EINVAL."""
        cdef bytes b = to_cstring(name, 'cap_set_ambient')
        cdef cap_value_t cap
        if cap_from_name(PyBytes_AS_STRING(b), &cap) != 0:
            return self.done('C.cap_set_ambient', -1, EINVAL)
        cdef int r = cap_set_ambient(cap, CAP_SET if value else CAP_CLEAR)
        cdef int err = errno if r == -1 else 0
        return self.done('C.cap_set_ambient', r, err)

    def execve(self, path, argv, envp):
        """execve(2) with *argv* and *envp* given as sequences of strings
        (*envp* may also be a mapping). Returns only on failure:
        ``(-1, errno)``. Python's buffered stdout/stderr are flushed first, as
        their buffers die with the process image."""
        cdef bytes p = to_cstring(path, 'execve')
        cdef StringArray a = StringArray(argv, 'execve')
        cdef StringArray e = StringArray(envp, 'execve')
        flush_std_streams()
        cdef int r = c_execve(PyBytes_AS_STRING(p), a.array, e.array)
        cdef int err = errno
        return self.done('C.execve', r, err)

    def fexecve(self, int fd, argv, envp):
        """fexecve(3): execve(2) of the program open at *fd*; otherwise as
        ``execve``."""
        cdef StringArray a = StringArray(argv, 'fexecve')
        cdef StringArray e = StringArray(envp, 'fexecve')
        flush_std_streams()
        cdef int r = fexecve(fd, a.array, e.array)
        cdef int err = errno
        return self.done('C.fexecve', r, err)

    # Functions that work as in C (manual: "Other exported functions").

    def open(self, path, int flags, mode_t mode=0):
        """open(2): ``(fd, errno)``. *mode* matters with O_CREAT or O_TMPFILE."""
        cdef bytes p = to_cstring(path, 'open')
        cdef int fd = c_open(PyBytes_AS_STRING(p), flags, mode)
        cdef int err = errno if fd == -1 else 0
        return self.done('C.open', fd, err)

    def mkdir(self, path, mode_t mode):
        """mkdir(2); the umask applies to *mode*."""
        cdef bytes p = to_cstring(path, 'mkdir')
        cdef int r = c_mkdir(PyBytes_AS_STRING(p), mode)
        cdef int err = errno if r == -1 else 0
        return self.done('C.mkdir', r, err)

    def chdir(self, path):
        """chdir(2)."""
        cdef bytes p = to_cstring(path, 'chdir')
        cdef int r = c_chdir(PyBytes_AS_STRING(p))
        cdef int err = errno if r == -1 else 0
        return self.done('C.chdir', r, err)

    def umask(self, mode_t mask):
        """umask(2): ``(previous mask, 0)``; it cannot fail."""
        return (umask(mask), 0)

    def mount(self, source, target, filesystemtype, unsigned long mountflags,
              data=None):
        """mount(2). *source*, *filesystemtype* and *data* may be None (NULL),
        as for a propagation change: ``mount(None, '/', None, MS_PRIVATE)``."""
        cdef bytes s = None if source is None else to_cstring(source, 'mount')
        cdef bytes t = to_cstring(target, 'mount')
        cdef bytes f = None if filesystemtype is None else to_cstring(filesystemtype, 'mount')
        cdef bytes d = None if data is None else to_cstring(data, 'mount')
        cdef int r = mount(c_or_null(s), PyBytes_AS_STRING(t), c_or_null(f),
                           mountflags, c_or_null(d))
        cdef int err = errno if r == -1 else 0
        return self.done('C.mount', r, err)

    def umount(self, target):
        """umount(2)."""
        cdef bytes t = to_cstring(target, 'umount')
        cdef int r = umount(PyBytes_AS_STRING(t))
        cdef int err = errno if r == -1 else 0
        return self.done('C.umount', r, err)

    def umount2(self, target, int flags):
        """umount2(2) with MNT_* / UMOUNT_NOFOLLOW *flags*."""
        cdef bytes t = to_cstring(target, 'umount2')
        cdef int r = umount2(PyBytes_AS_STRING(t), flags)
        cdef int err = errno if r == -1 else 0
        return self.done('C.umount2', r, err)

    def pivot_root(self, new_root, put_old):
        """pivot_root(2), through syscall(2) as glibc has no wrapper."""
        cdef bytes n = to_cstring(new_root, 'pivot_root')
        cdef bytes o = to_cstring(put_old, 'pivot_root')
        cdef long r = syscall(SYS_pivot_root, PyBytes_AS_STRING(n), PyBytes_AS_STRING(o))
        cdef int err = errno if r == -1 else 0
        return self.done('C.pivot_root', <int>r, err)

    def chroot(self, path):
        """chroot(2)."""
        cdef bytes p = to_cstring(path, 'chroot')
        cdef int r = chroot(PyBytes_AS_STRING(p))
        cdef int err = errno if r == -1 else 0
        return self.done('C.chroot', r, err)

    def setsid(self):
        """setsid(2): ``(new session id, errno)``. Fails with EPERM in a process
        group leader."""
        cdef pid_t r = c_setsid()
        cdef int err = errno if r == -1 else 0
        return self.done('C.setsid', r, err)

    def setpgid(self, pid_t pid, pid_t pgid):
        """setpgid(2). Fails with EPERM on a session leader, so it is not needed
        (and fails) right after setsid(), which already made the process the
        leader of a new group."""
        cdef int r = c_setpgid(pid, pgid)
        cdef int err = errno if r == -1 else 0
        return self.done('C.setpgid', r, err)

    def setresuid(self, ruid, euid, suid):
        """setresuid(2); -1 leaves an id unchanged."""
        cdef uid_t r_ = to_id(ruid, 'setresuid')
        cdef uid_t e_ = to_id(euid, 'setresuid')
        cdef uid_t s_ = to_id(suid, 'setresuid')
        cdef int r = setresuid(r_, e_, s_)
        cdef int err = errno if r == -1 else 0
        return self.done('C.setresuid', r, err)

    def setresgid(self, rgid, egid, sgid):
        """setresgid(2); -1 leaves an id unchanged."""
        cdef gid_t r_ = to_id(rgid, 'setresgid')
        cdef gid_t e_ = to_id(egid, 'setresgid')
        cdef gid_t s_ = to_id(sgid, 'setresgid')
        cdef int r = setresgid(r_, e_, s_)
        cdef int err = errno if r == -1 else 0
        return self.done('C.setresgid', r, err)

    def cap_reset_ambient(self):
        """cap_reset_ambient(3): empties the ambient set."""
        cdef int r = cap_reset_ambient()
        cdef int err = errno if r == -1 else 0
        return self.done('C.cap_reset_ambient', r, err)

    def cap_set_secbits(self, unsigned int bits):
        """cap_set_secbits(3): sets the securebits to *bits* (SECBIT_* masks,
        or-ed). Needs CAP_SETPCAP."""
        cdef int r = cap_set_secbits(bits)
        cdef int err = errno if r == -1 else 0
        return self.done('C.cap_set_secbits', r, err)

    def unshare(self, int flags):
        """unshare(2) with CLONE_* *flags*."""
        cdef int r = unshare(flags)
        cdef int err = errno if r == -1 else 0
        return self.done('C.unshare', r, err)

    def setns(self, int fd, int nstype):
        """setns(2): join the namespace open at *fd*; *nstype* 0 accepts any."""
        cdef int r = setns(fd, nstype)
        cdef int err = errno if r == -1 else 0
        return self.done('C.setns', r, err)

    def close(self, int fd):
        """close(2). Not in the manual's list: fds the script opens (or that
        receive_with_fd installs) are otherwise inherited by the actor."""
        cdef int r = c_close(fd)
        cdef int err = errno if r == -1 else 0
        return self.done('C.close', r, err)


cdef class Helpers(ScriptBound):
    """``send_with_fd`` and ``receive_with_fd`` of an init.script (manual:
    "The C API exposed to init.script", Helpers). Like the functions of C
    they honour ``errexit``."""

    def send_with_fd(self, int fd, data, int fd_to_send):
        """sendmsg(2) of *data* on the AF_UNIX socket *fd* with *fd_to_send*
        attached as SCM_RIGHTS: ``(sendmsg result, errno)``. MSG_NOSIGNAL makes a
        closed peer an EPIPE result instead of SIGPIPE."""
        cdef bytes b = to_buffer(data, 'send_with_fd')
        cdef SendControl control
        cdef iovec iov
        cdef msghdr msg
        cdef cmsghdr *cmsg
        memset(&control, 0, sizeof(control))
        memset(&msg, 0, sizeof(msg))
        iov.iov_base = PyBytes_AS_STRING(b)
        iov.iov_len = len(b)
        msg.msg_iov = &iov
        msg.msg_iovlen = 1
        msg.msg_control = control.buf
        msg.msg_controllen = CMSG_SPACE(sizeof(int))
        cmsg = CMSG_FIRSTHDR(&msg)
        cmsg.cmsg_level = SOL_SOCKET
        cmsg.cmsg_type = SCM_RIGHTS
        cmsg.cmsg_len = CMSG_LEN(sizeof(int))
        memcpy(CMSG_DATA(cmsg), &fd_to_send, sizeof(int))
        cdef ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL)
        cdef int err = errno if n == -1 else 0
        return self.done('send_with_fd', n, err)

    def receive_with_fd(self, int fd, Py_ssize_t size):
        """recvmsg(2) of one message of up to *size* bytes from the AF_UNIX
        socket *fd*: ``(bytes, received fd or -1, 0)`` or ``(None, -1, errno)``.

        The received fd has FD_CLOEXEC (MSG_CMSG_CLOEXEC). Only the first fd is
        kept: any further fd the peer attached is closed here, so none leaks
        into the actor unnoticed.
        """
        if size < 0:
            raise ValueError('receive_with_fd: size must be >= 0')
        cdef char *buf = <char *>PyMem_Malloc(size if size > 0 else 1)
        if buf == NULL:
            raise MemoryError()
        cdef ReceiveControl control
        cdef iovec iov
        cdef msghdr msg
        cdef cmsghdr *cmsg
        cdef int received = -1
        cdef int one
        cdef size_t i, count
        memset(&msg, 0, sizeof(msg))
        iov.iov_base = buf
        iov.iov_len = size
        msg.msg_iov = &iov
        msg.msg_iovlen = 1
        msg.msg_control = control.buf
        msg.msg_controllen = sizeof(control.buf)
        cdef ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC)
        cdef int err = errno if n == -1 else 0
        try:
            if n == -1:
                self.done('receive_with_fd', None, err)
                return (None, -1, err)
            cmsg = CMSG_FIRSTHDR(&msg)
            while cmsg != NULL:
                if cmsg.cmsg_level == SOL_SOCKET and cmsg.cmsg_type == SCM_RIGHTS:
                    count = (cmsg.cmsg_len - CMSG_LEN(0)) // sizeof(int)
                    for i in range(count):
                        memcpy(&one, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int))
                        if received == -1:
                            received = one
                        else:
                            c_close(one)
                cmsg = CMSG_NXTHDR(&msg, cmsg)
            return (PyBytes_FromStringAndSize(buf, n), received, 0)
        finally:
            PyMem_Free(buf)


cdef void flush_std_streams() noexcept:
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except BaseException:
        pass
