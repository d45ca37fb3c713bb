# Manual: "Fibers" (spawn, join, detach, this_fiber), "Internals" (this_fiber,
# "Dead fibers", user-level coroutines re-expressed for greenlets and
# generators). Each engine test runs as the main fiber of a fresh engine, once
# per backend; tests marked pure start engines of their own.
import contextvars
import errno
import gc
import subprocess
import sys
import textwrap

import greenlet
import pytest
from helpers import tcp_pair, wait_until_idle

import emilua
from emilua import (
    DeadlockError,
    scope,
    scope_cleanup_push,
    spawn,
    this_fiber,
    time,
)
from emilua._core import proactor as _core
from emilua.byte_span import byte_span
from emilua.condition_variable import condition_variable
from emilua.mutex import mutex

BACKENDS = ("io_uring", "epoll")


def park_forever():
    time.sleep(3600)


def fail(msg="boom"):
    raise ValueError(msg)


def inflight() -> int:
    return int(_core.current().stats()["inflight"])


# -------------------------------------------------------------- spawn, join


def test_spawn_has_post_semantics():
    log = []
    f = spawn(log.append, "child")
    log.append("parent")  # the caller runs on until it suspends
    assert log == ["parent"]
    f.join()
    assert log == ["parent", "child"]


def test_spawn_passes_arguments_and_join_returns_the_result():
    f = spawn(lambda a, b: a * b, 6, 7)
    assert f.join() == 42


def test_join_reraises_the_fibers_error_and_the_fiber_counts_as_joined():
    f = spawn(fail, "from the child")
    with pytest.raises(ValueError, match="from the child"):
        f.join()
    assert not f.joinable
    with pytest.raises(OSError) as e:
        f.join()
    assert e.value.errno == errno.EINVAL


@pytest.fixture
def reported(caplog, capfd):
    """What the engine reported since the last call: stderr, and the records
    of the "emilua" logger (pytest captures logging, so Python's last-resort
    handler, which prints them to stderr otherwise, stays silent)."""

    def read():
        text = capfd.readouterr().err + caplog.text
        caplog.clear()
        return text

    return read


def test_a_joined_fibers_error_is_not_printed(reported):
    f = spawn(fail)
    wait_until_idle()  # it failed before anyone joined
    with pytest.raises(ValueError):
        f.join()
    del f
    gc.collect()
    assert reported() == ""


def test_join_on_ones_own_handle_raises_edeadlk():
    box = []

    def selfjoin():
        with pytest.raises(OSError) as e:
            box[0].join()
        return e.value.errno

    f = spawn(selfjoin)
    box.append(f)
    assert f.join() == errno.EDEADLK


def test_join_waits_for_a_fiber_that_suspends():
    def slow():
        time.sleep(0.002)
        return "done"

    assert spawn(slow).join() == "done"


def test_joinable_detach_and_double_join():
    f = spawn(lambda: None)
    assert f.joinable
    f.detach()
    assert not f.joinable
    with pytest.raises(OSError) as e:
        f.join()
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        f.detach()
    wait_until_idle()  # the detached fiber runs to its end before the test does


def test_a_handle_being_joined_is_not_joinable_by_others():
    target = spawn(park_forever)
    first = spawn(target.join)
    wait_until_idle()
    assert not target.joinable
    with pytest.raises(OSError) as e:
        target.join()
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        target.detach()
    target.interrupt()
    assert first.join() is None  # the first joiner got the (empty) result
    assert target.interruption_caught


def test_a_finished_fiber_stays_unjoinable_until_its_joiner_resumes():
    # The target ends and makes its joiner ready; until the joiner runs, no
    # other fiber can take the result. The ready queue is FIFO, so the
    # yields below interleave the three fibers deterministically.
    def body():
        this_fiber.yield_()
        return "value"

    target = spawn(body)
    joiner = spawn(lambda: target.join())
    this_fiber.yield_()  # target yields, joiner parks in join()
    this_fiber.yield_()  # target ends; joiner is ready, not yet resumed
    assert not target.joinable
    with pytest.raises(OSError) as e:
        target.join()
    assert e.value.errno == errno.EINVAL
    assert joiner.join() == "value"


def test_join_of_a_finished_fiber_is_still_an_interruption_point():
    done = spawn(lambda: 1)
    wait_until_idle()

    def joiner():
        done.join()

    j = spawn(joiner)
    j.interrupt()
    j.join()
    assert j.interruption_caught
    assert done.join() == 1  # the interrupted join did not consume it


# ------------------------------------------------------------- dead fibers


def test_a_detached_fibers_error_is_printed_and_the_vm_goes_on(reported):
    f = spawn(fail, "detached failure")
    f.detach()
    wait_until_idle()
    err = reported()
    assert "ValueError: detached failure" in err
    assert "Traceback" in err
    assert spawn(lambda: "still running").join() == "still running"


def test_detaching_a_fiber_that_already_failed_prints_its_error(reported):
    f = spawn(fail, "late detach")
    wait_until_idle()
    assert reported() == ""
    f.detach()
    assert "ValueError: late detach" in reported()


def test_a_handle_collected_without_join_or_detach_is_detached(reported):
    spawn(fail, "collected handle")  # the handle is dropped at once
    wait_until_idle()
    gc.collect()
    assert "ValueError: collected handle" in reported()


def test_a_dropped_handle_does_not_stop_the_fiber():
    m, cv = mutex(), condition_variable()
    log = []

    def worker():
        time.sleep(0.001)
        log.append("finished")
        cv.notify_all()

    spawn(worker)
    gc.collect()
    with m:
        while not log:
            cv.wait(m)
    assert log == ["finished"]


def test_fiber_interrupted_is_never_printed(reported):
    f = spawn(park_forever)
    wait_until_idle()
    f.interrupt()
    f.detach()
    g = spawn(park_forever)  # interrupted, then its handle is dropped
    wait_until_idle()
    g.interrupt()
    del g
    wait_until_idle()
    gc.collect()
    assert reported() == ""


def test_a_detached_error_is_reported_before_the_root_scope_runs(reported):
    seen = []

    def body():
        scope_cleanup_push(lambda: seen.append(reported()))
        fail("reported first")

    f = spawn(body)
    f.detach()
    wait_until_idle()
    assert "ValueError: reported first" in seen[0]


@pytest.mark.pure
@pytest.mark.parametrize("engine", BACKENDS)
def test_an_error_escaping_the_main_fiber_ends_the_vm(engine):
    log = []

    def other():
        time.sleep(0.05)
        log.append("other fiber finished")

    def main():
        spawn(other).detach()
        time.sleep(0)
        fail("from main")

    with pytest.raises(ValueError, match="from main"):
        emilua.run(main, backend=engine)
    assert log == []  # the VM ended with the main fiber's error


@pytest.mark.pure
@pytest.mark.parametrize("engine", BACKENDS)
def test_the_vm_outlives_a_main_fiber_that_returns(engine):
    log = []

    def main():
        spawn(lambda: [time.sleep(0.005), log.append("child")]).detach()
        return "main's value"

    assert emilua.run(main, backend=engine) == "main's value"
    assert log == ["child"]


# ---------------------------------------------------------------- deadlock


@pytest.mark.pure
@pytest.mark.parametrize("engine", BACKENDS)
def test_a_main_fiber_that_can_never_resume_raises_deadlockerror(engine, capfd):
    m = mutex()

    def main():
        spawn(m.lock).join()  # the child takes m and ends holding it
        m.lock()

    with pytest.raises(DeadlockError, match="mutex"):
        emilua.run(main, backend=engine)
    err = capfd.readouterr().err
    assert "possible deadlock" in err
    assert "<mutex at" in err and "locked by fiber" in err and "(main)" in err


@pytest.mark.pure
@pytest.mark.parametrize("engine", BACKENDS)
def test_stuck_secondary_fibers_are_reported_and_the_vm_ends(engine, capfd):
    m = mutex()
    cv = condition_variable()
    handles = []

    def waiter():
        with m:
            cv.wait(m)

    def joiner_a():
        handles[1].join()

    def joiner_b():
        handles[0].join()

    def main():
        spawn(waiter).detach()
        handles.extend([spawn(joiner_a), spawn(joiner_b)])
        return "main returned"

    assert emilua.run(main, backend=engine) == "main returned"
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "possible deadlock" in line]
    assert len(lines) == 3  # one per primitive: the condition variable, two joins
    assert any("<condition_variable at" in line for line in lines)
    assert sum("join(<fiber" in line for line in lines) == 2


@pytest.mark.pure
def test_the_command_line_exits_non_zero_on_deadlock_and_on_errors(tmp_path):
    prog = tmp_path / "stuck.py"
    prog.write_text(
        textwrap.dedent(
            """
            from emilua import condition_variable, mutex
            m = mutex.mutex()
            cv = condition_variable.condition_variable()
            with m:
                cv.wait(m)
            """
        )
    )
    r = subprocess.run(
        [sys.executable, "-m", "emilua", str(prog)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode != 0
    assert "possible deadlock" in r.stderr and "DeadlockError" in r.stderr
    prog.write_text("raise KeyError('main')\n")
    r = subprocess.run(
        [sys.executable, "-m", "emilua", str(prog)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode != 0 and "KeyError: 'main'" in r.stderr


# ------------------------------------------------------------------ yield_


def test_yield_lets_every_ready_fiber_run_first():
    log = []
    for name in "abc":
        spawn(log.append, name)
    this_fiber.yield_()
    assert log == ["a", "b", "c"]


# ------------------------------------------------------------ park/resume


class _Wait:
    """A waiter of the package's protocol (suspend/wake)."""

    def cancel(self, fiber):
        return False


def test_wake_resumes_a_fiber_parked_with_suspend():
    p = _core.current()
    me = p.current_fiber
    spawn(lambda: p.wake(me)).detach()
    p.suspend(_Wait())  # returns: the other fiber woke us


def test_wake_of_a_fiber_that_is_not_parked_raises():
    p = _core.current()
    f = spawn(lambda: None)  # ready, never parked
    with pytest.raises(RuntimeError, match="not parked"):
        p.wake(f)
    f.join()


def test_an_interrupted_join_is_not_resumed_again_when_its_target_ends():
    p = _core.current()
    log = []

    def target():
        p.suspend(_Wait())

    def joiner():
        with pytest.raises(emilua.FiberInterrupted):
            b.join()
        log.append("interrupted")
        this_fiber.disable_interruption()  # the request stays pending
        time.sleep(0.05)  # a later wait: only its timer ends it
        this_fiber.restore_interruption()
        log.append("slept")

    b = spawn(target)
    a = spawn(joiner)
    wait_until_idle()  # b parked, a parked in b.join()
    p.wake(b)  # b runs (and ends) before a sees its interruption
    a.interrupt()
    a.join()
    b.join()
    assert log == ["interrupted", "slept"]


# ---------------------------------------------------------- forbid_suspend


def test_forbid_suspend_nests_and_allow_suspend_must_balance():
    this_fiber.forbid_suspend()
    this_fiber.forbid_suspend()
    this_fiber.allow_suspend()
    with pytest.raises(RuntimeError, match="forbid_suspend"):
        this_fiber.yield_()
    this_fiber.allow_suspend()
    this_fiber.yield_()
    with pytest.raises(RuntimeError):
        this_fiber.allow_suspend()


def test_every_suspending_call_raises_while_suspension_is_forbidden():
    m = mutex()
    cv = condition_variable()
    done = spawn(lambda: None)
    wait_until_idle()
    with tcp_pair() as (c, s):
        calls = [
            lambda: time.sleep(0),
            this_fiber.yield_,
            done.join,  # even with nothing left to wait for
            m.lock,  # even when the mutex is free
            lambda: s.read_some(byte_span(4)),
            lambda: c.write_some(b"x"),
        ]
        this_fiber.forbid_suspend()
        try:
            for call in calls:
                with pytest.raises(RuntimeError):
                    call()
        finally:
            this_fiber.allow_suspend()
        m.lock()
        this_fiber.forbid_suspend()
        try:
            with pytest.raises(RuntimeError):
                cv.wait(m)
            # What never suspends stays allowed.
            cv.notify_all()
            f = spawn(lambda: None)
            f.interrupt()
            m.unlock()
        finally:
            this_fiber.allow_suspend()
        assert s.io_control("bytes_readable") == 0  # the refused write sent nothing
    assert done.join() is None
    f.join()


def test_suspension_state_is_per_fiber():
    this_fiber.forbid_suspend()
    f = spawn(lambda: time.sleep(0) or "slept")
    this_fiber.allow_suspend()
    assert f.join() == "slept"


# -------------------------------------------------------------- this_fiber


def test_this_fiber_local_is_private_to_each_fiber():
    this_fiber.local["who"] = "main"

    def child(name):
        assert "who" not in this_fiber.local
        this_fiber.local["who"] = name
        time.sleep(0)
        return this_fiber.local["who"]

    a, b = spawn(child, "a"), spawn(child, "b")
    assert (a.join(), b.join()) == ("a", "b")
    assert this_fiber.local["who"] == "main"
    assert this_fiber.local_ is this_fiber.local


def test_this_fiber_id_is_a_unique_string():
    ids = [this_fiber.id]
    handles = [spawn(lambda: this_fiber.id) for _ in range(10)]
    ids += [h.join() for h in handles]
    assert all(isinstance(i, str) for i in ids)
    assert len(set(ids)) == len(ids)
    assert this_fiber.id == ids[0]  # stable


def test_each_fiber_starts_with_empty_context_variables():
    # contextvars are per fiber and a fiber does not inherit its spawner's
    # (as for a new greenlet), even when it runs on the recycled greenlet of
    # a fiber that ended.
    var = contextvars.ContextVar("var", default="unset")
    var.set("main's")

    def setter():
        assert var.get() == "unset"
        var.set("left behind by an ended fiber")

    for _ in range(3):
        spawn(setter).join()
        assert spawn(var.get).join() == "unset"
    assert var.get() == "main's"


def test_fiber_local_storage_does_not_leak_into_later_fibers():
    def first():
        this_fiber.local["key"] = "value"

    spawn(first).join()
    assert spawn(lambda: dict(this_fiber.local)).join() == {}


@pytest.mark.pure
def test_fiber_ids_differ_between_engines():
    a = emilua.run(lambda: this_fiber.id)
    b = emilua.run(lambda: this_fiber.id)
    assert a != b


def test_this_fiber_is_main():
    assert this_fiber.is_main
    assert spawn(lambda: this_fiber.is_main).join() is False


@pytest.mark.pure
def test_this_fiber_outside_an_engine_raises():
    with pytest.raises(RuntimeError):
        this_fiber.yield_()
    with pytest.raises(RuntimeError):
        _ = this_fiber.id


# ------------------------------------------------- greenlets and generators


def test_a_suspending_call_from_a_foreign_greenlet_raises_and_registers_nothing():
    m = mutex()
    m.lock()  # held by this fiber, on whose behalf the greenlet runs
    cv = condition_variable()
    target = spawn(park_forever)
    with tcp_pair() as (c, s):
        calls = [
            lambda: time.sleep(0),
            this_fiber.yield_,
            target.join,
            m.lock,
            lambda: cv.wait(m),
            lambda: s.read_some(byte_span(4)),
            lambda: c.write_some(b"x"),
        ]
        for call in calls:
            g = greenlet.greenlet(call)
            with pytest.raises(RuntimeError, match="greenlet"):
                g.switch()
            assert inflight() == 0
        assert target.joinable and repr(m).endswith("0 waiting>")
        c.write_some(b"data")
        buf = byte_span(8)
        assert s.read_some(buf) == 4  # nothing was left armed to take the bytes
    m.unlock()
    target.interrupt()
    target.join()


def test_a_foreign_greenlet_may_compute_and_use_non_suspending_calls():
    m = mutex()
    cv = condition_variable()
    target = spawn(park_forever)
    me = this_fiber.id

    def work():
        assert this_fiber.id == me  # it runs on behalf of the fiber
        cv.notify_all()
        target.interrupt()
        return sum(range(100))

    assert greenlet.greenlet(work).switch() == 4950
    target.join()
    assert target.interruption_caught
    m.lock()
    m.unlock()


def test_a_foreign_greenlet_can_be_resumed_later_by_its_fiber():
    # A greenlet used as a coroutine: it switches back to its creator, which
    # may suspend in between; only the fiber's own greenlet parks.
    main = greenlet.getcurrent()

    def numbers():
        a, b = 0, 1
        while True:
            main.switch(a)
            a, b = b, a + b

    g = greenlet.greenlet(numbers)
    out = []
    for _ in range(5):
        out.append(g.switch())
        time.sleep(0)
    assert out == [0, 1, 1, 2, 3]


def test_scopes_cannot_be_used_from_a_foreign_greenlet():
    for call in (lambda: scope_cleanup_push(print), lambda: scope(lambda: None)):
        with pytest.raises(RuntimeError, match="greenlet"):
            greenlet.greenlet(call).switch()


def test_a_generator_may_suspend_its_fiber():
    def ticks(n):
        for i in range(n):
            time.sleep(0)  # parks the fiber that advances the generator
            yield i

    other = spawn(lambda: "ran while the generator slept")
    assert list(ticks(3)) == [0, 1, 2]
    assert other.join() == "ran while the generator slept"


def test_interruption_belongs_to_the_fiber_that_runs_a_generator():
    def gen():
        while True:
            time.sleep(3600)
            yield

    g = gen()

    def advance():
        next(g)

    f = spawn(advance)
    wait_until_idle()
    f.interrupt()  # raised inside the generator, in f
    f.join()
    assert f.interruption_caught
    with pytest.raises(StopIteration):
        next(g)  # the exception ended the generator


def test_a_generator_running_in_one_fiber_cannot_be_entered_by_another():
    def gen():
        time.sleep(3600)
        yield

    g = gen()
    f = spawn(next, g)
    wait_until_idle()
    with pytest.raises(ValueError, match="already executing"):
        next(g)
    f.interrupt()
    f.join()
