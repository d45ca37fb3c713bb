"""Run a blocking call on a worker thread while the calling fiber waits.

For calls the kernel offers no asynchronous form of (getaddrinfo(3),
getnameinfo(3)), and, as ``emilua.to_thread``, for the user's own blocking
code (a library that does blocking IO, a C extension that holds the GIL
released for long). The fiber parks on the engine like on any other operation;
the worker posts the result back to the engine's thread (``Proactor.post``),
which wakes the fiber. Interruption withdraws the fiber at once: it raises
``FiberInterrupted`` and the late result is dropped.

Workers block every signal, so a signal is always delivered to a thread that
can run Python's handlers (the engine's), never to a worker stuck in a lookup.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
from collections.abc import Callable
from typing import Any

from emilua._fiber import _proactor

__all__ = ["run_blocking"]

_MAX_WORKERS = 8

_PENDING = 0
_DONE = 1
_ABANDONED = 2


class _Pool:
    """Up to _MAX_WORKERS daemon threads, started on demand, kept while idle."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0
        self._idle = 0
        self._queued = 0

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._queued += 1
            start = self._queued > self._idle and self._workers < _MAX_WORKERS
            if start:
                self._workers += 1
        if start:
            threading.Thread(target=self._work, name="emilua-offload", daemon=True).start()
        self._jobs.put(job)

    def _work(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        while True:
            with self._lock:
                self._idle += 1
            job = self._jobs.get()
            with self._lock:
                self._idle -= 1
                self._queued -= 1
            job()


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _get_pool() -> _Pool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _Pool()
        return _pool


def _forget_pool() -> None:
    # A forked child has none of the parent's workers: start afresh.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


class _Call:
    """The waiter a fiber parks on (``Proactor.suspend``) during one call."""

    __slots__ = ("_p", "_fiber", "_lock", "_state", "_value", "_error")

    def __init__(self, p: Any, fiber: Any) -> None:
        self._p = p
        self._fiber = fiber
        self._lock = threading.Lock()
        self._state = _PENDING
        self._value: Any = None
        self._error: BaseException | None = None

    # Worker thread.
    def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = fn(*args)
        except BaseException as e:  # handed to the waiting fiber as is
            error = e
        # Posting under the lock orders it before abandon(): once the engine
        # thread abandoned the call, no post for it can reach the engine,
        # which may then end and close its wake-up fd.
        with self._lock:
            if self._state == _PENDING:
                self._p.post(lambda: self._deliver(value, error))

    # Engine thread (posted callback).
    def _deliver(self, value: Any, error: BaseException | None) -> None:
        with self._lock:
            if self._state != _PENDING:
                return  # interrupted meanwhile: the result is dropped
            self._state = _DONE
        self._release()
        self._value = value
        self._error = error
        self._p.wake(self._fiber)

    # Engine thread: interruption (Proactor.withdraw) or an exception thrown
    # into the parked fiber.
    def cancel(self, fiber: Any) -> bool:
        return self.abandon()

    def abandon(self) -> bool:
        with self._lock:
            if self._state != _PENDING:
                return False
            self._state = _ABANDONED
        self._release()
        return True

    def _release(self) -> None:
        self._p.keepalive -= 1
        self._p.offloaded -= 1

    def __repr__(self) -> str:
        return "offloaded call"


def run_blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` on a worker thread; park the calling fiber until it
    returns, then return its result or raise its exception.

    Public as ``emilua.to_thread``. The other fibers of the engine run
    meanwhile. Up to 8 worker threads per process serve every engine; more
    calls than that wait in a queue, in order.

    Interruption point: an interrupted call raises FiberInterrupted at once
    and its result, when it comes, is dropped. The call itself cannot be
    stopped: it runs to its end on its thread. The engine stays alive while
    a call is pending (another thread will wake it).
    """
    p = _proactor()
    fiber = p.current_fiber
    if fiber is None:
        raise RuntimeError("a blocking call needs a fiber to park")
    # Manual, "Interruption API": an interrupted fiber starts no operation.
    p.check_interruption()
    call = _Call(p, fiber)
    # keepalive: another thread will wake the engine; offloaded: the engine
    # is waiting, not idle (it skips its idle-time garbage collection).
    p.keepalive += 1
    p.offloaded += 1
    _get_pool().submit(lambda: call.run(fn, args))
    try:
        p.suspend(call)
    except BaseException:
        call.abandon()
        raise
    if call._error is not None:
        err = call._error
        call._error = None
        raise err
    return call._value
