# Manual: "mutex" (and its use in "Interruption API"). Each engine test runs
# as the main fiber of a fresh engine, once per backend.
import errno

import pytest
from helpers import wait_until_idle

from emilua import mutex as mutex_module
from emilua import scope, scope_cleanup_push, spawn, this_fiber, time
from emilua.mutex import mutex


def test_lock_and_unlock():
    m = mutex()
    m.lock()
    m.unlock()
    m.lock()
    m.unlock()


def test_the_module_mirrors_the_manual():
    assert mutex_module.new is mutex
    assert isinstance(mutex_module.new(), mutex)


def test_locking_a_free_mutex_does_not_switch_fibers():
    # Manual: "dispatch semantics".
    log = []
    spawn(log.append, "other")
    m = mutex()
    m.lock()
    assert log == []
    m.unlock()
    this_fiber.yield_()
    assert log == ["other"]


def test_a_locked_mutex_parks_the_caller_until_unlocked():
    m = mutex()
    log = []

    def locker():
        m.lock()
        log.append("got it")
        m.unlock()

    m.lock()
    f = spawn(locker)
    wait_until_idle()
    assert log == []
    m.unlock()
    f.join()
    assert log == ["got it"]


def test_unlock_hands_the_mutex_over_in_fifo_order():
    m = mutex()
    order = []

    def locker(name):
        m.lock()
        order.append(name)
        this_fiber.yield_()  # holds it across a suspension
        m.unlock()

    m.lock()
    fibers = [spawn(locker, n) for n in "abcd"]
    wait_until_idle()
    m.unlock()
    for f in fibers:
        f.join()
    assert order == list("abcd")


def test_no_later_caller_overtakes_a_waiter():
    # unlock() hands the mutex to the first waiter before it even runs; a
    # fiber that calls lock() in between queues behind it.
    m = mutex()
    order = []

    def locker(name):
        m.lock()
        order.append(name)
        m.unlock()

    m.lock()
    first = spawn(locker, "waiter")
    wait_until_idle()  # first is queued
    m.unlock()  # first owns m now, but has not run yet
    late = spawn(locker, "late")  # runs only once main suspends
    m.lock()  # the unlocking fiber itself queues behind the waiter
    order.append("main")
    m.unlock()
    first.join()
    late.join()
    assert order == ["waiter", "main", "late"]


def test_unlocking_an_unlocked_mutex_raises_eperm():
    m = mutex()
    with pytest.raises(OSError) as e:
        m.unlock()
    assert e.value.errno == errno.EPERM
    m.lock()
    m.unlock()
    with pytest.raises(OSError):
        m.unlock()


def test_any_fiber_may_unlock():
    # As in the manual's engine the mutex has no owner check on unlock.
    m = mutex()
    m.lock()
    spawn(m.unlock).join()
    m.lock()
    m.unlock()


def test_lock_raises_while_suspension_is_forbidden_even_if_free():
    m = mutex()
    this_fiber.forbid_suspend()
    try:
        with pytest.raises(RuntimeError):
            m.lock()
    finally:
        this_fiber.allow_suspend()
    m.lock()
    this_fiber.forbid_suspend()
    m.unlock()  # unlock never suspends
    this_fiber.allow_suspend()


def test_lock_is_not_an_interruption_point():
    m = mutex()
    log = []

    def victim():
        m.lock()  # interrupted already, and still takes the free mutex
        log.append("locked")
        m.unlock()

    f = spawn(victim)
    f.interrupt()
    f.join()
    assert log == ["locked"]
    assert f.interruption_caught is False  # nothing else was an interruption point


def test_an_interrupted_waiter_keeps_its_place_in_the_queue():
    m = mutex()
    order = []

    def locker(name):
        m.lock()
        order.append(name)
        m.unlock()

    m.lock()
    a, b = spawn(locker, "a"), spawn(locker, "b")
    wait_until_idle()
    a.interrupt()
    wait_until_idle()
    m.unlock()
    a.join()
    b.join()
    assert order == ["a", "b"]


def test_with_statement_locks_and_unlocks():
    m = mutex()
    with m:
        assert "locked by" in repr(m)
    assert "unlocked" in repr(m)
    with pytest.raises(KeyError):
        with m:
            raise KeyError
    assert "unlocked" in repr(m)


def test_the_scope_idiom_releases_on_every_path():
    # The manual's ping_sender: lock inside scope() with the unlock handler.
    m = mutex()

    def ping_sender(fail):
        def body():
            scope_cleanup_push(m.unlock)
            m.lock()
            if fail:
                raise ConnectionError
            time.sleep(0)

        scope(body)

    ping_sender(False)
    with pytest.raises(ConnectionError):
        ping_sender(True)
    f = spawn(ping_sender, False)
    f.interrupt()
    f.join()
    assert f.interruption_caught
    m.lock()
    m.unlock()


def test_repr_names_the_holder_and_the_waiters():
    m = mutex()
    assert "unlocked" in repr(m)
    m.lock()
    f = spawn(m.lock)
    wait_until_idle()
    assert f"locked by fiber {this_fiber.id}, 1 waiting" in repr(m)
    m.unlock()
    f.join()
    m.unlock()


@pytest.mark.pure
def test_lock_outside_a_fiber_raises():
    with pytest.raises(RuntimeError):
        mutex().lock()
