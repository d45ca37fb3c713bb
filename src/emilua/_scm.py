"""SCM_RIGHTS ancillary data (unix(7)): building it for sendmsg(2), reading it
back from recvmsg(2).

The kernel installs the passed fds in the receiver while recvmsg(2) runs, so
every fd these helpers return belongs to the caller from then on: it must end
up in an owner (a ``file_descriptor``) or be closed.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterable

__all__ = [
    "SCM_MAX_FD",
    "ancdata",
    "close_fds",
    "control_size",
    "recv_with_fds",
    "rights",
    "rights_control",
    "rights_of",
    "send_with_fds",
]

_CMSG = struct.Struct("@Nii")  # struct cmsghdr: len, level, type
_INT = struct.Struct("@i")
_ALIGN = struct.calcsize("@N")

SCM_MAX_FD = 253
"""The most fds one message may carry (include/net/scm.h); sendmsg(2) fails with
EINVAL beyond it."""


def rights(control: bytes) -> list[int]:
    """The fds of every SCM_RIGHTS block in ancillary data, in order."""
    fds: list[int] = []
    off = 0
    while off + _CMSG.size <= len(control):
        length, level, kind = _CMSG.unpack_from(control, off)
        if length < _CMSG.size or off + length > len(control):
            break
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            data = control[off + _CMSG.size : off + length]
            fds.extend(_INT.unpack_from(data, i)[0] for i in range(0, len(data) - 3, 4))
        off += (length + _ALIGN - 1) & ~(_ALIGN - 1)
    return fds


def rights_control(fds: Iterable[int]) -> bytes:
    """One SCM_RIGHTS block carrying *fds* (empty bytes for no fds)."""
    payload = b"".join(_INT.pack(fd) for fd in fds)
    if not payload:
        return b""
    length = _CMSG.size + len(payload)
    space = socket.CMSG_SPACE(len(payload))
    return (
        _CMSG.pack(length, socket.SOL_SOCKET, socket.SCM_RIGHTS) + payload + bytes(space - length)
    )


def ancdata(fds: Iterable[int]) -> list[tuple[int, int, bytes]]:
    """*fds* as the ancillary data list of ``socket.sendmsg`` (empty for no fds)."""
    payload = b"".join(_INT.pack(fd) for fd in fds)
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, payload)] if payload else []


def rights_of(anc: Iterable[tuple[int, int, bytes]]) -> list[int]:
    """The fds of the SCM_RIGHTS blocks in ``socket.recvmsg``'s ancillary list."""
    fds: list[int] = []
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(_INT.unpack_from(payload, i)[0] for i in range(0, len(payload) - 3, 4))
    return fds


def control_size(maxfds: int) -> int:
    """The ancillary buffer size that lets the kernel install at most *maxfds* fds.

    CMSG_LEN, not CMSG_SPACE: scm_detach_fds() (net/core/scm.c) fits
    ``(msg_controllen - sizeof(struct cmsghdr)) / sizeof(int)`` fds, and
    CMSG_SPACE's alignment padding would leave room for one more when
    *maxfds* is odd. Fds beyond the limit are dropped by the kernel, which then
    sets MSG_CTRUNC.
    """
    return socket.CMSG_LEN(maxfds * _INT.size)


def close_fds(fds: Iterable[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def send_with_fds(sock: socket.socket, data: bytes, fds: Iterable[int]) -> None:
    """One blocking sendmsg(2) of *data* with *fds* in SCM_RIGHTS."""
    sock.sendmsg([data], ancdata(fds))


def recv_with_fds(
    sock: socket.socket, size: int = 64 * 1024, maxfds: int = 8
) -> tuple[bytes, list[int]]:
    """One blocking recvmsg(2): the data and the fds it carried (close-on-exec).

    The defaults fit the supervisor's control messages. A message or an fd list
    cut short by the buffers raises OSError after closing the fds received.
    """
    data, anc, flags, _ = sock.recvmsg(size, control_size(maxfds), socket.MSG_CMSG_CLOEXEC)
    fds = rights_of(anc)
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        close_fds(fds)
        raise OSError("truncated message")
    return data, fds
