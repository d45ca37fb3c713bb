# Manual: "system.linux_capabilities", and "file_descriptor" (cap_get,
# cap_set). Every test runs as the main fiber of a fresh engine, once per
# backend. What changes the process's own capabilities runs in a forked child
# that always os._exit()s.
from __future__ import annotations

import errno
import json
import os
import shutil
import traceback

import pytest

from emilua import inbox, spawn_vm, system
from emilua.file_descriptor import file_descriptor


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


def status_mask(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    raise AssertionError(field)


CAP_SYS_ADMIN = 21  # capability.h
CAP_NET_RAW = 13


def test_cap_get_proc_matches_the_kernels_view():
    caps = system.cap_get_proc()
    eff = status_mask("CapEff")
    assert caps.get_flag("cap_sys_admin", "effective") == bool(eff >> CAP_SYS_ADMIN & 1)
    assert caps.get_flag("cap_net_raw", "permitted") == bool(
        status_mask("CapPrm") >> CAP_NET_RAW & 1
    )
    assert isinstance(caps, system.linux_capabilities)
    with pytest.raises(TypeError):
        system.linux_capabilities()


def test_cap_init_text_form_and_flags():
    caps = system.cap_init()
    assert str(caps) == "="
    caps.set_flag("effective", ["cap_net_raw", "cap_kill"], True)
    caps.set_flag("permitted", ["cap_net_raw", "cap_kill"], True)
    assert caps.get_flag("cap_kill", "effective") is True
    assert caps.get_flag("cap_kill", "inheritable") is False
    assert caps == system.cap_from_text("cap_kill,cap_net_raw=ep")
    caps.set_flag("effective", ["cap_kill"], False)
    assert caps == system.cap_from_text("cap_kill,cap_net_raw+p cap_net_raw+e")
    caps.clear_flag("effective")
    assert str(caps) == "cap_kill,cap_net_raw=p"
    caps.clear()
    assert str(caps) == "="


def test_dup_is_independent_and_fill_copies_sets():
    a = system.cap_from_text("cap_chown=p")
    b = a.dup()
    assert a == b
    b.fill("effective", "permitted")
    assert str(b) == "cap_chown=ep" and str(a) == "cap_chown=p"
    c = system.cap_init()
    c.fill_flag("inheritable", b, "effective")
    assert str(c) == "cap_chown=i"
    assert a != c


def test_nsowner_round_trip():
    caps = system.cap_init()
    assert caps.get_nsowner() == 0
    caps.set_nsowner(1000)
    assert caps.get_nsowner() == 1000


def test_bad_names_are_einval():
    caps = system.cap_init()
    for call in (
        lambda: system.cap_from_text("cap_no_such_thing=ep"),
        lambda: caps.get_flag("cap_no_such_thing", "effective"),
        lambda: caps.get_flag("cap_kill", "no_such_set"),
        lambda: caps.set_flag("effective", ["cap_kill", "nope"], True),
        lambda: system.cap_get_bound("nope"),
    ):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        caps.set_flag("effective", "cap_kill", True)


def test_bounding_and_ambient_sets_are_read():
    bnd = status_mask("CapBnd")
    amb = status_mask("CapAmb")
    assert system.cap_get_bound("cap_sys_admin") == bool(bnd >> CAP_SYS_ADMIN & 1)
    assert system.cap_get_ambient("cap_net_raw") == bool(amb >> CAP_NET_RAW & 1)


def test_securebits_constants_and_read():
    assert system.SECBIT_NOROOT == 1 and system.SECBIT_NOROOT_LOCKED == 2
    assert system.SECBIT_NO_SETUID_FIXUP == 4 and system.SECBIT_NO_SETUID_FIXUP_LOCKED == 8
    assert system.SECBIT_KEEP_CAPS == 16 and system.SECBIT_KEEP_CAPS_LOCKED == 32
    assert system.SECBIT_NO_CAP_AMBIENT_RAISE == 64
    assert system.SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED == 128
    assert system.cap_get_secbits() == status_mask("SecBits") if _has_secbits() else True


def _has_secbits() -> bool:
    with open("/proc/self/status") as f:
        return any(line.startswith("SecBits:") for line in f)


def test_changing_the_process_capabilities_in_a_child():
    def body():
        system.cap_set_secbits(system.SECBIT_KEEP_CAPS)
        secbits = system.cap_get_secbits()
        caps = system.cap_get_proc()
        caps.set_flag("inheritable", ["cap_net_raw"], True)
        caps.set_proc()
        system.cap_set_ambient("cap_net_raw", True)
        raised = system.cap_get_ambient("cap_net_raw")
        system.cap_reset_ambient()
        reset = system.cap_get_ambient("cap_net_raw")
        system.cap_drop_bound("cap_sys_boot")
        dropped = not system.cap_get_bound("cap_sys_boot")
        caps = system.cap_from_text("cap_kill=ep")
        caps.set_proc()
        mine = str(system.cap_get_proc())
        try:
            system.cap_from_text("cap_sys_admin=ep").set_proc()  # not permitted any more
            regained = True
        except PermissionError:
            regained = False
        return [secbits, raised, reset, dropped, mine, regained]

    assert in_child(body) == [system.SECBIT_KEEP_CAPS, True, False, True, "cap_kill=ep", False]


def test_file_capabilities_through_a_file_descriptor(tmp_path):
    exe = tmp_path / "prog"
    shutil.copy("/bin/true", exe)
    fd = file_descriptor._adopt(os.open(exe, os.O_RDONLY | os.O_CLOEXEC))
    try:
        with pytest.raises(OSError) as e:
            fd.cap_get()  # none yet
        assert e.value.errno == errno.ENODATA
        fd.cap_set(system.cap_from_text("cap_net_raw=ep"))
        assert fd.cap_get() == system.cap_from_text("cap_net_raw=ep")
        assert str(fd.cap_get()) == "cap_net_raw=ep"
    finally:
        fd.close()


GUEST = """
from emilua import inbox, system

reply_to = inbox.receive()
refused = {}
for name, call in [
    ("cap_drop_bound", lambda: system.cap_drop_bound("cap_sys_boot")),
    ("cap_set_ambient", lambda: system.cap_set_ambient("cap_net_raw", False)),
    ("cap_reset_ambient", system.cap_reset_ambient),
    ("cap_set_secbits", lambda: system.cap_set_secbits(system.cap_get_secbits())),
    ("set_proc", lambda: system.cap_get_proc().set_proc()),
]:
    try:
        call()
        refused[name] = False
    except PermissionError:
        refused[name] = True
reads = [str(system.cap_get_proc()) != "", system.cap_get_bound("cap_sys_boot") in (True, False)]
reply_to.send({"refused": refused, "reads": reads})
"""


def test_only_the_master_vm_changes_capabilities(tmp_path):
    module = tmp_path / "guest.py"
    module.write_text(GUEST)
    chan = spawn_vm(str(module))
    chan.send(inbox)
    report = inbox.receive()
    assert all(report["refused"].values()) and len(report["refused"]) == 5
    assert report["reads"] == [True, True]
