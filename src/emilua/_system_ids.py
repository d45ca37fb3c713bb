"""Process ids and credentials of the system module (manual: "system.getresuid",
"system.getresgid", "system.setresuid", "system.setresgid", "system.getgroups",
"system.setgroups", "system.getpid", "system.getppid", "system.kill",
"system.getpgrp", "system.getpgid", "system.setpgid", "system.getsid",
"system.setsid"). Re-exported by ``emilua.system``.

The manual's multiple return values are one tuple; failures raise OSError
with the kernel's errno (its standard subclass: PermissionError for EPERM,
ProcessLookupError for ESRCH). The functions that change process-wide state
are reserved to the master VM, as the manual says: any other VM gets
PermissionError(EPERM) before the system call is made.

Credentials are per process: glibc applies setresuid(2), setresgid(2) and
setgroups(2) to every thread (nptl(7)), so VMs on other threads see the
change too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from emilua._actor import require_master

__all__ = [
    "getgroups",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getresgid",
    "getresuid",
    "getsid",
    "kill",
    "setgroups",
    "setpgid",
    "setresgid",
    "setresuid",
    "setsid",
]


def _int(name: str, value: Any) -> int:
    # bool is an int in Python; kill(pid, True) is a mistake, not SIGHUP.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return int(value)


def getresuid() -> tuple[int, int, int]:
    """The (real, effective, saved set-user-ID) UIDs of the process."""
    return os.getresuid()


def getresgid() -> tuple[int, int, int]:
    """The (real, effective, saved set-group-ID) GIDs of the process."""
    return os.getresgid()


def setresuid(ruid: int, euid: int, suid: int) -> None:
    """Set the real, effective and saved set-user-ID UIDs; -1 keeps a value.

    Master VM only. Raises PermissionError(EPERM) where the kernel refuses.
    """
    ids = (_int("ruid", ruid), _int("euid", euid), _int("suid", suid))
    require_master("system.setresuid")
    os.setresuid(*ids)


def setresgid(rgid: int, egid: int, sgid: int) -> None:
    """Set the real, effective and saved set-group-ID GIDs; -1 keeps a value.

    Master VM only. Raises PermissionError(EPERM) where the kernel refuses.
    """
    ids = (_int("rgid", rgid), _int("egid", egid), _int("sgid", sgid))
    require_master("system.setresgid")
    os.setresgid(*ids)


def getgroups() -> list[int]:
    """The supplementary group IDs of the process (the effective GID may or
    may not be among them, as getgroups(2) says).
    """
    return os.getgroups()


def setgroups(groups: Iterable[int]) -> None:
    """Set the supplementary group IDs of the process (setgroups(2)).

    Master VM only. Raises PermissionError(EPERM) without CAP_SETGID.
    """
    if isinstance(groups, (str, bytes)):
        raise TypeError("setgroups() takes a sequence of ints")
    gids = [_int("a group id", g) for g in groups]
    require_master("system.setgroups")
    os.setgroups(gids)


def getpid() -> int:
    """The process ID of the calling process."""
    return os.getpid()


def getppid() -> int:
    """The process ID of the parent of the calling process."""
    return os.getppid()


def kill(pid: int, sig: int) -> None:
    """Send signal *sig* to *pid* as kill(2) does (0 for *sig* only checks).

    Master VM only. Raises ProcessLookupError (ESRCH) for no such process,
    PermissionError (EPERM) when not allowed, OSError(EINVAL) for a bad signal.
    """
    args = (_int("pid", pid), _int("sig", sig))
    require_master("system.kill")
    os.kill(*args)


def getpgrp() -> int:
    """The process group ID of the calling process (getpgrp(2))."""
    return os.getpgrp()


def getpgid(pid: int) -> int:
    """The process group ID of *pid*, 0 meaning the caller (getpgid(2))."""
    return os.getpgid(_int("pid", pid))


def setpgid(pid: int, pgid: int) -> None:
    """Move *pid* (0: the caller) into process group *pgid* (0: a group whose
    ID is *pid*'s), as setpgid(2). Master VM only.
    """
    args = (_int("pid", pid), _int("pgid", pgid))
    require_master("system.setpgid")
    os.setpgid(*args)


def getsid(pid: int) -> int:
    """The session ID of *pid*, 0 meaning the caller (getsid(2))."""
    return os.getsid(_int("pid", pid))


def setsid() -> int:
    """Start a new session and process group led by the caller; return the
    new session ID (setsid(2)). Master VM only.

    Raises PermissionError (EPERM) if the caller already leads a process group.
    """
    require_master("system.setsid")
    os.setsid()
    return os.getpid()
