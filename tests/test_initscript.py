"""The init.script and its C API (manual: "Linux namespaces", "The C API exposed
to init.script").

Calls that change process-wide state run in a forked child that first enters a
new user, mount and UTS namespace through the C API itself (os.unshare needs
Python 3.12). The child always leaves through os._exit and reports a JSON value
to the parent through a pipe, so pytest never goes on running in a child.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import prctl
import pytest

from emilua._core import initscript
from emilua._sandbox.initscript import make_namespace, run_init_script

CTable, Helpers, mode = initscript.CTable, initscript.Helpers, initscript.mode

# No engine: the init.script runs before the actor's engine exists, and forking
# a process that owns an io_uring instance would share the ring with the child.
pytestmark = pytest.mark.pure

CAP_SYS_ADMIN = 21  # capability(7) numbers, as in /proc/self/status masks
CAP_NET_RAW = 13

MANUAL_CONSTANTS = """
O_CLOEXEC EAFNOSUPPORT EADDRINUSE EADDRNOTAVAIL EISCONN E2BIG EDOM EFAULT EBADF EBADMSG
EPIPE ECONNABORTED EALREADY ECONNREFUSED ECONNRESET EXDEV EDESTADDRREQ EBUSY ENOTEMPTY
ENOEXEC EEXIST EFBIG ENAMETOOLONG ENOSYS EHOSTUNREACH EIDRM EILSEQ ENOTTY EINTR EINVAL
ESPIPE EIO EISDIR EMSGSIZE ENETDOWN ENETRESET ENETUNREACH ENOBUFS ECHILD ENOLINK ENOLCK
ENODATA ENOMSG ENOPROTOOPT ENOSPC ENOSR ENXIO ENODEV ENOENT ESRCH ENOTDIR ENOTSOCK ENOSTR
ENOTCONN ENOMEM ENOTSUP ECANCELED EINPROGRESS EPERM EOPNOTSUPP EWOULDBLOCK EOWNERDEAD
EACCES EPROTO EPROTONOSUPPORT EROFS EDEADLK EAGAIN ERANGE ENOTRECOVERABLE ETIME ETXTBSY
ETIMEDOUT ENFILE EMFILE EMLINK ELOOP EOVERFLOW EPROTOTYPE O_CREAT O_RDONLY O_WRONLY O_RDWR
O_DIRECTORY O_EXCL O_NOCTTY O_NOFOLLOW O_TMPFILE O_TRUNC O_APPEND O_ASYNC O_DIRECT O_DSYNC
O_LARGEFILE O_NOATIME O_NONBLOCK O_PATH O_SYNC S_IRWXU S_IRUSR S_IWUSR S_IXUSR S_IRWXG
S_IRGRP S_IWGRP S_IXGRP S_IRWXO S_IROTH S_IWOTH S_IXOTH S_ISUID S_ISGID S_ISVTX MS_REMOUNT
MS_BIND MS_SHARED MS_PRIVATE MS_SLAVE MS_UNBINDABLE MS_MOVE MS_DIRSYNC MS_LAZYTIME
MS_MANDLOCK MS_NOATIME MS_NODEV MS_NODIRATIME MS_NOEXEC MS_NOSUID MS_RDONLY MS_REC
MS_RELATIME MS_SILENT MS_STRICTATIME MS_SYNCHRONOUS MS_NOSYMFOLLOW MNT_FORCE MNT_DETACH
MNT_EXPIRE UMOUNT_NOFOLLOW CLONE_NEWCGROUP CLONE_NEWIPC CLONE_NEWNET CLONE_NEWNS
CLONE_NEWPID CLONE_NEWTIME CLONE_NEWUSER CLONE_NEWUTS SECBIT_NOROOT SECBIT_NOROOT_LOCKED
SECBIT_NO_SETUID_FIXUP SECBIT_NO_SETUID_FIXUP_LOCKED SECBIT_KEEP_CAPS
SECBIT_KEEP_CAPS_LOCKED SECBIT_NO_CAP_AMBIENT_RAISE SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED
""".split()

MANUAL_FUNCTIONS = """
read write sethostname setdomainname setgroups cap_set_proc cap_drop_bound cap_set_ambient
execve fexecve open mkdir chdir umask mount umount umount2 pivot_root chroot setsid setpgid
setresuid setresgid cap_reset_ambient cap_set_secbits unshare setns
""".split()


@dataclass
class Outcome:
    status: int  # exit code, or -signal
    value: object  # what the child reported, None if it reported nothing
    stderr: str


def start_child(body, *, namespaces: bool = True) -> Callable[[], Outcome]:
    """Run *body* in a forked child; return a function that waits for its end."""
    result_r, result_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.close(result_r)
            os.close(err_r)
            os.dup2(err_w, 2)
            sys.stderr = open(2, "w", buffering=1, closefd=False)
            if namespaces:
                enter_namespaces()
            value = body()
            os.write(result_w, json.dumps(value).encode())
            code = 0
        except BaseException:
            os.write(2, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(result_w)
    os.close(err_w)

    def wait() -> Outcome:
        report = read_all(result_r)
        stderr = read_all(err_r)
        _, wstatus = os.waitpid(pid, 0)
        return Outcome(
            status=os.waitstatus_to_exitcode(wstatus),
            value=json.loads(report) if report else None,
            stderr=stderr.decode(errors="replace"),
        )

    return wait


def in_child(body, *, namespaces: bool = True) -> Outcome:
    """Run *body* in a forked child and return how the child ended."""
    return start_child(body, namespaces=namespaces)()


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def enter_namespaces() -> None:
    """New user + mount + UTS namespaces, mapped to our own uid/gid as 0.

    user_namespaces(7): a process may write a one-line map of its own ids;
    gid_map also needs setgroups denied first. Until the maps exist, tmpfs
    refuses to create inodes (EOVERFLOW), as the manual warns.
    """
    uid, gid = os.getuid(), os.getgid()
    C = CTable({"errexit": True})
    C.unshare(C.CLONE_NEWUSER | C.CLONE_NEWNS | C.CLONE_NEWUTS)
    for path, data in (
        ("/proc/self/setgroups", "deny"),
        ("/proc/self/uid_map", f"0 {uid} 1"),
        ("/proc/self/gid_map", f"0 {gid} 1"),
    ):
        fd, _ = C.open(path, C.O_WRONLY)
        C.write(fd, data)
        C.close(fd)
    # mount_namespaces(7): keep our mounts from propagating back to the host.
    C.mount(None, "/", None, C.MS_REC | C.MS_PRIVATE)


def status_mask(field: str, status_fd: int | None = None) -> int:
    """A capability mask of /proc/self/status (proc(5)); *status_fd* reads a
    copy opened earlier, for use after the root changed."""
    if status_fd is None:
        with open("/proc/self/status", "rb") as f:
            text = f.read()
    else:
        text = os.pread(status_fd, 65536, 0)
    for line in text.decode().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise LookupError(field)


# Helpers


def test_mode_builds_permission_bits_from_three_digits():
    assert mode(7, 5, 5) == 0o755
    assert mode(6, 0, 0) == 0o600
    assert mode(7, 7, 7) == 0o777


def test_namespace_holds_the_manual_globals():
    ns = make_namespace(5)
    assert ns["fdarg"] == 5 and ns["errexit"] is True and ns["mode"] is mode
    assert isinstance(ns["C"], CTable)
    assert callable(ns["send_with_fd"]) and callable(ns["receive_with_fd"])


# Constants and function list


def test_c_exposes_every_constant_of_the_manual():
    C = CTable({})
    assert set(initscript.CONSTANT_NAMES) == set(MANUAL_CONSTANTS)
    for name in MANUAL_CONSTANTS:
        assert getattr(C, name) == getattr(initscript, name)
        assert isinstance(getattr(C, name), int)


def test_constants_have_the_kernel_values():
    C = CTable({})
    for name in MANUAL_CONSTANTS:
        if name.startswith("E"):
            assert getattr(C, name) == getattr(errno, name), name
        elif name.startswith("O_") and hasattr(os, name):
            assert getattr(C, name) == getattr(os, name), name
        elif name.startswith("S_"):
            assert getattr(C, name) == getattr(stat, name), name
    # mount(2), <linux/mount.h>; unshare(2), <linux/sched.h>; <linux/securebits.h>
    assert (C.MS_RDONLY, C.MS_REC, C.MS_PRIVATE, C.MS_NOSYMFOLLOW) == (1, 16384, 1 << 18, 256)
    assert (C.MNT_FORCE, C.MNT_DETACH, C.MNT_EXPIRE, C.UMOUNT_NOFOLLOW) == (1, 2, 4, 8)
    assert (C.CLONE_NEWNS, C.CLONE_NEWUSER, C.CLONE_NEWTIME) == (0x20000, 0x10000000, 0x80)
    assert (C.SECBIT_NOROOT, C.SECBIT_KEEP_CAPS, C.SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED) == (
        1,
        16,
        128,
    )


def test_c_exposes_every_function_of_the_manual():
    C = CTable({})
    for name in MANUAL_FUNCTIONS + ["close"]:
        assert callable(getattr(C, name)), name
    assert set(initscript.FUNCTION_NAMES) == set(MANUAL_FUNCTIONS) | {"close"}
    with pytest.raises(AttributeError):
        C.no_such_name  # noqa: B018


# errexit


def test_failures_return_errno_while_errexit_is_false(tmp_path):
    C = CTable({"errexit": False})
    missing = str(tmp_path / "missing")
    assert C.chdir(missing) == (-1, errno.ENOENT)
    assert C.open(missing, C.O_RDONLY) == (-1, errno.ENOENT)
    assert C.mkdir(str(tmp_path), 0o755) == (-1, errno.EEXIST)
    assert C.chroot(missing) == (-1, errno.ENOENT)
    assert C.read(-1, 4) == (None, errno.EBADF)
    assert C.write(-1, "x") == (-1, errno.EBADF)
    assert C.close(-1) == (-1, errno.EBADF)
    assert C.setns(-1, 0) == (-1, errno.EBADF)
    assert C.cap_set_proc("this is no capability text") == (-1, errno.EINVAL)
    assert C.cap_drop_bound("cap_no_such_thing") == (-1, errno.EINVAL)
    assert C.cap_set_ambient("cap_no_such_thing", True) == (-1, errno.EINVAL)
    assert C.execve(missing, ["x"], []) == (-1, errno.ENOENT)
    assert C.fexecve(-1, ["x"], {}) == (-1, errno.EINVAL)  # fexecve(3): fd is not valid


def test_a_missing_errexit_global_counts_as_true():
    def body():
        CTable({}).chdir("/nonexistent/dir")
        return "not reached"

    out = in_child(body, namespaces=False)
    assert out.status == 1 and out.value is None


def test_errexit_ends_the_process_and_names_the_failed_call():
    r, w = os.pipe()

    def body():
        os.close(r)
        run_init_script("C.chdir('/nonexistent/dir')\nC.write(fdarg, 'reached')\n", w, w)
        return "runner returned"

    out = in_child(body, namespaces=False)
    os.close(w)
    assert read_all(r) == b""
    assert out.status == 1 and out.value is None
    assert "C.chdir()" in out.stderr
    assert "ENOENT" in out.stderr and "errexit" in out.stderr


def test_errexit_can_be_switched_off_and_on_by_the_script():
    script = """
errexit = False
first = C.chdir('/nonexistent/dir')
C.write(fdarg, repr(first))
def strict():
    global errexit
    errexit = True
strict()
C.umount('/nonexistent/dir')
C.write(fdarg, 'not reached')
"""
    r, w = os.pipe()

    def body():
        os.close(r)
        run_init_script(script, w, w)
        return "runner returned"

    out = in_child(body, namespaces=False)
    os.close(w)
    assert read_all(r) == repr((-1, errno.ENOENT)).encode()
    assert out.status == 1 and "C.umount()" in out.stderr


def test_helpers_honour_errexit():
    def body():
        ns = make_namespace(None)
        ns["receive_with_fd"](-1, 1)
        return "not reached"

    out = in_child(body, namespaces=False)
    assert out.status == 1 and "receive_with_fd()" in out.stderr


def test_an_exception_in_the_script_is_reported_and_fails(capsys):
    r, w = os.pipe()
    try:
        assert run_init_script("raise RuntimeError('boom')", None, w) is False
        assert "RuntimeError: boom" in capsys.readouterr().err
        assert run_init_script("def (:", None, w) is False
        assert "SyntaxError" in capsys.readouterr().err
        assert run_init_script("x = C.umask(0o22)\nC.umask(x[0])", None, w) is True
        assert os.get_inheritable(w) is False  # the runtime's socket never reaches an exec
    finally:
        os.close(r)
        os.close(w)


# Files


def test_open_write_read_close_and_umask(tmp_path):
    path = str(tmp_path / "f")

    def body():
        C = CTable({"errexit": True})
        C.umask(0o027)
        previous, err = C.umask(0o027)
        fd, err_open = C.open(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL, mode(6, 6, 6))
        written = C.write(fd, b"abc\0def")
        C.close(fd)
        fd, _ = C.open(path, C.O_RDONLY | C.O_CLOEXEC)
        data = C.read(fd, 100)
        eof = C.read(fd, 100)
        C.close(fd)
        C.mkdir(path + ".d", mode(7, 7, 7))
        return [previous, err, err_open, list(written), repr(data), repr(eof)]

    out = in_child(body, namespaces=False)
    assert out.status == 0, out.stderr
    assert out.value == [0o027, 0, 0, [7, 0], repr((b"abc\0def", 0)), repr((b"", 0))]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(path + ".d").st_mode) == 0o750


# Namespaces, hostname, mounts


def test_sethostname_and_setdomainname_in_a_new_uts_namespace():
    host = socket.gethostname()

    def body():
        C = CTable({"errexit": True})
        results = [C.sethostname("mycoolhostname"), C.setdomainname(b"mycooldomainname")]
        with open("/proc/sys/kernel/domainname") as f:
            domain = f.read().strip()
        return [list(map(list, results)), socket.gethostname(), domain]

    out = in_child(body)
    assert out.status == 0, out.stderr
    assert out.value == [[[0, 0], [0, 0]], "mycoolhostname", "mycooldomainname"]
    assert socket.gethostname() == host


def test_unshare_and_setns_move_between_uts_namespaces():
    def body():
        C = CTable({"errexit": True})
        C.sethostname("outer")
        outer, _ = C.open("/proc/self/ns/uts", C.O_RDONLY | C.O_CLOEXEC)
        C.unshare(C.CLONE_NEWUTS)
        C.sethostname("inner")
        inner = socket.gethostname()
        C.setns(outer, C.CLONE_NEWUTS)
        back = socket.gethostname()
        ns = {"errexit": False}
        wrong_type = CTable(ns).setns(outer, C.CLONE_NEWNET)
        return [inner, back, list(wrong_type)]

    out = in_child(body)
    assert out.status == 0, out.stderr
    assert out.value == ["inner", "outer", [-1, errno.EINVAL]]


def test_mount_tmpfs_pivot_root_and_chroot_give_an_empty_root(tmp_path):
    # The manual's "The mount namespace" example, on tmp_path instead of /mnt
    # and without /proc (mounting procfs needs a PID namespace of our own).
    new_root = str(tmp_path)

    def body():
        C = CTable({"errexit": True})
        C.mount(None, "/", None, C.MS_PRIVATE)
        C.umask(0)
        C.mount(None, new_root, "tmpfs", 0)
        C.mkdir(new_root + "/proc", mode(7, 5, 5))
        C.mkdir(new_root + "/tmp", mode(7, 7, 7))
        C.mkdir(new_root + "/mnt", mode(7, 5, 5))
        C.chdir(new_root)
        C.pivot_root(".", new_root + "/mnt")
        C.chroot(".")
        C.umount2("/mnt", C.MNT_DETACH)
        modes = {d: stat.S_IMODE(os.stat("/" + d).st_mode) for d in ("proc", "tmp", "mnt")}
        C.mount("tmpfs", "/tmp", "tmpfs", C.MS_NOSUID | C.MS_NODEV, "size=64k,mode=700")
        tmp_mode = stat.S_IMODE(os.stat("/tmp").st_mode)
        first = C.umount("/tmp")
        loose = CTable({"errexit": False})
        again = loose.umount("/tmp")
        busy = loose.pivot_root("/nonexistent", "/nonexistent")
        return [sorted(os.listdir("/")), os.getcwd(), modes, tmp_mode, first, again, busy]

    out = in_child(body)
    assert out.status == 0, out.stderr
    listing, cwd, modes, tmp_mode, first, again, busy = out.value
    assert listing == ["mnt", "proc", "tmp"] and cwd == "/"
    assert modes == {"proc": 0o755, "tmp": 0o777, "mnt": 0o755}
    assert tmp_mode == 0o700
    assert first == [0, 0] and again == [-1, errno.EINVAL] and busy == [-1, errno.ENOENT]
    assert os.listdir(new_root) == []  # the host never saw the tmpfs


# Credentials and sessions


def test_setresuid_setresgid_and_setgroups():
    def body():
        C = CTable({"errexit": False})
        return [
            C.setresgid(0, 0, 0),
            C.setresuid(0, -1, 0),
            C.setresuid(1, 1, 1),  # uid 1 has no mapping: EINVAL
            C.setgroups([]),  # /proc/self/setgroups says deny: EPERM
            list(os.getresuid()),
        ]

    out = in_child(body)
    assert out.status == 0, out.stderr
    assert out.value == [[0, 0], [0, 0], [-1, errno.EINVAL], [-1, errno.EPERM], [0, 0, 0]]


def test_setgroups_sets_the_supplementary_groups():
    if os.getuid() != 0:
        pytest.skip("setgroups(2) in the initial user namespace needs CAP_SETGID")

    def body():
        C = CTable({"errexit": True})
        C.setgroups([5, 7])
        first = sorted(os.getgroups())
        C.setgroups([])
        return [first, os.getgroups()]

    out = in_child(body, namespaces=False)
    assert out.status == 0, out.stderr
    assert out.value == [[5, 7], []]


def test_setsid_then_setpgid_on_the_session_leader_fails():
    def body():
        C = CTable({"errexit": False})
        sid = C.setsid()
        return [sid, os.getpid(), os.getsid(0), C.setpgid(0, 0)]

    out = in_child(body, namespaces=False)
    assert out.status == 0, out.stderr
    sid, pid, session, pgid = out.value
    assert sid == [pid, 0] and session == pid
    # setpgid(2): EPERM for a session leader, so the manual's "setsid();
    # setpgid(0, 0)" pair needs only its first call.
    assert pgid == [-1, errno.EPERM]


def test_setpgid_makes_a_new_process_group():
    def body():
        C = CTable({"errexit": True})
        return [C.setpgid(0, 0), os.getpgrp() == os.getpid()]

    out = in_child(body, namespaces=False)
    assert out.status == 0, out.stderr
    assert out.value == [[0, 0], True]


# Capabilities


def test_capability_calls_change_the_process_capabilities():
    def body():
        C = CTable({"errexit": True})
        start = status_mask("CapEff")
        C.cap_drop_bound("cap_sys_admin")
        bound = status_mask("CapBnd")
        C.cap_set_proc("all=ep cap_net_raw+i")
        C.cap_set_ambient("cap_net_raw", True)
        ambient = status_mask("CapAmb")
        C.cap_set_ambient("cap_net_raw", False)
        lowered = status_mask("CapAmb")
        C.cap_set_ambient("cap_net_raw", True)
        C.cap_reset_ambient()
        reset = status_mask("CapAmb")
        C.cap_set_secbits(C.SECBIT_KEEP_CAPS | C.SECBIT_NO_SETUID_FIXUP)
        secbits = [prctl.securebits.keep_caps, prctl.securebits.no_setuid_fixup]
        C.cap_set_proc("=")
        after = [status_mask(f) for f in ("CapEff", "CapPrm", "CapInh", "CapAmb")]
        refused = CTable({"errexit": False}).cap_set_ambient("cap_net_raw", True)
        return [start, bound, ambient, lowered, reset, secbits, after, list(refused)]

    out = in_child(body)
    assert out.status == 0, out.stderr
    start, bound, ambient, lowered, reset, secbits, after, refused = out.value
    assert start & (1 << CAP_SYS_ADMIN)  # root of a fresh user namespace
    assert not bound & (1 << CAP_SYS_ADMIN)
    assert ambient == 1 << CAP_NET_RAW and lowered == 0 and reset == 0
    assert secbits == [True, True]
    assert after == [0, 0, 0, 0]  # cap_set_proc('=') drops every capability
    assert refused == [-1, errno.EPERM]


# Exec


def test_execve_replaces_the_process_with_argv_and_envp():
    def body():
        C = CTable({"errexit": True})
        C.execve("/bin/sh", ["sh", "-c", 'exit "$CODE"'], ["CODE=7"])
        return "not reached"

    out = in_child(body, namespaces=False)
    assert out.status == 7, out.stderr


def test_fexecve_runs_the_program_open_at_an_fd():
    def body():
        C = CTable({"errexit": True})
        fd, _ = C.open("/bin/sh", C.O_RDONLY | C.O_CLOEXEC)
        C.fexecve(fd, ["sh", "-c", 'exit "$CODE"'], {"CODE": "9"})
        return "not reached"

    out = in_child(body, namespaces=False)
    assert out.status == 9, out.stderr


# send_with_fd / receive_with_fd


@pytest.fixture
def seqpacket_pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    yield a, b
    a.close()
    b.close()


def test_send_with_fd_and_receive_with_fd_pass_a_pipe(seqpacket_pair):
    a, b = seqpacket_pair
    h = Helpers({"errexit": True})
    r, w = os.pipe()
    try:
        assert h.send_with_fd(a.fileno(), ".", r) == (1, 0)
        data, fd, err = h.receive_with_fd(b.fileno(), 16)
        assert (data, err) == (b".", 0)
        assert fd not in (-1, r)
        try:
            assert not os.get_inheritable(fd)  # MSG_CMSG_CLOEXEC
            os.write(w, b"through the passed fd")
            assert os.read(fd, 100) == b"through the passed fd"
        finally:
            os.close(fd)
    finally:
        os.close(r)
        os.close(w)


def test_receive_with_fd_without_an_fd_and_with_extra_fds(seqpacket_pair):
    a, b = seqpacket_pair
    h = Helpers({"errexit": True})
    a.send(b"plain")
    assert h.receive_with_fd(b.fileno(), 16) == (b"plain", -1, 0)

    r, w = os.pipe()
    try:
        before = len(os.listdir("/proc/self/fd"))
        socket.send_fds(a, [b"xy"], [r, w, r])
        data, fd, err = h.receive_with_fd(b.fileno(), 16)
        assert (data, err) == (b"xy", 0)
        os.close(fd)
        assert len(os.listdir("/proc/self/fd")) == before  # the extra two were closed
    finally:
        os.close(r)
        os.close(w)


def test_helpers_return_errno_while_errexit_is_false(seqpacket_pair):
    a, b = seqpacket_pair
    h = Helpers({"errexit": False})
    assert h.receive_with_fd(-1, 1) == (None, -1, errno.EBADF)
    assert h.send_with_fd(a.fileno(), ".", -1) == (-1, errno.EBADF)
    b.close()
    assert h.send_with_fd(a.fileno(), ".", 0) == (-1, errno.EPIPE)  # no SIGPIPE


# The manual's "Full example", host and guest in one test


FULL_EXAMPLE = """
uidmap, _ = C.open('/proc/self/uid_map', C.O_WRONLY)
send_with_fd(fdarg, '.', uidmap)
setgroups, _ = C.open('/proc/self/setgroups', C.O_WRONLY)
C.write(setgroups, 'deny')
gidmap, _ = C.open('/proc/self/gid_map', C.O_WRONLY)
send_with_fd(fdarg, '.', gidmap)
for fd in (uidmap, setgroups, gidmap):
    C.close(fd)
# sync point #1: tmpfs refuses mkdir() with EOVERFLOW until the maps exist
C.read(fdarg, 1)

C.mount(None, '/', None, C.MS_PRIVATE)
C.umask(0)
C.mount(None, NEW_ROOT, 'tmpfs', 0)
C.mkdir(NEW_ROOT + '/tmp', mode(7, 7, 7))
C.mkdir(NEW_ROOT + '/mnt', mode(7, 5, 5))
C.chdir(NEW_ROOT)
C.pivot_root('.', NEW_ROOT + '/mnt')
C.chroot('.')
C.umount2('/mnt', C.MNT_DETACH)
modulefd, _ = C.open('/app.py', C.O_WRONLY | C.O_CREAT, mode(6, 0, 0))
send_with_fd(fdarg, '.', modulefd)
C.close(modulefd)

# sync point #2: the host has written /app.py
C.read(fdarg, 1)
C.sethostname('mycoolhostname')
C.setdomainname('mycooldomainname')
C.cap_set_proc('=')
"""


def test_the_manual_full_example_runs(tmp_path):
    host, guest = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    source = f"NEW_ROOT = {str(tmp_path)!r}\n" + FULL_EXAMPLE
    uid, gid = os.getuid(), os.getgid()

    def body():
        host.close()
        C = CTable({"errexit": True})
        # What spawn_vm's clone(2) does before the init.script runs.
        C.unshare(C.CLONE_NEWUSER | C.CLONE_NEWNS | C.CLONE_NEWUTS)
        status_fd = os.open("/proc/self/status", os.O_RDONLY)  # no /proc after pivot_root
        ok = run_init_script(source, guest.fileno(), guest.fileno())
        with open("/app.py") as f:
            module = f.read()
        caps = status_mask("CapEff", status_fd) | status_mask("CapPrm", status_fd)
        return [ok, module, socket.gethostname(), os.getuid(), caps]

    try:
        wait = start_child(body, namespaces=False)
        guest.close()
        for data in (f"0 {uid} 1\n", f"0 {gid} 1\n"):
            _, fds, _, _ = socket.recv_fds(host, 1, 1)
            os.write(fds[0], data.encode())
            os.close(fds[0])
        host.send(b".")  # sync point #1
        _, fds, _, _ = socket.recv_fds(host, 1, 1)
        os.write(fds[0], b"print('hello from the guest')\n")
        os.close(fds[0])
        host.send(b".")  # sync point #2
        out = wait()
    finally:
        host.close()
    assert out.status == 0, out.stderr
    assert out.value == [True, "print('hello from the guest')\n", "mycoolhostname", 0, 0]
