# emilua.to_thread: blocking code on a worker thread while the other fibers run.
import threading
import time as stdtime

import pytest

import emilua
from emilua import FiberInterrupted, spawn, this_fiber, time


def test_returns_the_result_and_runs_on_another_thread():
    engine_thread = threading.get_ident()
    result = emilua.to_thread(lambda a, b: (a + b, threading.get_ident()), 2, 3)
    assert result[0] == 5
    assert result[1] != engine_thread


def test_raises_the_functions_exception():
    def fail():
        raise KeyError("from the thread")

    with pytest.raises(KeyError, match="from the thread"):
        emilua.to_thread(fail)


def test_other_fibers_run_while_a_call_blocks():
    release = threading.Event()
    ticks = []

    def ticker():
        for i in range(5):
            time.sleep(0.001)
            ticks.append(i)
        release.set()

    f = spawn(ticker)
    # Blocks its thread until the ticker, a fiber of this engine, has run 5 times.
    assert emilua.to_thread(release.wait, 10) is True
    f.join()
    assert ticks == [0, 1, 2, 3, 4]


def test_interruption_returns_at_once_and_drops_the_late_result():
    release = threading.Event()
    done = threading.Event()

    def slow():
        release.wait(10)
        done.set()
        return "late"

    def caller():
        with pytest.raises(FiberInterrupted):
            emilua.to_thread(slow)

    f = spawn(caller)
    this_fiber.yield_()
    f.interrupt()
    f.join()
    release.set()
    assert emilua.to_thread(done.wait, 10) is True


def test_calls_from_many_fibers_run_side_by_side():
    barrier = threading.Barrier(4, timeout=10)

    def meet():
        barrier.wait()
        return stdtime.monotonic()

    fibers = [spawn(emilua.to_thread, meet) for _ in range(4)]
    assert len([f.join() for f in fibers]) == 4


def test_an_interrupted_fiber_starts_no_call():
    started = threading.Event()

    reached = []

    def caller():
        # Interrupted before it ran: it runs up to its first interruption point.
        reached.append(True)
        with pytest.raises(FiberInterrupted):
            emilua.to_thread(started.set)

    f = spawn(caller)
    f.interrupt()
    f.join()
    assert reached == [True]
    assert emilua.to_thread(started.is_set) is False
