# emilua.timeout: a deadline on a block, built on interruption
# (manual, "Interruption API"): the parked op is cancelled, the block raises
# TimeoutError, and the fiber is not left interrupted.
import pytest

import emilua
from emilua import FiberInterrupted, spawn, stream, this_fiber, time, unix
from emilua.byte_span import byte_span


def test_a_parked_read_is_cancelled_and_the_block_raises_timeout_error():
    a, b = unix.stream_socket.pair()
    buf = byte_span(8)
    with pytest.raises(TimeoutError):
        with emilua.timeout(0.01):
            a.read_some(buf)
    # The fiber is not left interrupted, and the socket still works: the
    # cancelled read consumed nothing.
    stream.write_all(b, "xy")
    n = a.read_some(buf)
    assert bytes(buf[:n]) == b"xy"
    time.sleep(0.001)  # an interruption point that must not raise
    a.close()
    b.close()


def test_a_block_that_ends_in_time_returns_normally():
    with emilua.timeout(5) as deadline:
        time.sleep(0.001)
    assert deadline.expired is False
    assert emilua.timeout(5, lambda x: x * 2, 21) == 42


def test_the_function_form_raises_timeout_error():
    with pytest.raises(TimeoutError, match="0.01 s deadline"):
        emilua.timeout(0.01, time.sleep, 10)


def test_an_expired_deadline_is_seen_at_the_next_interruption_point():
    with pytest.raises(TimeoutError):
        with emilua.timeout(0):
            this_fiber.yield_()


def test_a_deadline_waits_while_interruption_is_disabled():
    reached = []
    with pytest.raises(TimeoutError):
        with emilua.timeout(0.005):
            this_fiber.disable_interruption()
            time.sleep(0.02)  # not cut short
            reached.append("slept")
            this_fiber.restore_interruption()
            time.sleep(10)
    assert reached == ["slept"]


def test_nested_deadlines_report_the_one_that_expired():
    outer_hit = []
    with pytest.raises(TimeoutError):
        with emilua.timeout(0.01):
            try:
                with emilua.timeout(10):
                    time.sleep(10)
            except TimeoutError:  # pragma: no cover - would be the wrong deadline
                outer_hit.append("inner")
                raise
    assert outer_hit == []
    with emilua.timeout(10):
        with pytest.raises(TimeoutError):
            with emilua.timeout(0.01):
                time.sleep(10)
        time.sleep(0.001)


def test_interrupt_during_a_timed_block_stays_an_interruption():
    def victim():
        with emilua.timeout(10):
            time.sleep(10)

    f = spawn(victim)
    this_fiber.yield_()
    f.interrupt()
    f.join()
    assert f.interruption_caught


def test_a_deadline_on_one_fiber_leaves_the_others_alone():
    ticks = []

    def ticker():
        for _ in range(3):
            time.sleep(0.005)
            ticks.append(1)

    t = spawn(ticker)
    with pytest.raises(TimeoutError):
        emilua.timeout(0.002, time.sleep, 10)
    t.join()
    assert ticks == [1, 1, 1]


def test_bad_arguments():
    with pytest.raises(TypeError):
        emilua.timeout("1")
    with pytest.raises(ValueError):
        emilua.timeout(float("nan"))
    d = emilua.timeout(1)
    with d:
        pass
    with pytest.raises(RuntimeError):
        with d:
            pass


def test_outside_a_fiber_is_an_error():
    import threading

    errors = []

    def other_thread():
        try:
            with emilua.timeout(1):
                pass
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert len(errors) == 1


def test_interrupted_caught_by_user_code_inside_the_block_is_not_misreported():
    with pytest.raises(TimeoutError):
        with emilua.timeout(0.005):
            try:
                time.sleep(10)
            except FiberInterrupted:
                pass  # swallowed: the deadline still counts at the block's edge
            time.sleep(10)
