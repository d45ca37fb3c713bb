# The C-level surface of emilua._core.codec for other core modules (the proactor
# receives process-actor messages with its own recvmsg and hands the result here).

cdef class _OwnedFd:
    # -1 once closed or detached. Never 0 by accident: __cinit__ sets -1 before
    # __init__ runs, so a half-built object cannot close stdin on dealloc.
    cdef int fd

cdef class FileDescriptor(_OwnedFd):
    pass

cdef class ActorAddress(_OwnedFd):
    pass

# Moves the SCM_RIGHTS descriptors found in a received control buffer into
# fds[0:cap] and returns how many it stored. Descriptors that do not fit, and
# any descriptor-carrying ancillary data other than SCM_RIGHTS, are closed on
# the spot and set *anomaly; so is any other unexpected ancillary data.
cdef Py_ssize_t collect_rights(const void *control, size_t controllen,
                               int *fds, Py_ssize_t cap,
                               bint *anomaly) noexcept nogil

# Decodes one received message. Takes ownership of fds[0:nfds] in every
# outcome: they end up in the returned objects or are closed before
# MessageError (or MemoryError) propagates. On return every entry is -1.
cdef object decode_message(const unsigned char *buf, Py_ssize_t nbytes,
                           int msg_flags, int *fds, Py_ssize_t nfds)
