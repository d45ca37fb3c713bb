# Manual: "condition_variable" (wait, notify_one, notify_all, "Notifying
# without a lock") and its interplay with the Interruption API. Each engine
# test runs as the main fiber of a fresh engine, once per backend.
import errno
import os
import signal

import pytest
from helpers import wait_until_idle

from emilua import FiberInterrupted, scope, scope_cleanup_push, spawn, this_fiber, time
from emilua import condition_variable as cv_module
from emilua.condition_variable import condition_variable
from emilua.mutex import mutex


def waiter_for(m, cv, log, name, until=None):
    """A fiber body: wait on cv under m, then record *name*."""

    def body():
        with m:
            if until is None:
                cv.wait(m)
            else:
                while not until():
                    cv.wait(m)
            log.append(name)

    return body


def test_the_module_mirrors_the_manual():
    assert cv_module.new is condition_variable
    assert isinstance(cv_module.new(), condition_variable)


def test_notify_one_wakes_one_waiter_in_fifo_order():
    m, cv, log = mutex(), condition_variable(), []
    fibers = [spawn(waiter_for(m, cv, log, n)) for n in "abc"]
    wait_until_idle()
    cv.notify_one()
    wait_until_idle()
    assert log == ["a"]
    cv.notify_one()
    cv.notify_one()
    for f in fibers:
        f.join()
    assert log == ["a", "b", "c"]


def test_notify_all_wakes_every_waiter_in_the_order_they_waited():
    m, cv, log = mutex(), condition_variable(), []
    fibers = [spawn(waiter_for(m, cv, log, n)) for n in "abcd"]
    wait_until_idle()
    cv.notify_all()
    for f in fibers:
        f.join()
    assert log == list("abcd")


def test_a_notification_with_no_waiter_is_lost():
    m, cv, log = mutex(), condition_variable(), []
    cv.notify_one()
    cv.notify_all()
    f = spawn(waiter_for(m, cv, log, "woken"))
    wait_until_idle()
    assert log == []
    cv.notify_one()
    f.join()
    assert log == ["woken"]


def test_wait_releases_the_mutex_and_takes_it_back_before_returning():
    m, cv = mutex(), condition_variable()
    log = []

    def notifier():
        m.lock()  # free: the waiter released it
        log.append("notifier holds m")
        cv.notify_one()
        this_fiber.yield_()  # the waiter, woken, cannot return yet
        log.append("notifier unlocks")
        m.unlock()

    m.lock()
    f = spawn(notifier)
    cv.wait(m)
    log.append("waiter returned")
    assert f"locked by fiber {this_fiber.id}," in repr(m)
    m.unlock()
    f.join()
    assert log == ["notifier holds m", "notifier unlocks", "waiter returned"]


def test_wait_without_holding_the_mutex_raises_eperm():
    m, cv = mutex(), condition_variable()
    with pytest.raises(OSError) as e:
        cv.wait(m)
    assert e.value.errno == errno.EPERM

    def holder():
        m.lock()
        this_fiber.yield_()
        m.unlock()

    f = spawn(holder)
    this_fiber.yield_()  # holder locked m
    with pytest.raises(OSError) as e:
        cv.wait(m)  # locked, but by another fiber
    assert e.value.errno == errno.EPERM
    f.join()


def test_wait_needs_a_mutex():
    cv = condition_variable()
    with pytest.raises(TypeError):
        cv.wait(None)
    with pytest.raises(TypeError):
        cv.wait(object())


def test_wait_raises_while_suspension_is_forbidden():
    m, cv = mutex(), condition_variable()
    with m:
        this_fiber.forbid_suspend()
        try:
            with pytest.raises(RuntimeError):
                cv.wait(m)
        finally:
            this_fiber.allow_suspend()
        assert "locked by" in repr(m)  # still held


# ------------------------------------------------------------ interruption


def test_an_interrupted_waiter_raises_holding_the_mutex():
    m, cv = mutex(), condition_variable()
    seen = []

    def waiter():
        m.lock()
        try:
            cv.wait(m)
        except FiberInterrupted:
            seen.append(f"locked by fiber {this_fiber.id}," in repr(m))
            raise
        finally:
            m.unlock()

    f = spawn(waiter)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught and seen == [True]


def test_an_interrupted_waiter_waits_for_the_mutex_before_raising():
    # Manual: "Prior to the delivery of the interruption request, the
    # underlying mutex is re-acquired under the hood."
    m, cv = mutex(), condition_variable()
    log = []

    def waiter():
        with m:
            try:
                cv.wait(m)
            except FiberInterrupted:
                log.append("raised")
                raise

    f = spawn(waiter)
    wait_until_idle()
    m.lock()
    f.interrupt()
    wait_until_idle()
    assert log == []  # withdrawn from the wait, queued for the mutex
    m.unlock()
    f.join()
    assert log == ["raised"]


def test_an_interrupted_waiter_never_takes_a_notification_meant_for_another():
    m, cv, log = mutex(), condition_variable(), []
    a = spawn(waiter_for(m, cv, log, "a"))
    b = spawn(waiter_for(m, cv, log, "b"))
    wait_until_idle()
    a.interrupt()
    cv.notify_one()  # a left the queue at once: this one is b's
    a.join()
    b.join()
    assert a.interruption_caught
    assert log == ["b"]


def test_a_delivered_notification_beats_a_later_interrupt():
    m, cv, log = mutex(), condition_variable(), []

    def waiter():
        with m:
            cv.wait(m)
            log.append("wait returned")
        time.sleep(0)  # the postponed interruption
        log.append("not reached")

    f = spawn(waiter)
    wait_until_idle()
    cv.notify_one()
    f.interrupt()  # the waiter is woken, not yet resumed
    f.join()
    assert log == ["wait returned"]
    assert f.interruption_caught


def test_a_notified_waiter_blocked_on_the_mutex_is_not_interrupted():
    m, cv, log = mutex(), condition_variable(), []
    f = spawn(waiter_for(m, cv, log, "returned normally"))
    wait_until_idle()
    m.lock()
    cv.notify_one()
    wait_until_idle()  # f is now queued on m, not on cv
    f.interrupt()
    m.unlock()
    f.join()
    assert log == ["returned normally"]
    assert f.interruption_caught is False  # no interruption point followed


def test_an_already_interrupted_fiber_raises_at_wait_without_releasing_the_mutex():
    m, cv = mutex(), condition_variable()

    def waiter():
        m.lock()
        scope_cleanup_push(m.unlock)
        cv.wait(m)

    f = spawn(waiter)
    f.interrupt()
    f.join()
    assert f.interruption_caught
    m.lock()  # released by the cleanup handler, exactly once
    m.unlock()


# ------------------------------------------------------- without a lock


def test_notifying_without_holding_the_mutex():
    # Manual, "Notifying without a lock": with no suspension point between
    # testing the condition and wait(), the notifier needs no lock.
    m, cv = mutex(), condition_variable()
    ready = []

    def waiter():
        with m:
            while not ready:
                cv.wait(m)
        return "saw the event"

    f = spawn(waiter)
    wait_until_idle()
    ready.append(True)  # no lock taken
    cv.notify_one()
    assert f.join() == "saw the event"


def test_a_signal_handler_can_notify_a_condition_variable():
    # Manual ("Asynchronous event notification"): a handler notifies a
    # condition variable so that a fiber handles the event. Python's signal
    # module stands in for system.signal.
    m, cv = mutex(), condition_variable()
    got = []

    def on_signal(signum, frame):
        got.append(signum)
        cv.notify_all()

    old = signal.signal(signal.SIGUSR2, on_signal)
    try:

        def handler_fiber():
            with m:
                while not got:
                    cv.wait(m)
            return got[0]

        f = spawn(handler_fiber)
        wait_until_idle()
        os.kill(os.getpid(), signal.SIGUSR2)
        assert f.join() == signal.SIGUSR2
    finally:
        signal.signal(signal.SIGUSR2, old)


def test_the_manuals_queue_consumer():
    m, cv = mutex(), condition_variable()
    queue, consumed = [], []

    def queue_consumer():
        def body():
            scope_cleanup_push(m.unlock)
            m.lock()
            while not queue:
                cv.wait(m)
            consumed.extend(queue)
            queue.clear()

        scope(body)

    f = spawn(queue_consumer)
    wait_until_idle()
    with m:
        queue.extend([1, 2, 3])
        cv.notify_one()
    f.join()
    assert consumed == [1, 2, 3] and queue == []
    m.lock()
    m.unlock()


def test_repr_counts_the_waiters():
    m, cv, log = mutex(), condition_variable(), []
    assert "0 waiting" in repr(cv)
    f = spawn(waiter_for(m, cv, log, "x"))
    wait_until_idle()
    assert "1 waiting" in repr(cv)
    cv.notify_all()
    f.join()


@pytest.mark.pure
def test_wait_outside_a_fiber_raises():
    with pytest.raises(RuntimeError):
        condition_variable().wait(mutex())
