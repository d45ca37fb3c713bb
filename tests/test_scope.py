# Manual: "Interruption API", "The scope() facility". Each engine test runs as
# the main fiber of a fresh engine, once per backend; tests marked pure start
# engines of their own.
import pytest
from helpers import tcp_pair, wait_until_idle

import emilua
from emilua import (
    FiberInterrupted,
    scope,
    scope_cleanup_pop,
    scope_cleanup_push,
    spawn,
    this_fiber,
    time,
)
from emilua.byte_span import byte_span
from emilua.mutex import mutex

BACKENDS = ("io_uring", "epoll")


def park_forever():
    time.sleep(3600)


def test_scope_calls_f_and_returns_its_result():
    assert scope(lambda: 42) == 42
    with scope() as s:
        assert s is not None


def test_handlers_run_in_reverse_order_on_normal_exit():
    log = []
    with scope():
        for i in range(3):
            scope_cleanup_push(lambda i=i: log.append(i))
        log.append("body")
    assert log == ["body", 2, 1, 0]


def test_handlers_run_in_reverse_order_when_an_exception_escapes():
    log = []

    def body():
        scope_cleanup_push(lambda: log.append("first"))
        scope_cleanup_push(lambda: log.append("second"))
        raise KeyError("escapes")

    with pytest.raises(KeyError):
        scope(body)
    assert log == ["second", "first"]


def test_handlers_run_on_interruption_with_interruption_disabled_and_may_suspend():
    log = []

    def handler():
        # The fiber is interrupted, yet a handler may suspend: interruption
        # is disabled while it runs.
        time.sleep(0.001)
        this_fiber.yield_()
        log.append("handler slept")

    def body():
        with scope():
            scope_cleanup_push(handler)
            park_forever()

    f = spawn(body)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert log == ["handler slept"]
    assert f.interruption_caught


def test_interruption_is_restored_after_the_handlers():
    def body():
        with scope():
            scope_cleanup_push(lambda: None)
        time.sleep(0)  # the fiber is interrupted and interruptible again

    f = spawn(body)
    f.interrupt()
    f.join()
    assert f.interruption_caught


def test_nested_scopes_run_their_own_handlers_when_each_ends():
    log = []
    with scope():
        scope_cleanup_push(lambda: log.append("outer"))
        with scope():
            scope_cleanup_push(lambda: log.append("inner"))
        log.append("between")
        scope(lambda: scope_cleanup_push(lambda: log.append("functional")))
    assert log == ["inner", "between", "functional", "outer"]


def test_scope_cleanup_pop_runs_the_last_handler_by_default():
    log = []
    with scope():
        scope_cleanup_push(lambda: log.append("a"))
        scope_cleanup_push(lambda: log.append("b"))
        scope_cleanup_pop()
        assert log == ["b"]
        scope_cleanup_pop(False)
        assert log == ["b"]  # removed without running
    assert log == ["b"]


def test_scope_cleanup_pop_runs_the_handler_with_interruption_disabled():
    log = []

    def body():
        scope_cleanup_push(lambda: [time.sleep(0), log.append("ran")])
        scope_cleanup_pop()
        time.sleep(0)

    f = spawn(body)
    f.interrupt()
    f.join()
    assert log == ["ran"] and f.interruption_caught


def test_scope_cleanup_pop_on_an_empty_scope_raises():
    with scope():
        with pytest.raises(RuntimeError):
            scope_cleanup_pop()


def test_scope_cleanup_push_needs_a_callable():
    with pytest.raises(TypeError):
        scope_cleanup_push("not callable")


def test_the_root_scope_runs_when_the_fiber_ends():
    log = []

    def body(end):
        scope_cleanup_push(lambda: log.append("root 1"))
        scope_cleanup_push(lambda: log.append("root 2"))
        log.append("body")
        if end == "raise":
            raise ValueError
        if end == "interrupted":
            park_forever()

    for end in ("return", "raise", "interrupted"):
        log.clear()
        f = spawn(body, end)
        wait_until_idle()
        f.interrupt()
        try:
            f.join()
        except ValueError:
            pass
        assert log == ["body", "root 2", "root 1"], end


def test_join_waits_for_the_root_scope_handlers():
    log = []

    def body():
        scope_cleanup_push(lambda: [time.sleep(0.001), log.append("cleanup")])
        return "result"

    assert spawn(body).join() == "result"
    assert log == ["cleanup"]


def test_scope_cleanup_pop_with_false_keeps_the_watchdog_quiet():
    # The manual's example: a handler that reports an error, removed once
    # the work succeeded.
    with tcp_pair() as (c, s):

        def work(fail):
            def body():
                scope_cleanup_push(lambda: c.write_some(b"errored"))
                time.sleep(0)  # "lots of IO ops"
                if fail:
                    raise OSError("failed")
                scope_cleanup_pop(False)

            scope(body)

        work(False)
        with pytest.raises(OSError):
            work(True)
        c.shutdown("send")
        buf = byte_span(64)
        n = s.read_some(buf)
        assert bytes(buf.slice(0, n)) == b"errored"


def test_scope_unlocks_a_mutex_of_an_interrupted_fiber():
    # Manual: the scope() facility keeps invariants of an interrupted fiber
    # (the echo example guarded by global_sock_mutex).
    m = mutex()
    with tcp_pair() as (c, s):

        def child():
            buf = byte_span(1024)
            m.lock()
            scope_cleanup_push(m.unlock)
            n = s.read_some(buf)  # parked here when interrupted
            s.write_some(buf.slice(0, n))

        f = spawn(child)
        wait_until_idle()
        f.interrupt()
        f.join()
        assert f.interruption_caught
        m.lock()  # released by the cleanup handler
        m.unlock()


def test_the_manuals_mutex_example_made_consistent_by_a_cleanup_handler():
    # The manual's "dumb'n'quick" example: the fiber interrupted while it
    # holds the mutex releases it from its root scope, so m.lock() returns.
    m = mutex()

    def f():
        m.lock()
        scope_cleanup_push(m.unlock)
        time.sleep(2)
        scope_cleanup_pop()

    fib = spawn(f)
    wait_until_idle()
    fib.interrupt()
    m.lock()
    m.unlock()
    fib.join()
    assert fib.interruption_caught


def test_a_handler_that_re_enables_interruption_is_interrupted():
    log = []

    def handler():
        this_fiber.restore_interruption()  # the handler's own business
        try:
            this_fiber.yield_()
        except FiberInterrupted:
            log.append("interrupted inside the handler")
        this_fiber.disable_interruption()

    def body():
        scope_cleanup_push(handler)
        park_forever()

    f = spawn(body)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert log == ["interrupted inside the handler"]


@pytest.mark.pure
@pytest.mark.parametrize("engine", BACKENDS)
def test_a_raising_cleanup_handler_terminates_the_vm(engine, capfd):
    log = []

    def bad():
        raise RuntimeError("cleanup failed")

    def fiber():
        with scope():
            scope_cleanup_push(lambda: log.append("runs before the failure"))
            scope_cleanup_push(bad)
            scope_cleanup_push(lambda: log.append("runs first"))
        log.append("not reached")

    def main():
        spawn(fiber).detach()
        time.sleep(0.01)
        log.append("main not resumed")

    with pytest.raises(RuntimeError, match="cleanup failed"):
        emilua.run(main, backend=engine)
    assert log == ["runs first"]
    err = capfd.readouterr().err
    assert "VM terminated" in err and "cleanup handler" in err


@pytest.mark.pure
@pytest.mark.parametrize("engine", BACKENDS)
def test_a_raising_root_scope_handler_terminates_the_vm(engine, capfd):
    def main():
        scope_cleanup_push(lambda: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        emilua.run(main, backend=engine)
    assert "VM terminated" in capfd.readouterr().err


@pytest.mark.pure
@pytest.mark.parametrize("engine", BACKENDS)
def test_cleanup_handlers_do_not_run_when_the_vm_is_torn_down(engine):
    log = []

    def stuck():
        scope_cleanup_push(lambda: log.append("root handler"))
        with scope():
            scope_cleanup_push(lambda: log.append("scope handler"))
            try:
                park_forever()
            finally:
                log.append("finally")

    def main():
        spawn(stuck).detach()
        time.sleep(0)
        raise KeyError("main fails")

    with pytest.raises(KeyError):
        emilua.run(main, backend=engine)
    # The fiber is unwound so that `finally` releases what it holds, but the
    # VM is gone: its cleanup handlers do not run.
    assert log == ["finally"]
