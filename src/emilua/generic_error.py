"""Errors of the generic (POSIX) category.

Manual: "generic_error". Each attribute access builds a new error, ready to be
raised and free to carry extra attributes::

    from emilua import generic_error
    err = generic_error.EINVAL
    err.arg = 1
    raise err

The error is an ``OSError`` of the standard subclass for its errno (``EEXIST``
gives a ``FileExistsError``), with ``errno`` untouched, ``code`` equal to it and
``category`` set to :data:`emilua._errors.generic_category`.
"""

from __future__ import annotations

import errno as _errno

from emilua._errors import CategoryError, generic_category

#: The names the manual lists (its ``EL00P`` is ``ELOOP``).
NAMES: frozenset[str] = frozenset(
    """
    EAFNOSUPPORT EADDRINUSE EADDRNOTAVAIL EISCONN E2BIG EDOM EFAULT EBADF EBADMSG
    EPIPE ECONNABORTED EALREADY ECONNREFUSED ECONNRESET EXDEV EDESTADDRREQ EBUSY
    ENOTEMPTY ENOEXEC EEXIST EFBIG ENAMETOOLONG ENOSYS EHOSTUNREACH EIDRM EILSEQ
    ENOTTY EINTR EINVAL ESPIPE EIO EISDIR EMSGSIZE ENETDOWN ENETRESET ENETUNREACH
    ENOBUFS ECHILD ENOLINK ENOLCK ENOMSG ENOPROTOOPT ENOSPC ENXIO ENODEV ENOENT
    ESRCH ENOTDIR ENOTSOCK ENOTCONN ENOMEM ENOTSUP ECANCELED EINPROGRESS EPERM
    EOPNOTSUPP EWOULDBLOCK EOWNERDEAD EACCES EPROTO EPROTONOSUPPORT EROFS EDEADLK
    EAGAIN ERANGE ENOTRECOVERABLE ETXTBSY ETIMEDOUT ENFILE EMFILE EMLINK ELOOP
    EOVERFLOW EPROTOTYPE
    """.split()
)

category = generic_category


def __getattr__(name: str) -> CategoryError:
    if name in NAMES:
        return generic_category.error(getattr(_errno, name))
    raise AttributeError(f"generic_error has no error {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *NAMES})
