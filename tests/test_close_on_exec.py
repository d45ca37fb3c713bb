# Every fd the engine creates is close-on-exec: the io_uring ring, the wake-up
# eventfd, the epoll instance, sockets (accepted ones too), duplicates handed
# out by release() and dup(). A program that runs another program must not
# leak them into it. (The standard streams' reopened fds: tests/test_system.py.)
import fcntl
import os
import subprocess
import sys

from helpers import tcp_pair, wait_until_idle

from emilua import ip, spawn, system
from emilua.byte_span import byte_span


def fd_flags(fd: int) -> int:
    """The fd's flags as /proc/self/fdinfo reports them (octal)."""
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    raise AssertionError(f"no flags line for fd {fd}")


def engine_fds() -> dict[int, str]:
    kinds = ("anon_inode:[io_uring]", "anon_inode:[eventfd]", "anon_inode:[eventpoll]")
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target in kinds:
            found[int(name)] = target
    return found


def test_the_engines_own_fds_are_close_on_exec(backend):
    fds = engine_fds()
    kinds = set(fds.values())
    assert "anon_inode:[eventfd]" in kinds
    if backend == "io_uring":
        assert "anon_inode:[io_uring]" in kinds
    else:
        assert "anon_inode:[eventpoll]" in kinds
    for fd, kind in fds.items():
        assert fd_flags(fd) & os.O_CLOEXEC, kind
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, kind


def test_sockets_and_released_fds_are_close_on_exec():
    a = ip.tcp.acceptor()
    a.open("v4")
    a.bind(ip.address.loopback_v4(), 0)
    a.listen()
    accepted = spawn(a.accept)
    c = ip.tcp.socket()
    c.connect(ip.address.loopback_v4(), a.local_port)
    s = accepted.join()
    for obj in (a, c, s):
        assert fd_flags(obj.fileno()) & os.O_CLOEXEC
    reader = spawn(s.read_some, byte_span(1))
    wait_until_idle()
    released = s.release()  # a read is in flight: a duplicate is handed out
    n = int(str(released).rsplit("/", 1)[1])
    assert fd_flags(n) & os.O_CLOEXEC
    dup = released.dup()
    assert fd_flags(int(str(dup).rsplit("/", 1)[1])) & os.O_CLOEXEC
    try:
        reader.join()
    except OSError:
        pass
    for fd in (released, dup):
        fd.close()
    for obj in (a, c):
        obj.close()


def test_file_descriptor_dup_is_close_on_exec():
    dup = system.in_.dup()
    assert fd_flags(int(str(dup).rsplit("/", 1)[1])) & os.O_CLOEXEC
    again = dup.dup()
    assert fd_flags(int(str(again).rsplit("/", 1)[1])) & os.O_CLOEXEC
    dup.close()
    again.close()


def inheritable_fds() -> set[int]:
    found = set()
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                found.add(fd)
        except OSError:  # the listing's own fd, closed by now
            pass
    return found


def test_a_program_run_by_the_engine_inherits_none_of_its_fds():
    with tcp_pair() as (c, s):
        engine = set(engine_fds()) | {c.fileno(), s.fileno()}
        # Whatever the test runner itself left inheritable is not ours.
        outside = inheritable_fds() - {0, 1, 2}
        assert not engine & outside
        # Probe fd numbers without opening any (listdir would add its own).
        lister = "import os; print([n for n in range(4096) if os.path.exists(f'/dev/fd/{n}')])"
        out = subprocess.run(
            [sys.executable, "-c", lister],
            close_fds=False,  # rely on FD_CLOEXEC alone
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        child = set(eval(out))
        assert {0, 1, 2} <= child
        assert child - {0, 1, 2} <= outside
        assert not child & (engine - {0, 1, 2})
