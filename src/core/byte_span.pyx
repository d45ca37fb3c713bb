# cython: boundscheck=False, wraparound=False, cdivision=True
"""byte_span: network buffers modelled after Go slices.

Manual: "byte_span". A span is a fixed view (pointer, length, capacity) over a
reference-counted MemoryBlock. Slicing makes another view of the same block;
append() writes in place while the capacity allows and moves to a new block
otherwise. Memory is freed when the last span (or exported buffer, or in-flight
operation) referring to the block goes away, never earlier: the kernel may be
writing into it while Python code runs.

Positions are 0-based and ranges half-open. The named methods validate their
positions as the manual does (anything outside the span, or a negative index,
is the manual's EINVAL: an OSError with errno EINVAL that is also a ValueError);
only subscripts (`s[i]`,
`s[a:b]`) follow Python's sequence rules. A str argument stands for its UTF-8
encoding (with surrogateescape, so str(span) round-trips).
"""
from cpython.buffer cimport (
    PyBUF_FORMAT,
    PyBUF_ND,
    PyBUF_SIMPLE,
    PyBUF_STRIDES,
    PyBuffer_Release,
    PyObject_CheckBuffer,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc
from cpython.number cimport PyIndex_Check
from cpython.object cimport PyObject
from cpython.slice cimport PySlice_AdjustIndices, PySlice_Unpack
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.errno cimport EINVAL
from libc.stdint cimport uintptr_t
from libc.string cimport memchr, memcmp, memcpy, memmove, memrchr, memset


cdef extern from "Python.h":
    # Cython's declaration takes `object exc`; NULL (clip instead of raising
    # OverflowError) is what lets an absurd position fail the range check.
    Py_ssize_t PyNumber_AsSsize_t(object o, PyObject *exc) except? -1
    const Py_ssize_t PY_SSIZE_T_MAX

cdef extern from "string.h" nogil:
    # GNU extension (glibc >= 2.0); Python.h defines _GNU_SOURCE first.
    void *memmem(const void *haystack, size_t haystacklen,
                 const void *needle, size_t needlelen)


# The pointer of every zero-capacity span: valid to pass anywhere, never written
# (a zero-length span has nothing to write).
cdef char _EMPTY[1]

# trimmed()'s default, the manual's linear white space.
cdef bytes _LWS = b" \f\n\r\t\v"

cdef enum:
    # Cut-off for repr(): a 64 KiB network buffer must not flood a log line.
    REPR_MAX_BYTES = 64
    # append() keeps this many argument views on the stack before mallocing.
    STACK_ARGS = 8


cdef class MemoryBlock:
    """The memory behind byte_spans. Not constructible with any content from
    Python; it exists so that views can share one allocation."""

    def __dealloc__(self):
        PyMem_Free(self.data)


# Owner of the zero-capacity spans: they need no allocation, and a block that
# is never None tells an initialised span from a bare byte_span.__new__().
cdef MemoryBlock _EMPTY_BLOCK = MemoryBlock.__new__(MemoryBlock)


cdef struct Octets:
    # Read access to the bytes of an argument (byte_span, bytes-like or str).
    const char *ptr
    Py_ssize_t len
    bint owns_view      # view must be released with PyBuffer_Release
    Py_buffer view


cdef int acquire(object o, Octets *out, str what) except -1:
    """Point *out at the octets of *o*. The caller keeps *o* alive and calls
    release(out) when done."""
    cdef Py_ssize_t n = 0
    out.owns_view = False
    if type(o) is byte_span:
        out.ptr = (<byte_span>o).ptr
        out.len = (<byte_span>o).length
    elif type(o) is bytes:
        out.ptr = PyBytes_AS_STRING(o)
        out.len = PyBytes_GET_SIZE(o)
    elif isinstance(o, str):
        try:
            # Zero-copy for ASCII; CPython caches the UTF-8 of other strs.
            out.ptr = PyUnicode_AsUTF8AndSize(o, &n)
            out.len = n
        except UnicodeEncodeError:
            # Lone surrogates: the ones str(span) produced for undecodable
            # bytes turn back into those bytes.
            encoded = (<str>o).encode("utf-8", "surrogateescape")
            PyObject_GetBuffer(encoded, &out.view, PyBUF_SIMPLE)
            out.owns_view = True
            out.ptr = <const char *>out.view.buf
            out.len = out.view.len
    elif PyObject_CheckBuffer(o):
        PyObject_GetBuffer(o, &out.view, PyBUF_SIMPLE)
        out.owns_view = True
        out.ptr = <const char *>out.view.buf
        out.len = out.view.len
    else:
        raise TypeError(
            f"{what} must be byte_span, a bytes-like object or str, "
            f"not {type(o).__name__}")
    return 0


cdef inline void release(Octets *b) noexcept:
    if b.owns_view:
        PyBuffer_Release(&b.view)
        b.owns_view = False


cdef inline byte_span make_view(MemoryBlock block, char *ptr, Py_ssize_t length,
                                Py_ssize_t cap):
    cdef byte_span s = byte_span.__new__(byte_span)
    s.block = block
    s.ptr = ptr
    s.length = length
    s.cap = cap
    return s


cdef byte_span alloc_span(Py_ssize_t length, Py_ssize_t capacity):
    if capacity == 0:
        return make_view(_EMPTY_BLOCK, _EMPTY, 0, 0)
    cdef MemoryBlock block = MemoryBlock.__new__(MemoryBlock)
    # Zero-filled so that a fresh buffer never leaks earlier heap contents
    # into a send; calloc gets large blocks as already-zero pages.
    block.data = <char *>PyMem_Calloc(<size_t>capacity, 1)
    if block.data == NULL:
        raise MemoryError(f"cannot allocate a byte_span of capacity {capacity}")
    block.size = capacity
    return make_view(block, block.data, length, capacity)


cdef byte_span span_from_memory(const char *data, Py_ssize_t n):
    cdef byte_span s = alloc_span(n, n)
    if n:
        memcpy(s.ptr, data, <size_t>n)
    return s


class _InvalidArgument(OSError, ValueError):
    """The manual's EINVAL for a well-typed argument with an unusable value.

    An OSError with errno EINVAL (what the manual raises) that is also a
    ValueError (what Python code expects for a bad range).
    """


cdef int einval(str what) except -1:
    raise _InvalidArgument(EINVAL, f"{what} (EINVAL)")


cdef Py_ssize_t position(object o, Py_ssize_t default) except? -1:
    """An optional integer argument; out-of-range values are clipped so that the
    caller's range check (not an OverflowError) reports them."""
    if o is None:
        return default
    return PyNumber_AsSsize_t(o, NULL)


cdef inline bint overlaps(const char *a, Py_ssize_t alen, const char *b,
                          Py_ssize_t blen) noexcept:
    cdef uintptr_t a0 = <uintptr_t>a, b0 = <uintptr_t>b
    return alen > 0 and blen > 0 and a0 < b0 + <uintptr_t>blen and b0 < a0 + <uintptr_t>alen


cdef inline void fill_set(unsigned char *table, const char *octets, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    memset(table, 0, 256)
    for i in range(n):
        table[<unsigned char>octets[i]] = 1


cdef Py_ssize_t scan_forward(const char *p, Py_ssize_t start, Py_ssize_t stop,
                             const char *octets, Py_ssize_t n, bint member) noexcept:
    """First i in [start, stop) with (p[i] in octets) == member, or -1."""
    cdef unsigned char table[256]
    cdef const char *hit
    cdef Py_ssize_t i
    if start >= stop:
        return -1
    if member and n == 1:
        hit = <const char *>memchr(p + start, <unsigned char>octets[0], <size_t>(stop - start))
        return -1 if hit == NULL else hit - p
    fill_set(table, octets, n)
    for i in range(start, stop):
        if table[<unsigned char>p[i]] == member:
            return i
    return -1


cdef Py_ssize_t scan_backward(const char *p, Py_ssize_t stop, const char *octets,
                              Py_ssize_t n, bint member) noexcept:
    """Last i in [0, stop) with (p[i] in octets) == member, or -1."""
    cdef unsigned char table[256]
    cdef const char *hit
    cdef Py_ssize_t i
    if stop <= 0:
        return -1
    if member and n == 1:
        hit = <const char *>memrchr(p, <unsigned char>octets[0], <size_t>stop)
        return -1 if hit == NULL else hit - p
    fill_set(table, octets, n)
    for i in range(stop - 1, -1, -1):
        if table[<unsigned char>p[i]] == member:
            return i
    return -1


cdef Py_ssize_t search_backward(const char *p, Py_ssize_t stop, const char *needle,
                                Py_ssize_t m) noexcept:
    """Start of the last occurrence of needle lying inside p[0:stop], or -1."""
    cdef Py_ssize_t limit
    cdef const char *hit
    if m > stop:
        return -1
    if m == 0:
        return stop
    # Candidates are the positions of needle's first octet that leave room
    # for the rest; memrchr skips the others at memory speed.
    limit = stop - m + 1
    while limit > 0:
        hit = <const char *>memrchr(p, <unsigned char>needle[0], <size_t>limit)
        if hit == NULL:
            return -1
        if memcmp(hit + 1, needle + 1, <size_t>(m - 1)) == 0:
            return hit - p
        limit = hit - p
    return -1


cdef object found(Py_ssize_t i):
    return None if i < 0 else i


cdef class byte_span:
    """A span of bytes; the buffers of every IO operation. Manual: "byte_span".

    Constructor (the manual's new()): *length* zeroed bytes in a block of
    *capacity* bytes (default: *length*). Raises ValueError (EINVAL) unless
    0 <= length <= capacity, TypeError for non-integers, MemoryError when the
    block cannot be allocated.

    Supports the writable buffer protocol, so `bytes(s)`, `memoryview(s)` and
    `sock.recv_into(s)` work on the span's current length.
    """

    def __cinit__(self):
        # byte_span.__new__ alone makes a valid empty span (block None).
        self.ptr = _EMPTY

    def __init__(self, length, capacity=None):
        cdef Py_ssize_t n = PyNumber_AsSsize_t(length, NULL)
        cdef Py_ssize_t cap = position(capacity, n)
        cdef byte_span fresh
        if self.block is not None:
            raise TypeError("byte_span is already initialised; spans are fixed views")
        if n < 0 or cap < n:
            einval(f"byte_span({length!r}, {capacity!r}): need 0 <= length <= capacity")
        fresh = alloc_span(n, cap)
        self.block = fresh.block
        self.ptr = fresh.ptr
        self.length = fresh.length
        self.cap = fresh.cap

    @property
    def capacity(self):
        """The capacity: how far slice() can extend this span."""
        return self.cap

    def __len__(self):
        return self.length

    # ----- views -------------------------------------------------------------

    def slice(self, start=0, end=None):
        """Return a span over self[start:end] sharing this span's memory.

        Manual: "byte_span", slice. *end* defaults to len(self) and may go up to
        self.capacity, which is how a span grows back to its capacity. The
        result's capacity is self.capacity - start. Raises ValueError (EINVAL)
        unless 0 <= start <= end <= capacity.
        """
        cdef Py_ssize_t b = position(start, 0)
        cdef Py_ssize_t e = position(end, self.length)
        if b < 0 or e < b or e > self.cap:
            einval(f"invalid range [{start!r}, {end!r}) for a byte_span of capacity {self.cap}")
        return make_view(self.block, self.ptr + b, e - b, self.cap - b)

    def __getitem__(self, key):
        cdef Py_ssize_t i, b = 0, e = 0
        if PyIndex_Check(key):
            i = item_index(self, key)
            return <unsigned char>self.ptr[i]
        if isinstance(key, slice):
            slice_bounds(self, key, &b, &e)
            return make_view(self.block, self.ptr + b, e - b, self.cap - b)
        raise TypeError(f"byte_span indices must be integers or slices, not {type(key).__name__}")

    def __setitem__(self, key, value):
        cdef Py_ssize_t i, v, b = 0, e = 0
        cdef Octets src
        if PyIndex_Check(key):
            i = item_index(self, key)
            if not PyIndex_Check(value):
                raise TypeError(f"a byte_span item is an integer, not {type(value).__name__}")
            v = PyNumber_AsSsize_t(value, NULL)
            if v < 0 or v > 255:
                raise ValueError("a byte_span item must be in range(0, 256)")
            self.ptr[i] = <char>v
            return
        if isinstance(key, slice):
            slice_bounds(self, key, &b, &e)
            acquire(value, &src, "the assigned value")
            try:
                if src.len != e - b:
                    raise ValueError(
                        f"slice assignment cannot resize a byte_span "
                        f"({e - b} bytes selected, {src.len} given)")
                if src.len:
                    memmove(self.ptr + b, src.ptr, <size_t>src.len)
            finally:
                release(&src)
            return
        raise TypeError(f"byte_span indices must be integers or slices, not {type(key).__name__}")

    def __delitem__(self, key):
        raise TypeError("byte_span has a fixed length; use slice() for a shorter view")

    # ----- copying -----------------------------------------------------------

    def copy(self, src):
        """Copy the bytes of *src* to the start of self; return the count.

        Manual: "byte_span", copy. Copies min(len(self), len(src)) bytes, and is
        correct when src and self share memory, overlapping or not.
        """
        cdef Octets s
        cdef Py_ssize_t n
        acquire(src, &s, "src")
        n = s.len if s.len < self.length else self.length
        if n:
            memmove(self.ptr, s.ptr, <size_t>n)
        release(&s)
        return n

    def append(self, *args):
        """Return a span holding self's bytes followed by each argument's.

        Manual: "byte_span", append (member overload). Arguments are byte_span,
        bytes-like or str; None stands for the manual's nil and adds nothing.
        When the capacity suffices the result shares self's memory and the
        bytes past len(self) are overwritten in place (visible to every view
        of them); otherwise the result lives in a new block whose capacity is
        at least double self's.
        """
        if not args:
            return self
        return concat(self, args)

    def __bytes__(self):
        return PyBytes_FromStringAndSize(self.ptr, self.length)

    def __str__(self):
        return self.ptr[:self.length].decode("utf-8", "surrogateescape")

    def __repr__(self):
        cdef Py_ssize_t n = self.length if self.length < REPR_MAX_BYTES else REPR_MAX_BYTES
        shown = repr(PyBytes_FromStringAndSize(self.ptr, n))
        if n < self.length:
            shown += "..."
        return f"<byte_span len={self.length} capacity={self.cap} {shown}>"

    # ----- comparison --------------------------------------------------------

    def __eq__(self, other):
        cdef Octets o
        cdef bint equal
        if not (isinstance(other, (byte_span, str)) or PyObject_CheckBuffer(other)):
            return NotImplemented
        acquire(other, &o, "other")
        equal = o.len == self.length and (
            o.len == 0 or memcmp(self.ptr, o.ptr, <size_t>o.len) == 0)
        release(&o)
        return equal

    # Contents are mutable.
    __hash__ = None

    def __reduce__(self):
        # A copy could not share the block, which is what a span is for.
        raise TypeError("a byte_span cannot be pickled or copied; use bytes(span)")

    def __contains__(self, item):
        """`65 in s` looks for an octet value, `b"ab" in s` for a substring."""
        cdef Py_ssize_t v
        if PyIndex_Check(item):
            v = PyNumber_AsSsize_t(item, NULL)
            if v < 0 or v > 255:
                raise ValueError("byte must be in range(0, 256)")
            return self.length > 0 and memchr(self.ptr, <int>v, <size_t>self.length) != NULL
        return self.find(item) is not None

    # ----- buffer protocol ---------------------------------------------------

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        # Always writable. The exporter is the span, which holds the block, so
        # the memory outlives every memoryview taken from it.
        buffer.buf = self.ptr
        buffer.obj = self
        buffer.len = self.length
        buffer.readonly = 0
        buffer.itemsize = 1
        buffer.format = NULL
        if (flags & PyBUF_FORMAT) == PyBUF_FORMAT:
            buffer.format = "B"
        buffer.ndim = 1
        buffer.shape = NULL
        if (flags & PyBUF_ND) == PyBUF_ND:
            buffer.shape = &buffer.len
        buffer.strides = NULL
        if (flags & PyBUF_STRIDES) == PyBUF_STRIDES:
            buffer.strides = &buffer.itemsize
        buffer.suboffsets = NULL
        buffer.internal = NULL

    # ----- string algorithms (manual: "Functions (string algorithms)") -------

    def starts_with(self, prefix):
        """Return whether self begins with *prefix*."""
        cdef Octets p
        cdef bint r
        acquire(prefix, &p, "prefix")
        r = p.len <= self.length and (p.len == 0 or memcmp(self.ptr, p.ptr, <size_t>p.len) == 0)
        release(&p)
        return r

    def ends_with(self, suffix):
        """Return whether self ends with *suffix*."""
        cdef Octets p
        cdef bint r
        acquire(suffix, &p, "suffix")
        r = p.len <= self.length and (
            p.len == 0 or memcmp(self.ptr + self.length - p.len, p.ptr, <size_t>p.len) == 0)
        release(&p)
        return r

    def find(self, tgt, start=0):
        """Index of the first occurrence of *tgt* in self[start:], or None.

        An empty *tgt* is found at *start*. Raises ValueError (EINVAL) unless
        0 <= start <= len(self).
        """
        cdef Py_ssize_t b = position(start, 0)
        cdef Octets t
        cdef const char *hit
        cdef Py_ssize_t r = -1
        if b < 0 or b > self.length:
            einval(f"find: start {start!r} outside [0, {self.length}]")
        acquire(tgt, &t, "tgt")
        if t.len == 0:
            r = b
        elif t.len <= self.length - b:
            hit = <const char *>memmem(self.ptr + b, <size_t>(self.length - b),
                                       t.ptr, <size_t>t.len)
            if hit != NULL:
                r = hit - self.ptr
        release(&t)
        return found(r)

    def rfind(self, tgt, end=None):
        """Index of the last occurrence of *tgt* lying inside self[:end], or None.

        *end* defaults to len(self); an empty *tgt* is found at *end*. Raises
        ValueError (EINVAL) unless 0 <= end <= len(self).
        """
        cdef Py_ssize_t e = position(end, self.length)
        cdef Octets t
        cdef Py_ssize_t r
        if e < 0 or e > self.length:
            einval(f"rfind: end {end!r} outside [0, {self.length}]")
        acquire(tgt, &t, "tgt")
        r = search_backward(self.ptr, e, t.ptr, t.len)
        release(&t)
        return found(r)

    def find_first_of(self, strlist, start=0):
        """Index of the first octet of self[start:] that is in *strlist*, or None."""
        return scan_after(self, strlist, start, True, "find_first_of")

    def find_first_not_of(self, strlist, start=0):
        """Index of the first octet of self[start:] not in *strlist*, or None."""
        return scan_after(self, strlist, start, False, "find_first_not_of")

    def find_last_of(self, strlist, end=None):
        """Index of the last octet of self[:end] that is in *strlist*, or None."""
        return scan_before(self, strlist, end, True, "find_last_of")

    def find_last_not_of(self, strlist, end=None):
        """Index of the last octet of self[:end] not in *strlist*, or None."""
        return scan_before(self, strlist, end, False, "find_last_not_of")

    def trimmed(self, lws=_LWS):
        """Return the slice of self without leading or trailing octets in *lws*.

        *lws* defaults to b" \\f\\n\\r\\t\\v". The result shares self's memory;
        when every octet is in *lws* it is an empty span at self's end.
        """
        cdef Octets s
        cdef Py_ssize_t b, e
        if lws is None:
            lws = _LWS
        acquire(lws, &s, "lws")
        b = scan_forward(self.ptr, 0, self.length, s.ptr, s.len, False)
        if b < 0:
            b = e = self.length
        else:
            e = scan_backward(self.ptr, self.length, s.ptr, s.len, False) + 1
        release(&s)
        return make_view(self.block, self.ptr + b, e - b, self.cap - b)


cdef Py_ssize_t item_index(byte_span s, object key) except -1:
    cdef Py_ssize_t i = PyNumber_AsSsize_t(key, NULL)
    if i < 0:
        i += s.length
    if i < 0 or i >= s.length:
        raise IndexError("byte_span index out of range")
    return i


cdef int slice_bounds(byte_span s, object key, Py_ssize_t *b, Py_ssize_t *e) except -1:
    cdef Py_ssize_t step = 1
    PySlice_Unpack(key, b, e, &step)
    PySlice_AdjustIndices(s.length, b, e, step)
    if step != 1:
        raise ValueError("byte_span slices are contiguous: the step must be 1")
    if e[0] < b[0]:
        e[0] = b[0]
    return 0


cdef object scan_after(byte_span self, object strlist, object start, bint member, str name):
    cdef Py_ssize_t b = position(start, 0)
    cdef Octets s
    cdef Py_ssize_t r
    if b < 0 or b > self.length:
        einval(f"{name}: start {start!r} outside [0, {self.length}]")
    acquire(strlist, &s, "strlist")
    r = scan_forward(self.ptr, b, self.length, s.ptr, s.len, member)
    release(&s)
    return found(r)


cdef object scan_before(byte_span self, object strlist, object end, bint member, str name):
    cdef Py_ssize_t e = position(end, self.length)
    cdef Octets s
    cdef Py_ssize_t r
    if e < 0 or e > self.length:
        einval(f"{name}: end {end!r} outside [0, {self.length}]")
    acquire(strlist, &s, "strlist")
    r = scan_backward(self.ptr, e, s.ptr, s.len, member)
    release(&s)
    return found(r)


cdef byte_span concat(byte_span base, tuple args):
    """Both append() overloads: base's bytes, then every argument's. A None
    base (the free function) always yields a new block of exactly the total."""
    cdef Octets stack[STACK_ARGS]
    cdef Octets *parts = stack
    cdef Py_ssize_t nargs = len(args), acquired = 0, i
    cdef Py_ssize_t prefix = 0 if base is None else base.length
    cdef Py_ssize_t total = prefix, newcap
    cdef byte_span out
    cdef char *dst
    cdef list snapshots = None
    if nargs > STACK_ARGS:
        parts = <Octets *>PyMem_Malloc(<size_t>nargs * sizeof(Octets))
        if parts == NULL:
            raise MemoryError()
    try:
        for i in range(nargs):
            arg = args[i]
            if arg is None:
                parts[i].ptr = NULL
                parts[i].len = 0
                parts[i].owns_view = False
            else:
                acquire(arg, &parts[i], "append() argument")
            acquired += 1
            if parts[i].len > PY_SSIZE_T_MAX - total:
                raise OverflowError("appended byte_span would be too large")
            total += parts[i].len

        if base is not None and total <= base.cap:
            # In place, Go-style. An argument stored in the region about to be
            # written (a view past base's end, in the same block) is copied
            # first, so the result does not depend on argument order.
            out = make_view(base.block, base.ptr, total, base.cap)
            for i in range(nargs):
                if overlaps(parts[i].ptr, parts[i].len, out.ptr + prefix, total - prefix):
                    if snapshots is None:
                        snapshots = []
                    copied = PyBytes_FromStringAndSize(parts[i].ptr, parts[i].len)
                    snapshots.append(copied)
                    parts[i].ptr = PyBytes_AS_STRING(copied)
        else:
            newcap = total
            if base is not None and base.cap <= PY_SSIZE_T_MAX // 2 and 2 * base.cap > total:
                # Doubling keeps a loop of appends linear overall.
                newcap = 2 * base.cap
            out = alloc_span(total, newcap)
            if prefix:
                memcpy(out.ptr, base.ptr, <size_t>prefix)

        dst = out.ptr + prefix
        for i in range(nargs):
            if parts[i].len:
                memmove(dst, parts[i].ptr, <size_t>parts[i].len)
                dst += parts[i].len
        return out
    finally:
        for i in range(acquired):
            release(&parts[i])
        if parts != stack:
            PyMem_Free(parts)


def append(*args):
    """Return a new span holding the bytes of every argument, in order.

    Manual: "byte_span", append (free-function overload): the result is always
    created from scratch, with capacity equal to its length, even when the
    first argument is a byte_span. Arguments are byte_span, bytes-like or
    str; None (the manual's nil) adds nothing.
    """
    return concat(None, args)
