#!/usr/bin/env python3
"""Synchronisation micro-benchmarks: emilua against gevent, asyncio, uvloop, trio.

Every (framework, benchmark) pair runs in a fresh interpreter pinned to one
core. Benchmarks, all in µs per operation:

interrupt   a fiber parked in a one-hour sleep is interrupted and joined
            (gevent: kill(); asyncio: cancel() + await; trio: cancel the
            task's scope + wait for its end). The fibers are spawned and
            parked before the clock starts.
lock        lock() + unlock() of a free mutex in one fiber.
contended   two fibers take turns: lock(), yield to the scheduler while
            holding it, unlock(); every lock() finds the mutex held and is
            handed it by the other's unlock(). µs per acquisition.
notify      two fibers ping-pong a turn through one mutex and two condition
            variables; µs per round trip (two wake-ups).

The nearest primitive of each framework is used; see PRIMITIVES (trio's
Lock.acquire() always passes through the scheduler, by design; gevent has
no condition variable, so its notify row uses two gevent.event.Event). The
row "emilua-py" is the same mutex and condition variable written in Python
over Proactor.suspend()/wake(): the alternative to putting them in the
core, kept here because the numbers decided it.

usage: python bench/sync.py [--frameworks a,b] [--benchmarks a,b] [--reps N]
                            [--scale F] [--json FILE]
"""

from __future__ import annotations

import os
import platform
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import _harness
from _harness import best

FRAMEWORKS = ["emilua", "emilua-py", "gevent", "asyncio", "uvloop", "trio"]
BENCHMARKS = ["interrupt", "lock", "contended", "notify"]
COUNTS = {"interrupt": 20_000, "lock": 500_000, "contended": 100_000, "notify": 50_000}
TARGET = 0.15  # seconds per timed run, so that slow frameworks finish in time

PRIMITIVES = {
    "emilua": "fiber.interrupt()+join(); mutex; condition_variable; this_fiber.yield_()",
    "emilua-py": "as emilua, with a Python mutex/condition_variable over suspend()/wake()",
    "gevent": "Greenlet.kill(); gevent.lock.Semaphore(1); gevent.event.Event; gevent.sleep(0)",
    "asyncio": "Task.cancel()+await; asyncio.Lock; asyncio.Condition; asyncio.sleep(0)",
    "uvloop": "as asyncio, on uvloop's loop",
    "trio": "CancelScope.cancel()+Event.wait(); trio.Lock; trio.Condition; "
    "trio.lowlevel.checkpoint()",
}

LONG_SLEEP = 3600.0


# Each framework provides interrupt(n), lock(n), contended(n), notify(n), each
# returning the seconds of the timed section only.


class Emilua:
    def __init__(self, python_primitives: bool = False) -> None:
        import emilua
        from emilua import time as etime
        from emilua.condition_variable import condition_variable
        from emilua.mutex import mutex

        global _current
        from emilua._core.proactor import current

        _current = current
        self.emilua = emilua
        self.sleep = etime.sleep
        if python_primitives:
            self.mutex: Any = PyMutex
            self.condition_variable: Any = PyConditionVariable
        else:
            self.mutex = mutex
            self.condition_variable = condition_variable

    def run(self, main: Callable[[], float]) -> float:
        return float(self.emilua.run(main))

    def interrupt(self, n: int) -> float:
        spawn, sleep, yield_ = self.emilua.spawn, self.sleep, self.emilua.this_fiber.yield_

        def main() -> float:
            fibers = [spawn(sleep, LONG_SLEEP) for _ in range(n)]
            yield_()  # each one runs and parks on its timer
            t = time.perf_counter()
            for f in fibers:
                f.interrupt()
                f.join()
            return time.perf_counter() - t

        return self.run(main)

    def lock(self, n: int) -> float:
        def main() -> float:
            m = self.mutex()
            lock, unlock = m.lock, m.unlock
            t = time.perf_counter()
            for _ in range(n):
                lock()
                unlock()
            return time.perf_counter() - t

        return self.run(main)

    def contended(self, n: int) -> float:
        emilua = self.emilua

        def main() -> float:
            m = self.mutex()
            yield_ = emilua.this_fiber.yield_

            def worker() -> None:
                for _ in range(n // 2):
                    m.lock()
                    yield_()
                    m.unlock()

            t = time.perf_counter()
            a, b = emilua.spawn(worker), emilua.spawn(worker)
            a.join()
            b.join()
            return time.perf_counter() - t

        return self.run(main)

    def notify(self, n: int) -> float:
        emilua = self.emilua

        def main() -> float:
            m = self.mutex()
            cv = (self.condition_variable(), self.condition_variable())
            turn = [0]

            def player(me: int) -> None:
                other = 1 - me
                m.lock()
                for _ in range(n):
                    while turn[0] != me:
                        cv[me].wait(m)
                    turn[0] = other
                    cv[other].notify_one()
                m.unlock()

            t = time.perf_counter()
            a, b = emilua.spawn(player, 0), emilua.spawn(player, 1)
            a.join()
            b.join()
            return time.perf_counter() - t

        return self.run(main)


class PyMutex:
    """The mutex of emilua.mutex, in Python over Proactor.suspend()/wake().

    It records its owner (condition_variable.wait() needs it) but leaves out
    the core's forbid_suspend() and foreign-greenlet checks, which Python code
    cannot reach, and suspend() makes its lock() an interruption point: the
    comparison favours it slightly.
    """

    __slots__ = ("locked", "owner", "waiters")

    def __init__(self) -> None:
        self.locked = False
        self.owner: Any = None
        self.waiters: deque[Any] = deque()

    def lock(self) -> None:
        p = _current()
        f = p.current_fiber
        if not self.locked:
            self.locked = True
            self.owner = f
            return
        self.waiters.append(f)
        p.suspend(self)

    def unlock(self) -> None:
        if self.waiters:
            f = self.waiters.popleft()
            self.owner = f
            f.proactor.wake(f)
        else:
            self.locked = False
            self.owner = None

    def cancel(self, fiber: Any) -> bool:
        return False


class PyConditionVariable:
    __slots__ = ("waiters",)

    def __init__(self) -> None:
        self.waiters: deque[Any] = deque()

    def wait(self, m: PyMutex) -> None:
        p = _current()
        f = p.current_fiber
        if m.owner is not f:
            raise OSError(1, "Operation not permitted")
        self.waiters.append(f)
        m.unlock()
        p.suspend(self)
        m.lock()

    def notify_one(self) -> None:
        if self.waiters:
            f = self.waiters.popleft()
            f.proactor.wake(f)

    def cancel(self, fiber: Any) -> bool:
        try:
            self.waiters.remove(fiber)
        except ValueError:
            return False
        return True


def _current() -> Any:
    raise RuntimeError("replaced by emilua._core.proactor.current when emilua is imported")


class Gevent:
    def __init__(self) -> None:
        import gevent
        import gevent.event
        import gevent.lock

        self.gevent = gevent
        self.Event = gevent.event.Event
        self.Semaphore = gevent.lock.Semaphore

    def interrupt(self, n: int) -> float:
        gevent = self.gevent
        greenlets = [gevent.spawn(gevent.sleep, LONG_SLEEP) for _ in range(n)]
        gevent.sleep(0)
        t = time.perf_counter()
        for g in greenlets:
            g.kill()  # throws GreenletExit and waits for the end
        return time.perf_counter() - t

    def lock(self, n: int) -> float:
        sem = self.Semaphore(1)
        acquire, release = sem.acquire, sem.release
        t = time.perf_counter()
        for _ in range(n):
            acquire()
            release()
        return time.perf_counter() - t

    def contended(self, n: int) -> float:
        gevent = self.gevent
        sem = self.Semaphore(1)

        def worker() -> None:
            for _ in range(n // 2):
                sem.acquire()
                gevent.sleep(0)
                sem.release()

        t = time.perf_counter()
        gevent.joinall([gevent.spawn(worker), gevent.spawn(worker)])
        return time.perf_counter() - t

    def notify(self, n: int) -> float:
        gevent = self.gevent
        to = (self.Event(), self.Event())

        def player(me: int) -> None:
            other = 1 - me
            if me == 0:
                to[1].set()
            for _ in range(n):
                to[me].wait()
                to[me].clear()
                to[other].set()

        t = time.perf_counter()
        gevent.joinall([gevent.spawn(player, 0), gevent.spawn(player, 1)])
        return time.perf_counter() - t


class Asyncio:
    def __init__(self, loop_factory: Callable[[], Any] | None = None) -> None:
        import asyncio

        self.asyncio = asyncio
        self.loop_factory = loop_factory

    def run(self, coro: Any) -> float:
        with self.asyncio.Runner(loop_factory=self.loop_factory) as runner:
            return float(runner.run(coro))

    def interrupt(self, n: int) -> float:
        asyncio = self.asyncio

        async def main() -> float:
            tasks = [asyncio.create_task(asyncio.sleep(LONG_SLEEP)) for _ in range(n)]
            await asyncio.sleep(0)
            t = time.perf_counter()
            for task in tasks:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
            return time.perf_counter() - t

        return self.run(main())

    def lock(self, n: int) -> float:
        asyncio = self.asyncio

        async def main() -> float:
            lock = asyncio.Lock()
            t = time.perf_counter()
            for _ in range(n):
                await lock.acquire()
                lock.release()
            return time.perf_counter() - t

        return self.run(main())

    def contended(self, n: int) -> float:
        asyncio = self.asyncio

        async def main() -> float:
            lock = asyncio.Lock()

            async def worker() -> None:
                for _ in range(n // 2):
                    await lock.acquire()
                    await asyncio.sleep(0)
                    lock.release()

            t = time.perf_counter()
            await asyncio.gather(worker(), worker())
            return time.perf_counter() - t

        return self.run(main())

    def notify(self, n: int) -> float:
        asyncio = self.asyncio

        async def main() -> float:
            lock = asyncio.Lock()
            cv = (asyncio.Condition(lock), asyncio.Condition(lock))
            turn = [0]

            async def player(me: int) -> None:
                other = 1 - me
                async with lock:
                    for _ in range(n):
                        while turn[0] != me:
                            await cv[me].wait()
                        turn[0] = other
                        cv[other].notify()

            t = time.perf_counter()
            await asyncio.gather(player(0), player(1))
            return time.perf_counter() - t

        return self.run(main())


class Trio:
    def __init__(self) -> None:
        import trio
        import trio.lowlevel
        import trio.testing

        self.trio = trio

    def interrupt(self, n: int) -> float:
        trio = self.trio

        async def main() -> float:
            async with trio.open_nursery() as nursery:
                tasks = []
                for _ in range(n):
                    scope, done = trio.CancelScope(), trio.Event()

                    async def sleeper(scope: Any = scope, done: Any = done) -> None:
                        with scope:
                            await trio.sleep(LONG_SLEEP)
                        done.set()

                    nursery.start_soon(sleeper)
                    tasks.append((scope, done))
                await trio.testing.wait_all_tasks_blocked()
                t = time.perf_counter()
                for scope, done in tasks:
                    scope.cancel()
                    await done.wait()
                return time.perf_counter() - t

        return float(trio.run(main))

    def lock(self, n: int) -> float:
        trio = self.trio

        async def main() -> float:
            lock = trio.Lock()
            t = time.perf_counter()
            for _ in range(n):
                await lock.acquire()
                lock.release()
            return time.perf_counter() - t

        return float(trio.run(main))

    def contended(self, n: int) -> float:
        trio = self.trio

        async def main() -> float:
            lock = trio.Lock()

            async def worker() -> None:
                for _ in range(n // 2):
                    await lock.acquire()
                    await trio.lowlevel.checkpoint()
                    lock.release()

            t = time.perf_counter()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(worker)
                nursery.start_soon(worker)
            return time.perf_counter() - t

        return float(trio.run(main))

    def notify(self, n: int) -> float:
        trio = self.trio

        async def main() -> float:
            lock = trio.Lock()
            cv = (trio.Condition(lock), trio.Condition(lock))
            turn = [0]

            async def player(me: int) -> None:
                other = 1 - me
                async with lock:
                    for _ in range(n):
                        while turn[0] != me:
                            await cv[me].wait()
                        turn[0] = other
                        cv[other].notify()

            t = time.perf_counter()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(player, 0)
                nursery.start_soon(player, 1)
            return time.perf_counter() - t

        return float(trio.run(main))


def make(framework: str) -> Any:
    if framework == "emilua":
        return Emilua()
    if framework == "emilua-py":
        return Emilua(python_primitives=True)
    if framework == "gevent":
        return Gevent()
    if framework == "asyncio":
        return Asyncio()
    if framework == "uvloop":
        import uvloop

        return Asyncio(uvloop.new_event_loop)
    if framework == "trio":
        return Trio()
    raise ValueError(framework)


def child(framework: str, benchmark: str, reps: int, scale: float) -> None:
    def measure() -> dict[str, Any]:
        fw = make(framework)
        method = getattr(fw, benchmark)
        # A short calibration run sizes the timed ones: at most COUNTS, at
        # most about TARGET seconds each.
        probe = max(100, COUNTS[benchmark] // 50)
        per_op = method(probe) / probe
        n = int(min(COUNTS[benchmark], TARGET / max(per_op, 1e-9)) * scale)
        n = max(100, n - n % 2)
        secs = best(reps, lambda: method(n))
        return {"value": secs / n * 1e6, "n": n, "reps": reps}

    _harness.child(measure, import_error_skips=True)


def cell(doc: dict[str, Any], base: dict[str, Any] | None) -> str:
    if "value" not in doc:
        return "skipped" if "skip" in doc else "error"
    text = f"{doc['value']:.3f}"
    if base is not None and "value" in base and base["value"] > 0:
        text += f" ({doc['value'] / base['value']:.2f}×)"
    return text


def progress(fw: str, b: str, doc: dict[str, Any]) -> str:
    shown = f"{doc['value']:.3f} µs" if "value" in doc else doc.get("skip") or doc["error"]
    return f"{fw:9} {b:9} {shown}"


def main() -> None:
    args = _harness.parse_args(__doc__, FRAMEWORKS, BENCHMARKS, reps=3, timeout=60.0)
    if args.child:
        child(args.child[0], args.child[1], args.reps, args.scale)
        return
    frameworks = _harness.pick(args.frameworks, FRAMEWORKS)
    benchmarks = _harness.pick(args.benchmarks, BENCHMARKS)
    started = time.monotonic()
    results = _harness.run_all(__file__, frameworks, benchmarks, args, progress)

    date = _harness.print_header("Synchronisation benchmarks", "bench/sync.py")
    print(
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; best of {args.reps}; "
        f"{time.monotonic() - started:.0f} s in all. µs per operation "
        "(ratio to emilua in the same run)."
    )
    print()
    print("| framework | " + " | ".join(benchmarks) + " |")
    print("|---|" + "---|" * len(benchmarks))
    base = results.get("emilua", {})
    for fw in frameworks:
        row = [cell(results[fw][b], base.get(b) if fw != "emilua" else None) for b in benchmarks]
        print(f"| {fw} | " + " | ".join(row) + " |")
    _harness.print_notes(results, frameworks)
    _harness.write_json(args.json, date, args.reps, results)


if __name__ == "__main__":
    main()
