# The C-level interface of byte_span, for other core modules (the proactor
# passes `ptr`/`length` straight to the kernel, without the buffer protocol).
#
# Invariants, for every byte_span s:
#   0 <= s.length <= s.cap
#   s.ptr .. s.ptr + s.cap lies inside s.block's allocation; zero-capacity
#   spans share a block that owns nothing and point at a static byte that is
#   never written (s.block is None only before __init__ ran)
#   none of the four fields changes after construction: a span is a fixed view,
#   so a reference to the span (or to its block) keeps the memory alive.
cimport cython


@cython.final
cdef class MemoryBlock:
    """A zero-initialised allocation shared by every span sliced from it."""
    cdef char *data
    cdef Py_ssize_t size


@cython.final
cdef class byte_span:
    cdef MemoryBlock block
    cdef char *ptr
    cdef Py_ssize_t length
    cdef Py_ssize_t cap


# A new span over a new zero-filled block. Requires 0 <= length <= capacity.
cdef byte_span alloc_span(Py_ssize_t length, Py_ssize_t capacity)

# A new span, capacity n, holding a copy of data[0:n].
cdef byte_span span_from_memory(const char *data, Py_ssize_t n)
