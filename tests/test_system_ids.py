# Manual: "system.getresuid", "system.getresgid", "system.setresuid",
# "system.setresgid", "system.getgroups", "system.setgroups", "system.getpid",
# "system.getppid", "system.kill", "system.getpgrp", "system.getpgid",
# "system.setpgid", "system.getsid", "system.setsid". Every test runs as the main
# fiber of a fresh engine, once per backend. Whatever changes the process's
# credentials, group or session runs in a forked child that always os._exit()s.
import errno
import json
import os
import signal
import traceback

import pytest

from emilua import inbox, spawn_vm, system

# Above the kernel's largest pid_max (2**22, proc(5)): never a process.
NO_SUCH_PID = 1 << 30


def in_child(body):
    """Run body() in a forked child; return what it returned (JSON), or raise
    AssertionError with the child's traceback."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            try:
                report = {"value": body()}
            except BaseException:
                report = {"error": traceback.format_exc()}
            os.write(w, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    try:
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    report = json.loads(b"".join(chunks))
    if "error" in report:
        raise AssertionError("in the child:\n" + report["error"])
    return report["value"]


def oserror_errno(call, *args):
    try:
        call(*args)
    except OSError as e:
        return e.errno
    return None


# -------------------------------------------------------------- credentials


def test_getresuid_and_getresgid_return_three_ids():
    assert system.getresuid() == os.getresuid()
    assert system.getresgid() == os.getresgid()
    ruid, euid, suid = system.getresuid()
    assert (ruid, euid) == (os.getuid(), os.geteuid())
    rgid, egid, sgid = system.getresgid()
    assert (rgid, egid) == (os.getgid(), os.getegid())


def test_minus_one_keeps_every_id():
    before = (system.getresuid(), system.getresgid())
    system.setresuid(-1, -1, -1)
    system.setresgid(-1, -1, -1)
    assert (system.getresuid(), system.getresgid()) == before


def test_setresuid_and_setresgid_in_a_child():
    def body():
        uid, gid = os.geteuid(), os.getegid()
        if uid == 0:
            # Root may take any ids; gids first, while still privileged.
            system.setresgid(1001, 1002, 1003)
            system.setresuid(2001, 2002, 2003)
            return [system.getresuid(), system.getresgid()]
        # Anyone may set an id to one of its current real/effective/saved ones.
        system.setresuid(uid, uid, uid)
        system.setresgid(gid, gid, gid)
        return [system.getresuid(), system.getresgid(), oserror_errno(system.setresuid, 0, 0, 0)]

    got = in_child(body)
    if os.geteuid() == 0:
        assert got == [[2001, 2002, 2003], [1001, 1002, 1003]]
    else:
        uid, gid = os.geteuid(), os.getegid()
        assert got == [[uid, uid, uid], [gid, gid, gid], errno.EPERM]


def test_dropping_root_then_regaining_it_fails_with_eperm():
    def body():
        if os.geteuid() != 0:
            return oserror_errno(system.setgroups, [])
        system.setresuid(4242, 4242, 4242)
        return oserror_errno(system.setresuid, 0, 0, 0)

    assert in_child(body) == errno.EPERM


def test_getgroups_and_setgroups():
    assert system.getgroups() == os.getgroups()
    assert isinstance(system.getgroups(), list)

    def body():
        if os.geteuid() != 0:
            # setgroups(2) needs CAP_SETGID, even to set the same list.
            return ["refused", oserror_errno(system.setgroups, system.getgroups())]
        system.setgroups([5, 7, 9])
        first = sorted(system.getgroups())
        system.setgroups(())
        return [first, system.getgroups()]

    got = in_child(body)
    if os.geteuid() == 0:
        assert got == [[5, 7, 9], []]
    else:
        assert got == ["refused", errno.EPERM]


def test_credential_arguments_are_type_checked():
    with pytest.raises(TypeError):
        system.setresuid("0", -1, -1)
    with pytest.raises(TypeError):
        system.setresgid(-1, True, -1)
    with pytest.raises(TypeError):
        system.setgroups("123")
    with pytest.raises(TypeError):
        system.setgroups([1.5])


# ---------------------------------------------------------------- processes


def test_getpid_and_getppid():
    assert system.getpid() == os.getpid()
    assert system.getppid() == os.getppid()
    parent = os.getpid()
    child_ppid, child_pid = in_child(lambda: [system.getppid(), system.getpid()])
    assert child_ppid == parent
    assert child_pid != parent


def test_kill_with_signal_zero_checks_for_a_process():
    assert system.kill(system.getpid(), 0) is None
    with pytest.raises(ProcessLookupError) as e:
        system.kill(NO_SUCH_PID, 0)
    assert e.value.errno == errno.ESRCH
    with pytest.raises(OSError) as e:
        system.kill(system.getpid(), 100_000)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        system.kill(system.getpid(), True)


def test_kill_delivers_the_signal():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            os.read(r, 1)  # until killed
        finally:
            os._exit(0)
    os.close(r)
    try:
        system.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(w)
    assert os.waitstatus_to_exitcode(status) == -signal.SIGTERM


# ------------------------------------------------- process groups, sessions


def test_getpgrp_getpgid_and_getsid_describe_the_caller():
    assert system.getpgrp() == os.getpgrp()
    assert system.getpgid(0) == system.getpgrp()
    assert system.getpgid(system.getpid()) == system.getpgrp()
    assert system.getsid(0) == os.getsid(0)
    assert system.getsid(system.getpid()) == system.getsid(0)
    with pytest.raises(ProcessLookupError):
        system.getpgid(NO_SUCH_PID)
    with pytest.raises(ProcessLookupError):
        system.getsid(NO_SUCH_PID)


def test_setpgid_round_trip_in_a_child():
    def body():
        me = system.getpid()
        was = system.getpgid(0)
        system.setpgid(0, 0)  # a new group led by the caller
        led = [system.getpgid(0), system.getpgrp(), system.getpgid(me)]
        system.setpgid(me, was)  # back into the parent's group, same session
        return [me, was, led, system.getpgrp()]

    me, was, led, back = in_child(body)
    assert was == os.getpgrp()
    assert led == [me, me, me]
    assert back == was


def test_setpgid_refuses_a_group_of_another_session():
    def body():
        system.setsid()
        return oserror_errno(system.setpgid, 0, os.getppid())

    # setpgid(2): no process group with that id exists in the child's new session.
    assert in_child(body) == errno.EPERM


def test_setsid_returns_the_new_session_id():
    def body():
        me = system.getpid()
        sid = system.setsid()
        again = oserror_errno(system.setsid)  # now a group leader
        return [me, sid, system.getsid(0), system.getpgrp(), again]

    me, sid, now, pgrp, again = in_child(body)
    assert sid == me and now == me and pgrp == me
    assert again == errno.EPERM


# ------------------------------------------------------------ the master VM

GUEST = """
import os
from emilua import inbox, system

reply_to = inbox.receive()
refused = {}
for name, args in [
    ("setresuid", (-1, -1, -1)),
    ("setresgid", (-1, -1, -1)),
    ("setgroups", (os.getgroups(),)),
    ("kill", (os.getpid(), 0)),
    ("setpgid", (0, 0)),
    ("setsid", ()),
]:
    try:
        getattr(system, name)(*args)
        refused[name] = None
    except PermissionError as e:
        refused[name] = "master VM" in str(e)
reads = [
    system.getresuid() == os.getresuid(),
    system.getresgid() == os.getresgid(),
    system.getgroups() == os.getgroups(),
    system.getpid() == os.getpid(),
    system.getppid() == os.getppid(),
    system.getpgrp() == os.getpgrp(),
    system.getpgid(0) == os.getpgid(0),
    system.getsid(0) == os.getsid(0),
]
reply_to.send({"refused": refused, "reads": reads})
"""


def test_only_the_master_vm_may_change_process_state(tmp_path):
    module = tmp_path / "guest.py"
    module.write_text(GUEST)
    pgrp, sid = os.getpgrp(), os.getsid(0)
    chan = spawn_vm(str(module))
    chan.send(inbox)
    report = inbox.receive()
    assert report["refused"] == dict.fromkeys(
        ["setresuid", "setresgid", "setgroups", "kill", "setpgid", "setsid"], True
    )
    assert report["reads"] == [True] * 8  # reading is allowed to every VM
    assert (os.getpgrp(), os.getsid(0)) == (pgrp, sid)
