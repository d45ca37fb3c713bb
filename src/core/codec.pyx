# cython: boundscheck=False, wraparound=False, cdivision=True
"""The bounded message format of process actors.

Manual: "Message serialization". Messages between processes travel over
AF_UNIX SOCK_SEQPACKET sockets, whose framing hands over one whole datagram
per call, so there is nothing to parse but one fixed-size C struct:

    union { double as_double; uint64_t as_int; } members[MAX_MEMBERS];
    unsigned char strbuf[MESSAGE_SIZE - sizeof(members)];

A member is either a plain double or a signalling NaN (quiet bit clear) whose
mantissa holds a kind tag (`Kind`). If members[0] is nil the message is a
single value stored in members[1]; otherwise members are the values of a flat
dict, ended by a nil member unless all MAX_MEMBERS are used. Strings, dict keys
included, are packed into strbuf in member order (a dict entry writes its key,
then its value if the value is a string), each preceded by a one-byte length.
File descriptors and actor addresses are passed as SCM_RIGHTS, in member order.

Encoding is canonical: the struct is zeroed before anything is written, so the
bytes after the last string and the members after the sentinel are zero, and
every NaN is written as the one quiet NaN 0x7ff8000000000000. Decoding accepts
the canonical form only, so a message that decodes re-encodes to the same
bytes; anything else raises MessageError. That includes NaNs with payloads: in
CPython a float keeps its NaN payload bits, and a signalling NaN from user code
must never read back as a tag.

Decoding owns the received descriptors in every outcome: they move into the
returned FileDescriptor/ActorAddress objects, or are closed before the error
propagates. Nothing here depends on the proactor; the socket helpers block or
fail with BlockingIOError as the socket's O_NONBLOCK says.
"""
cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_CheckBuffer
from cpython.buffer cimport PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_Check
from cpython.exc cimport PyErr_CheckSignals
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check
from cpython.long cimport PyLong_AsDouble, PyLong_AsLongLongAndOverflow, PyLong_Check
from cpython.number cimport PyNumber_Index
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_Check, PyUnicode_DecodeUTF8
from libc.errno cimport EINTR, errno
from libc.limits cimport INT_MAX
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset, strerror
from posix.uio cimport iovec
from posix.unistd cimport close

import enum


cdef extern from *:
    """
    #include <stddef.h>
    #include <stdint.h>
    #include <sys/socket.h>

    /* Emilua's default build: EMILUA_CONFIG_LINUX_NAMESPACES_MESSAGE_*. */
    #define EMILUA_MSG_MAX_MEMBERS 20
    #define EMILUA_MSG_SIZE 512

    union emilua_msg_member {
        double as_double;
        uint64_t as_int;
    };

    struct emilua_msg {
        union emilua_msg_member members[EMILUA_MSG_MAX_MEMBERS];
        unsigned char strbuf[EMILUA_MSG_SIZE
                             - sizeof(union emilua_msg_member)
                               * EMILUA_MSG_MAX_MEMBERS];
    };

    #define EMILUA_MSG_STRBUF_SIZE (EMILUA_MSG_SIZE - 8 * EMILUA_MSG_MAX_MEMBERS)

    /* Padding would carry stale process memory to the peer and shift what the
       peer reads; the struct must be exactly its members. */
    _Static_assert(sizeof(double) == 8 && sizeof(uint64_t) == 8,
                   "a member is one 64-bit word");
    _Static_assert(sizeof(union emilua_msg_member) == 8,
                   "no padding inside a member");
    _Static_assert(offsetof(struct emilua_msg, strbuf)
                   == 8 * EMILUA_MSG_MAX_MEMBERS,
                   "no padding between members and strbuf");
    _Static_assert(sizeof(struct emilua_msg) == EMILUA_MSG_SIZE,
                   "no padding after strbuf");
    _Static_assert(EMILUA_MSG_STRBUF_SIZE >= 256,
                   "strbuf holds the largest single string with its length");

    /* IEEE 754 binary64: exponent all ones and a non-zero mantissa is a NaN;
       the top mantissa bit set makes it quiet. */
    #define EMILUA_MSG_EXPONENT_MASK UINT64_C(0x7ff0000000000000)
    #define EMILUA_MSG_MANTISSA_MASK UINT64_C(0x000fffffffffffff)
    #define EMILUA_MSG_CANONICAL_NAN UINT64_C(0x7ff8000000000000)

    /* Room for one SCM_RIGHTS header and one descriptor per member. The
       cmsghdr member gives the buffer the alignment CMSG_* expect. */
    union emilua_msg_control {
        struct cmsghdr align;
        unsigned char buf[CMSG_SPACE(sizeof(int) * EMILUA_MSG_MAX_MEMBERS)];
    };

    /* Linux 6.5 (SO_PASSPIDFD) can attach a pidfd to each message; older
       headers lack the name. We never ask for it, but if one arrives it is a
       descriptor we own and must close. */
    #ifndef SCM_PIDFD
    #define SCM_PIDFD 0x04
    #endif
    """
    enum:
        EMILUA_MSG_MAX_MEMBERS
        EMILUA_MSG_SIZE
        EMILUA_MSG_STRBUF_SIZE
        SCM_PIDFD
    const uint64_t EMILUA_MSG_EXPONENT_MASK
    const uint64_t EMILUA_MSG_MANTISSA_MASK
    const uint64_t EMILUA_MSG_CANONICAL_NAN

    union emilua_msg_member:
        double as_double
        uint64_t as_int

    struct emilua_msg:
        emilua_msg_member members[EMILUA_MSG_MAX_MEMBERS]
        unsigned char strbuf[EMILUA_MSG_STRBUF_SIZE]

    union emilua_msg_control:
        unsigned char buf[1]        # really CMSG_SPACE(...) bytes; see sizeof


from sys_socket cimport (
    AF_UNIX, CMSG_DATA, CMSG_FIRSTHDR, CMSG_LEN, CMSG_NXTHDR, CMSG_SPACE, MSG_CMSG_CLOEXEC,
    MSG_CTRUNC, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_TRUNC, SCM_RIGHTS, SO_DOMAIN, SO_TYPE,
    SOCK_SEQPACKET, SOL_SOCKET, cmsghdr, getsockopt, mmsghdr, msghdr, recvmmsg, recvmsg,
    sendmsg, socklen_t,
)


cdef extern from "Python.h":
    int PyObject_AsFileDescriptor(object o) except -1


cdef enum:
    # Wire tags (manual: "Message serialization", enum kind).
    BOOLEAN_TRUE = 1
    BOOLEAN_FALSE = 2
    STRING = 3
    FILE_DESCRIPTOR = 4
    ACTOR_ADDRESS = 5
    NIL = 6
    # Decoder-internal: a member that is a plain double, not a tag.
    NUMBER = 0
    # The one-byte length prefix bounds every string.
    MAX_STRING = 255


MAX_MEMBERS = EMILUA_MSG_MAX_MEMBERS
MESSAGE_SIZE = EMILUA_MSG_SIZE
STRBUF_SIZE = EMILUA_MSG_STRBUF_SIZE
MAX_STRING_SIZE = MAX_STRING
# A recvmsg control buffer of this size holds the descriptors of any valid
# message; anything beyond it arrives as MSG_CTRUNC and is rejected.
CONTROL_SIZE = sizeof(emilua_msg_control)


class Kind(enum.IntEnum):
    """The tags a signalling-NaN member carries in its mantissa."""
    boolean_true = BOOLEAN_TRUE
    boolean_false = BOOLEAN_FALSE
    string = STRING
    file_descriptor = FILE_DESCRIPTOR
    actor_address = ACTOR_ADDRESS
    nil = NIL


class MessageError(ValueError):
    """A received message is malformed. Its descriptors are already closed."""


# --- descriptor boxes ------------------------------------------------------

@cython.auto_pickle(False)
cdef class _OwnedFd:
    """A file descriptor owned by this object: closed by close(), by leaving a
    `with` block, or when the object is garbage collected."""

    def __cinit__(self, *args, **kwargs):
        self.fd = -1

    def __init__(self, fd):
        """Take ownership of *fd* (an int); the caller must not close it."""
        cdef Py_ssize_t n = PyNumber_Index(fd)
        if self.fd != -1:
            raise ValueError("already owns a file descriptor")
        if n < 0 or n > INT_MAX:
            raise ValueError(f"invalid file descriptor: {n}")
        self.fd = <int>n

    def __dealloc__(self):
        if self.fd >= 0:
            close(self.fd)

    def fileno(self):
        """Return the descriptor; it stays owned by this object."""
        if self.fd < 0:
            raise ValueError("I/O operation on closed file descriptor")
        return self.fd

    def detach(self):
        """Give up ownership and return the descriptor, leaving this closed."""
        cdef int fd = self.fd
        if fd < 0:
            raise ValueError("I/O operation on closed file descriptor")
        self.fd = -1
        return fd

    def close(self):
        """Close the descriptor. Closing twice is a no-op.

        Raises OSError if close(2) fails with anything but EINTR (on Linux the
        descriptor is released even then).
        """
        cdef int fd = self.fd
        cdef int err
        if fd < 0:
            return
        self.fd = -1
        if close(fd) != 0:
            err = errno
            if err != EINTR:
                raise OSError(err, strerror(err).decode())

    @property
    def closed(self):
        return self.fd < 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __reduce__(self):
        raise TypeError(f"cannot pickle {type(self).__name__!r}: a descriptor "
                        "means something only in its own process")

    def __repr__(self):
        if self.fd < 0:
            return f"<{type(self).__qualname__} closed>"
        return f"<{type(self).__qualname__} fd={self.fd}>"


cdef class FileDescriptor(_OwnedFd):
    """A file descriptor to send, or one received (kind file_descriptor)."""


cdef class ActorAddress(_OwnedFd):
    """An actor address (kind actor_address): the sending end of an AF_UNIX
    SOCK_SEQPACKET socket pair whose other end feeds the actor's inbox."""


cdef inline _OwnedFd box(type cls, int *slot):
    # Bypasses __init__ (no Python-level argument parsing); the box owns the
    # descriptor from here on, so the caller's slot forgets it.
    cdef _OwnedFd obj = cls.__new__(cls)
    obj.fd = slot[0]
    slot[0] = -1
    return obj


cdef void close_fds(int *fds, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if fds[i] >= 0:
            close(fds[i])        # close(2): the descriptor is gone even on EINTR
            fds[i] = -1


# --- encoding --------------------------------------------------------------

cdef inline uint64_t tag(int kind) noexcept nogil:
    return EMILUA_MSG_EXPONENT_MASK | <uint64_t>kind


cdef inline uint64_t number_bits(double d) noexcept nogil:
    cdef uint64_t bits
    if d != d:
        return EMILUA_MSG_CANONICAL_NAN
    memcpy(&bits, &d, sizeof(bits))
    return bits


cdef double int_as_double(object v) except? -1.0:
    # Numbers travel as doubles (Lua's number). An int is sent only when the
    # double holds it exactly, so no value changes silently on the way.
    cdef int overflow = 0
    cdef long long n = PyLong_AsLongLongAndOverflow(v, &overflow)
    cdef double d
    if overflow == 0 and -(1LL << 53) <= n <= (1LL << 53):
        return <double>n
    try:
        d = PyLong_AsDouble(v)
    except OverflowError:
        raise ValueError(f"an int of {v.bit_length()} bits is out of the range "
                         "of a double") from None
    if d != v:               # float == int compares exactly in CPython
        raise ValueError(f"int {v} has no exact double representation; "
                         "send float(n) or str(n)")
    return d


cdef int put_string(emilua_msg *m, Py_ssize_t *pos, object s,
                    const char *what) except -1:
    cdef Py_ssize_t n
    # UnicodeEncodeError (a ValueError) for lone surrogates: not valid UTF-8.
    cdef const char *p = PyUnicode_AsUTF8AndSize(s, &n)
    if n > MAX_STRING:
        raise ValueError(f"{what.decode()} is {n} bytes long in UTF-8; "
                         f"at most {MAX_STRING} fit behind a one-byte length")
    if pos[0] + 1 + n > EMILUA_MSG_STRBUF_SIZE:
        raise ValueError(f"the strings of this message need more than the "
                         f"{EMILUA_MSG_STRBUF_SIZE} bytes of strbuf "
                         "(each takes its UTF-8 length plus one)")
    m.strbuf[pos[0]] = <unsigned char>n
    memcpy(&m.strbuf[pos[0] + 1], p, n)
    pos[0] += 1 + n
    return 0


cdef str unsendable(object v):
    if v is None:
        return "None (nil) cannot be sent: a message is one value or a non-empty dict"
    if isinstance(v, (dict, list, tuple, set, frozenset)):
        return (f"{type(v).__name__} cannot be sent here: messages are flat "
                "(one leaf, or one dict of leaves)")
    if PyObject_CheckBuffer(v):
        return (f"{type(v).__name__} is not a leaf: send the bytes as a str "
                "or pass a FileDescriptor")
    return (f"{type(v).__name__} cannot be sent: leaves are bool, int, float, "
            "str, FileDescriptor and ActorAddress")


cdef int put_leaf(emilua_msg *m, Py_ssize_t i, object v, Py_ssize_t *pos,
                  int *fds, Py_ssize_t *nfds) except -1:
    cdef uint64_t bits
    cdef int fd
    # bool before int: True is an int in Python but boolean_true on the wire.
    if v is True:
        bits = tag(BOOLEAN_TRUE)
    elif v is False:
        bits = tag(BOOLEAN_FALSE)
    elif PyFloat_Check(v):
        bits = number_bits(PyFloat_AS_DOUBLE(v))
    elif PyLong_Check(v):
        bits = number_bits(int_as_double(v))
    elif PyUnicode_Check(v):
        put_string(m, pos, v, "a string")
        bits = tag(STRING)
    elif isinstance(v, FileDescriptor) or isinstance(v, ActorAddress):
        fd = (<_OwnedFd>v).fd
        if fd < 0:
            raise ValueError(f"cannot send a closed {type(v).__name__}")
        # One descriptor per member at most, so fds[] (MAX_MEMBERS) never fills.
        fds[nfds[0]] = fd
        nfds[0] += 1
        bits = tag(FILE_DESCRIPTOR if isinstance(v, FileDescriptor) else ACTOR_ADDRESS)
    else:
        raise TypeError(unsendable(v))
    m.members[i].as_int = bits
    return 0


cdef int encode_into(object value, emilua_msg *m, int *fds,
                     Py_ssize_t *nfds) except -1:
    """Fill *m* and fds[0:*nfds] (borrowed from the leaves) or raise."""
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t i = 0
    # Zero everything first: unused members and strbuf bytes must not carry
    # stale stack memory to the peer, and the decoder insists on zeros.
    memset(m, 0, sizeof(emilua_msg))
    nfds[0] = 0
    if PyDict_Check(value):
        if len(value) > EMILUA_MSG_MAX_MEMBERS:
            raise ValueError(f"a dict of {len(value)} entries does not fit: "
                             f"a message has {EMILUA_MSG_MAX_MEMBERS} members")
        for key, item in value.items():
            # A dict subclass may yield other than len() promises: recheck.
            if i == EMILUA_MSG_MAX_MEMBERS:
                raise ValueError(f"a message has {EMILUA_MSG_MAX_MEMBERS} members")
            if not PyUnicode_Check(key):
                raise TypeError(f"dict keys must be str, not {type(key).__name__}")
            put_string(m, &pos, key, "a key")
            put_leaf(m, i, item, &pos, fds, nfds)
            i += 1
        if i == 0:
            raise ValueError("an empty dict cannot be sent: "
                             "a message is one value or a non-empty dict")
        if i < EMILUA_MSG_MAX_MEMBERS:
            m.members[i].as_int = tag(NIL)
    else:
        m.members[0].as_int = tag(NIL)
        put_leaf(m, 1, value, &pos, fds, nfds)
    return 0


def encode(value):
    """Encode *value* as one message.

    *value* is a leaf (bool, int, float, str, FileDescriptor, ActorAddress) or
    a non-empty dict of str keys to leaves. Returns ``(data, fds)``: *data* is
    MESSAGE_SIZE bytes and *fds* the descriptors to pass as SCM_RIGHTS, in
    member order. The descriptors are borrowed from the leaves in *value*,
    which must stay open until the message is sent.

    Raises TypeError for a value that is not sendable (None, nested
    containers, bytes-like objects, non-str keys, other types) and ValueError
    for one that does not fit (an empty dict, more than MAX_MEMBERS entries, a
    string or key over 255 UTF-8 bytes, strings overflowing strbuf, an int with
    no exact double, a closed descriptor, a lone surrogate).
    """
    cdef emilua_msg m
    cdef int fds[EMILUA_MSG_MAX_MEMBERS]
    cdef Py_ssize_t nfds
    encode_into(value, &m, fds, &nfds)
    return (PyBytes_FromStringAndSize(<char *>&m, sizeof(m)),
            [fds[i] for i in range(nfds)])


# --- decoding --------------------------------------------------------------

cdef struct Slot:
    int kind
    Py_ssize_t member
    Py_ssize_t key_off          # -1 for a single-value message
    Py_ssize_t key_len
    Py_ssize_t str_off
    Py_ssize_t str_len


cdef struct Layout:
    Slot slots[EMILUA_MSG_MAX_MEMBERS]
    Py_ssize_t nslots
    Py_ssize_t nfds
    bint is_dict


cdef inline int classify(uint64_t bits) noexcept nogil:
    """The member's kind, NUMBER for a double, -1 for anything else.

    Accepted: non-NaN doubles (infinities included), the canonical quiet NaN,
    and the exact tag words 0x7ff0000000000001..6. Any other NaN (a payload, a
    sign bit, an unknown tag) is not something the encoder produces.
    """
    if (bits & EMILUA_MSG_EXPONENT_MASK) != EMILUA_MSG_EXPONENT_MASK:
        return NUMBER
    if (bits & EMILUA_MSG_MANTISSA_MASK) == 0 or bits == EMILUA_MSG_CANONICAL_NAN:
        return NUMBER
    if tag(BOOLEAN_TRUE) <= bits <= tag(NIL):
        return <int>(bits & EMILUA_MSG_MANTISSA_MASK)
    return -1


cdef const char *take_string(const emilua_msg *m, Py_ssize_t *pos,
                             Py_ssize_t *off, Py_ssize_t *length) noexcept nogil:
    # The bounds check of the manual: the length byte and the bytes it
    # announces must both lie inside strbuf (the whole struct was received,
    # since only exactly MESSAGE_SIZE bytes get this far).
    if pos[0] >= EMILUA_MSG_STRBUF_SIZE:
        return b"a string's length byte lies past the end of strbuf"
    length[0] = m.strbuf[pos[0]]
    off[0] = pos[0] + 1
    if off[0] + length[0] > EMILUA_MSG_STRBUF_SIZE:
        return b"a string runs past the end of strbuf"
    pos[0] = off[0] + length[0]
    return NULL


cdef const char *parse(const emilua_msg *m, Layout *lay) noexcept nogil:
    """Check the structure and record where each value lies; NULL if valid.

    Creates no objects and touches no descriptor, so a rejection here needs
    no cleanup beyond closing the received descriptors.
    """
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t i
    cdef Py_ssize_t unused_from
    cdef uint64_t word
    cdef int kind
    cdef const char *err
    cdef Slot *s
    lay.nslots = 0
    lay.nfds = 0
    lay.is_dict = m.members[0].as_int != tag(NIL)
    i = 0 if lay.is_dict else 1
    while i < EMILUA_MSG_MAX_MEMBERS:
        kind = classify(m.members[i].as_int)
        if kind == NIL:
            if not lay.is_dict:
                return b"a single-value message holds nil"
            break                               # the dict's sentinel
        if kind < 0:
            return b"a member holds an unknown tag or a non-canonical NaN"
        s = &lay.slots[lay.nslots]
        s.kind = kind
        s.member = i
        s.key_off = -1
        if lay.is_dict:
            err = take_string(m, &pos, &s.key_off, &s.key_len)
            if err != NULL:
                return err
        if kind == STRING:
            err = take_string(m, &pos, &s.str_off, &s.str_len)
            if err != NULL:
                return err
        elif kind == FILE_DESCRIPTOR or kind == ACTOR_ADDRESS:
            lay.nfds += 1
        lay.nslots += 1
        i += 1
        if not lay.is_dict:
            break
    # i is the sentinel's index for a dict (MAX_MEMBERS when full), the index
    # after members[1] for a single value.
    unused_from = i + 1 if lay.is_dict and i < EMILUA_MSG_MAX_MEMBERS else i
    for i in range(unused_from, EMILUA_MSG_MAX_MEMBERS):
        if m.members[i].as_int != 0:
            return b"a member past the end of the message is not zeroed"
    # Word by word once aligned: strbuf starts on a member boundary.
    i = pos
    while i < EMILUA_MSG_STRBUF_SIZE and (i & 7) != 0:
        if m.strbuf[i] != 0:
            return b"strbuf bytes past the last string are not zeroed"
        i += 1
    while i + 8 <= EMILUA_MSG_STRBUF_SIZE:
        memcpy(&word, &m.strbuf[i], 8)
        if word != 0:
            return b"strbuf bytes past the last string are not zeroed"
        i += 8
    while i < EMILUA_MSG_STRBUF_SIZE:
        if m.strbuf[i] != 0:
            return b"strbuf bytes past the last string are not zeroed"
        i += 1
    return NULL


cdef str utf8_at(const emilua_msg *m, Py_ssize_t off, Py_ssize_t n):
    try:
        return PyUnicode_DecodeUTF8(<char *>&m.strbuf[off], n, NULL)
    except UnicodeDecodeError as exc:
        raise MessageError("a string is not valid UTF-8") from exc


cdef int check_address(int fd) except -1:
    # An address must be something our sends can use: the sending end of an
    # AF_UNIX SOCK_SEQPACKET pair. Anything else (a pipe, a stream socket
    # nobody reads) would only fail or stall the first send to it.
    cdef int value = -1
    cdef socklen_t size = sizeof(value)
    if getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &size) != 0 or value != AF_UNIX:
        raise MessageError("an actor address is not an AF_UNIX socket")
    size = sizeof(value)
    if getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &size) != 0 or value != SOCK_SEQPACKET:
        raise MessageError("an actor address is not a SOCK_SEQPACKET socket")
    return 0


cdef object leaf_at(const emilua_msg *m, const Slot *s):
    """A non-descriptor member's value (None for a descriptor: boxed later)."""
    if s.kind == NUMBER:
        return m.members[s.member].as_double
    if s.kind == BOOLEAN_TRUE:
        return True
    if s.kind == BOOLEAN_FALSE:
        return False
    if s.kind == STRING:
        return utf8_at(m, s.str_off, s.str_len)
    return None


cdef object build(const emilua_msg *m, const Layout *lay, int *fds):
    """Make the Python value. fds[k] is the k-th descriptor member's.

    Everything that can reject (UTF-8, duplicate keys, address checks) runs
    before the first descriptor is boxed.
    """
    cdef Py_ssize_t j
    cdef Py_ssize_t k = 0
    cdef const Slot *s
    cdef dict result
    for j in range(lay.nslots):
        s = &lay.slots[j]
        if s.kind == ACTOR_ADDRESS:
            check_address(fds[k])
        if s.kind == FILE_DESCRIPTOR or s.kind == ACTOR_ADDRESS:
            k += 1
    if not lay.is_dict:
        s = &lay.slots[0]
        if s.kind == FILE_DESCRIPTOR or s.kind == ACTOR_ADDRESS:
            return box(FileDescriptor if s.kind == FILE_DESCRIPTOR else ActorAddress, &fds[0])
        return leaf_at(m, s)
    result = {}
    keys = [] if lay.nfds else None
    for j in range(lay.nslots):
        s = &lay.slots[j]
        key = utf8_at(m, s.key_off, s.key_len)
        result[key] = leaf_at(m, s)
        if keys is not None:
            keys.append(key)
    if len(result) != lay.nslots:
        raise MessageError("a dict key appears twice")
    k = 0
    if keys is not None:
        for j in range(lay.nslots):
            s = &lay.slots[j]
            if s.kind == FILE_DESCRIPTOR or s.kind == ACTOR_ADDRESS:
                result[keys[j]] = box(
                    FileDescriptor if s.kind == FILE_DESCRIPTOR else ActorAddress, &fds[k])
                k += 1
    return result


cdef object decode_message(const unsigned char *buf, Py_ssize_t nbytes,
                           int msg_flags, int *fds, Py_ssize_t nfds):
    cdef emilua_msg m
    cdef Layout lay
    cdef const char *err = NULL
    lay.is_dict = False                 # set by parse(); this quiets -Wmaybe-uninitialized
    reason = None
    if msg_flags & MSG_TRUNC:
        reason = f"the datagram was longer than {EMILUA_MSG_SIZE} bytes (MSG_TRUNC)"
    elif msg_flags & MSG_CTRUNC:
        reason = "descriptors were dropped for lack of room (MSG_CTRUNC)"
    elif nbytes != EMILUA_MSG_SIZE:
        reason = f"a message is {EMILUA_MSG_SIZE} bytes, not {nbytes}"
    elif nfds > EMILUA_MSG_MAX_MEMBERS:
        reason = f"{nfds} descriptors arrived; a message references at most " \
                 f"{EMILUA_MSG_MAX_MEMBERS}"
    else:
        memcpy(&m, buf, sizeof(m))      # the struct's alignment, whatever buf's
        err = parse(&m, &lay)
        if err != NULL:
            reason = err.decode()
        elif nfds != lay.nfds:
            reason = (f"{nfds} descriptors arrived for a message that "
                      f"references {lay.nfds}")
    if reason is not None:
        close_fds(fds, nfds)
        raise MessageError(reason)
    try:
        return build(&m, &lay, fds)
    finally:
        close_fds(fds, nfds)            # only those not yet boxed are left


cdef Py_ssize_t collect_rights(const void *control, size_t controllen,
                               int *fds, Py_ssize_t cap,
                               bint *anomaly) noexcept nogil:
    cdef msghdr msg
    cdef cmsghdr *c
    cdef const unsigned char *end = <const unsigned char *>control + controllen
    cdef const unsigned char *data
    cdef size_t count
    cdef size_t j
    cdef int fd
    cdef Py_ssize_t n = 0
    memset(&msg, 0, sizeof(msg))
    msg.msg_control = <void *>control
    msg.msg_controllen = controllen
    c = CMSG_FIRSTHDR(&msg)
    while c != NULL:
        if c.cmsg_len < CMSG_LEN(0) or <const unsigned char *>c + c.cmsg_len > end:
            anomaly[0] = True               # not what the kernel writes; stop here
            break
        if c.cmsg_level == SOL_SOCKET and (c.cmsg_type == SCM_RIGHTS
                                           or c.cmsg_type == SCM_PIDFD):
            data = CMSG_DATA(c)
            count = (c.cmsg_len - CMSG_LEN(0)) // sizeof(int)
            for j in range(count):
                # CMSG_DATA is only cmsghdr-aligned in general: copy, not cast.
                memcpy(&fd, data + j * sizeof(int), sizeof(int))
                if c.cmsg_type == SCM_RIGHTS and n < cap:
                    fds[n] = fd
                    n += 1
                else:
                    close(fd)
                    anomaly[0] = True
        else:
            anomaly[0] = True
        c = CMSG_NXTHDR(&msg, c)
    return n


cdef Py_ssize_t take_fd_list(object fds, int *out, Py_ssize_t cap,
                             bint close_all=False) except -1:
    """Copy a Python sequence of received descriptors into out[0:cap].

    The caller hands over ownership even if this fails: every valid entry is
    closed before an error propagates.
    """
    cdef Py_ssize_t i
    numbers = []
    bad = None
    for item in fds:
        try:
            n = PyNumber_Index(item)
        except TypeError:
            bad = item
            continue
        if 0 <= n <= INT_MAX:
            numbers.append(n)
        else:
            bad = item
    if close_all or bad is not None or len(numbers) > cap:
        for n in numbers:
            close(n)
        if bad is not None:
            raise ValueError(f"not a file descriptor: {bad!r}")
        if close_all:
            return 0
        raise MessageError(f"{len(numbers)} descriptors arrived; a message "
                           f"references at most {cap}")
    for i in range(len(numbers)):
        out[i] = numbers[i]
    return len(numbers)


# decode_buffer()'s nbytes for "all of the buffer" (decode() has no count).
cdef Py_ssize_t WHOLE_BUFFER = -1


cdef object decode_buffer(object buffer, Py_ssize_t nbytes, int msg_flags, object fds):
    cdef int cfds[EMILUA_MSG_MAX_MEMBERS]
    cdef Py_ssize_t nfds = take_fd_list(fds, cfds, EMILUA_MSG_MAX_MEMBERS)
    cdef Py_buffer view
    try:
        PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
    except BaseException:
        close_fds(cfds, nfds)
        raise
    try:
        if nbytes == WHOLE_BUFFER:
            nbytes = view.len
        elif nbytes > view.len:
            close_fds(cfds, nfds)
            raise ValueError(f"nbytes ({nbytes}) exceeds the buffer ({view.len} bytes)")
        return decode_message(<const unsigned char *>view.buf, nbytes,
                              msg_flags, cfds, nfds)
    finally:
        PyBuffer_Release(&view)


def decode(data, fds=()):
    """Decode one message held in *data* (any bytes-like object).

    *fds* are the descriptors that arrived with it (SCM_RIGHTS order). Their
    ownership passes to this call in every outcome: on success each ends up
    in a FileDescriptor or ActorAddress in the result (closed by its close()
    or when collected); on any error all are closed first.

    Returns a float (every number travels as a double), bool, str,
    FileDescriptor, ActorAddress, or a dict of str to those.
    Raises MessageError for anything but the canonical encoding of a value.
    """
    return decode_buffer(data, WHOLE_BUFFER, 0, fds)


def decode_received(buffer, Py_ssize_t nbytes, int msg_flags, fds):
    """Decode what one recvmsg(2) performed elsewhere produced.

    *buffer* is the receive buffer (at least *nbytes* long), *nbytes* the
    return value, *msg_flags* the msghdr's flags (MSG_TRUNC and MSG_CTRUNC
    reject the message), *fds* the SCM_RIGHTS descriptors. Ownership of *fds*
    and the result are as for decode(). Raises ValueError when *nbytes* is
    negative (recvmsg(2) failed: there is no message) or exceeds the buffer.
    """
    if nbytes < 0:
        # The descriptors are this call's to close, whatever the outcome.
        take_fd_list(fds, NULL, 0, True)
        raise ValueError(f"nbytes ({nbytes}) is negative: no message was received")
    return decode_buffer(buffer, nbytes, msg_flags, fds)


# --- socket helpers --------------------------------------------------------

def send_message(sock, value):
    """Encode *value* and send it as one datagram on a connected AF_UNIX
    SOCK_SEQPACKET socket (*sock*: an int or an object with fileno()).

    The descriptors in *value* are duplicated into the peer by SCM_RIGHTS;
    the caller still owns its own. Encoding errors are raised before anything
    is sent (see encode()). OSError carries send's errno: BlockingIOError on a
    full non-blocking socket, BrokenPipeError when the reader is gone (no
    SIGPIPE is raised). An interrupted call is retried after signal handlers
    run.
    """
    cdef int fd = PyObject_AsFileDescriptor(sock)
    cdef emilua_msg m
    cdef int fds[EMILUA_MSG_MAX_MEMBERS]
    cdef Py_ssize_t nfds
    cdef emilua_msg_control control
    cdef iovec iov
    cdef msghdr msg
    cdef cmsghdr *c
    cdef ssize_t n
    cdef int err = 0
    encode_into(value, &m, fds, &nfds)
    memset(&msg, 0, sizeof(msg))
    iov.iov_base = &m
    iov.iov_len = sizeof(m)
    msg.msg_iov = &iov
    msg.msg_iovlen = 1
    if nfds > 0:
        memset(&control, 0, sizeof(control))
        msg.msg_control = &control
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int))
        c = CMSG_FIRSTHDR(&msg)
        c.cmsg_level = SOL_SOCKET
        c.cmsg_type = SCM_RIGHTS
        c.cmsg_len = CMSG_LEN(nfds * sizeof(int))
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int))
    while True:
        with nogil:
            n = sendmsg(fd, &msg, MSG_NOSIGNAL)
            if n < 0:
                err = errno
        if n >= 0:
            break
        if err != EINTR:
            raise OSError(err, strerror(err).decode())
        PyErr_CheckSignals()
    if n != <ssize_t>sizeof(m):
        # SOCK_SEQPACKET sends whole datagrams; a short count means the socket
        # is of another type.
        raise OSError(f"sent {n} of {sizeof(m)} bytes: not a SOCK_SEQPACKET socket?")


def recv_message(sock):
    """Receive one datagram from an AF_UNIX SOCK_SEQPACKET socket and decode it.

    *sock* is an int or an object with fileno(). Received descriptors are
    close-on-exec (MSG_CMSG_CLOEXEC) and owned as decode() says.

    Raises EOFError on a zero-length datagram: every sender is gone, or a
    peer sent an empty message, which the manual treats the same way
    ("Work lifetime management"); MessageError for a malformed message or
    ancillary data other than SCM_RIGHTS; OSError with recv's errno
    (BlockingIOError on an empty non-blocking socket). An interrupted call is
    retried after signal handlers run.
    """
    cdef int fd = PyObject_AsFileDescriptor(sock)
    cdef emilua_msg m
    cdef emilua_msg_control control
    cdef iovec iov
    cdef msghdr msg
    cdef ssize_t n
    cdef int err = 0
    cdef int fds[EMILUA_MSG_MAX_MEMBERS]
    cdef Py_ssize_t nfds
    cdef bint anomaly = False
    while True:
        memset(&msg, 0, sizeof(msg))
        iov.iov_base = &m
        iov.iov_len = sizeof(m)
        msg.msg_iov = &iov
        msg.msg_iovlen = 1
        msg.msg_control = &control
        msg.msg_controllen = sizeof(control)
        with nogil:
            n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC)
            if n < 0:
                err = errno
        if n >= 0:
            break
        if err != EINTR:
            raise OSError(err, strerror(err).decode())
        PyErr_CheckSignals()
    nfds = collect_rights(msg.msg_control, msg.msg_controllen, fds,
                          EMILUA_MSG_MAX_MEMBERS, &anomaly)
    if anomaly:
        close_fds(fds, nfds)
        raise MessageError("unexpected ancillary data (only SCM_RIGHTS is used)")
    if n == 0:
        close_fds(fds, nfds)
        raise EOFError("zero-length datagram: the channel is closed")
    return decode_message(<const unsigned char *>&m, n, msg.msg_flags, fds, nfds)


cdef enum:
    RECV_BATCH = 32       # datagrams recv_messages() takes per system call at most


def recv_messages(sock, int limit=RECV_BATCH):
    """Receive up to *limit* (at most 32) datagrams already queued on an
    AF_UNIX SOCK_SEQPACKET socket, in one recvmmsg(2) that never waits, and
    decode them in order.

    Returns a non-empty list. An entry that did not decode (a malformed
    message, MessageError) or a zero-length datagram (EOFError) is returned
    as the exception instance, and is the last entry: datagrams the same
    call received after it are dropped and their descriptors closed (the
    caller is expected to close that socket). Descriptors are otherwise
    owned as recv_message() says.
    Raises BlockingIOError when nothing is queued, OSError with the errno of
    other failures. An interrupted call is retried after signal handlers run.
    """
    cdef int fd = PyObject_AsFileDescriptor(sock)
    cdef emilua_msg bufs[RECV_BATCH]
    cdef emilua_msg_control controls[RECV_BATCH]
    cdef iovec iovs[RECV_BATCH]
    cdef mmsghdr hdrs[RECV_BATCH]
    cdef int fds[EMILUA_MSG_MAX_MEMBERS]
    cdef Py_ssize_t nfds
    cdef bint anomaly
    cdef int n, i, j
    cdef int err = 0
    cdef msghdr *h
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if limit > RECV_BATCH:
        limit = RECV_BATCH
    memset(hdrs, 0, limit * sizeof(mmsghdr))
    for i in range(limit):
        iovs[i].iov_base = &bufs[i]
        iovs[i].iov_len = sizeof(emilua_msg)
        hdrs[i].msg_hdr.msg_iov = &iovs[i]
        hdrs[i].msg_hdr.msg_iovlen = 1
        hdrs[i].msg_hdr.msg_control = &controls[i]
        hdrs[i].msg_hdr.msg_controllen = sizeof(emilua_msg_control)
    while True:
        with nogil:
            n = recvmmsg(fd, hdrs, limit, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, NULL)
            if n < 0:
                err = errno
        if n >= 0:
            break
        if err != EINTR:
            raise OSError(err, strerror(err).decode())
        PyErr_CheckSignals()
    out = []
    i = 0
    try:
        while i < n:
            h = &hdrs[i].msg_hdr
            anomaly = False
            nfds = collect_rights(h.msg_control, h.msg_controllen, fds,
                                  EMILUA_MSG_MAX_MEMBERS, &anomaly)
            i += 1
            if anomaly:
                close_fds(fds, nfds)
                out.append(MessageError("unexpected ancillary data (only SCM_RIGHTS is used)"))
                break
            if hdrs[i - 1].msg_len == 0:
                close_fds(fds, nfds)
                out.append(EOFError("zero-length datagram: the channel is closed"))
                break
            try:
                out.append(decode_message(<const unsigned char *>&bufs[i - 1],
                                          hdrs[i - 1].msg_len, h.msg_flags, fds, nfds))
            except MessageError as exc:
                out.append(exc)
                break
    finally:
        # Datagrams after a rejected one were received too: their
        # descriptors are closed and the datagrams dropped with them (a
        # sender that sends a malformed message loses its capability).
        for j in range(i, n):
            h = &hdrs[j].msg_hdr
            anomaly = False
            nfds = collect_rights(h.msg_control, h.msg_controllen, fds,
                                  EMILUA_MSG_MAX_MEMBERS, &anomaly)
            close_fds(fds, nfds)
    return out


def _layout():
    """Offsets measured on the compiled struct, for the no-padding test."""
    cdef emilua_msg m
    cdef char *base = <char *>&m
    return {
        "sizeof": sizeof(emilua_msg),
        "sizeof_member": sizeof(emilua_msg_member),
        "member_offsets": [<char *>&m.members[i] - base
                           for i in range(EMILUA_MSG_MAX_MEMBERS)],
        "strbuf_offset": <char *>&m.strbuf[0] - base,
        "strbuf_size": sizeof(m.strbuf),
    }
