"""file_descriptor (manual: "file_descriptor"): an owned fd, closed by the GC."""

from __future__ import annotations

import errno as _errno
import fcntl
import operator
import os
from typing import Any

__all__ = ["file_descriptor"]


class file_descriptor:
    """An fd the program owns, closed by close() or by the GC.

    IO objects hand it out (``release()``) and take it (``assign()``).
    ``file_descriptor(fd)`` wraps an int fd the caller owns: ownership passes
    to the new object, which closes the fd; the caller must not close it or
    wrap it again (pass ``os.dup(fd)`` to keep a copy). The manual has no
    such constructor (docs/divergences.md, "file_descriptor").

    Sent to an actor in another process, the receiver gets a duplicate and
    the sender keeps this one, open, to close as it likes.
    """

    __slots__ = ("_fd", "__weakref__")
    _fd: int

    def __init__(self, fd: int) -> None:
        """Take ownership of *fd*. Raises TypeError for a non-int and
        OSError(EBADF) when *fd* is not an open descriptor."""
        fd = operator.index(fd)
        if fd < 0:
            raise OSError(_errno.EBADF, os.strerror(_errno.EBADF))
        try:
            fcntl.fcntl(fd, fcntl.F_GETFD)  # EBADF for a closed or huge number
        except OverflowError:
            raise OSError(_errno.EBADF, os.strerror(_errno.EBADF)) from None
        self._fd = fd

    @classmethod
    def _adopt(cls, fd: int) -> file_descriptor:
        self = object.__new__(cls)
        self._fd = fd
        return self

    def _take(self) -> int:
        """Give up ownership and return the raw fd (EBADF if already closed)."""
        fd = self._fd
        if fd < 0:
            raise OSError(_errno.EBADF, os.strerror(_errno.EBADF))
        self._fd = -1
        return fd

    def _fileno(self) -> int:
        if self._fd < 0:
            raise OSError(_errno.EBADF, os.strerror(_errno.EBADF))
        return self._fd

    def close(self) -> None:
        """Close the fd now. It can only be called once (EBADF afterwards)."""
        os.close(self._take())

    def dup(self) -> file_descriptor:
        """A new file_descriptor for the same open file description (close-on-exec)."""
        return file_descriptor._adopt(os.dup(self._fileno()))

    def cap_get(self) -> Any:
        """The file's capabilities, a system.linux_capabilities (cap_get_fd(3)).

        Raises OSError(ENODATA) when the file has none.
        """
        from emilua._core import capabilities

        return capabilities.cap_get_fd_(self._fileno())

    def cap_set(self, caps: Any) -> None:
        """Set the file's capabilities (cap_set_fd(3))."""
        from emilua._core import capabilities

        if not isinstance(caps, capabilities.linux_capabilities):
            raise TypeError("caps must be a system.linux_capabilities")
        caps.set_fd(self._fileno())

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            self._fd = -1
            try:
                os.close(fd)
            except OSError:
                pass

    def __str__(self) -> str:
        return f"/dev/fd/{self._fd}" if self._fd >= 0 else "file_descriptor(closed)"

    __repr__ = __str__
