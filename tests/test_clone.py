"""emilua._core.clone: the supervisor's clone(2) into new namespaces.

Each case runs in a fresh single-threaded interpreter, as the supervisor is
(a raw clone runs no pthread_atfork handlers), and checks what the child saw
from inside and what the parent got back.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.pure

_PROGRAM = """
import json, os, sys
from emilua._core import clone
CLONE_NEWUTS, CLONE_NEWPID, CLONE_NEWNS = 0x04000000, 0x20000000, 0x00020000
if sys.argv[1] == "clone":
    clone._set_clone3_missing(True)
r, w = os.pipe()
pid, pidfd = clone.clone_process(CLONE_NEWUTS | CLONE_NEWPID)
if pid == 0:
    os.close(r)
    os.write(w, json.dumps({
        "pid": os.getpid(),
        "uts": os.readlink("/proc/self/ns/uts"),
    }).encode())
    os._exit(7)
os.close(w)
child = json.loads(os.read(r, 4096))
_, status = os.waitpid(pid, 0)
print(json.dumps({
    "child": child,
    "host_uts": os.readlink("/proc/self/ns/uts"),
    "pid": pid,
    "pidfd": pidfd,
    "code": os.waitstatus_to_exitcode(status),
}))
"""


@pytest.mark.parametrize("syscall", ["clone3", "clone"])
def test_the_child_is_pid1_of_its_new_namespaces(syscall: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROGRAM, syscall],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got["child"]["pid"] == 1  # CLONE_NEWPID: PID 1 at once, no second fork
    assert got["child"]["uts"] != got["host_uts"]
    assert got["pid"] > 1
    assert got["code"] == 7
    # CLONE_PIDFD comes with clone3 only; the caller opens one after clone(2).
    assert (got["pidfd"] >= 0) == (syscall == "clone3")


def test_a_refused_clone_raises_with_its_errno() -> None:
    program = """
from emilua._core import clone
try:
    # CLONE_NEWUSER | CLONE_FS: EINVAL (clone(2)), refused before any child exists.
    clone.clone_process(0x10000000 | 0x00000200)
except OSError as e:
    print(e.errno)
"""
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=True
    )
    assert int(out.stdout) == 22  # EINVAL
