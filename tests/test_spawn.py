# Manual: "system.spawn" and the subprocess it returns. Every test runs as the
# main fiber of a fresh engine, once per backend, and spawns real programs.
from __future__ import annotations

import errno
import gc
import json
import os
import pathlib
import shutil
import signal
import sys

import pytest
from emilua._core.proactor import FiberInterrupted, current

from emilua import file, spawn, system
from emilua.byte_span import byte_span
from emilua.file_descriptor import file_descriptor

PY = sys.executable
# An interpreter every user may run (the test's own may live under a private
# directory), for children that drop root.
PY_ANYONE = next(
    (p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.access(p, os.X_OK)), PY
)
TRUE = shutil.which("true") or "/bin/true"
SLEEP = shutil.which("sleep") or "/bin/sleep"


def fd(n: int) -> file_descriptor:
    return file_descriptor._adopt(n)


def read_all(r: int) -> bytes:
    """Read the pipe end *r* to EOF through the engine (it is consumed)."""
    s = file.stream(fd(r))
    out = bytearray()
    buf = byte_span(4096)
    try:
        while True:
            try:
                n = s.read_some(buf)
            except EOFError:
                return bytes(out)
            out += bytes(buf[:n])
    finally:
        s.close()


def run(**opts) -> tuple[system.subprocess, bytes]:
    """Spawn with stdout on a pipe; return the waited subprocess and its output."""
    r, w = os.pipe()
    wfd = fd(w)
    try:
        p = system.spawn(stdout=wfd, **opts)
    finally:
        wfd.close()
    out = read_all(r)
    p.wait()
    return p, out


def py(code: str, python: str = PY, **opts) -> tuple[system.subprocess, bytes]:
    return run(program=python, arguments=[python, "-I", "-S", "-c", code], **opts)


def read_all_until(r: int, expected: bytes) -> bool:
    s = file.stream(fd(r))
    buf = byte_span(len(expected))
    try:
        n = s.read_some(buf)
        return bytes(buf[:n]) == expected
    finally:
        s.close()


def wait_readable(n: int) -> None:
    """Park until the fd *n* (not consumed) is readable."""
    p = current()
    h = p.handle(os.dup(n))
    try:
        p.poll(h)
    finally:
        h.close()


# ------------------------------------------------------------- the program


def test_true_exits_with_zero():
    p = system.spawn(program=TRUE, arguments=["true"])
    assert p.pid > 0
    p.wait()
    assert (p.exit_code, p.exit_signal) == (0, None)


def test_a_name_is_searched_in_path():
    p = system.spawn(program="false", arguments=["false"])
    p.wait()
    assert p.exit_code == 1


def test_a_path_object_is_executed_as_is():
    p = system.spawn(program=pathlib.Path(TRUE), arguments=["true"])
    p.wait()
    assert p.exit_code == 0


def test_an_fd_is_executed_with_fexecve():
    exe = fd(os.open(TRUE, os.O_RDONLY | os.O_CLOEXEC))
    try:
        p = system.spawn(program=exe, arguments=["true"])
    finally:
        exe.close()
    p.wait()
    assert p.exit_code == 0


def test_sh_exit_status_is_the_exit_code():
    p, out = run(program="/bin/sh", arguments=["sh", "-c", "echo hello; exit 7"])
    assert (p.exit_code, p.exit_signal, out) == (7, None, b"hello\n")


def test_arguments_become_argv():
    p, out = py("import sys, json; print(json.dumps(sys.argv))", environment=None)
    assert json.loads(out) == ["-c"]
    p, out = run(program="/bin/sh", arguments=["name", "-c", 'echo "$0 $1"', "x", "y"])
    assert out == b"x y\n"


def test_environment_is_the_whole_envp():
    p, out = run(program="/usr/bin/env", arguments=["env"], environment={"A": "1", "B": "x=y"})
    assert sorted(out.splitlines()) == [b"A=1", b"B=x=y"]
    p, out = run(program="/usr/bin/env", arguments=["env"])
    assert out == b""


# ------------------------------------------------------------------ errors


def test_a_missing_program_raises_enoent():
    with pytest.raises(FileNotFoundError) as e:
        system.spawn(program="no-such-program-here", arguments=["x"])
    assert e.value.errno == errno.ENOENT
    with pytest.raises(FileNotFoundError) as e:
        system.spawn(program="/no/such/program", arguments=["x"])
    assert e.value.filename == "/no/such/program"


def test_a_file_without_exec_permission_raises_eacces(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    uid = 65534  # root bypasses the permission check: run it as nobody
    with pytest.raises(PermissionError) as e:
        system.spawn(program=script, arguments=["s"], ruid=uid, euid=uid)
    assert e.value.errno == errno.EACCES


def test_a_refused_credential_change_raises_its_errno():
    # More supplementary groups than NGROUPS_MAX: setgroups(2) says EINVAL.
    with pytest.raises(OSError) as e:
        system.spawn(program=TRUE, arguments=["true"], extra_groups=[0] * 70000)
    assert e.value.errno == errno.EINVAL
    assert e.value.filename == "setgroups"


def test_a_missing_working_directory_raises_enoent():
    with pytest.raises(FileNotFoundError):
        system.spawn(program=TRUE, arguments=["true"], working_directory="/no/such/dir")


def test_bad_options_are_refused_before_any_process():
    with pytest.raises(ValueError):
        system.spawn(program=TRUE, extra_fds={10: fd(os.dup(0))})
    with pytest.raises(ValueError):
        system.spawn(program=TRUE, set_ctty=fd(os.dup(0)))
    with pytest.raises(ValueError):
        system.spawn(program=TRUE, process_group=0, foreground="stdin")
    with pytest.raises(ValueError):
        system.spawn(program=TRUE, foreground="stdin", stdin="share")
    with pytest.raises(ValueError):
        system.spawn(program=TRUE, scheduler={"policy": "fifo"})
    with pytest.raises(ValueError):
        system.spawn(program=TRUE, scheduler={"priority": 1})
    with pytest.raises(TypeError):
        system.spawn(program=TRUE, stdout=1)
    with pytest.raises(OSError) as e:
        system.spawn(program=TRUE, ruid=1 << 32)
    assert e.value.errno == errno.EINVAL
    gc.collect()


# ---------------------------------------------------- subprocess functions


def test_kill_terminates_and_wait_reports_the_signal():
    p = system.spawn(program=SLEEP, arguments=["sleep", "1000"])
    p.kill(0)  # the null signal: only checks
    p.kill(signal.SIGTERM)
    p.wait()
    assert p.exit_signal == signal.SIGTERM
    assert p.exit_code == 128 + signal.SIGTERM


def test_pid_only_before_wait_and_exit_status_only_after():
    p = system.spawn(program=TRUE, arguments=["true"])
    pid = p.pid
    with pytest.raises(AttributeError):
        _ = p.exit_code
    with pytest.raises(AttributeError):
        _ = p.exit_signal
    p.wait()
    with pytest.raises(AttributeError):
        _ = p.pid
    with pytest.raises(ProcessLookupError):
        p.kill(signal.SIGTERM)
    p.wait()  # a second wait() returns at once
    assert p.exit_code == 0 and pid > 0


def test_wait_is_an_interruption_point():
    p = system.spawn(program=SLEEP, arguments=["sleep", "1000"])
    caught = []

    def waiter():
        try:
            p.wait()
        except FiberInterrupted:
            caught.append(True)
            raise

    f = spawn(waiter)
    system_yield()
    f.interrupt()
    f.join()
    assert caught == [True]
    p.kill(signal.SIGKILL)  # the process is untouched and still ours
    p.wait()
    assert p.exit_signal == signal.SIGKILL


def system_yield():
    from emilua import this_fiber

    this_fiber.yield_()


def test_an_ignored_sigchld_loses_the_status_and_wait_says_so():
    # With SIGCHLD ignored the kernel reaps children itself (wait(2), NOTES).
    old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        p = system.spawn(program="/bin/sh", arguments=["sh", "-c", "exit 5"])
        with pytest.raises(ChildProcessError):
            p.wait()
    finally:
        signal.signal(signal.SIGCHLD, old)
    with pytest.raises(AttributeError):
        _ = p.exit_code
    p.wait()  # the object is done with: nothing left to wait for


def test_many_fibers_wait_for_many_children():
    procs = [system.spawn(program=TRUE, arguments=["true"]) for _ in range(16)]
    fibers = [spawn(p.wait) for p in procs]
    for f in fibers:
        f.join()
    assert [p.exit_code for p in procs] == [0] * 16


def test_cap_get_reads_the_childs_capabilities():
    r, w = os.pipe()
    wfd = fd(w)
    p = system.spawn(
        program="/bin/sh",
        arguments=["sh", "-c", f"echo ready; exec {SLEEP} 1000"],
        stdout=wfd,
        ruid=65534,
        euid=65534,
    )
    wfd.close()
    # The parent may resume before execve(2) installs the new credentials:
    # ask once the program runs.
    assert read_all_until(r, b"ready\n")
    caps = p.cap_get()
    p.kill(signal.SIGKILL)
    p.wait()
    # Root that becomes nobody loses its permitted and effective sets.
    assert caps.get_flag("cap_kill", "permitted") is False
    assert str(caps) == "="


def test_a_collected_subprocess_is_signalled_and_reaped():
    from emilua import _spawn

    p = system.spawn(program=SLEEP, arguments=["sleep", "1000"])
    mine = os.pidfd_open(p.pid)
    try:
        del p
        gc.collect()
        wait_readable(mine)  # it ended (SIGTERM, signal_on_gcreaper's default)
        _spawn._reaper.join()
        with pytest.raises(ChildProcessError):  # and it was reaped
            os.waitid(os.P_PIDFD, mine, os.WEXITED | os.WNOHANG)
    finally:
        os.close(mine)


def test_signal_on_gcreaper_zero_sends_nothing():
    from emilua import _spawn

    r, w = os.pipe()
    wfd = fd(w)
    # The child ends when its stdin reaches EOF, not because of a signal.
    rfd = fd(r)
    p = system.spawn(
        program="/bin/sh", arguments=["sh", "-c", "read x"], stdin=rfd, signal_on_gcreaper=0
    )
    rfd.close()
    mine = os.pidfd_open(p.pid)
    try:
        del p
        gc.collect()
        info = os.waitid(os.P_PIDFD, mine, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        assert info is None  # still running: no signal was sent
        wfd.close()
        wait_readable(mine)
        _spawn._reaper.join()
    finally:
        os.close(mine)


# ------------------------------------------------------ standard handles, fds


def test_a_python_child_reads_stdin_and_writes_stdout_through_pipes():
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    rfd, wfd = fd(in_r), fd(out_w)
    code = "import sys; sys.stdout.write(sys.stdin.read().upper())"
    p = system.spawn(program=PY, arguments=[PY, "-I", "-S", "-c", code], stdin=rfd, stdout=wfd)
    rfd.close()
    wfd.close()
    writer = file.stream(fd(in_w))
    from emilua import stream

    stream.write_all(writer, b"through the pipes")
    writer.close()
    assert read_all(out_r) == b"THROUGH THE PIPES"
    p.wait()
    assert p.exit_code == 0


def test_none_is_a_closed_pipe_end():
    # stdin: EOF at once. stdout: writing gets SIGPIPE (its default action).
    p, out = run(program="/bin/sh", arguments=["sh", "-c", "read x; echo $?"], stdin=None)
    assert out == b"1\n"
    p = system.spawn(program="/bin/sh", arguments=["sh", "-c", "echo x"], stdout=None)
    p.wait()
    assert p.exit_signal == signal.SIGPIPE


def test_share_keeps_the_parents_handle(tmp_path):
    target = tmp_path / "out"
    saved = os.dup(1)
    f = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.dup2(f, 1)
    os.close(f)
    try:
        p = system.spawn(program="/bin/sh", arguments=["sh", "-c", "echo shared"], stdout="share")
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    p.wait()
    assert target.read_bytes() == b"shared\n"


LIST_FDS = "import os; print(' '.join(sorted(os.listdir('/proc/self/fd'), key=int)))"


def test_no_fd_leaks_into_the_child():
    leaky = os.open("/dev/null", os.O_RDONLY)  # not close-on-exec
    try:
        os.set_inheritable(leaky, True)
        p, out = py(LIST_FDS)
    finally:
        os.close(leaky)
    # 0 (a closed pipe end), 1 (our pipe), 2, and 3: the directory listed.
    assert out.split() == [b"0", b"1", b"2", b"3"]


def test_extra_fds_land_on_their_numbers():
    r, w = os.pipe()
    extra = fd(w)
    code = "import os; os.write(7, b'on seven'); " + LIST_FDS
    try:
        p, out = py(code, extra_fds={7: extra})
    finally:
        extra.close()
    assert read_all(r) == b"on seven"
    assert out.split() == [b"0", b"1", b"2", b"3", b"7"]


def test_stdout_and_extra_fd_may_swap_numbers():
    # The source of one target is another target's number: no clobbering.
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    a, b = fd(w1), fd(w2)
    code = "import os; os.write(1, b'one'); os.write(3, b'three')"
    p = system.spawn(program=PY, arguments=[PY, "-I", "-S", "-c", code], stdout=a, extra_fds={3: b})
    a.close()
    b.close()
    assert (read_all(r1), read_all(r2)) == (b"one", b"three")
    p.wait()


# ----------------------------------------------------- process attributes


def test_start_new_session_and_process_group():
    code = "import os; print(os.getsid(0) == os.getpid(), os.getpgrp() == os.getpid())"
    assert py(code, start_new_session=True)[1] == b"True True\n"
    assert py(code, process_group=0)[1] == b"False True\n"
    assert py(code)[1] == b"False False\n"


def test_credentials_change_to_nobody():
    code = "import os; print(os.getresuid(), os.getresgid(), os.getgroups())"
    ids = {"ruid": 65534, "euid": 65534, "rgid": 65534, "egid": 65534}
    p, out = py(code, PY_ANYONE, extra_groups=[65534], **ids)
    # execve(2) copies the effective IDs to the saved ones.
    assert out == b"(65534, 65534, 65534) (65534, 65534, 65534) [65534]\n"
    p, out = py(code, PY_ANYONE, euid=65534, egid=65534, extra_groups=[])
    assert out == b"(0, 65534, 65534) (0, 65534, 65534) []\n"


def test_umask():
    assert run(program="/bin/sh", arguments=["sh", "-c", "umask"], umask=0o027)[1] == b"0027\n"


def test_working_directory_as_path_and_as_fd(tmp_path):
    code = "import os; print(os.getcwd())"
    assert py(code, working_directory=tmp_path)[1] == str(tmp_path).encode() + b"\n"
    d = fd(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    try:
        assert py(code, working_directory=d)[1] == str(tmp_path).encode() + b"\n"
    finally:
        d.close()


def test_the_child_starts_with_a_clean_signal_mask_and_default_dispositions():
    old_usr2 = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
    try:
        p, out = run(program="/bin/cat", arguments=["cat", "/proc/self/status"])
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        signal.signal(signal.SIGUSR2, old_usr2)
    fields = dict(line.split(b":\t") for line in out.splitlines() if line.startswith(b"Sig"))
    assert int(fields[b"SigBlk"], 16) == 0
    assert int(fields[b"SigIgn"], 16) == 0
    assert int(fields[b"SigCgt"], 16) == 0


def test_scheduler_policy_priority_and_reset_on_fork():
    code = "import os; print(os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)"
    assert py(code, scheduler={"policy": "batch"})[1] == f"{os.SCHED_BATCH} 0\n".encode()
    assert py(code, scheduler={"policy": "idle"})[1] == f"{os.SCHED_IDLE} 0\n".encode()
    out = py(code, scheduler={"policy": "rr", "priority": 1, "reset_on_fork": True})[1]
    assert out == f"{os.SCHED_RR | os.SCHED_RESET_ON_FORK} 1\n".encode()
    assert (
        py(code, scheduler={"policy": "fifo", "priority": 2})[1] == f"{os.SCHED_FIFO} 2\n".encode()
    )


PDEATH_PARENT = """
import os, signal, sys
import emilua
from emilua import system

def main():
    child = system.spawn(program="SLEEP", arguments=["sleep", "1000"],
                         pdeathsig=signal.SIGKILL)
    os.write(1, str(child.pid).encode())
    os.close(1)
    child.wait()

emilua.run(main)
"""


def test_pdeathsig_kills_the_child_when_its_parent_dies():
    code = PDEATH_PARENT.replace("SLEEP", SLEEP)
    r, w = os.pipe()
    wfd = fd(w)
    parent = system.spawn(program=PY, arguments=[PY, "-c", code], stdout=wfd, stderr="share")
    wfd.close()
    grandchild = int(read_all(r))
    mine = os.pidfd_open(grandchild)
    try:
        parent.kill(signal.SIGKILL)
        parent.wait()
        wait_readable(mine)  # the grandchild ended with its parent
    finally:
        os.close(mine)


def test_set_ctty_gives_the_new_session_its_terminal():
    master, slave = os.openpty()
    os.set_inheritable(master, False)
    os.set_inheritable(slave, False)
    tty = fd(slave)
    # /dev/tty opens only in a process that has a controlling terminal.
    code = (
        "import os; t = os.open('/dev/tty', os.O_RDWR);"
        "print(os.tcgetpgrp(t) == os.getpgrp(), os.getsid(0) == os.getpid())"
    )
    try:
        p, out = py(code, start_new_session=True, set_ctty=tty)
        assert out == b"True True\n"
        # Without set_ctty the new session has no terminal.
        code = "import os\ntry: os.open('/dev/tty', os.O_RDWR)\nexcept OSError as e: print(e.errno)"
        p, out = py(code, start_new_session=True)
        assert out == f"{errno.ENXIO}\n".encode()
    finally:
        tty.close()
        os.close(master)


FOREGROUND_PARENT = """
import emilua
from emilua import system

def main():
    code = "import os; print(os.tcgetpgrp(0) == os.getpgrp() == os.getpid() != os.getsid(0))"
    child = system.spawn(program="PY", arguments=["PY", "-I", "-S", "-c", code],
                         stdin="share", stdout="share", stderr="share",
                         process_group=0, foreground="stdin")
    child.wait()

emilua.run(main)
"""


def test_foreground_makes_the_child_the_foreground_job():
    # The intermediate process leads a session whose controlling terminal is
    # a new pty; its child becomes the foreground job of that terminal.
    master, slave = os.openpty()
    os.set_inheritable(master, False)
    os.set_inheritable(slave, False)
    tty = fd(slave)
    try:
        p, out = run(
            program=PY,
            arguments=[PY, "-c", FOREGROUND_PARENT.replace("PY", PY)],
            start_new_session=True,
            set_ctty=tty,
            stdin=tty,
            stderr="share",
        )
    finally:
        tty.close()
        os.close(master)
    assert (out, p.exit_code) == (b"True\n", 0)


# ----------------------------------------------------------------- nsenter

NS_HOLDER = "hostname {name}; echo ready; exec {sleep} 1000"


def _namespace_holder(unshare_args: list[str]) -> tuple[system.subprocess, int]:
    unshare = shutil.which("unshare")
    assert unshare is not None
    r, w = os.pipe()
    wfd = fd(w)
    holder = system.spawn(
        program=unshare,
        arguments=[
            "unshare",
            *unshare_args,
            "/bin/sh",
            "-c",
            NS_HOLDER.format(name="inside", sleep=SLEEP),
        ],
        stdout=wfd,
    )
    wfd.close()
    s = file.stream(fd(r))
    buf = byte_span(16)
    n = s.read_some(buf)
    s.close()
    assert bytes(buf[:n]) == b"ready\n"
    return holder, holder.pid


def test_nsenter_uts_and_net():
    holder, pid = _namespace_holder(["--uts", "--net"])
    uts = fd(os.open(f"/proc/{pid}/ns/uts", os.O_RDONLY | os.O_CLOEXEC))
    net = fd(os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC))
    try:
        code = "import os, socket; print(socket.gethostname(), os.readlink('/proc/self/ns/net'))"
        p, out = py(code, nsenter_uts=uts, nsenter_net=net)
        assert out.decode() == f"inside {os.readlink(f'/proc/{pid}/ns/net')}\n"
    finally:
        uts.close()
        net.close()
        holder.kill(signal.SIGKILL)
        holder.wait()


def test_nsenter_user_comes_first():
    holder, pid = _namespace_holder(["--user", "--map-root-user", "--uts", "--ipc", "--mount"])
    fds = {
        name: fd(os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC))
        for name, ns in [("user", "user"), ("uts", "uts"), ("ipc", "ipc"), ("mount", "mnt")]
    }
    try:
        code = "import os, socket; print(socket.gethostname(), os.readlink('/proc/self/ns/user'))"
        p, out = py(code, **{f"nsenter_{k}": v for k, v in fds.items()})
        assert out.decode() == f"inside {os.readlink(f'/proc/{pid}/ns/user')}\n"
    finally:
        for v in fds.values():
            v.close()
        holder.kill(signal.SIGKILL)
        holder.wait()
