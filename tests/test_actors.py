"""Actors (manual: "Threads and the actor model"; "Internals": "Multiple lua VMs",
"Channels and resources").

Every rule is checked for both in-process placements: a VM sharing the
caller's proactor (``spawn_vm(module)``) and a VM on a new thread with its own
proactor (``inherit_context=False``). Where it matters, a rule is checked with
the message "buffered" (sent before the receiver waits) and with "immediate
delivery" (the receiver already waits in ``inbox.receive()``).

The actors' programs are in tests/actors/. Synchronisation is by rendezvous
(a send returns once the message is taken), by joins, and by a "gate": a
socket the actor reads a command byte from, which holds it away from its
inbox for as long as a test needs.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import tcp_pair, wait_until_idle

import emilua
from emilua import (
    ChannelClosedError,
    NoSendersError,
    _actor,
    inbox,
    spawn,
    spawn_vm,
    this_fiber,
)
from emilua._core import proactor as _core
from emilua.byte_span import byte_span

ACTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "actors")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def actor(name: str) -> str:
    """The path of an actor's entry module."""
    return os.path.join(ACTORS, name + ".py")


@pytest.fixture(params=[True, False], ids=["same-thread", "new-thread"])
def inherit_context(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# ------------------------------------------------------------------ helpers


class _ThreadsWait:
    """What a fiber waiting for OS threads is parked on (not interruptible)."""

    def cancel(self, fiber: Any) -> bool:
        return False

    def __repr__(self) -> str:
        return "wait for VM threads"


def wait_for_threads(threads: list[threading.Thread]) -> None:
    """Park the calling fiber (not the engine) until every thread has ended."""
    pending = [t for t in threads if t.is_alive()]
    if not pending:
        return
    p = _core.current()
    fiber = p.current_fiber

    def resume() -> None:
        p.keepalive -= 1
        p.wake(fiber)

    def watch() -> None:
        for t in pending:
            t.join()
        p.post(resume)

    p.keepalive += 1
    watcher = threading.Thread(target=watch)
    watcher.start()
    p.suspend(_ThreadsWait())
    watcher.join()


def join_vm_threads() -> None:
    """Wait for the threads of every new-thread VM spawned so far."""
    threads = list(_actor._threads)
    wait_for_threads(threads)
    for t in threads:
        _actor._threads.remove(t)


def spawn_thread_vm(module: str) -> tuple[Any, threading.Thread]:
    """spawn_vm(module, inherit_context=False) and the VM's thread."""
    before = set(_actor._threads)
    chan = spawn_vm(module, inherit_context=False)
    (thread,) = [t for t in _actor._threads if t not in before]
    return chan, thread


def actor_test(fn: Callable[..., None]) -> Callable[..., None]:
    """Run the test, then wait for the VM threads it started.

    On failure the frames of the traceback are cleared first: the channels
    they hold would keep the actors (and the engine) running.
    """

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except BaseException as exc:
            traceback.clear_frames(exc.__traceback__)
            raise
        finally:
            join_vm_threads()

    return run


def wait_receiving(chan: Any) -> None:
    """Yield until an actor waits in inbox.receive() on *chan*'s mailbox."""
    while chan._box.receiver is None:
        this_fiber.yield_()


def self_address() -> Any:
    """A tx-channel to the calling VM's own inbox, obtained by a round trip.

    The actor that sends it back ends at once, holding no copy of it.
    """
    chan = spawn_vm(actor("addr_back"))
    chan.send(inbox)
    address = inbox.receive()
    chan.close()
    return address


@contextlib.contextmanager
def gated(inherit_context: bool) -> Iterator[tuple[Any, Any]]:
    """Spawn tests/actors/gated.py; yield its channel and our end of its gate.

    Leaving the block closes the gate, which ends the actor.
    """
    with tcp_pair() as (ours, theirs):
        chan = spawn_vm(actor("gated"), inherit_context=inherit_context)
        chan.send((inbox, theirs))  # gated.py now owns `theirs` and our address
        yield chan, ours


# ------------------------------------------------------------ spawn_vm itself


@actor_test
def test_spawn_vm_returns_a_tx_channel(inherit_context: bool) -> None:
    chan = spawn_vm(actor("echo"), inherit_context=inherit_context)
    assert isinstance(chan, _actor.Channel)
    with pytest.raises(TypeError):
        chan.receive()  # the rx-end is the actor's own inbox
    chan.send((inbox, "ping"))
    assert inbox.receive() == "ping"
    chan.close()


@actor_test
def test_entry_module_runs_as_worker_in_a_fresh_namespace(inherit_context: bool) -> None:
    for name in (actor("context"), "actors.context"):  # a path, a dotted module name
        for _ in range(2):
            chan = spawn_vm(name, inherit_context=inherit_context)
            chan.send(inbox)
            report = inbox.receive()
            assert report == {
                "context": "worker",
                "name": "__main__",
                "runs": 1,
                "submodule_sees_context": False,
            }


@actor_test
def test_spawn_vm_does_not_touch_sys_modules_main(inherit_context: bool) -> None:
    main = sys.modules["__main__"]
    argv0 = sys.argv[0]
    chan = spawn_vm(actor("echo"), inherit_context=inherit_context)
    chan.send((inbox, 1))
    assert inbox.receive() == 1
    assert sys.modules["__main__"] is main
    assert sys.argv[0] == argv0
    chan.close()


@actor_test
def test_spawn_vm_with_a_missing_module_raises() -> None:
    with pytest.raises(FileNotFoundError):
        spawn_vm(os.path.join(ACTORS, "no_such_actor.py"))


@actor_test
def test_a_new_thread_that_cannot_start_its_engine_raises_in_the_caller() -> None:
    with pytest.raises(ValueError):
        spawn_vm(actor("echo"), inherit_context=False, backend="nonexistent", new_master=True)
    assert _actor.is_master()  # the role was not handed to a VM that never started


# ----------------------------------------------------- values are deep-copied


def _sample() -> dict[Any, Any]:
    span = byte_span(4)
    span.copy(b"span")
    return {
        "none": None,
        "true": True,
        "false": False,
        "int": 7,
        "big": 2**80,
        "negative": -3,
        "float": 2.5,
        "str": "héllo",
        "bytes": b"\x00\xff",
        "span": span,
        "list": [1, [2, [3, "deep"]]],
        "tuple": (1, (2.0, "x"), [4]),
        "dict": {"k": {"n": [1, 2]}},
        5: "an int key",
        ("a", 1): "a tuple key",
    }


@actor_test
def test_values_arrive_as_equal_copies_of_the_same_types(inherit_context: bool) -> None:
    chan = spawn_vm(actor("echo"), inherit_context=inherit_context)
    sent = _sample()
    chan.send((inbox, sent))
    got = inbox.receive()
    assert got == sent
    assert got is not sent
    for key, value in sent.items():
        assert type(got[key]) is type(value), key
    assert type(got["tuple"][2]) is list
    assert got["span"] is not sent["span"]
    assert bytes(got["span"]) == b"span"
    chan.close()


@actor_test
def test_mutation_after_send_does_not_reach_the_receiver(inherit_context: bool) -> None:
    chan = spawn_vm(actor("hold"), inherit_context=inherit_context)
    value = _sample()
    snapshot = _sample()
    chan.send((inbox, value))  # rendezvous: hold.py has its copy now
    value["list"][1][1].append("more")
    value["dict"]["k"]["n"][0] = 99
    value["span"][0] = ord("S")
    value["new key"] = 1
    chan.send("mutated")
    assert inbox.receive() == snapshot


@actor_test
def test_a_shared_sub_object_is_copied_and_a_cycle_is_refused() -> None:
    chan = spawn_vm(actor("echo"))
    shared = [1, 2]
    chan.send((inbox, [shared, shared]))  # a DAG, not a cycle
    got = inbox.receive()
    assert got == [[1, 2], [1, 2]]
    looped: list[Any] = [1]
    looped.append(looped)
    with pytest.raises(ValueError):
        chan.send((inbox, looped))
    d: dict[str, Any] = {}
    d["self"] = {"inner": d}
    with pytest.raises(ValueError):
        chan.send((inbox, d))
    chan.send((inbox, "still works"))
    assert inbox.receive() == "still works"
    chan.close()


@actor_test
def test_unsendable_values_raise_type_error(inherit_context: bool) -> None:
    from emilua import condition_variable, mutex

    chan = spawn_vm(actor("echo"), inherit_context=inherit_context)
    fib = spawn(lambda: None)

    class Thing:
        pass

    unsendable = [
        mutex.mutex(),
        condition_variable.condition_variable(),
        fib,
        lambda: None,
        len,
        Thing(),
        Thing,
        {1, 2},
        object(),
        threading.Lock(),
        (x for x in ()),
        sys,
    ]
    for value in unsendable:
        with pytest.raises(TypeError):
            chan.send((inbox, value))
        with pytest.raises(TypeError):
            chan.send((inbox, {"nested": [value]}))
    fib.join()
    # Nothing was delivered: the next message is the first one the actor sees.
    chan.send((inbox, "first"))
    assert inbox.receive() == "first"
    chan.close()


def test_a_refused_message_leaves_no_address_behind() -> None:
    chan = spawn_vm(actor("echo"))
    with pytest.raises(TypeError):
        chan.send((inbox, lambda: None))  # the copy of `inbox` is dropped again
    chan.close()
    with pytest.raises(NoSendersError):
        inbox.receive()


# ------------------------------------------------------ channels as addresses


@actor_test
def test_sending_the_inbox_sends_an_address(inherit_context: bool) -> None:
    chan = spawn_vm(actor("addresses"), inherit_context=inherit_context)
    chan.send([inbox, inbox])
    chan.send(inbox)
    report = inbox.receive()
    assert report == {
        "type": "Channel",
        "is_inbox": False,
        "first_equals_second": True,
        "first_is_second": False,
        "first_equals_third": True,
        "same_hash": True,
        "receive_error": "TypeError",
    }


@actor_test
def test_sending_a_tx_channel_sends_a_copy_of_the_address(inherit_context: bool) -> None:
    target = spawn_vm(actor("echo"), inherit_context=inherit_context)
    relay = spawn_vm(actor("echo"), inherit_context=inherit_context)
    relay.send((inbox, target))
    first = inbox.receive()
    relay.send((inbox, [target, target]))
    second, third = inbox.receive()
    assert first == target and second == target and third == target
    assert first is not target and second is not third
    assert hash(first) == hash(target)
    assert first != relay
    # The copy is a working address of the same actor.
    first.send((inbox, "via a copy"))
    assert inbox.receive() == "via a copy"
    for c in (first, second, third, target, relay):
        c.close()


def test_copies_of_the_own_address_compare_equal() -> None:
    a = self_address()
    b = self_address()
    assert a == b and a is not b


# ------------------------------------------------------- IO objects are moved


@actor_test
def test_an_io_object_is_moved(inherit_context: bool) -> None:
    with tcp_pair() as (client, server):
        chan = spawn_vm(actor("sock_server"), inherit_context=inherit_context)
        chan.send((inbox, server))
        # The sender's object is unusable from now on.
        assert not server.is_open
        with pytest.raises(OSError) as info:
            server.read_some(byte_span(1))
        assert info.value.errno == errno.EBADF
        with pytest.raises(OSError) as info:
            server.fileno()
        assert info.value.errno == errno.EBADF
        # The receiver owns and uses it.
        client.write_some(b"ping")
        buf = byte_span(16)
        n = client.read_some(buf)
        assert bytes(buf[:n]) == b"PING"
        assert inbox.receive() == ("served", b"ping", True)
        with pytest.raises(EOFError):
            client.read_some(buf)  # the actor closed the moved socket


@actor_test
def test_an_io_object_with_an_operation_in_flight_is_not_moved(inherit_context: bool) -> None:
    with tcp_pair() as (client, server):
        chan = spawn_vm(actor("echo"), inherit_context=inherit_context)

        def read() -> bytes:
            buf = byte_span(8)
            n = server.read_some(buf)
            return bytes(buf[:n])

        reader = spawn(read)
        wait_until_idle()  # the reader is parked in read_some
        with pytest.raises(OSError) as info:
            chan.send((inbox, server))
        assert info.value.errno == errno.EBUSY
        with pytest.raises(OSError) as info:
            chan.send((inbox, ["nested", {"sock": server}]))
        assert info.value.errno == errno.EBUSY
        # Still ours, still working; the actor got nothing.
        assert server.is_open
        client.write_some(b"x")
        assert reader.join() == b"x"
        chan.send((inbox, "first"))
        assert inbox.receive() == "first"
        chan.close()


def test_a_closed_or_repeated_io_object_is_refused() -> None:
    with tcp_pair() as (client, server):
        chan = spawn_vm(actor("echo"))
        with pytest.raises(ValueError):
            chan.send((inbox, [server, server]))  # one object cannot move twice
        assert server.is_open
        server.close()
        with pytest.raises(ValueError):
            chan.send((inbox, server))
        chan.close()


# ----------------------------------------------------- send is a rendezvous


@actor_test
def test_send_parks_until_the_message_is_taken_buffered(inherit_context: bool) -> None:
    with gated(inherit_context) as (chan, gate):
        events: list[str] = []

        def sender() -> None:
            chan.send("x")
            events.append("sent")

        fib = spawn(sender)
        wait_until_idle()
        # gated.py waits on its gate, not on its inbox: nobody took "x" yet.
        assert events == []
        gate.write_some(b"r")
        fib.join()
        assert events == ["sent"]
        assert inbox.receive() == ("got", "x")


@actor_test
def test_send_completes_when_the_receiver_already_waits(inherit_context: bool) -> None:
    chan = spawn_vm(actor("echo"), inherit_context=inherit_context)
    wait_receiving(chan)
    chan.send((inbox, "first"))  # immediate delivery
    # The sender was not left runnable: its next wait is a real one, and
    # join() returns the joined fiber's result, not an early None.
    never = spawn(lambda: None)
    blocked = spawn(inbox.receive)
    assert blocked.join() == "first"
    never.join()
    chan.close()


@actor_test
def test_a_send_to_a_waiting_receiver_lets_the_receiver_run_first(capfd: Any) -> None:
    # A rendezvous hands over: the main VM's ch.send('foo'); print('bar')
    # prints foo (the worker's print(inbox.receive())) before bar, as the
    # manual's engine does.
    chan = spawn_vm(actor("printer"))
    wait_receiving(chan)
    chan.send("foo")
    print("bar", flush=True)
    chan.close()
    assert capfd.readouterr().out.splitlines() == ["foo", "bar"]


# ------------------------------------------------- closed inbox, dead actors


@actor_test
def test_a_pending_send_fails_when_the_inbox_closes(inherit_context: bool) -> None:
    with tcp_pair() as (client, server):
        with gated(inherit_context) as (chan, gate):

            def sender() -> None:
                chan.send(("x", server))

            fib = spawn(sender)
            wait_until_idle()
            assert not server.is_open  # moved into the pending message
            gate.write_some(b"c")
            with pytest.raises(ChannelClosedError):
                fib.join()
            assert inbox.receive() == "closed"
            # The moved socket came back to the sender, working.
            assert server.is_open
            client.write_some(b"back")
            buf = byte_span(8)
            n = server.read_some(buf)
            assert bytes(buf[:n]) == b"back"
            # Later sends fail at once.
            with pytest.raises(ChannelClosedError):
                chan.send("late")


@actor_test
def test_send_to_a_vm_that_ended_raises(inherit_context: bool) -> None:
    chan = spawn_vm(actor("once"), inherit_context=inherit_context)
    chan.send((inbox, "only"))
    assert inbox.receive() == "only"
    # once.py's only fiber ends: the VM ends although this address lives.
    with pytest.raises(ChannelClosedError):
        chan.send((inbox, "again"))
    with pytest.raises(ChannelClosedError):
        chan.send("and again")


@actor_test
def test_a_closed_channel_cannot_send(inherit_context: bool) -> None:
    chan = spawn_vm(actor("echo"), inherit_context=inherit_context)
    chan.close()
    chan.close()  # closing twice is harmless
    with pytest.raises(ChannelClosedError):
        chan.send((inbox, "x"))


@actor_test
def test_inbox_closed_when_main_fiber_ends_without_importing_it(inherit_context: bool) -> None:
    from actors import _probe

    from emilua import ip

    acceptor = ip.tcp.acceptor()
    acceptor.open("v4")
    acceptor.bind(ip.address.loopback_v4(), 0)
    acceptor.listen()
    _probe.gate_port = acceptor.local_port
    chan = spawn_vm(actor("no_inbox"), inherit_context=inherit_context)
    held = acceptor.accept()  # the actor's fiber is alive and connected
    acceptor.close()
    with pytest.raises(ChannelClosedError):
        chan.send("x")
    held.close()  # let the actor's last fiber end


# ---------------------------------------------- interruption of send/receive


@actor_test
def test_an_interrupted_sender_withdraws_its_message(inherit_context: bool) -> None:
    with tcp_pair() as (client, server):
        with gated(inherit_context) as (chan, gate):
            fib = spawn(chan.send, ("withdrawn", server))
            wait_until_idle()
            assert not server.is_open
            fib.interrupt()
            fib.join()
            assert fib.interruption_caught
            # The moved socket is back with the sender and works.
            assert server.is_open
            client.write_some(b"ok")
            buf = byte_span(8)
            n = server.read_some(buf)
            assert bytes(buf[:n]) == b"ok"
            # The actor never sees the withdrawn message.
            gate.write_some(b"r")
            chan.send("next")
            assert inbox.receive() == ("got", "next")


@actor_test
def test_a_send_with_a_pending_interruption_withdraws_its_message(
    inherit_context: bool,
) -> None:
    with tcp_pair() as (client, server), gated(inherit_context) as (chan, gate):
        events: list[str] = []

        def sender() -> None:
            this_fiber.disable_interruption()
            events.append("started")
            this_fiber.restore_interruption()
            chan.send(("not this", server))  # the interruption is already pending

        fib = spawn(sender)
        fib.interrupt()  # before the fiber even starts
        fib.join()
        assert fib.interruption_caught
        assert events == ["started"]
        assert server.is_open  # the moved socket came back
        gate.write_some(b"r")
        chan.send("this")
        assert inbox.receive() == ("got", "this")


@actor_test
def test_a_pending_interruption_stops_an_immediate_delivery(inherit_context: bool) -> None:
    chan = spawn_vm(actor("echo"), inherit_context=inherit_context)
    wait_receiving(chan)  # a send would be taken at once

    def sender() -> None:
        chan.send((inbox, "not this"))

    fib = spawn(sender)
    fib.interrupt()
    fib.join()
    assert fib.interruption_caught
    chan.send((inbox, "this"))
    assert inbox.receive() == "this"
    chan.close()


def test_a_pending_interruption_leaves_a_queued_message_queued() -> None:
    address = self_address()
    sender = spawn(address.send, "queued")
    wait_until_idle()  # the message waits in our inbox

    def receiver() -> Any:
        return inbox.receive()

    fib = spawn(receiver)
    fib.interrupt()
    fib.join()
    assert fib.interruption_caught
    assert inbox.receive() == "queued"
    sender.join()
    address.close()


@actor_test
def test_an_interrupted_receive_does_not_consume_the_next_message(inherit_context: bool) -> None:
    with gated(inherit_context) as (chan, gate):
        receiver = spawn(inbox.receive)
        wait_until_idle()
        receiver.interrupt()
        receiver.join()
        assert receiver.interruption_caught
        gate.write_some(b"s")  # the actor sends now; nobody waits: buffered
        assert inbox.receive() == "from gated"
        # Immediate delivery to a receiver that replaced an interrupted one.
        receiver = spawn(inbox.receive)
        wait_until_idle()
        receiver.interrupt()
        receiver.join()
        assert receiver.interruption_caught
        receiver = spawn(inbox.receive)
        wait_until_idle()
        gate.write_some(b"s")
        assert receiver.join() == "from gated"


# ------------------------------------------------ receive(): order of checks


def test_receive_on_a_closed_inbox_raises_channel_closed() -> None:
    address = self_address()  # a live sender: NoSendersError is not the answer
    sender = spawn(address.send, "queued")
    wait_until_idle()
    inbox.close()
    # The queued message was refused, the sender told.
    with pytest.raises(ChannelClosedError):
        sender.join()
    with pytest.raises(ChannelClosedError):
        inbox.receive()
    address.close()
    with pytest.raises(ChannelClosedError):
        inbox.receive()  # closed comes before "no senders"


def test_receive_while_another_fiber_receives_raises_ebusy() -> None:
    address = self_address()
    first = spawn(inbox.receive)
    wait_until_idle()
    with pytest.raises(OSError) as info:
        inbox.receive()
    assert info.value.errno == errno.EBUSY
    address.send("for the first")
    assert first.join() == "for the first"
    address.close()


def test_a_queued_message_comes_before_no_senders() -> None:
    address = self_address()
    sender = spawn(address.send, "queued")
    wait_until_idle()
    address.close()  # no sender handle left, but a message is queued
    assert inbox.receive() == "queued"
    sender.join()
    with pytest.raises(NoSendersError):
        inbox.receive()


def test_receive_with_no_sender_anywhere_raises_at_once() -> None:
    with pytest.raises(NoSendersError):
        inbox.receive()


@pytest.mark.parametrize("how", ["close", "del"])
def test_a_waiting_receiver_learns_that_the_last_sender_is_gone(how: str) -> None:
    address = self_address()
    receiver = spawn(inbox.receive)
    wait_until_idle()
    if how == "close":
        address.close()
    else:
        del address
    with pytest.raises(NoSendersError):
        receiver.join()


@actor_test
def test_last_sender_in_another_actor_wakes_the_receiver(inherit_context: bool) -> None:
    with gated(inherit_context) as (chan, gate):  # gated.py holds our address
        receiver = spawn(inbox.receive)
        wait_until_idle()
        gate.write_some(b"d")  # the actor drops it
        with pytest.raises(NoSendersError):
            receiver.join()


@actor_test
def test_an_address_in_a_garbage_cycle_is_released(inherit_context: bool) -> None:
    chan = spawn_vm(actor("cyclic"), inherit_context=inherit_context)
    chan.send(self_address())
    assert inbox.receive() == "holding"
    chan.close()
    # cyclic.py ends; its namespace (holding our address) is cyclic garbage.
    with pytest.raises(NoSendersError):
        inbox.receive()


def test_an_address_in_a_fiber_s_garbage_cycle_is_released() -> None:
    address = self_address()

    def hold(addr: Any) -> None:
        cycle: list[Any] = [addr]
        cycle.append(cycle)

    holder = spawn(hold, address)
    del address
    receiver = spawn(inbox.receive)
    holder.join()
    with pytest.raises(NoSendersError):
        receiver.join()


# ------------------------------------------------------------ VM lifetimes


@actor_test
def test_a_vm_thread_ends_when_its_last_fiber_ends_and_no_sender_is_left() -> None:
    chan, thread = spawn_thread_vm(actor("echo"))
    chan.send((inbox, "alive"))
    assert inbox.receive() == "alive"
    assert thread.is_alive()
    chan.close()  # echo.py's receive() raises NoSendersError; it returns
    wait_for_threads([thread])
    assert not thread.is_alive()


@actor_test
def test_a_vm_thread_ends_when_its_main_fiber_ends() -> None:
    chan, thread = spawn_thread_vm(actor("once"))
    chan.send((inbox, 1))
    assert inbox.receive() == 1
    wait_for_threads([thread])  # no wait on `chan`: it does not keep a VM alive
    with pytest.raises(ChannelClosedError):
        chan.send((inbox, 2))


@actor_test
def test_tx_channels_keep_the_target_running(inherit_context: bool) -> None:
    """A VM whose fibers all wait in receive() stays while an address of it lives.

    The actor is spawned by the main fiber of a second engine, which then
    ends; the address is used from this engine afterwards.
    """
    backend = _core.current().backend
    held: list[Any] = []

    def spawner() -> None:
        held.append(spawn_vm(actor("echo"), inherit_context=inherit_context))

    engine = threading.Thread(target=emilua.run, args=(spawner,), kwargs={"backend": backend})
    engine.start()
    while not held:
        this_fiber.yield_()
    chan = held[0]
    chan.send((inbox, "still there"))
    assert inbox.receive() == "still there"
    if inherit_context:
        # The worker shares the second engine: it runs while the worker lives.
        assert engine.is_alive()
    held.clear()
    del chan  # the last address: echo.py ends, and so does its engine
    wait_for_threads([engine])
    join_vm_threads()


@actor_test
def test_an_exception_in_a_worker_ends_that_vm_only(
    inherit_context: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    chan = spawn_vm(actor("crash"), inherit_context=inherit_context)
    chan.send(inbox)
    assert inbox.receive() == "crashing"
    with pytest.raises(ChannelClosedError):
        chan.send(inbox)
    join_vm_threads()
    err = capfd.readouterr().err
    assert "RuntimeError: boom from a worker" in err
    assert "crash.py" in err
    # The caller goes on.
    other = spawn_vm(actor("echo"), inherit_context=inherit_context)
    other.send((inbox, "caller unaffected"))
    assert inbox.receive() == "caller unaffected"
    other.close()


# ------------------------------------------------------------- master role


@actor_test
def test_new_master_transfers_the_master_role(inherit_context: bool) -> None:
    from emilua import system

    # The first VM is the master: process-wide operations are allowed.
    assert _actor.is_master()
    system.kill(os.getpid(), 0)
    plain = spawn_vm(actor("master"), inherit_context=inherit_context)
    plain.send(inbox)
    assert inbox.receive() == (False, True)  # not master: system.kill refused
    assert _actor.is_master()

    heir = spawn_vm(actor("master"), inherit_context=inherit_context, new_master=True)
    assert not _actor.is_master()
    with pytest.raises(PermissionError) as info:
        system.kill(os.getpid(), 0)
    assert info.value.errno == errno.EPERM
    with pytest.raises(PermissionError):
        _actor.require_master("chdir")
    heir.send(inbox)
    assert inbox.receive() == (True, False)
    # A VM that lost the role can neither hand it on nor take it back.
    with pytest.raises(PermissionError):
        spawn_vm(actor("master"), inherit_context=inherit_context, new_master=True)
    assert not _actor.is_master()


# ----------------------------------------------------------------- the CLI


@pytest.mark.pure
@pytest.mark.parametrize("backend", ["io_uring", "epoll"])
@pytest.mark.parametrize("placement", ["same-thread", "new-thread"])
def test_a_two_vm_program_runs_under_the_emilua_command(placement: str, backend: str) -> None:
    env = dict(os.environ)
    env.pop("EMILUA_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, "-m", "emilua", "--backend", backend, actor("cli_main"), placement],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert proc.stderr == ""
    assert proc.stdout == "one\ntwo\nthree\nmain done: main\n"
    assert proc.returncode == 0
