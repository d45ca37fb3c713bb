"""Process actors: ``spawn_vm(module, subprocess=True)``, a VM in a child
process of the supervisor with no new namespace (manual: "Threads and the
actor model", "Channels and resources", "Message serialization", "Flow
control", "Work lifetime management").

tests/test_actors.py checks the actor rules for the two in-process
placements and tests/test_sandbox.py for sandboxes; this file checks them
for the third placement. Where it matters a rule is checked with the message
"buffered" (sent before the receiver waits) and with "immediate delivery"
(the receiver already waits in ``receive()``).

The actors' programs are in tests/process_actors/ (some come from
tests/actors/ and tests/sandbox_guests/). Synchronisation is by messages,
by pipes (a "gate" holds an actor away from its inbox; a "done" pipe says it
has sent everything) and by pidfds; never by sleeping. Every test waits for
the process actors it spawned to exit and releases their pidfds, so the
conftest's fd-leak check sees what the test itself left open.
"""

from __future__ import annotations

import errno
import functools
import math
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from helpers import wait_until_idle
from test_actors import join_vm_threads
from test_sandbox import (
    Pipe,
    Probe,
    exited,
    fails_with,
    fd_snapshot,
    ns_links,
    same,
    supervisor_children,
)

import emilua
from emilua import (
    ChannelClosedError,
    NoSendersError,
    _actor,
    _process_actor,
    _supervisor,
    inbox,
    spawn,
    spawn_vm,
    time,
)
from emilua._fiber import _proactor
from emilua._process_actor import ProcessChannel
from emilua.byte_span import byte_span
from emilua.file_descriptor import file_descriptor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Started before any test: its control socket is not an fd a test leaked.
_supervisor.start()


def program(name: str) -> str:
    return os.path.join(HERE, "process_actors", name + ".py")


def guest(name: str) -> str:
    return os.path.join(HERE, "sandbox_guests", name + ".py")


def actor(name: str) -> str:
    return os.path.join(HERE, "actors", name + ".py")


def process(path: str) -> ProcessChannel:
    chan = spawn_vm(path, subprocess=True)
    assert isinstance(chan, ProcessChannel)
    return chan


def probe() -> Probe:
    """tests/sandbox_guests/probe.py as a process actor."""
    return Probe(process(guest("probe")))


@pytest.fixture(params=["buffered", "immediate"])
def delivery(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ------------------------------------------------------------------ helpers


def wait_exit(pidfd: int) -> None:
    """Park the calling fiber (not the engine) until the process of *pidfd*
    has exited."""
    p = _proactor()
    h = p.handle(os.dup(pidfd))
    try:
        p.poll(h)
    finally:
        h.close()


def pidfd_of(chan: ProcessChannel) -> int:
    """A pidfd of our own for the process behind *chan* (to close).

    A duplicate of the engine's pidfd, opened when the process was spawned:
    pidfd_open(child_pid) fails with ESRCH once the supervisor has reaped an
    actor that already ended (and could name another process after that).
    """
    child = chan._spawned()
    assert child.pidfd >= 0
    return os.dup(child.pidfd)


def reap_process_actors() -> None:
    """Wait for every process actor spawned from this process to exit, then
    release the pidfds the engine keeps for them.

    (The engine closes the pidfd of an ended process actor at the next
    spawn_vm() or when the emilua command ends, not when emilua.run()
    returns.) A process actor that outlives its test by 10 s is SIGKILLed,
    and the test fails.
    """
    children = [c for c in _process_actor._children if c.pidfd >= 0 and not c.detached]
    stuck: list[int] = []

    def watchdog() -> None:
        time.sleep(10)
        for c in children:
            if c.alive():
                stuck.append(c.pid)
                signal.pidfd_send_signal(c.pidfd, signal.SIGKILL)

    dog = spawn(watchdog)
    for c in children:
        wait_exit(c.pidfd)
    dog.interrupt()
    dog.join()
    _process_actor._prune(_actor.current_vm())
    assert not stuck, f"process actors outlived their test: {stuck}"


def process_test(fn: Callable[..., None]) -> Callable[..., None]:
    """Run the test, then wait for the process actors (and VM threads) it
    started. On failure the frames of the traceback are cleared first: the
    channels they hold would keep the actors running."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except BaseException as exc:
            traceback.clear_frames(exc.__traceback__)
            raise
        finally:
            join_vm_threads()
            reap_process_actors()

    return run


def our_mailbox() -> Any:
    return _actor.current_vm().mailbox


class Mirror:
    """tests/process_actors/mirror.py: every message comes back unchanged.

    Buffered: the messages pile up in the actor's socket while it reads its
    gate, and its answers pile up in ours before we receive. Immediate: each
    message is sent while the actor waits in receive(), and we wait in
    receive() for the answer.
    """

    def __init__(self, delivery: str) -> None:
        self.delivery = delivery
        self.ch = process(program("mirror"))
        if delivery == "buffered":
            r, self.gate = os.pipe2(os.O_CLOEXEC)
            self.done = Pipe()
            self.ch.send({"reply": inbox, "gate": file_descriptor._adopt(r), "done": self.done.w})
        else:
            self.ch.send({"reply": inbox})
        assert inbox.receive() == "ready"

    def send_all(self, values: list[Any]) -> list[Any]:
        """Send each value; return what came back, in order."""
        if self.delivery == "immediate":
            out = []
            for value in values:
                self.ch.send(value)
                out.append(inbox.receive())
            return out
        for value in values:
            self.ch.send(value)
        os.write(self.gate, bytes([len(values)]))
        assert self.done.read(1) == b"."  # every answer is in our socket now
        return [inbox.receive() for _ in values]

    def close(self) -> None:
        self.ch.close()
        if self.delivery == "buffered":
            os.close(self.gate)
            self.done.close()
        else:
            assert inbox.receive() == "no senders"


@contextmanager
def mirror(delivery: str) -> Iterator[Mirror]:
    m = Mirror(delivery)
    try:
        yield m
    finally:
        m.close()


def sink() -> tuple[ProcessChannel, int]:
    """tests/process_actors/sink.py, held off its inbox until a byte is
    written to the returned gate (a raw pipe write end)."""
    r, gate = os.pipe2(os.O_CLOEXEC)
    ch = process(program("sink"))
    ch.send({"reply": inbox, "gate": file_descriptor._adopt(r)})
    # Its first receive() may take what else is queued (read-ahead): let it
    # end before anything else is sent.
    assert inbox.receive() == "ready"
    return ch, gate


def fill(ch: ProcessChannel, total: int) -> tuple[Any, list[int]]:
    """A fiber sending ``{"i": 0}`` .. ``{"i": total - 1}``; it runs until the
    actor's socket is full. Returns the fiber and [messages sent so far]."""
    sent = [0]

    def sender() -> None:
        for i in range(total):
            ch.send({"i": i})
            sent[0] += 1

    fib = spawn(sender)
    wait_until_idle()
    return fib, sent


def emilua_command(program_path: str, backend: str) -> list[str]:
    return [sys.executable, "-m", "emilua", f"--backend={backend}", program_path]


def cli_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EMILUA_")}


def run_cli(program_path: str, backend: str, stdout: Any, stderr: Any) -> int:
    """``emilua PROGRAM`` in a subprocess; its exit status."""
    return subprocess.run(
        emilua_command(program_path, backend),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        timeout=30,
        env=cli_env(),
        cwd=ROOT,
    ).returncode


# ------------------------------------------------------------ spawn_vm itself


@process_test
def test_spawn_vm_returns_a_channel_to_a_process_actor() -> None:
    ch = process(guest("echo"))
    with pytest.raises(TypeError):
        ch.receive()  # the rx-end is the actor's own inbox
    ch.send(inbox)
    ch.send("ping")
    assert inbox.receive() == "ping"
    ch.close()
    assert inbox.receive() == "no senders"


@process_test
def test_entry_module_runs_as_worker_in_a_fresh_namespace() -> None:
    for name in (actor("context"), "actors.context"):  # a path, a dotted module name
        for _ in range(2):
            ch = process(name)
            ch.send(inbox)
            assert inbox.receive() == {
                "context": "worker",
                "name": "__main__",
                "runs": 1,
                "submodule_sees_context": False,
            }


@process_test
def test_the_actor_is_a_child_of_the_supervisor_in_our_namespaces() -> None:
    p = probe()
    pid = p.ask("pid")
    assert pid == p.ch.child_pid != os.getpid()
    assert p.ask("ppid") == _supervisor.pid()
    ours = ns_links()
    assert p.ask("ns") == ours  # subprocess=True creates no namespace


@process_test
def test_spawn_vm_with_a_missing_path_raises_before_anything_is_spawned() -> None:
    before = supervisor_children()
    tracked = len(_process_actor._children)
    with pytest.raises(FileNotFoundError):
        spawn_vm(program("no_such_actor"), subprocess=True)
    # '.' names the program given to the emilua command; there is none here.
    with pytest.raises(ValueError):
        spawn_vm(".", subprocess=True)
    assert supervisor_children() == before
    assert len(_process_actor._children) == tracked


@process_test
def test_a_missing_dotted_module_is_the_new_actors_error(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A dotted name is looked up when the new VM starts (docs/actors.md).
    ch = process("process_actors.no_such_module")
    pidfd = pidfd_of(ch)
    try:
        wait_exit(pidfd)
    finally:
        os.close(pidfd)
    with pytest.raises(ChannelClosedError):
        ch.send("anyone there?")
    err = capfd.readouterr().err
    assert "Exception in the main fiber of <vm" in err
    assert "ModuleNotFoundError: no module named 'process_actors.no_such_module'" in err


@pytest.mark.pure
@pytest.mark.parametrize("backend", ["io_uring", "epoll"])
def test_spawn_vm_dot_runs_the_program_itself_in_a_process(backend: str) -> None:
    out = subprocess.run(
        emilua_command(program("cli_main"), backend),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        env=cli_env(),
        cwd=ROOT,
    )
    assert out.stderr == ""
    # The worker's line comes last: the program waits for its process actors.
    assert out.stdout == "worker True True\nmain done\nworker: no senders\n"
    assert out.returncode == 0


# ----------------------------------------------------- the bounded format

LEAVES = [
    True,
    False,
    0,
    7,
    -1.5,
    2**53,
    2**60,
    math.inf,
    -math.inf,
    "",
    "héllo wörld",
    "x" * 255,
    "é" * 127,
    {"a": 1, "b": "two", "c": False, "d": math.inf},
    {f"k{i}": i for i in range(20)},
]


@process_test
def test_every_plain_leaf_kind_arrives(delivery: str) -> None:
    with mirror(delivery) as m:
        got = m.send_all([*LEAVES, math.nan, -0.0])
        for sent, back in zip(LEAVES, got, strict=False):
            assert same(sent, back), (sent, back)
        assert type(got[LEAVES.index(7)]) is float  # numbers travel as doubles
        assert math.isnan(got[-2])
        assert got[-1] == 0.0 and math.copysign(1.0, got[-1]) == -1.0


@process_test
def test_a_file_descriptor_arrives_and_the_sender_keeps_its_copy(delivery: str) -> None:
    out = Pipe()
    try:
        with mirror(delivery) as m:
            (back,) = m.send_all([{"fd": out.w, "n": 1}])
            out.w.close()  # still the sender's: it closes without EBADF
            assert back["n"] == 1.0
            fd = back["fd"]
            assert isinstance(fd, file_descriptor)
            # The same pipe, after a trip through the child and back.
            os.write(fd._fileno(), b"round trip")
            fd.close()
            assert out.read_all() == b"round trip"
    finally:
        out.close()


@pytest.fixture(params=["inbox", "same-thread", "new-thread", "process"])
def address_target(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@process_test
def test_every_kind_of_address_arrives_and_reaches_its_actor(
    delivery: str, address_target: str
) -> None:
    with mirror(delivery) as m:
        if address_target == "inbox":
            (back,) = m.send_all([inbox])
            assert isinstance(back, ProcessChannel)
            back.send("to ourselves")
            assert inbox.receive() == "to ourselves"
            back.close()
            return
        if address_target == "process":
            p = probe()
            (back,) = m.send_all([{"to": p.ch}])
            assert back["to"] == p.ch
            back["to"].send("pid")
            assert inbox.receive() == {"q": "pid", "a": p.ch.child_pid}
            back["to"].close()
            p.ch.close()
            assert inbox.receive() == {"q": "no senders"}
            return
        relay = spawn_vm(guest("relay"), inherit_context=address_target == "same-thread")
        relay.send(inbox)
        (back,) = m.send_all([{"to": relay}])
        back["to"].send("via the child's copy")
        assert inbox.receive() == {"relayed": "via the child's copy"}
        # The relay ends once no copy of its address is left anywhere.
        back["to"].close()
        relay.close()
        assert inbox.receive() == "relay: no senders"


BAD_MESSAGES = [
    (None, TypeError),
    ({}, ValueError),
    (b"bytes", TypeError),
    (bytearray(b"bytes"), TypeError),
    (memoryview(b"bytes"), TypeError),
    ("x" * 256, ValueError),
    ("é" * 128, ValueError),
    ({"x" * 256: 1}, ValueError),
    ({f"k{i}": i for i in range(21)}, ValueError),
    ({"a": {"b": 1}}, TypeError),
    ({"a": [1]}, TypeError),
    ([1, 2], TypeError),
    ((1, 2), TypeError),
    ({1: "int key"}, TypeError),
    ({"a": None}, TypeError),
    (2**53 + 1, ValueError),
    ("lone \udc80 surrogate", UnicodeEncodeError),
]


@process_test
def test_invalid_messages_raise_before_anything_is_sent(delivery: str) -> None:
    held = Pipe()
    try:
        with mirror(delivery) as m:
            if delivery == "immediate":
                assert m.send_all(["first"]) == ["first"]  # the actor waits again
            closed = m.ch._clone_address()
            closed.close()
            before = fd_snapshot()
            for msg, exc in BAD_MESSAGES:
                with pytest.raises(exc):
                    m.ch.send(msg)
            with pytest.raises(TypeError):
                m.ch.send(byte_span(4))
            # Bad only after a descriptor and an address: neither is moved
            # nor created (a new address would be a new socket here).
            with pytest.raises(TypeError):
                m.ch.send({"fd": held.w, "to": inbox, "bad": [1]})
            with pytest.raises(ValueError):
                m.ch.send({"fd": held.w, "to": inbox, "long": "x" * 300})
            with pytest.raises(ValueError):
                m.ch.send({"a": held.w, "b": held.w})  # one fd cannot be moved twice
            with pytest.raises(ChannelClosedError):
                m.ch.send({"fd": held.w, "to": closed})
            assert held.w._fileno() >= 0
            assert fd_snapshot() == before
            # Nothing reached the actor: the next message is the first it sees.
            assert m.send_all(["after"]) == ["after"]
    finally:
        held.close()


# ---------------------------------------------------------------- addresses


@process_test
def test_the_child_answers_through_our_inbox(delivery: str) -> None:
    done = Pipe()
    try:
        p = probe()
        if delivery == "immediate":
            assert p.ask("pid") == p.ch.child_pid
            return
        for q in ("pid", "ppid", "uid"):
            p.ch.send(q)
        p.ch.send({"q": "write", "fd": done.w, "data": "all sent"})
        assert done.read_all() == b"all sent"  # every answer is in our socket
        assert [inbox.receive()["q"] for _ in range(4)] == ["pid", "ppid", "uid", "write"]
    finally:
        done.close()


@process_test
def test_copies_of_one_address_compare_and_hash_equal() -> None:
    with mirror("immediate") as m:
        p = probe()
        # Each copy is a new descriptor of the same socket.
        (back,) = m.send_all([{"a": p.ch, "b": p.ch, "self": m.ch}])
        a, b = back["a"], back["b"]
        assert a == b == p.ch
        assert a is not b and a is not p.ch
        assert hash(a) == hash(b) == hash(p.ch)
        assert len({a, b, p.ch}) == 1
        assert back["self"] == m.ch
        assert a != m.ch and a != back["self"]
        # Independent handles: closing one copy leaves the others working.
        a.close()
        assert a != b
        b.send("pid")
        assert inbox.receive()["q"] == "pid"
        for c in (b, back["self"]):
            c.close()


# ---------------------------------------------------------------- lifetimes


@pytest.mark.timeout(20)
@process_test
def test_receive_raises_no_senders_once_the_child_has_exited(delivery: str) -> None:
    ch = process(program("once"))
    pidfd = pidfd_of(ch)
    try:
        if delivery == "buffered":
            ch.send(inbox)
            wait_exit(pidfd)  # "bye" waits in our socket, then EOF
            assert inbox.receive() == "bye"
            with pytest.raises(NoSendersError):
                inbox.receive()
            return
        receiver = spawn(lambda: [inbox.receive(), inbox.receive()])
        ch.send(inbox)  # the receiver runs once we park
        with pytest.raises(NoSendersError):
            receiver.join()  # woken by the actor's end, not left waiting
        wait_exit(pidfd)
    finally:
        os.close(pidfd)


@process_test
def test_send_to_a_child_whose_vm_ended_raises_channel_closed() -> None:
    held = Pipe()
    try:
        ch = process(program("once"))
        pidfd = pidfd_of(ch)
        try:
            ch.send(inbox)
            assert inbox.receive() == "bye"
            wait_exit(pidfd)
        finally:
            os.close(pidfd)
        with pytest.raises(ChannelClosedError):
            ch.send("plain")
        with pytest.raises(ChannelClosedError):
            ch.send({"fd": held.w, "to": inbox})
        assert held.w._fileno() >= 0  # a refused descriptor is not moved
        with pytest.raises(NoSendersError):
            inbox.receive()  # the refused address left nothing behind
    finally:
        held.close()


@process_test
def test_closing_every_copy_ends_the_child_and_it_is_reaped() -> None:
    before = supervisor_children()
    p = probe()
    pid = p.ch.child_pid
    assert supervisor_children() - before == {pid}
    pidfd = pidfd_of(p.ch)
    try:
        copy = p.ch._clone_address()  # what sending the channel elsewhere does
        p.ch.close()
        copy.send("pid")  # a copy keeps the actor reachable
        assert inbox.receive()["q"] == "pid"
        copy.close()
        assert inbox.receive() == {"q": "no senders"}
        wait_exit(pidfd)
        assert pid not in supervisor_children()
        assert not os.path.exists(f"/proc/{pid}")  # no zombie
    finally:
        os.close(pidfd)


@pytest.mark.pure
@pytest.mark.parametrize("backend", ["io_uring", "epoll"])
def test_no_pidfd_of_an_ended_process_actor_outlives_the_run(backend: str) -> None:
    def main() -> int:
        ch = process(program("once"))
        ch.send(inbox)
        assert inbox.receive() == "bye"
        pid = ch.child_pid
        pidfd = pidfd_of(ch)
        try:
            wait_exit(pidfd)
        finally:
            os.close(pidfd)
        return pid

    pid = emilua.run(main, backend=backend)
    held = [c for c in _process_actor._children if c.pid == pid and c.pidfd >= 0]
    try:
        assert held == []
    finally:
        for c in held:
            c._close()


@process_test
def test_child_pid_and_kill() -> None:
    out = Pipe()
    try:
        ch = process(guest("signals"))
        ch.send({"reply": inbox, "fd": out.w})
        assert inbox.receive() == {"ready": True, "pid": ch.child_pid}
        ch.kill(signal.SIGUSR1)
        assert out.read() == b"SIGUSR1\n"
        ch.send("still open")  # only SIGKILL closes the channel
        pidfd = pidfd_of(ch)
        try:
            ch.kill()
            with pytest.raises(ChannelClosedError):
                ch.send("anything")
            wait_exit(pidfd)
        finally:
            os.close(pidfd)
        with pytest.raises(NoSendersError):
            inbox.receive()
        _supervisor.pid()  # reaped: the engine's pidfd now names no process
        with pytest.raises(ProcessLookupError):
            ch.kill(signal.SIGTERM)
    finally:
        out.close()


@process_test
def test_detach_lets_the_process_live_on_its_own() -> None:
    p = probe()
    pid = p.ch.child_pid
    p.ch.detach()
    for call in (p.ch.detach, p.ch.kill, lambda: p.ch.kill(signal.SIGTERM)):
        fails_with(errno.EINVAL, call)
    assert p.ch.child_pid == pid
    assert p.ask("pid") == pid  # still a working channel
    pidfd = os.pidfd_open(pid)
    try:
        p.ch.close()
        assert inbox.receive() == {"q": "no senders"}
        wait_exit(pidfd)
    finally:
        os.close(pidfd)


@process_test
def test_kill_detach_and_child_pid_fail_on_a_channel_received_through_an_inbox() -> None:
    p = probe()
    received = p.ask("address")
    with mirror("immediate") as m:
        (relayed,) = m.send_all([p.ch])  # a copy of the spawn_vm channel
        assert relayed == p.ch
        for ch in (received, relayed):
            for call in (ch.kill, ch.detach, lambda ch=ch: ch.child_pid):
                fails_with(errno.EINVAL, call)
        assert p.ask("pid") == p.ch.child_pid  # nothing was signalled
        received.close()
        relayed.close()


def test_a_detached_process_actor_outlives_the_program(backend: str, tmp_path: Any) -> None:
    # The actor shares the program's stdout and stderr: files, not pipes that
    # would stay open as long as it lives.
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        code = run_cli(program("outlive_main"), backend, stdout, stderr)
    assert code == 0, err.read_text()
    supervisor, detached = map(int, out.read_text().split())
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


# ------------------------------------------------------------- interruption


@process_test
def test_an_interrupted_receive_keeps_the_next_messages(delivery: str) -> None:
    done_p, done_q = Pipe(), Pipe()
    try:
        # Two process actors hold our address: reads are in flight on both
        # sockets when the receiver is interrupted.
        p, q = probe(), probe()
        for _ in range(2):
            receiver = spawn(inbox.receive)
            wait_until_idle()
            receiver.interrupt()
            receiver.join()
            assert receiver.interruption_caught
        if delivery == "immediate":
            receiver = spawn(inbox.receive)
            wait_until_idle()
            p.ch.send("pid")
            assert receiver.join() == {"q": "pid", "a": p.ch.child_pid}
            receiver = spawn(inbox.receive)
            wait_until_idle()
            q.ch.send("ppid")
            assert receiver.join()["q"] == "ppid"
            return
        for question in ("pid", "uid"):
            p.ch.send(question)
        for question in ("ppid", "hostname"):
            q.ch.send(question)
        p.ch.send({"q": "write", "fd": done_p.w, "data": "p"})
        q.ch.send({"q": "write", "fd": done_q.w, "data": "q"})
        assert done_p.read_all() == b"p" and done_q.read_all() == b"q"
        got = [inbox.receive()["q"] for _ in range(6)]
        # Any order between the senders; each sender's order is kept.
        assert [g for g in got if g in ("pid", "uid")] == ["pid", "uid"]
        assert [g for g in got if g in ("ppid", "hostname")] == ["ppid", "hostname"]
        assert got.count("write") == 2 and got[-1] == "write"
    finally:
        done_p.close()
        done_q.close()


@pytest.mark.parametrize("queued", ["socket", "read-ahead"])
@process_test
def test_receive_is_an_interruption_point_with_a_message_queued(queued: str) -> None:
    done = Pipe()
    try:
        p = probe()
        for q in ("pid", "ppid", "uid"):
            p.ch.send(q)
        p.ch.send({"q": "write", "fd": done.w, "data": "sent"})
        # The probe writes before it answers "write": the first three answers
        # wait in our socket, the fourth follows.
        assert done.read_all() == b"sent"
        expected = ["pid", "ppid", "uid", "write"]
        if queued == "read-ahead":
            assert inbox.receive()["q"] == "pid"  # takes what the socket holds
            assert len(our_mailbox().remote) >= 2
            expected.pop(0)
        receiver = spawn(inbox.receive)
        receiver.interrupt()  # pending before the receiver runs
        receiver.join()
        assert receiver.interruption_caught
        assert [inbox.receive()["q"] for _ in expected] == expected
    finally:
        done.close()


@process_test
def test_a_receive_after_a_stream_ran_dry_is_busy_and_interruptible(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # After receive() calls that found several messages queued (a stream),
    # the next one that finds none waits _STREAM_PAUSE before it arms reads.
    # Meanwhile a second receiver gets EBUSY, an interruption takes nothing,
    # and the next message arrives.
    monkeypatch.setattr(_process_actor, "_STREAM_PAUSE", 0.5)
    done = Pipe()
    try:
        p = probe()
        for q in ("pid", "ppid"):
            p.ch.send(q)
        p.ch.send({"q": "write", "fd": done.w, "data": "sent"})
        assert done.read_all() == b"sent"  # "pid" and "ppid" wait in our socket
        assert [inbox.receive()["q"] for _ in range(3)] == ["pid", "ppid", "write"]
        box = our_mailbox()
        # Whether "write" came in the same batch depends on timing; what
        # matters here is the receive that pauses.
        box.streaming = True
        receiver = spawn(inbox.receive)
        wait_until_idle()
        assert box.pausing
        with pytest.raises(OSError) as busy:
            inbox.receive()
        assert busy.value.errno == errno.EBUSY
        receiver.interrupt()
        receiver.join()
        assert receiver.interruption_caught
        assert not box.pausing
        p.ch.send("uid")
        assert inbox.receive()["q"] == "uid"
        p.ch.close()
    finally:
        done.close()


@process_test
def test_only_a_batch_counts_as_a_stream() -> None:
    # One message found queued may be the reply to what we sent: a
    # request/reply exchange must not pause on every receive.
    done = Pipe()
    p = probe()
    try:
        p.ch.send("pid")
        time.sleep(0.05)  # nobody receives, so no read is armed: the answer queues up
        assert inbox.receive()["q"] == "pid"
        assert not our_mailbox().streaming
        # The probe writes before it answers "write": three answers wait.
        for q in ("pid", "ppid", "uid"):
            p.ch.send(q)
        p.ch.send({"q": "write", "fd": done.w, "data": "x"})
        assert done.read_all() == b"x"
        assert inbox.receive()["q"] == "pid"
        assert our_mailbox().streaming
        assert [inbox.receive()["q"] for _ in range(3)] == ["ppid", "uid", "write"]
    finally:
        p.ch.close()
        done.close()


@process_test
def test_a_pending_interruption_stops_a_send_before_anything_is_sent() -> None:
    held = Pipe()
    try:
        with mirror("immediate") as m:
            for msg in ("plain", {"fd": held.w, "to": inbox}):
                fib = spawn(m.ch.send, msg)
                fib.interrupt()
                fib.join()
                assert fib.interruption_caught
            assert held.w._fileno() >= 0  # not moved
            assert m.send_all(["this"]) == ["this"]  # the first the actor saw
    finally:
        held.close()


@process_test
def test_an_interrupted_send_waiting_for_room_withdraws_its_message() -> None:
    held = Pipe()
    try:
        ch, gate = sink()
        try:
            sender, sent = fill(ch, 10_000)
            k = sent[0]
            assert 0 < k < 10_000  # parked on the full socket
            sender.interrupt()
            sender.join()
            assert sender.interruption_caught
            assert sent[0] == k  # message k was withdrawn
            fib = spawn(ch.send, {"fd": held.w})  # parks too: still full
            wait_until_idle()
            fib.interrupt()
            fib.join()
            assert fib.interruption_caught
            assert held.w._fileno() >= 0  # the descriptor stayed with us
            os.write(gate, b"go")
            for i in range(k, k + 10):
                ch.send({"i": i})
        finally:
            os.close(gate)
        ch.close()
        # Exactly 0 .. k+9 arrived: neither withdrawn message did.
        assert inbox.receive() == {"count": k + 10, "in_order": True, "others": 0}
    finally:
        held.close()


# ------------------------------------------------ flow control, read-ahead


@process_test
def test_a_burst_arrives_complete_and_in_order_through_the_read_ahead_queue() -> None:
    n, every = 100, 4
    done = Pipe()
    try:
        ch = process(program("burst"))
        ch.send({"reply": inbox, "n": n, "fd_every": every, "done": done.w})
        assert done.read_all() == b"."  # all sent: they wait in our socket
        box = our_mailbox()
        assert not box.remote  # nothing is read while nobody receives
        ahead = _process_actor._READ_AHEAD
        for i in range(n):
            msg = inbox.receive()
            # One receive() takes up to _READ_AHEAD datagrams off the socket.
            assert len(box.remote) == min(ahead, n - (i - i % ahead)) - 1 - i % ahead
            assert msg["i"] == i
            assert ("fd" in msg) == (i % every == 0)
            if "fd" in msg:
                fd = msg["fd"]
                assert os.read(fd._fileno(), 16) == str(i).encode()
                fd.close()
        ch.close()
        with pytest.raises(NoSendersError):
            inbox.receive()
    finally:
        done.close()


@process_test
def test_closing_the_inbox_closes_the_descriptors_of_read_ahead_messages() -> None:
    n = 40
    report = Pipe()
    r, gate = os.pipe2(os.O_CLOEXEC)
    try:
        ch = process(program("fd_holder"))
        before = fd_snapshot()
        gate_r = file_descriptor._adopt(r)
        ch.send({"reply": inbox, "n": n, "gate": gate_r, "report": report.w})
        gate_r.close()  # the actor has its own copies now
        report.w.close()
        assert report.read(4) == b"sent"
        first = inbox.receive()
        assert first["i"] == 0
        first["fd"].close()
        # 31 messages wait in the queue, 8 in the socket, each with a pipe end.
        assert len(our_mailbox().remote) == _process_actor._READ_AHEAD - 1
        inbox.close()
        assert fd_snapshot() - before == set()
        os.write(gate, b"x")
        # Every read end is closed: the actor's write to each one fails.
        assert report.read_all() == f" {n}".encode()
    finally:
        os.close(gate)
        report.close()


@process_test
def test_plain_messages_are_sent_without_parking() -> None:
    ch, gate = sink()
    try:
        ran: list[str] = []
        other = spawn(ran.append, "other fiber")  # runs at our next park
        for i in range(50):
            ch.send({"i": i})
            assert ran == []  # the other fiber did not get to run
        wait_until_idle()
        assert ran == ["other fiber"]
        other.join()
        os.write(gate, b"go")
    finally:
        os.close(gate)
    ch.close()
    assert inbox.receive() == {"count": 50, "in_order": True, "others": 0}


@process_test
def test_a_sender_waits_for_room_in_a_full_socket() -> None:
    total = 2000
    ch, gate = sink()
    try:
        sender, sent = fill(ch, total)
        k = sent[0]
        assert 0 < k < total  # the socket is full; the sender parked
        wait_until_idle()
        assert sent[0] == k  # and stays parked while the actor reads nothing
        os.write(gate, b"go")
        sender.join()
        assert sent[0] == total
    finally:
        os.close(gate)
    ch.close()
    assert inbox.receive() == {"count": total, "in_order": True, "others": 0}


@process_test
def test_a_send_waiting_for_room_fails_when_the_child_dies() -> None:
    ch, gate = sink()
    try:
        sender, sent = fill(ch, 10_000)
        assert 0 < sent[0] < 10_000
        pidfd = pidfd_of(ch)
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            with pytest.raises(ChannelClosedError):
                sender.join()
            wait_exit(pidfd)
        finally:
            os.close(pidfd)
    finally:
        os.close(gate)
    with pytest.raises(NoSendersError):
        inbox.receive()


@pytest.mark.parametrize("path", ["plain", "descriptor"])
@process_test
def test_closing_the_channel_fails_a_send_waiting_for_room_with_channel_closed(
    path: str,
) -> None:
    # (kill() closes the channel too, but races with the death of the process,
    # which fails the send with ChannelClosedError on its own.)
    held = Pipe()
    ch, gate = sink()
    try:
        sender, sent = fill(ch, 10_000)
        assert 0 < sent[0] < 10_000  # parked: the actor's socket is full
        if path == "descriptor":
            # Park a message with a descriptor instead (it goes out by the
            # proactor's sendmsg, not by the codec).
            sender.interrupt()
            sender.join()
            sender = spawn(ch.send, {"fd": held.w})
            wait_until_idle()
        errors: list[BaseException] = []

        def join() -> None:
            try:
                sender.join()
            except Exception as e:
                errors.append(e)

        joiner = spawn(join)
        wait_until_idle()
        ch.close()  # docs/actors.md: a closed tx-channel raises ChannelClosedError
        joiner.join()
        assert [type(e) for e in errors] == [ChannelClosedError], errors
        assert held.w._fileno() >= 0  # a refused descriptor is not moved
    finally:
        os.close(gate)
        held.close()


# ------------------------------------------------------- malformed messages


@process_test
def test_a_malformed_message_drops_only_its_senders_socket_in_the_child() -> None:
    p = probe()
    second = p.ask("address")  # another socket into the probe's inbox
    raw = os.dup(second._raw_fd())
    try:
        os.write(raw, b"not a message")  # no codec involved
    finally:
        os.close(raw)
    assert p.ask("pid") == p.ch.child_pid  # the probe's other socket works
    # We still hold `second`: the probe can only run out of senders because
    # it closed its end of that socket.
    p.ch.close()
    assert inbox.receive() == {"q": "no senders"}
    second.close()


@pytest.mark.timeout(20)
@process_test
def test_a_malformed_message_to_our_inbox_drops_only_that_socket() -> None:
    ch = process(program("rogue"))
    ch.send({"bad": inbox, "good": inbox})  # two addresses: two sockets
    got = [inbox.receive() for _ in range(3)]
    # What the bad socket carried before the malformed datagram arrives in
    # order; what came after it is lost with the socket.
    assert sorted(got) == ["good", "one", "two"]
    assert got.index("one") < got.index("two")
    # The actor still holds its end of the bad socket; our end was closed.
    with pytest.raises(NoSendersError):
        inbox.receive()
    ch.close()
