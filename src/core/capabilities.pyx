# cython: language_level=3
"""system.linux_capabilities over libcap (manual: "system.linux_capabilities",
"file_descriptor" cap_get/cap_set).

Capability names and flag names are libcap's text forms: "cap_net_admin"
(cap_from_name(3)), "effective", "permitted", "inheritable". libcap reports
failure as -1 (or NULL) with errno set; OSError carries that errno. A name
libcap does not know is EINVAL.
"""

from libc.errno cimport EINVAL, errno
from libc.stdlib cimport free, malloc

import os

cdef extern from "<sys/capability.h>" nogil:
    ctypedef void *cap_t
    ctypedef int cap_value_t
    ctypedef enum cap_flag_t:
        CAP_EFFECTIVE
        CAP_PERMITTED
        CAP_INHERITABLE
    ctypedef enum cap_flag_value_t:
        CAP_CLEAR
        CAP_SET
    ctypedef unsigned uid_t
    cap_t cap_init()
    cap_t cap_get_proc()
    cap_t cap_get_pid(int pid)
    cap_t cap_get_fd(int fd)
    int cap_set_fd(int fd, cap_t caps)
    cap_t cap_dup(cap_t caps)
    cap_t cap_from_text(const char *text)
    char *cap_to_text(cap_t caps, ssize_t *length)
    int cap_from_name(const char *name, cap_value_t *value)
    int cap_free(void *obj)
    int cap_clear(cap_t caps)
    int cap_clear_flag(cap_t caps, cap_flag_t flag)
    int cap_get_flag(cap_t caps, cap_value_t cap, cap_flag_t flag, cap_flag_value_t *value)
    int cap_set_flag(cap_t caps, cap_flag_t flag, int ncap, const cap_value_t *caps,
                     cap_flag_value_t value)
    int cap_fill_flag(cap_t caps, cap_flag_t to, cap_t ref, cap_flag_t fr)
    int cap_fill(cap_t caps, cap_flag_t to, cap_flag_t fr)
    int cap_compare(cap_t a, cap_t b)
    int cap_set_proc(cap_t caps)
    uid_t cap_get_nsowner(cap_t caps)
    int cap_set_nsowner(cap_t caps, uid_t rootuid)
    int cap_get_bound(cap_value_t cap)
    int cap_drop_bound(cap_value_t cap)
    int cap_get_ambient(cap_value_t cap)
    int cap_set_ambient(cap_value_t cap, cap_flag_value_t value)
    int cap_reset_ambient()
    unsigned cap_get_secbits()
    int cap_set_secbits(unsigned bits)

cdef extern from "<linux/securebits.h>":
    int SECBIT_NOROOT_C "SECBIT_NOROOT"
    int SECBIT_NOROOT_LOCKED_C "SECBIT_NOROOT_LOCKED"
    int SECBIT_NO_SETUID_FIXUP_C "SECBIT_NO_SETUID_FIXUP"
    int SECBIT_NO_SETUID_FIXUP_LOCKED_C "SECBIT_NO_SETUID_FIXUP_LOCKED"
    int SECBIT_KEEP_CAPS_C "SECBIT_KEEP_CAPS"
    int SECBIT_KEEP_CAPS_LOCKED_C "SECBIT_KEEP_CAPS_LOCKED"
    int SECBIT_NO_CAP_AMBIENT_RAISE_C "SECBIT_NO_CAP_AMBIENT_RAISE"
    int SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED_C "SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED"

SECBIT_NOROOT = SECBIT_NOROOT_C
SECBIT_NOROOT_LOCKED = SECBIT_NOROOT_LOCKED_C
SECBIT_NO_SETUID_FIXUP = SECBIT_NO_SETUID_FIXUP_C
SECBIT_NO_SETUID_FIXUP_LOCKED = SECBIT_NO_SETUID_FIXUP_LOCKED_C
SECBIT_KEEP_CAPS = SECBIT_KEEP_CAPS_C
SECBIT_KEEP_CAPS_LOCKED = SECBIT_KEEP_CAPS_LOCKED_C
SECBIT_NO_CAP_AMBIENT_RAISE = SECBIT_NO_CAP_AMBIENT_RAISE_C
SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED = SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED_C

# Set by the package (emilua.system): called with the operation's name before
# anything that changes the process's capabilities; it raises for a VM that
# is not the master VM.
_require_master = None


def set_master_check(check):
    """Install the package's master-VM check (see _require_master)."""
    global _require_master
    _require_master = check


cdef check_master(str operation):
    if _require_master is not None:
        _require_master(operation)


_FLAGS = {"effective": CAP_EFFECTIVE, "permitted": CAP_PERMITTED,
          "inheritable": CAP_INHERITABLE}


cdef inline _oserror(int err):
    return OSError(err, os.strerror(err))


cdef cap_flag_t to_flag(object name) except *:
    try:
        return _FLAGS[name]
    except (KeyError, TypeError):
        raise OSError(EINVAL, f"not a capability flag: {name!r}") from None


cdef cap_value_t to_cap(object name) except *:
    cdef cap_value_t value
    if not isinstance(name, str):
        raise TypeError(f"a capability name is a str, not {type(name).__name__}")
    b = name.encode()
    if b"\0" in b or cap_from_name(b, &value) != 0:
        raise OSError(EINVAL, f"not a capability name: {name!r}")
    return value


cdef linux_capabilities wrap(cap_t caps):
    if caps == NULL:
        raise _oserror(errno)
    cdef linux_capabilities self = linux_capabilities.__new__(linux_capabilities)
    self.caps = caps
    return self


cdef class linux_capabilities:
    """A capability state (cap_t). Obtained from cap_get_proc(), cap_init(),
    cap_from_text(), subprocess.cap_get() or file_descriptor.cap_get().
    str() is its text form (cap_to_text(3)); == compares the three sets and
    the namespace owner (cap_compare(3))."""

    cdef cap_t caps

    def __init__(self):
        raise TypeError("use system.cap_init(), cap_get_proc() or cap_from_text()")

    def __dealloc__(self):
        if self.caps != NULL:
            cap_free(self.caps)

    def dup(self):
        """cap_dup(3): an independent copy."""
        return wrap(cap_dup(self.caps))

    def clear(self):
        """cap_clear(3): every flag of every capability cleared."""
        if cap_clear(self.caps) < 0:
            raise _oserror(errno)

    def clear_flag(self, flag):
        """cap_clear_flag(3): clear one set ("effective", "permitted",
        "inheritable")."""
        if cap_clear_flag(self.caps, to_flag(flag)) < 0:
            raise _oserror(errno)

    def get_flag(self, cap, flag):
        """cap_get_flag(3): whether capability *cap* is in set *flag*."""
        cdef cap_flag_value_t value
        if cap_get_flag(self.caps, to_cap(cap), to_flag(flag), &value) < 0:
            raise _oserror(errno)
        return value == CAP_SET

    def set_flag(self, flag, caps, bint value):
        """cap_set_flag(3): raise (*value* true) or lower every capability
        named in *caps* in set *flag*."""
        cdef cap_flag_t f = to_flag(flag)
        if isinstance(caps, str):
            raise TypeError("caps is a list of capability names")
        values = [to_cap(c) for c in caps]
        cdef int n = len(values)
        cdef cap_value_t *arr = <cap_value_t *>malloc((n + 1) * sizeof(cap_value_t))
        if arr == NULL:
            raise MemoryError()
        for i in range(n):
            arr[i] = values[i]
        cdef int r = cap_set_flag(self.caps, f, n, arr, CAP_SET if value else CAP_CLEAR)
        cdef int err = errno
        free(arr)
        if r < 0:
            raise _oserror(err)

    def fill_flag(self, to, linux_capabilities ref not None, fr):
        """cap_fill_flag(3): set *to* of self becomes set *fr* of *ref*."""
        if cap_fill_flag(self.caps, to_flag(to), ref.caps, to_flag(fr)) < 0:
            raise _oserror(errno)

    def fill(self, to, fr):
        """cap_fill(3): set *to* becomes a copy of set *fr*."""
        if cap_fill(self.caps, to_flag(to), to_flag(fr)) < 0:
            raise _oserror(errno)

    def set_proc(self):
        """cap_set_proc(3) for the calling thread. Master VM only."""
        check_master("system.linux_capabilities.set_proc")
        if cap_set_proc(self.caps) < 0:
            raise _oserror(errno)

    def get_nsowner(self):
        """cap_get_nsowner(3): the root uid of a namespaced file capability."""
        return cap_get_nsowner(self.caps)

    def set_nsowner(self, unsigned rootuid):
        """cap_set_nsowner(3)."""
        if cap_set_nsowner(self.caps, rootuid) < 0:
            raise _oserror(errno)

    def set_fd(self, int fd):
        """cap_set_fd(3) (file_descriptor.cap_set)."""
        if cap_set_fd(fd, self.caps) < 0:
            raise _oserror(errno)

    def __eq__(self, other):
        if not isinstance(other, linux_capabilities):
            return NotImplemented
        return cap_compare(self.caps, (<linux_capabilities>other).caps) == 0

    __hash__ = None

    def __str__(self):
        cdef char *text = cap_to_text(self.caps, NULL)
        if text == NULL:
            raise _oserror(errno)
        try:
            return text.decode()
        finally:
            cap_free(text)

    def __repr__(self):
        return f"<system.linux_capabilities {self}>"


def cap_get_proc_():
    """cap_get_proc(3)."""
    return wrap(cap_get_proc())


def cap_get_pid_(int pid):
    """cap_get_pid(3)."""
    return wrap(cap_get_pid(pid))


def cap_get_fd_(int fd):
    """cap_get_fd(3). ENODATA when the file has no capabilities."""
    return wrap(cap_get_fd(fd))


def cap_init_():
    """cap_init(3): every set empty."""
    return wrap(cap_init())


def cap_from_text_(text):
    """cap_from_text(3). A text libcap cannot parse is EINVAL."""
    if not isinstance(text, str):
        raise TypeError(f"caps must be a str, not {type(text).__name__}")
    b = text.encode()
    if b"\0" in b:
        raise OSError(EINVAL, "embedded null byte")
    cdef cap_t caps = cap_from_text(b)
    if caps == NULL:
        raise _oserror(EINVAL)   # a parse error leaves errno as it was
    return wrap(caps)


def cap_get_bound_(cap):
    """cap_get_bound(3): whether *cap* is in the bounding set."""
    cdef int r = cap_get_bound(to_cap(cap))
    if r < 0:
        raise _oserror(errno or EINVAL)
    return r == 1


def cap_drop_bound_(cap):
    """cap_drop_bound(3). Master VM only."""
    check_master("system.cap_drop_bound")
    if cap_drop_bound(to_cap(cap)) < 0:
        raise _oserror(errno)


def cap_get_ambient_(cap):
    """cap_get_ambient(3): whether *cap* is in the ambient set."""
    cdef int r = cap_get_ambient(to_cap(cap))
    if r < 0:
        raise _oserror(errno or EINVAL)
    return r == 1


def cap_set_ambient_(cap, bint value):
    """cap_set_ambient(3). Master VM only."""
    check_master("system.cap_set_ambient")
    if cap_set_ambient(to_cap(cap), CAP_SET if value else CAP_CLEAR) < 0:
        raise _oserror(errno)


def cap_reset_ambient_():
    """cap_reset_ambient(3). Master VM only."""
    check_master("system.cap_reset_ambient")
    if cap_reset_ambient() < 0:
        raise _oserror(errno)


def cap_get_secbits_():
    """cap_get_secbits(3)."""
    return cap_get_secbits()


def cap_set_secbits_(unsigned bits):
    """cap_set_secbits(3). Master VM only."""
    check_master("system.cap_set_secbits")
    if cap_set_secbits(bits) < 0:
        raise _oserror(errno)
