"""Linux-namespace sandboxes (manual: "Linux namespaces", including
"Implementation details" and "Tests").

Every test spawns real sandboxes through the supervisor. The guests' programs
are in tests/sandbox_guests/; most tests talk to ``probe.py``, which answers
questions about the process it runs in. Synchronisation is by messages
(a guest answers once it has done something), by pipes (EOF once every copy
of a write end is gone, e.g. when a process dies) and by pidfds; never by
sleeping.

The manual's "Tests" section asks for one scenario with buffered messages
and one with immediate delivery: "buffered" sends while the guest is held
away from its inbox, "immediate" sends while it waits in ``receive()``.
"""

from __future__ import annotations

import ast
import errno
import math
import os
import select
import signal
import subprocess
import sys
from typing import Any

import pytest
from helpers import wait_until_idle

from emilua import (
    ChannelClosedError,
    NoSendersError,
    _actor,
    _process_actor,
    _supervisor,
    inbox,
    sandbox,
    spawn,
    spawn_vm,
)
from emilua._fiber import _proactor
from emilua.byte_span import byte_span
from emilua.file_descriptor import file_descriptor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GUESTS = os.path.join(HERE, "sandbox_guests")

# Started before any test: its control socket is not an fd a test leaked.
_supervisor.start()


def guest(name: str) -> str:
    return os.path.join(GUESTS, name + ".py")


# ------------------------------------------------------------------ helpers


class Pipe:
    """A pipe: ``r`` a raw fd the test reads through the engine, ``w`` a
    file_descriptor to hand to a sandbox (the sender keeps its copy)."""

    def __init__(self) -> None:
        r, w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(r, False)
        self._h = _proactor().handle(r)
        self.w = file_descriptor._adopt(w)

    def read(self, size: int = 4096) -> bytes:
        """One read(2): at least one byte, or b'' at EOF."""
        buf = bytearray(size)
        n = _proactor().read(self._h, buf)
        return bytes(buf[:n])

    def read_all(self) -> bytes:
        """Everything until EOF (every copy of the write end is closed, ours
        first: sending ``w`` to an actor leaves it open here)."""
        if self.w._fd >= 0:
            self.w.close()
        chunks = []
        while chunk := self.read():
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if not self._h.closed:
            self._h.close()
        if self.w._fd >= 0:
            self.w.close()


class Probe:
    """A channel to tests/sandbox_guests/probe.py, answering to our inbox."""

    def __init__(self, ch: Any) -> None:
        self.ch = ch
        ch.send(inbox)

    def ask(self, q: str, **args: Any) -> Any:
        self.ch.send({"q": q, **args} if args else q)
        reply = inbox.receive()
        if isinstance(reply, dict) and set(reply) == {"q", "a"}:
            assert reply["q"] == q
            return reply["a"]
        return reply


def guest_reads() -> tuple[file_descriptor, int]:
    """A pipe the guest reads: (read end to hand over, raw write end)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    return file_descriptor._adopt(r), w


def probe(**namespaces: Any) -> Probe:
    return Probe(spawn_vm(guest("probe"), linux_namespaces=namespaces))


def ns_links() -> dict[str, str]:
    return {
        n: os.readlink(f"/proc/self/ns/{n}") for n in ("uts", "ipc", "pid", "user", "net", "mnt")
    }


def fd_snapshot() -> set[str]:
    return {fd for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")}


def exited(pidfd: int, timeout: float = 10.0) -> bool:
    """Whether the process of *pidfd* exits within *timeout* seconds (a
    bound for a failing test only: a passing one never waits that long)."""
    return bool(select.select([pidfd], [], [], timeout)[0])


def supervisor_children() -> set[int]:
    sup = _supervisor.pid()  # reaps first
    with open(f"/proc/{sup}/task/{sup}/children") as f:
        return {int(pid) for pid in f.read().split()}


def fails_with(code: int, call: Any) -> None:
    """Assert that call() raises OSError with errno *code*.

    (``pytest.raises(...) as info`` would keep the test's frame, and the
    channels in it, alive in a reference cycle past the test's end.)
    """
    try:
        call()
    except OSError as e:
        assert e.errno == code, e
    else:
        pytest.fail(f"{call!r} did not raise OSError({errno.errorcode[code]})")


def status_of(pid: int) -> dict[str, str]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def empty_root(program: str, *, bind_python: bool = False, then: str = "") -> str:
    """init.script source: a tmpfs root with /proc, /tmp and *program* copied
    to /app.py (it is read before pivot_root, while the host's files are
    still there). Needs new_mount and new_pid."""
    return f"""
src = open({program!r}).read()
C.mount(None, '/', None, C.MS_PRIVATE | C.MS_REC)
C.mount(None, '/mnt', 'tmpfs', 0)
C.mkdir('/mnt/proc', mode(7, 5, 5))
C.mount(None, '/mnt/proc', 'proc', 0)
C.mkdir('/mnt/tmp', mode(7, 7, 7))
C.mkdir('/mnt/mnt', mode(7, 5, 5))
{sandbox.bind_python_script() if bind_python else ""}
C.chdir('/mnt')
C.pivot_root('.', '/mnt/mnt')
C.chroot('.')
C.umount2('/mnt', C.MNT_DETACH)
fd, _ = C.open('/app.py', C.O_WRONLY | C.O_CREAT, mode(6, 4, 4))
C.write(fd, src)
C.close(fd)
{then}
"""


def empty_root_probe(**extra: Any) -> Probe:
    script = empty_root(guest("probe"), bind_python=extra.pop("bind_python", False))
    return Probe(
        spawn_vm(
            "/app.py",
            linux_namespaces={
                "new_mount": True,
                "new_pid": True,
                "init": {"script": script},
                **extra,
            },
        )
    )


# ------------------------------------------------------------------ options

FLAG_NS = {
    "new_uts": "uts",
    "new_ipc": "ipc",
    "new_pid": "pid",
    "new_user": "user",
    "new_net": "net",
    "new_mount": "mnt",
}


@pytest.mark.parametrize("flag", [None, *FLAG_NS])
def test_each_flag_creates_its_namespace_and_no_other(flag: str | None) -> None:
    p = probe(**({flag: True} if flag else {}))
    theirs = p.ask("ns")
    ours = ns_links()
    differ = {n for n in ours if theirs[n] != ours[n]}
    assert differ == ({FLAG_NS[flag]} if flag else set())


def test_a_false_flag_creates_nothing() -> None:
    p = probe(**{flag: False for flag in FLAG_NS})
    assert p.ask("ns") == ns_links()


def test_the_environment_is_the_given_one_or_empty() -> None:
    env = {"A": "1", "PATH": "/nowhere", "EMPTY": ""}
    probes = [probe(), probe(environment=None), probe(environment=env)]
    assert [p.ask("env") for p in probes] == ["empty", "empty", env]


def test_none_stdio_is_a_closed_pipe_end() -> None:
    p = probe(stdin=None, stdout=None, stderr=None)
    assert p.ask("stdin") == "data:"  # EOF
    assert p.ask("write_std", fd=1, data="x") == "EPIPE"
    assert p.ask("write_std", fd=2, data="x") == "EPIPE"
    # Left out, they are None too.
    q = probe()
    assert q.ask("stdin") == "data:"
    assert q.ask("write_std", fd=1, data="x") == "EPIPE"


def test_file_descriptor_stdio_is_that_file() -> None:
    stdin, typed = guest_reads()
    stdout, stderr = Pipe(), Pipe()
    try:
        os.write(typed, b"typed in")
        os.close(typed)
        ch = spawn_vm(
            guest("probe"),
            linux_namespaces={"stdin": stdin, "stdout": stdout.w, "stderr": stderr.w},
        )
        # The caller keeps its fds: they were copied, not moved.
        stdin.close()
        stdout.w.close()
        stderr.w.close()
        p = Probe(ch)
        assert p.ask("stdin") == "data:typed in"
        assert p.ask("write_std", fd=1, data="to stdout") == 9
        assert p.ask("write_std", fd=2, data="to stderr") == 9
        ch.kill()
        assert stdout.read_all() == b"to stdout"
        assert stderr.read_all() == b"to stderr"
    finally:
        for pipe in (stdout, stderr):
            pipe.close()


def test_shared_stdio_is_the_callers_current_stdio() -> None:
    p = probe(stdin="share", stdout="share", stderr="share")
    ids = p.ask("std_ids")
    for fd in (0, 1, 2):
        st = os.fstat(fd)
        assert ids[str(fd)] == f"{st.st_dev}:{st.st_ino}"


def test_the_init_script_runs_in_the_sandbox_with_fdarg() -> None:
    out = Pipe()
    try:
        script = "import os\nC.write(fdarg, f'pid {os.getpid()} uid {os.getuid()}')\n"
        ch = spawn_vm(
            guest("probe"),
            linux_namespaces={"new_pid": True, "init": {"script": script, "fd": out.w}},
        )
        out.w.close()  # init.fd is copied: the caller still owns its fd
        # The script ran in PID 1, its fdarg closed before the actor started.
        assert out.read_all() == b"pid 1 uid 0"
        ch.kill()
    finally:
        out.close()


def test_fdarg_is_none_without_init_fd() -> None:
    out = Pipe()
    try:
        script = "print('fdarg is', fdarg)\n"
        ch = spawn_vm(
            guest("probe"), linux_namespaces={"init": {"script": script}, "stdout": out.w}
        )
        out.w.close()
        Probe(ch).ask("pid")  # the script has run
        ch.kill()
        assert out.read_all() == b"fdarg is None\n"
    finally:
        out.close()


def test_a_failing_init_script_ends_the_sandbox_before_the_actor_starts() -> None:
    err = Pipe()
    try:
        script = "C.mkdir('/nonexistent/dir', mode(7, 5, 5))\nprint('not reached')\n"
        ch = spawn_vm(
            guest("probe"), linux_namespaces={"init": {"script": script}, "stderr": err.w}
        )
        err.w.close()
        text = err.read_all().decode()  # EOF: the sandbox is ending
        assert "mkdir" in text and "ENOENT" in text
        assert "not reached" not in text
        try:
            ch.send(inbox)  # our address, into a socket that dies unread
        except ChannelClosedError:
            pass  # already gone
        with pytest.raises(NoSendersError):
            inbox.receive()  # no probe ever held our address
    finally:
        err.close()


BAD_OPTIONS = [
    ({"new_pids": True}, ValueError),
    ({"new_uts": 1}, TypeError),
    ({"new_net": "yes"}, TypeError),
    ({"new_mount": None}, TypeError),
    ({"environment": {"A": 1}}, TypeError),
    ({"environment": ["A=1"]}, TypeError),
    ({"environment": {"A=B": "1"}}, ValueError),
    ({"stdin": "inherit"}, TypeError),
    ({"stdout": 1}, TypeError),
    ({"stderr": True}, TypeError),
    ({"init": "print()"}, TypeError),
    ({"init": {"script": b"print()"}}, TypeError),
    ({"init": {"fd": 3}}, TypeError),
    ({"init": {"script": "", "extra": 1}}, TypeError),
    ({1: True}, ValueError),
]


def test_bad_options_raise_before_anything_is_created() -> None:
    before_fds = fd_snapshot()
    before_children = supervisor_children()
    tracked = len(_process_actor._children)
    for opts, exc in BAD_OPTIONS:
        with pytest.raises(exc):
            spawn_vm(guest("probe"), linux_namespaces=opts)
    with pytest.raises(TypeError):
        spawn_vm(guest("probe"), linux_namespaces=["new_pid"])
    closed = Pipe()
    closed.w.close()
    closed.close()
    fails_with(errno.EBADF, lambda: spawn_vm(guest("probe"), linux_namespaces={"stdout": closed.w}))
    assert fd_snapshot() == before_fds
    assert supervisor_children() == before_children
    assert len(_process_actor._children) == tracked


# ------------------------------------------------------------------ channels

LEAVES = [
    True,
    False,
    0,
    -1.5,
    2**53,
    math.inf,
    -math.inf,
    "",
    "héllo wörld",
    "x" * 255,
    {"a": 1, "b": "two", "c": False},
    {f"k{i}": i for i in range(20)},
]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return type(b) in (float, str) and a == b


def gated_guest() -> tuple[Any, int]:
    """gated.py, held off its inbox until bytes arrive on the gate (the raw
    write end returned)."""
    gate, opener = guest_reads()
    ch = spawn_vm(guest("gated"), linux_namespaces={})
    ch.send({"reply": inbox, "gate": gate})
    assert inbox.receive() == "ready"
    return ch, opener


@pytest.mark.parametrize("delivery", ["buffered", "immediate"])
def test_every_leaf_kind_arrives(delivery: str) -> None:
    if delivery == "immediate":
        ch = spawn_vm(guest("echo"), linux_namespaces={})
        ch.send(inbox)
        for value in LEAVES:
            ch.send(value)
            assert same(value, inbox.receive())
        ch.send(math.nan)
        assert math.isnan(inbox.receive())
        return
    ch, opener = gated_guest()
    try:
        for value in LEAVES:  # all wait in the socket: the guest reads the gate
            ch.send(value)
        os.write(opener, b"." * len(LEAVES))
        for value in LEAVES:
            assert same(value, inbox.receive())
    finally:
        os.close(opener)


@pytest.mark.parametrize("delivery", ["buffered", "immediate"])
def test_the_guest_answers_arrive_at_our_inbox(delivery: str) -> None:
    # The other direction: the guest sends to our (bridged) address while we
    # wait in receive(), or before we receive.
    done = Pipe()
    try:
        p = probe()
        if delivery == "immediate":
            assert p.ask("pid") > 0
            return
        for q in ("pid", "ppid", "uid"):
            p.ch.send(q)
        p.ch.send({"q": "write", "fd": done.w, "data": "all sent"})
        # Every answer was sent (on one socket, in order) before we receive.
        assert done.read_all() == b"all sent"
        got = [inbox.receive()["q"] for _ in range(4)]
        assert got == ["pid", "ppid", "uid", "write"]
    finally:
        done.close()


def test_a_file_descriptor_sent_into_the_sandbox_stays_the_senders_to_close() -> None:
    # The reference engine's own test: send a pipe's write end into a sandbox,
    # close it in the host, and the guest still writes through its copy.
    out = Pipe()
    try:
        ch = spawn_vm(guest("echo"), linux_namespaces={})
        ch.send(inbox)
        ch.send({"fd": out.w, "n": 1})
        out.w.close()  # the sender's copy: still open, closed once, here
        with pytest.raises(OSError, match=r"Errno 9\]"):
            out.w.close()
        assert inbox.receive() == {"fd": "<file_descriptor>", "n": 1.0}
        assert out.read_all() == b"from the guest"
    finally:
        out.close()


@pytest.mark.parametrize("target", ["inbox", "same-thread", "new-thread"])
def test_an_address_sent_into_a_sandbox_reaches_its_actor(target: str) -> None:
    ch = spawn_vm(guest("echo"), linux_namespaces={})
    ch.send(inbox)
    if target == "inbox":
        ch.send({"to": inbox})
        got = [inbox.receive(), inbox.receive()]  # two sockets: any order
        assert sorted(map(str, got)) == sorted(["hello from the guest", str({"to": "<address>"})])
        return
    relay = spawn_vm(guest("relay"), inherit_context=target == "same-thread")
    thread = _actor._threads[-1] if target == "new-thread" else None
    relay.send(inbox)
    ch.send(relay)
    got = [inbox.receive(), inbox.receive()]
    assert {"relayed": "hello from the guest"} in got
    assert "<address>" in got
    # The relay ends once neither we nor the sandbox can reach it.
    relay.close()
    ch.kill()
    assert inbox.receive() == "relay: no senders"
    if thread is not None:
        thread.join()


BAD_MESSAGES = [
    (None, TypeError),
    ({}, ValueError),
    (b"bytes", TypeError),
    ("x" * 256, ValueError),
    ("é" * 128, ValueError),
    ({"x" * 256: 1}, ValueError),
    ({f"k{i}": i for i in range(21)}, ValueError),
    ({"a": {"b": 1}}, TypeError),
    ({"a": [1]}, TypeError),
    ([1, 2], TypeError),
    ({1: "int key"}, TypeError),
    ({"a": None}, TypeError),
    ("lone \udc80 surrogate", UnicodeEncodeError),
]


def test_invalid_messages_raise_before_anything_is_sent() -> None:
    ch = spawn_vm(guest("echo"), linux_namespaces={})
    ch.send(inbox)
    held = Pipe()
    closed = ch._clone_address()
    closed.close()
    before = fd_snapshot()
    try:
        for msg, exc in BAD_MESSAGES:
            with pytest.raises(exc):
                ch.send(msg)
        with pytest.raises(TypeError):
            ch.send(byte_span(4))
        # A message that is bad only after its fd and address leaves: neither
        # is moved nor created.
        with pytest.raises(TypeError):
            ch.send({"fd": held.w, "to": inbox, "bad": [1]})
        with pytest.raises(ValueError):
            ch.send({"fd": held.w, "to": inbox, "long": "x" * 300})
        with pytest.raises(ValueError):
            ch.send({"a": held.w, "b": held.w})  # one fd cannot be moved twice
        assert held.w._fileno() >= 0
        with pytest.raises(ChannelClosedError):
            ch.send({"to": closed})
        assert fd_snapshot() == before
        # Nothing reached the guest: the next message is the first it echoes.
        ch.send("after")
        assert inbox.receive() == "after"
    finally:
        held.close()


def test_a_malformed_message_drops_only_its_senders_socket() -> None:
    p = probe()
    second = p.ask("address")  # another socket into the probe's inbox
    raw = os.dup(second._raw_fd())
    try:
        os.write(raw, b"not a message")
    finally:
        os.close(raw)
    assert p.ask("pid") > 0  # the probe survived; its other socket works
    # We still hold `second`: the probe can only run out of senders if it
    # closed its end of that socket.
    p.ch.close()
    assert inbox.receive() == {"q": "no senders"}
    second.close()


def test_a_malformed_message_on_the_only_socket_leaves_no_senders() -> None:
    p = probe()
    assert p.ask("pid") > 0
    raw = os.dup(p.ch._raw_fd())
    try:
        os.write(raw, bytes(_codec_size() - 1))  # one byte short
    finally:
        os.close(raw)
    assert inbox.receive() == {"q": "no senders"}


def _codec_size() -> int:
    from emilua._core import codec

    return codec.MESSAGE_SIZE


def test_our_inbox_reports_no_senders_when_the_sandbox_dies() -> None:
    p = probe()
    assert p.ask("pid") > 0
    p.ch.kill()
    with pytest.raises(NoSendersError):
        inbox.receive()


def test_an_interrupted_receive_keeps_the_next_messages() -> None:
    p = probe()
    receiver = spawn(inbox.receive)
    wait_until_idle()  # parked, with its reads in flight
    receiver.interrupt()
    receiver.join()
    assert receiver.interruption_caught
    p.ch.send("pid")
    p.ch.send("ppid")
    assert inbox.receive()["q"] == "pid"
    assert inbox.receive()["q"] == "ppid"


def test_an_interrupted_receive_in_the_sandbox_keeps_the_next_messages() -> None:
    ch = spawn_vm(guest("interrupted"), linux_namespaces={})
    ch.send(inbox)
    assert inbox.receive() == "interrupted"
    ch.send("first")
    ch.send("second")
    assert inbox.receive() == "first"
    assert inbox.receive() == "second"


def test_reading_stops_when_every_copy_of_the_sending_end_is_gone() -> None:
    p = probe()
    copy = p.ch._clone_address()  # what sending the channel to another VM does
    p.ch.close()
    copy.send("pid")  # the probe still has a sender
    assert inbox.receive()["q"] == "pid"
    copy.close()
    assert inbox.receive() == {"q": "no senders"}


# ----------------------------------------------------------- process control


def test_child_pid_is_the_actors_pid() -> None:
    p = probe()
    assert p.ask("pid") == p.ch.child_pid


def test_child_pid_is_pid1_and_the_actor_is_pid2_in_a_new_pid_namespace() -> None:
    p = probe(new_pid=True)
    pid1 = p.ch.child_pid
    assert status_of(pid1)["NSpid"].split() == [str(pid1), "1"]
    host_pid, ns_pid = p.ask("nspid").split()
    assert ns_pid == "2"
    assert p.ask("pid") == 2
    assert status_of(int(host_pid))["PPid"] == str(pid1)


def test_kill_sends_a_signal_through_the_pidfd_and_sigkill_closes_the_channel() -> None:
    out = Pipe()
    try:
        ch = spawn_vm(guest("signals"), linux_namespaces={})
        ch.send({"reply": inbox, "fd": out.w})
        assert inbox.receive()["ready"]
        ch.kill(signal.SIGUSR1)
        assert out.read() == b"SIGUSR1\n"
        pidfd = os.pidfd_open(ch.child_pid)
        try:
            ch.kill()
            with pytest.raises(ChannelClosedError):
                ch.send("anything")
            assert exited(pidfd)
        finally:
            os.close(pidfd)
        _supervisor.pid()  # reaped: the pidfd now names no process
        with pytest.raises(ProcessLookupError):
            ch.kill(signal.SIGTERM)
    finally:
        out.close()


def test_kill_and_detach_fail_on_channels_received_through_an_inbox() -> None:
    p = probe()
    received = p.ask("address")
    w = spawn_vm(guest("spawner"))
    w.send({"reply": inbox, "guest": guest("probe"), "detach": False})
    relayed = inbox.receive()["guest"]
    for ch in (received, relayed):
        for call in (ch.kill, ch.detach, lambda ch=ch: ch.child_pid):
            fails_with(errno.EINVAL, call)
    received.close()
    relayed.close()


def test_detach_twice_or_kill_after_detach_fails() -> None:
    p = probe()
    p.ch.detach()
    for call in (p.ch.detach, p.ch.kill):
        fails_with(errno.EINVAL, call)
    pidfd = os.pidfd_open(p.ch.child_pid)
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        assert exited(pidfd)
    finally:
        os.close(pidfd)


@pytest.mark.parametrize("detach", [False, True])
def test_sandboxes_die_with_the_actor_that_spawned_them_unless_detached(detach: bool) -> None:
    w = spawn_vm(guest("spawner"))
    w.send({"reply": inbox, "guest": guest("probe"), "detach": detach})
    spawned = inbox.receive()
    pidfd = os.pidfd_open(int(spawned["pid"]))
    try:
        wait_until_idle()  # the spawner's main fiber ends: its VM ends
        with pytest.raises(ChannelClosedError):
            w.send("are you there?")
        if not detach:
            assert exited(pidfd)
            return
        assert not exited(pidfd, 0)
        p = Probe(spawned["guest"])
        assert p.ask("pid") == spawned["pid"]
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        assert exited(pidfd)
    finally:
        os.close(pidfd)


def test_a_detached_sandbox_outlives_the_program(backend: str) -> None:
    out = run_cli([], guest("outlive_main"), backend)
    assert out.returncode == 0, out.stderr
    supervisor, kept, detached = map(int, out.stdout.split())
    try:
        pidfd = os.pidfd_open(kept)
    except ProcessLookupError:
        pass  # already reaped
    else:
        try:
            assert exited(pidfd)
        finally:
            os.close(pidfd)
    # The program is gone; its supervisor stays as the detached one's reaper.
    sup_pidfd = os.pidfd_open(supervisor)
    pidfd = os.pidfd_open(detached)
    try:
        assert not exited(pidfd, 0)
        assert not exited(sup_pidfd, 0)
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        assert exited(pidfd)
        assert exited(sup_pidfd)  # its last child ended
    finally:
        os.close(pidfd)
        os.close(sup_pidfd)


# ----------------------------------------------------------------- PID 1


@pytest.mark.parametrize(
    "signo", [signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGINT]
)
def test_pid1_forwards_signals_to_the_actor(signo: int) -> None:
    out = Pipe()
    try:
        ch = spawn_vm(guest("signals"), linux_namespaces={"new_pid": True})
        ch.send({"reply": inbox, "fd": out.w})
        assert inbox.receive()["pid"] == 2
        ch.kill(signo)  # to PID 1
        assert out.read() == signal.Signals(signo).name.encode() + b"\n"
    finally:
        out.close()


def test_killing_pid1_kills_every_process_in_the_namespace() -> None:
    held = Pipe()
    try:
        p = probe(new_pid=True)
        # A grandchild of the actor, reparented to PID 1, holds the write end.
        assert p.ask("orphan", fd=held.w) == "orphaned"
        p.ch.kill()
        assert held.read_all() == b""
    finally:
        held.close()


def test_a_sandbox_spawns_a_nested_sandbox() -> None:
    # The guest starts a supervisor of its own: PID 2 of our sandbox's
    # namespace holds PID 1 of the nested one, whose actor is its PID 2.
    ch = spawn_vm(guest("nest"), linux_namespaces={"new_pid": True})
    ch.send(inbox)
    answer = inbox.receive()
    assert answer["q"] == "nspid"
    host_pid, outer_pid, inner_pid = answer["a"].split()
    assert inner_pid == "2"
    assert int(outer_pid) > 2  # the guest, its supervisor, then the nested PID 1
    assert os.path.exists(f"/proc/{host_pid}")
    ch.kill()


_PID1_STATUS = """
import os, socket, sys
from emilua import _process_actor, _supervisor_server
status, target = sys.argv[1], sys.argv[2]
rx, tx = _process_actor._pair()
host, setup = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
host.send(b'{"script": null, "environment": {"STATUS": "%s"}}' % status.encode())
host.close()
req = {
    "kind": "path",
    "target": target,
    "backend": "epoll",
    "sys_path": [p for p in sys.path if p],
    "linux_namespaces": {"new_pid": True},
    "fd_roles": ["stdout", "stderr", "inbox", "setup"],
}
child, pid1, pidfd = _supervisor_server._spawn(req, [1, 2, rx, setup.fileno()])
if child == 0:
    os._exit(99)  # never: _spawn does not return in the child
for fd in (rx, tx, pidfd):
    os.close(fd)
setup.close()
assert pid1 == child, (pid1, child)
_, wstatus = os.waitpid(child, 0)
print(os.waitstatus_to_exitcode(wstatus))
"""


@pytest.mark.pure
@pytest.mark.parametrize("status", ["0", "7", "kill"])
def test_pid1_exits_with_the_actors_status(status: str) -> None:
    # The status is only seen by the process that reaps PID 1 (the
    # supervisor's own child): a fresh single-threaded interpreter stands in
    # for the supervisor and runs its spawn path (the clone(2) it makes wants
    # a single-threaded caller, which this test process is not).
    out = subprocess.run(
        [sys.executable, "-c", _PID1_STATUS, status, guest("exit_status")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    expected = 128 + signal.SIGKILL if status == "kill" else int(status)
    assert int(out.stdout.strip().splitlines()[-1]) == expected


def test_no_zombie_is_left_on_the_host() -> None:
    before = supervisor_children()
    probes = [probe(), probe(new_pid=True), probe(new_pid=True, new_net=True)]
    for p in probes:
        assert p.ask("pid") > 0
    new = supervisor_children() - before
    assert len(new) == len(probes)
    pidfds = [os.pidfd_open(pid) for pid in new]
    try:
        probes[0].ch.kill()
        probes[1].ch.close()  # the probe ends on its own: no sender left
        probes[2].ch.kill(signal.SIGTERM)  # forwarded; the actor dies of it
        assert inbox.receive() == {"q": "no senders"}
        for pidfd in pidfds:
            assert exited(pidfd)
        children = supervisor_children()
        assert not children & new
        for pid in new:
            assert not os.path.exists(f"/proc/{pid}")
    finally:
        for pidfd in pidfds:
            os.close(pidfd)


# ------------------------------------------------------------ isolation


def test_an_empty_root_hides_the_hosts_files() -> None:
    p = empty_root_probe()
    assert p.ask("root") == "app.py mnt proc tmp"
    for path in ("/etc/passwd", GUESTS, sys.executable, "/mnt/etc"):
        assert p.ask("exists", path=path) is False


def test_a_new_pid_namespace_hides_the_hosts_pids() -> None:
    p = empty_root_probe()
    assert p.ask("proc_pids") == "1 2"
    assert p.ask("exists", path=f"/proc/{os.getpid()}/status") is False


def test_a_new_net_namespace_has_only_a_loopback_device_and_it_is_down() -> None:
    p = probe(new_net=True)
    assert p.ask("interfaces") == "lo"
    assert p.ask("lo_up") is False


def test_loopback_up_through_the_namespace_fd_from_the_init_script() -> None:
    script = """
netns, _ = C.open('/proc/self/ns/net', C.O_RDONLY)
send_with_fd(fdarg, '.', netns)
C.close(netns)
C.read(fdarg, 1)  # until the host closes its end
"""
    host, guest_end = sandbox.socket_pair()
    ch = spawn_vm(
        guest("probe"),
        linux_namespaces={"new_net": True, "init": {"script": script, "fd": guest_end}},
    )
    guest_end.close()
    _, netns = host.receive_with_fd()
    assert netns is not None
    sandbox.loopback_up(netns)
    netns.close()
    host.close()
    p = Probe(ch)
    assert p.ask("lo_up") is True
    assert p.ask("interfaces") == "lo"


def test_cap_set_proc_drops_every_capability() -> None:
    root = probe()
    assert int(root.ask("status", field="CapEff"), 16) != 0  # root, no user namespace
    p = probe(init={"script": "C.cap_set_proc('=')\n"})
    for field in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(p.ask("status", field=field), 16) == 0
    assert p.ask("status", field="NoNewPrivs") == "1"


def test_the_init_script_sees_only_the_fds_it_was_given() -> None:
    script = """
import os
kinds = []
for fd in sorted(os.listdir('/proc/self/fd'), key=int):
    try:
        kinds.append(f"{fd}:{os.readlink('/proc/self/fd/' + fd).split(':')[0]}")
    except OSError:
        pass  # the fd listdir() used
C.write(fdarg, ' '.join(kinds))
"""
    host, guest_end = sandbox.socket_pair()
    ch = spawn_vm(guest("probe"), linux_namespaces={"init": {"script": script, "fd": guest_end}})
    guest_end.close()
    listing, fd = host.receive_with_fd(4096)
    host.close()
    assert fd is None
    kinds = dict(item.split(":") for item in listing.decode().split())
    # stdio: closed pipe ends; then the inbox and fdarg, both sockets.
    assert [kinds.pop(str(n)) for n in (0, 1, 2)] == ["pipe", "pipe", "pipe"]
    assert sorted(kinds.values()) == ["socket", "socket"]
    ch.kill()


def test_the_actor_holds_only_its_own_fds_and_what_it_was_sent() -> None:
    p = probe()
    kinds = p.ask("fds")
    sockets = [fd for fd, kind in kinds.items() if kind == "socket"]
    assert len(sockets) == 2  # its inbox and the address we sent
    # Everything else is the engine's own (eventfd, io_uring/epoll, the
    # signal wake-up pipe) or stdio: no host file or directory.
    for fd, kind in kinds.items():
        assert kind in ("socket", "pipe") or kind.startswith("anon_inode:"), (fd, kind)
    held = Pipe()
    try:
        p.ch.send({"q": "fds", "extra": held.w})
        after = inbox.receive()
        assert len(after) == len(kinds) + 1
    finally:
        held.close()


def test_proc_self_exe_cannot_be_opened_for_writing() -> None:
    probes = [probe(), probe(new_user=True, new_pid=True)]
    for p in probes:
        assert p.ask("exe_write") in ("ETXTBSY", "EACCES")


def test_an_empty_root_still_imports_the_engine_but_nothing_else() -> None:
    p = empty_root_probe()
    for name in ("emilua", "emilua.sandbox", "emilua.ip", "emilua.stream"):
        assert p.ask("import", name=name) == "ok"
    assert p.ask("import", name="decimal") == "ModuleNotFoundError: No module named 'decimal'"
    # The probe is still alive after the failed import.
    assert p.ask("pid") == 2


def test_bind_python_script_makes_the_standard_library_importable() -> None:
    p = empty_root_probe(bind_python=True)
    assert p.ask("import", name="decimal") == "ok"
    assert p.ask("exists", path="/etc/passwd") is False


# ------------------------------------------------------ user namespaces

ID_MAP_DANCE = """
uidmap, _ = C.open('/proc/self/uid_map', C.O_WRONLY)
send_with_fd(fdarg, '.', uidmap)
C.close(uidmap)
fd, _ = C.open('/proc/self/setgroups', C.O_WRONLY)
C.write(fd, 'deny')
C.close(fd)
gidmap, _ = C.open('/proc/self/gid_map', C.O_WRONLY)
send_with_fd(fdarg, '.', gidmap)
C.close(gidmap)
C.read(fdarg, 1)  # the maps are written
C.sethostname('inside')
C.cap_set_proc('=')
"""


def test_a_user_namespace_sandbox_with_an_id_map_written_by_the_host() -> None:
    host, guest_end = sandbox.socket_pair()
    ch = spawn_vm(
        guest("probe"),
        linux_namespaces={
            "new_user": True,
            "new_net": True,
            "new_uts": True,
            "new_ipc": True,
            "init": {"script": ID_MAP_DANCE, "fd": guest_end},
        },
    )
    guest_end.close()
    _, uidmap = host.receive_with_fd()
    sandbox.write_id_map(uidmap, 0, os.getuid())
    _, gidmap = host.receive_with_fd()
    sandbox.write_id_map(gidmap, 0, os.getgid())
    host.send()
    host.close()
    p = Probe(ch)
    assert p.ask("uid") == 0
    assert p.ask("uid_map").split() == ["0", str(os.getuid()), "1"]
    assert p.ask("hostname") == "inside"
    assert p.ask("interfaces") == "lo"
    assert int(p.ask("status", field="CapEff"), 16) == 0


# ------------------------------------------------------------------ the demo


def run_cli(prefix: list[str], program: str, backend: str) -> subprocess.CompletedProcess[str]:
    """``emilua PROGRAM`` in a subprocess (behind *prefix*, e.g. setpriv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMILUA_")}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "emilua", f"--backend={backend}", program],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=ROOT,
    )


def test_the_manual_full_example_prints_its_host_name(backend: str) -> None:
    out = run_cli([], "examples/sandbox_demo.py", backend)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "mycoolhostname\n"


def test_the_full_example_leaks_no_fd_into_its_guest_and_leaves_no_mount_point(
    backend: str,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMILUA_")}
    out = subprocess.run(
        [sys.executable, "-m", "emilua", f"--backend={backend}", "examples/sandbox_demo.py"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**env, "EMILUA_DEMO_VERBOSE": "1"},
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    name, report = out.stdout.splitlines()
    assert name == "mycoolhostname"
    answer = ast.literal_eval(report)
    # "/" holds what the script made: proc, tmp and the program; no /mnt.
    assert answer["root"] == "app.py proc tmp"
    fds = dict(item.split("=", 1) for item in answer["fds"].split())
    assert {"0", "1", "2"} <= set(fds)
    extra = {int(fd): t for fd, t in fds.items() if int(fd) > 2}
    # Beyond the standard streams: the guest's inbox socket, the address it
    # was sent, and its engine's own descriptors (the proactor's eventfd,
    # ring or epoll instance, and signal wakeup pipe). Nothing the init.script
    # opened (id maps, namespace fds, /app.py) and no file at all.
    sockets = [t for t in extra.values() if t.startswith("socket:")]
    assert len(sockets) == 2, extra
    engine = [t for t in extra.values() if not t.startswith("socket:")]
    assert all(t.startswith(("anon_inode:", "pipe:")) for t in engine), extra
    assert not any(t.startswith("/") for t in extra.values()), extra


# uid 0 with no capability but CAP_SETFCAP, which Linux (>= 5.12) requires
# to map uid 0 into a user namespace; the only uid this machine's Python can
# run as may be 0. Creating any namespace but a user namespace needs
# CAP_SYS_ADMIN, which this process does not have.
CAP_SETFCAP = 31  # capability(7)
UNPRIVILEGED = [
    "setpriv",
    "--inh-caps=-all,+setfcap",
    "--ambient-caps=+setfcap",
    "--bounding-set=-all,+setfcap",
    "--",
]


def test_an_unprivileged_program_sandboxes_through_a_user_namespace(backend: str) -> None:
    out = run_cli(UNPRIVILEGED, guest("unprivileged"), backend)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"CapEff {1 << CAP_SETFCAP:016x}"
    assert lines[1] == "without new_user: PermissionError EPERM"
    # The errno is printed once, by OSError itself.
    assert lines[2] == (
        "message: [Errno 1] creating the sandbox's namespaces: Operation not permitted"
    )
    assert lines[3] == "mycoolhostname"
