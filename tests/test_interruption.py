# Manual: "Interruption API" (the protocol, interruption points, IO objects,
# the recap) and "Fibers" (interrupt, interruption_caught). Each test runs as
# the main fiber of a fresh engine, once per backend (io_uring, epoll).
import errno
import os
import signal
import threading

import pytest
from helpers import tcp_pair, wait_until_idle

from emilua import FiberInterrupted, ip, spawn, this_fiber, time
from emilua.byte_span import byte_span
from emilua.condition_variable import condition_variable
from emilua.mutex import mutex


def park_forever():
    """An interruption point that nothing but interruption ends."""
    time.sleep(3600)


def read_all(sock) -> bytes:
    """Everything the peer sends until it shuts its sending side."""
    out = bytearray()
    buf = byte_span(65536)
    while True:
        try:
            n = sock.read_some(buf)
        except EOFError:
            return bytes(out)
        out += bytes(buf.slice(0, n))


# ------------------------------------------------------------- the protocol


@pytest.mark.pure
def test_fiber_interrupted_is_not_an_exception():
    # So that ``except Exception`` (the usual "catch all") lets it unwind.
    assert issubclass(FiberInterrupted, BaseException)
    assert not issubclass(FiberInterrupted, Exception)


def test_interrupt_raises_at_the_parked_interruption_point():
    f = spawn(park_forever)
    wait_until_idle()
    f.interrupt()
    assert f.join() is None
    assert f.interruption_caught


def test_interrupt_is_not_a_suspension_point():
    order = []
    f = spawn(lambda: order.append("other fiber ran"))
    this_fiber.forbid_suspend()
    f.interrupt()  # would raise here if it could suspend
    g = spawn(park_forever)
    g.interrupt()
    this_fiber.allow_suspend()
    assert order == []  # and the caller kept the CPU
    f.join()
    g.join()
    assert g.interruption_caught


def test_interrupt_is_not_an_interruption_point():
    log = []

    def victim():
        # Interrupted before it runs (below). interrupt() of another fiber
        # does not raise here; the next suspending call does.
        other = spawn(park_forever)
        other.interrupt()
        log.append("interrupt() returned")
        with pytest.raises(FiberInterrupted):
            this_fiber.yield_()
        this_fiber.disable_interruption()
        other.join()
        this_fiber.restore_interruption()
        return other.interruption_caught

    f = spawn(victim)
    f.interrupt()
    assert f.join() is True  # the victim handled its own interruption
    assert f.interruption_caught is False
    assert log == ["interrupt() returned"]


def test_a_fiber_can_interrupt_itself():
    log = []

    def selfish(handle):
        handle[0].interrupt()
        log.append("interrupt() returned")
        this_fiber.yield_()
        log.append("not reached")

    h = []
    f = spawn(selfish, h)
    h.append(f)
    f.join()
    assert f.interruption_caught
    assert log == ["interrupt() returned"]


def test_pure_computation_is_never_interrupted():
    total = []

    def compute():
        s = 0
        for i in range(200_000):
            s += i
        total.append(s)
        this_fiber.yield_()  # the first interruption point
        total.append("not reached")

    f = spawn(compute)
    f.interrupt()
    f.join()
    assert total == [sum(range(200_000))]
    assert f.interruption_caught


def test_a_fiber_interrupted_before_it_runs_starts_and_runs_to_its_first_point():
    log = []

    def body():
        log.append("started")
        log.append(sum(range(10)))
        time.sleep(0)
        log.append("not reached")

    f = spawn(body)
    f.interrupt()
    f.join()
    assert log == ["started", 45]
    assert f.interruption_caught


def test_interrupt_on_joined_or_finished_handles_is_a_noop():
    done = spawn(lambda: 7)
    wait_until_idle()
    done.interrupt()  # finished, not joined yet: nothing happens
    assert done.join() == 7
    assert done.interruption_caught is False
    done.interrupt()  # joined: nothing happens either


def test_interrupt_of_a_detached_fiber_does_not_reach_it():
    # Manual: only joinable fibers can be interrupted (the call is safe on
    # any handle). The detached fiber's sleep ends normally.
    m = mutex()
    finished = condition_variable()
    log = []

    def body():
        time.sleep(0.001)
        with m:
            log.append("finished normally")
            finished.notify_all()

    f = spawn(body)
    f.detach()
    f.interrupt()
    with m:
        while not log:
            finished.wait(m)
    assert log == ["finished normally"]


# ------------------------------------------------------ interruption_caught


def test_interruption_caught_is_readable_only_after_join():
    f = spawn(park_forever)
    with pytest.raises(OSError) as e:
        _ = f.interruption_caught
    assert e.value.errno == errno.EINVAL
    f.interrupt()
    wait_until_idle()
    with pytest.raises(OSError):  # finished, still not joined
        _ = f.interruption_caught
    f.join()
    assert f.interruption_caught is True


def test_interruption_caught_is_false_for_a_normal_end_or_an_error():
    ok = spawn(lambda: 1)
    ok.join()
    assert ok.interruption_caught is False

    def fail():
        raise ValueError("boom")

    bad = spawn(fail)
    with pytest.raises(ValueError):
        bad.join()
    assert bad.interruption_caught is False  # joined, although join() raised


def test_a_fiber_that_handles_its_interruption_ends_normally():
    def stubborn():
        try:
            park_forever()
        except FiberInterrupted:
            return "handled"

    f = spawn(stubborn)
    wait_until_idle()
    f.interrupt()
    assert f.join() == "handled"
    assert f.interruption_caught is False


def test_interruption_caught_after_an_interrupted_join_is_unreadable():
    target = spawn(park_forever)

    def joiner():
        target.join()

    j = spawn(joiner)
    wait_until_idle()
    j.interrupt()
    j.join()
    assert j.interruption_caught
    # The interrupted join did not join the target: it is still joinable.
    assert target.joinable
    with pytest.raises(OSError):
        _ = target.interruption_caught
    target.interrupt()
    target.join()
    assert target.interruption_caught


# ------------------------------------------------ once interrupted, always


def test_every_later_suspending_call_raises_again():
    raised = []
    m = mutex()
    cv = condition_variable()
    other = spawn(lambda: None)

    def victim(c, s):
        for call in (
            lambda: time.sleep(0),
            this_fiber.yield_,
            other.join,
            lambda: s.read_some(byte_span(4)),
            lambda: c.write_some(b"x"),
            lambda: (m.lock(), cv.wait(m)),
        ):
            try:
                call()
            except FiberInterrupted:
                raised.append(True)
            else:
                raised.append(False)
        m.unlock()  # lock() is not an interruption point: the victim holds m

    with tcp_pair() as (c, s):
        f = spawn(victim, c, s)
        f.interrupt()
        f.join()
    assert raised == [True] * 6
    assert other.join() is None  # the victim's join() did not join it


def test_disable_interruption_defers_it_until_restored():
    log = []

    def victim():
        this_fiber.disable_interruption()
        time.sleep(0.001)
        log.append("slept while interrupted")
        this_fiber.disable_interruption()  # nests
        this_fiber.restore_interruption()
        this_fiber.yield_()
        log.append("still disabled")
        this_fiber.restore_interruption()
        this_fiber.yield_()
        log.append("not reached")

    f = spawn(victim)
    f.interrupt()
    f.join()
    assert log == ["slept while interrupted", "still disabled"]
    assert f.interruption_caught


def test_an_interrupt_while_disabled_does_not_cancel_the_parked_op():
    t0 = time.steady_clock.now()

    def victim():
        this_fiber.disable_interruption()
        time.sleep(0.02)  # interrupted while parked here: keeps sleeping
        this_fiber.restore_interruption()
        time.sleep(0)

    f = spawn(victim)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught
    assert time.steady_clock.now() - t0 >= 0.02


def test_restore_interruption_without_disable_raises():
    with pytest.raises(RuntimeError):
        this_fiber.restore_interruption()
    this_fiber.disable_interruption()
    this_fiber.restore_interruption()
    with pytest.raises(RuntimeError):
        this_fiber.restore_interruption()


def test_except_exception_does_not_swallow_interruption():
    log = []

    def retrying_sender():
        # The manual's loop that must not keep an interrupted fiber alive.
        while True:
            try:
                time.sleep(3600)
            except Exception:
                log.append("swallowed")

    f = spawn(retrying_sender)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught and log == []


# ------------------------------------------- IO objects: what interruption means


def test_interrupt_wakes_a_parked_read_and_the_socket_stays_usable():
    with tcp_pair() as (c, s):
        f = spawn(s.read_some, byte_span(8))
        wait_until_idle()
        f.interrupt()
        f.join()
        assert f.interruption_caught
        c.write_some(b"after")
        buf = byte_span(8)
        n = s.read_some(buf)
        assert bytes(buf.slice(0, n)) == b"after"


def test_an_interrupted_read_loses_and_duplicates_no_byte():
    # Data and interruption reach the reader together; either outcome is
    # allowed (the read completed and returns, or it was cancelled and the
    # bytes stay queued), never a loss.
    for round_ in range(20):
        with tcp_pair() as (c, s):
            got = []

            def reader(got=got):
                buf = byte_span(16)
                try:
                    n = s.read_some(buf)
                except FiberInterrupted:
                    got.append(None)
                    return
                got.append(bytes(buf.slice(0, n)))
                with pytest.raises(FiberInterrupted):
                    time.sleep(0)  # the postponed interruption

            f = spawn(reader)
            wait_until_idle()
            c.write_some(b"payload")
            f.interrupt()
            f.join()
            c.shutdown("send")
            rest = read_all(s)
            first = got[0] or b""
            assert first + rest == b"payload", round_


def test_interrupt_wakes_a_parked_accept():
    a = ip.tcp.acceptor()
    a.open("v4")
    a.bind(ip.address.loopback_v4(), 0)
    a.listen()
    f = spawn(a.accept)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught
    # The acceptor still works.
    c = ip.tcp.socket()
    g = spawn(a.accept)
    c.connect(ip.address.loopback_v4(), a.local_port)
    s = g.join()
    s.close()
    c.close()
    a.close()


def test_interrupt_wakes_a_parked_connect():
    # A full accept queue (backlog 0 holds one connection) leaves the next
    # connect in progress.
    a = ip.tcp.acceptor()
    a.open("v4")
    a.bind(ip.address.loopback_v4(), 0)
    a.listen(0)
    first = ip.tcp.socket()
    first.connect(ip.address.loopback_v4(), a.local_port)
    c = ip.tcp.socket()
    c.open("v4")
    f = spawn(c.connect, ip.address.loopback_v4(), a.local_port)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught
    for obj in (c, first, a):
        obj.close()


def test_interrupt_wakes_a_timer_wait():
    t = time.steady_timer()
    t.expires_after(3600)
    f = spawn(t.wait)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught
    assert t.cancel() == 0  # the interrupted wait is no longer registered


def test_a_completed_timer_wait_beats_a_later_interrupt():
    # Both fibers wait on one timer; the main fiber was registered first, so
    # it runs first when the timer fires, while the other fiber's wait has
    # completed but the fiber has not resumed yet.
    t = time.steady_timer()
    # Long enough for the waiter to start and park on it first (post
    # semantics: it runs when the main fiber parks), even on a loaded machine.
    t.expires_after(0.05)
    log = []

    def waiter():
        t.wait()
        log.append("wait returned")
        this_fiber.yield_()
        log.append("not reached")

    f = spawn(waiter)
    t.wait()
    f.interrupt()
    f.join()
    assert log == ["wait returned"]
    assert f.interruption_caught


def _fill_send_buffer(c) -> int:
    """Write 'a' bytes until a write parks; return how many went out."""
    sent = []

    def filler():
        chunk = b"a" * 65536
        while True:
            sent.append(c.write_some(chunk))

    f = spawn(filler)
    while True:
        before = len(sent)
        wait_until_idle()
        if len(sent) == before:
            break  # parked on a full buffer
    f.interrupt()
    f.join()
    assert f.interruption_caught
    return sum(sent)


# The pattern of the big write: byte i is i % 251, so any slice of it is
# recognisable and a misplaced byte shows up.
BIG = bytes(i % 251 for i in range(1 << 20))


def test_an_interrupted_write_delivers_nothing_if_it_did_not_complete():
    # Manual, "IO objects": an interrupted operation "is not delivered at all
    # and can be tried again later as if it never happened". The peer does
    # not read, so the parked write cannot complete: it raises, and the peer
    # later receives the filler and not one byte of BIG.
    with tcp_pair() as (c, s):
        filled = _fill_send_buffer(c)
        result = []

        def writer():
            result.append(c.write_some(BIG))

        w = spawn(writer)
        wait_until_idle()
        w.interrupt()
        w.join()
        assert w.interruption_caught and result == []
        c.shutdown("send")
        assert read_all(s) == b"a" * filled


def test_an_interrupted_write_that_completed_returns_its_count():
    # The peer drains until it has seen a byte of BIG: the write op has then
    # completed in the kernel (io_uring: its CQE is posted; epoll: the
    # writer's send() returned). Interrupted afterwards, write_some() returns
    # the count -- a short one: a send on a stream socket completes with what
    # fitted, which is the manual's "already succeeded" case -- and the peer
    # receives exactly those bytes of BIG, nothing more. The interruption is
    # raised at the writer's next interruption point.
    with tcp_pair() as (c, s):
        filled = _fill_send_buffer(c)
        result = []

        def writer():
            result.append(c.write_some(BIG))
            park_forever()

        w = spawn(writer)
        wait_until_idle()
        received = bytearray()
        buf = byte_span(65536)
        while len(received) <= filled:
            n = s.read_some(buf)
            received += bytes(buf.slice(0, n))
        w.interrupt()
        w.join()
        assert w.interruption_caught  # raised by park_forever()
        assert len(result) == 1 and 0 < result[0] <= len(BIG)
        c.shutdown("send")
        received += read_all(s)
        assert bytes(received) == b"a" * filled + BIG[: result[0]]


# --------------------------------------------- other interruption points


def test_interrupt_wakes_a_join():
    target = spawn(park_forever)
    j = spawn(target.join)
    wait_until_idle()
    j.interrupt()
    j.join()
    assert j.interruption_caught
    target.interrupt()
    target.join()


def test_a_completed_join_beats_a_later_interrupt():
    # The ready queue is FIFO: the yields below end the target while its
    # joiner is ready but has not resumed, and only then interrupt the joiner.
    def body():
        this_fiber.yield_()
        return "value"

    target = spawn(body)
    log = []

    def joiner():
        log.append(target.join())
        this_fiber.yield_()  # the postponed interruption
        log.append("not reached")

    j = spawn(joiner)
    this_fiber.yield_()  # target yields, the joiner parks in join()
    this_fiber.yield_()  # target ends, the joiner is ready
    j.interrupt()
    j.join()
    assert log == ["value"]
    assert j.interruption_caught


def test_interrupt_a_fiber_that_yields():
    count = []

    def spinner():
        while True:
            count.append(1)
            this_fiber.yield_()

    f = spawn(spinner)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught and len(count) > 1


def test_mutex_lock_is_not_an_interruption_point():
    # Manual, "mutex": lock() suspends but does not act as an interruption
    # point, so lock(); scope_cleanup_push(unlock) can never leak the mutex.
    m = mutex()
    m.lock()
    log = []

    def locker():
        m.lock()  # parked; interrupted while parked; still gets the mutex
        log.append("locked")
        m.unlock()
        this_fiber.yield_()

    f = spawn(locker)
    wait_until_idle()
    f.interrupt()
    wait_until_idle()
    assert log == []  # still queued
    m.unlock()
    f.join()
    assert log == ["locked"] and f.interruption_caught
    m.lock()  # free again
    m.unlock()


def test_an_interrupted_fiber_still_takes_a_free_mutex():
    m = mutex()

    def victim():
        m.lock()
        m.unlock()
        time.sleep(0)

    f = spawn(victim)
    f.interrupt()
    f.join()
    assert f.interruption_caught


# ------------------------------------------------------------- signals


def test_a_signal_handler_can_interrupt_a_fiber_while_the_engine_waits():
    # Python's signal module stands in for system.signal here. The handler
    # runs in the engine's thread when the kernel wait is cut short.
    sleeper = spawn(park_forever)
    old = signal.signal(signal.SIGUSR1, lambda *_: sleeper.interrupt())
    try:
        wait_until_idle()
        sender = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGUSR1))
        sender.start()
        sleeper.join()  # the engine waits in the kernel until the signal
        assert sleeper.interruption_caught
        sender.join()
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_a_signal_caught_by_another_thread_still_wakes_the_engine():
    # Linux hands a process-directed signal to any thread that does not
    # block it (another one when the main thread already has one pending,
    # say). Python runs the handler in the main thread only, at its next
    # check; the engine, asleep in the kernel with nothing else to wake it,
    # must notice. Here a helper thread takes the signal itself.
    m, cv = mutex(), condition_variable()
    seen = []

    def on_signal(*_):
        assert threading.current_thread() is threading.main_thread()
        seen.append(True)
        cv.notify_all()

    def send_to_myself():
        # Give the engine time to go to sleep in the kernel (only the test's
        # power depends on it, not its outcome).
        threading.Event().wait(0.002)
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)

    # A pending timer makes the engine sleep in the kernel (with no timer and
    # no IO it would find the wait unsatisfiable and run its idle checks).
    sleeper = spawn(park_forever)
    old = signal.signal(signal.SIGUSR1, on_signal)
    try:
        for i in range(5):
            sender = threading.Thread(target=send_to_myself)
            sender.start()
            with m:
                while len(seen) <= i:
                    cv.wait(m)
            sender.join()
    finally:
        signal.signal(signal.SIGUSR1, old)
        sleeper.interrupt()
        sleeper.join()


def test_an_interrupted_reader_woken_for_nothing_does_not_park_again():
    # Two readers wait on one socket; one byte wakes both (epoll reports
    # readiness to every waiter). Both are interrupted before they resume:
    # the one that finds the byte returns it, the other, finding nothing,
    # must raise rather than wait again.
    with tcp_pair() as (c, s):
        results = []

        def reader():
            try:
                results.append(s.read_some(byte_span(8)))
            except FiberInterrupted:
                results.append("interrupted")

        a, b = spawn(reader), spawn(reader)
        wait_until_idle()
        c.write_some(b"x")
        this_fiber.yield_()  # the engine polls; the readers are woken
        a.interrupt()
        b.interrupt()
        a.join()
        b.join()
        assert sorted(results, key=str) == [1, "interrupted"]
