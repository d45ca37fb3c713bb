"""Manual: "time.sleep", "time.steady_timer", clocks."""

import errno

import pytest
from helpers import wait_until_idle

from emilua import FiberInterrupted, spawn, time


def test_sleep_waits_at_least_the_duration():
    t0 = time.steady_clock.now()
    time.sleep(0.02)
    assert time.steady_clock.now() - t0 >= 0.02


def test_sleepsort_prints_in_order():
    out = []
    for n in [8, 42, 38, 111, 2, 39, 1]:
        spawn(lambda n=n: (time.sleep(n / 1000), out.append(n)))
    time.sleep(0.15)
    assert out == [1, 2, 8, 38, 39, 42, 111]


def test_steady_timer_wait_and_cancel_count():
    t = time.steady_timer()
    t.expires_after(10)
    results = []

    def waiter():
        with pytest.raises(OSError) as e:
            t.wait()
        results.append(e.value.errno)

    f1, f2 = spawn(waiter), spawn(waiter)
    wait_until_idle()
    assert t.cancel() == 2
    f1.join()
    f2.join()
    assert results == [errno.ECANCELED, errno.ECANCELED]


def test_expires_after_cancels_pending_waits_and_returns_count():
    t = time.steady_timer()
    t.expires_after(10)
    f = spawn(t.wait)
    wait_until_idle()
    assert t.expires_after(0.01) == 1
    with pytest.raises(OSError):
        f.join()
    t.wait()  # the new expiry


def test_wait_on_expired_timer_completes_at_once():
    t = time.steady_timer()
    t.expires_at(time.steady_clock.now())
    t.wait()


def test_expiry_property_is_the_absolute_time():
    t = time.steady_timer()
    tp = time.steady_clock.now() + 5
    t.expires_at(tp)
    assert t.expiry == tp


def test_interrupting_a_sleep_raises_fiber_interrupted():
    def sleeper():
        with pytest.raises(FiberInterrupted):
            time.sleep(10)

    f = spawn(sleeper)
    wait_until_idle()
    f.interrupt()
    f.join()


def test_system_timer_waits():
    t = time.system_timer()
    t.expires_after(0.01)
    t0 = time.steady_clock.now()
    t.wait()
    assert time.steady_clock.now() - t0 >= 0.009


@pytest.mark.pure
def test_time_point_arithmetic():
    tp = time.steady_clock.epoch()
    tp.add(1.5)
    assert tp.seconds_since_epoch == 1.5
    tp.sub(0.5)
    assert tp.seconds_since_epoch == 1.0
    later = tp + 2
    assert later - tp == 2.0
    assert tp < later and tp <= later and tp == time.steady_clock.epoch() + 1
    with pytest.raises(TypeError):
        _ = tp < time.system_clock.now()


@pytest.mark.pure
def test_clocks():
    assert time.system_clock.now().seconds_since_epoch > 1.7e9
    assert time.high_resolution_clock.is_steady
    a = time.high_resolution_clock.now()
    b = time.high_resolution_clock.now()
    assert b - a >= 0
