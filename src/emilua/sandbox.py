"""Host-side helpers for Linux-namespace sandboxes (manual: "Linux namespaces").

``spawn_vm(module, linux_namespaces={...})`` creates the sandbox; these
helpers do the parts of the manual's examples that need a program on the
host (``ip link set dev lo up``, writing the UID/GID maps) without one:

- ``socket_pair()``: the host/guest SOCK_SEQPACKET pair that ``init.fd``
  travels on, with a host end whose calls park only the calling fiber.
- ``loopback_up(netns, userns=None)``: bring ``lo`` up in the sandbox's
  network namespace, through the namespace fds the init.script sent back.
- ``write_id_map(fd, inside, outside, count)``: fill a uid_map/gid_map fd.
- ``BIND_PYTHON``: init.script source that bind-mounts the interpreter's
  install tree read-only into a new root, for guests that import more than
  the engine preloads (see docs/sandbox.md).
"""

from __future__ import annotations

import os
import socket
import sys
import sysconfig

from emilua import _scm
from emilua._fiber import _proactor
from emilua._io import IOObject
from emilua.file_descriptor import file_descriptor

__all__ = ["BIND_PYTHON", "bind_python_script", "loopback_up", "socket_pair", "write_id_map"]


class HostSocket(IOObject):
    """The host end of a sandbox's setup socket (AF_UNIX, SOCK_SEQPACKET)."""

    __slots__ = ()

    def receive_with_fd(self, size: int = 1) -> tuple[bytes, file_descriptor | None]:
        """Receive one message and the fd it carries (None if it has none).

        Interruption point. EOFError when the guest closed its end (e.g. the
        sandbox died).
        """
        h = self._handle()
        p = self._p
        assert p is not None
        buf = bytearray(max(size, 1))
        n, control, _flags = p.recvmsg(h, buf, _scm.control_size(16))
        fds = _scm.rights(control)
        if n == 0 and not fds:
            raise EOFError("the guest closed the setup socket")
        for extra in fds[1:]:
            os.close(extra)
        fd = file_descriptor._adopt(fds[0]) if fds else None
        return bytes(buf[:n]), fd

    def send(self, data: bytes = b".") -> int:
        """Send one message (a sync point for the init.script's C.read)."""
        h = self._handle()
        p = self._p
        assert p is not None
        return int(p.send(h, data, 0))


def socket_pair() -> tuple[HostSocket, file_descriptor]:
    """(host end, guest end): pass the guest end as ``init={'fd': ...}`` and
    close it after spawn_vm() so that a dead sandbox shows as EOF here."""
    # The guest end stays blocking: the init.script's C.read() waits on it.
    host, guest = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    host.setblocking(False)
    h = HostSocket()
    h._p = _proactor()
    h._adopt_fd(host.detach())
    return h, file_descriptor._adopt(guest.detach())


def write_id_map(fd: file_descriptor, inside: int, outside: int, count: int = 1) -> None:
    """Write one line of a uid_map/gid_map (user_namespaces(7)) and close *fd*."""
    raw = fd._fileno()
    try:
        os.write(raw, f"{inside} {outside} {count}\n".encode())
    finally:
        fd.close()


def loopback_up(netns: file_descriptor, userns: file_descriptor | None = None) -> None:
    """Bring ``lo`` up inside the network namespace *netns* refers to.

    The manual runs ``ip link set dev lo up`` with ``nsenter_user`` and
    ``nsenter_net``; here the supervisor forks a short-lived child that
    joins *userns* (when given), then *netns*, and sets the link up over
    rtnetlink with pyroute2 (imported by the supervisor at the first call;
    the SIOCSIFFLAGS ioctl of netdevice(7) is the fallback). An
    unprivileged program must
    pass the sandbox's user namespace: only inside it does it hold
    CAP_SYS_ADMIN over the sandbox's network namespace. The fds stay open
    (the caller owns them).

    Raises OSError with the errno of setns(2) or of the link change.
    """
    from emilua import _supervisor

    roles, fds = [], []
    if userns is not None:
        roles.append("userns")
        fds.append(userns._fileno())
    roles.append("netns")
    fds.append(netns._fileno())
    _supervisor.request({"op": "loopback_up", "fd_roles": roles}, fds)


def _install_dirs() -> list[str]:
    dirs = []
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        d = sysconfig.get_paths().get(key)
        if d and os.path.isdir(d) and d not in dirs:
            dirs.append(d)
    for d in sys.path:
        if d and os.path.isdir(d) and d not in dirs and not d.startswith("/tmp"):
            dirs.append(d)
    return dirs


def bind_python_script(newroot: str = "/mnt") -> str:
    """init.script source that bind-mounts the interpreter's install tree
    read-only under *newroot* (run it after mounting the tmpfs there and
    before pivot_root)."""
    lines = ["def _bind_python():"]
    for d in _install_dirs():
        target = newroot.rstrip("/") + d
        lines.append(f"    _mkdirs({target!r})")
        lines.append(f"    C.mount({d!r}, {target!r}, None, C.MS_BIND | C.MS_REC)")
        lines.append(
            f"    C.mount(None, {target!r}, None, "
            "C.MS_BIND | C.MS_REMOUNT | C.MS_RDONLY | C.MS_REC)"
        )
    body = "\n".join(lines) if len(lines) > 1 else "def _bind_python():\n    pass"
    return (
        "def _mkdirs(path):\n"
        "    global errexit\n"
        "    saved, errexit = errexit, False\n"
        "    cur = ''\n"
        "    for part in path.strip('/').split('/'):\n"
        "        cur += '/' + part\n"
        "        C.mkdir(cur, mode(7, 5, 5))  # EEXIST is fine\n"
        "    errexit = saved\n" + body + "\n_bind_python()\n"
    )


BIND_PYTHON = bind_python_script()
