#!/usr/bin/env python3
"""Fiber micro-benchmarks: emilua against greenlet, gevent, asyncio, uvloop, trio.

Every (framework, benchmark) pair runs in a fresh interpreter pinned to one
core, so that one framework's imports, heap and import-time patching cannot
touch another's numbers. Benchmarks:

spawn    spawn a fiber running an empty function, then join it; batches of
         1000 spawns followed by 1000 joins. µs per fiber.
yield    two fibers alternate by rescheduling themselves through the
         scheduler, each step handing the CPU to the other one. µs per step.
handoff  two fibers ping-pong through a wake-up primitive: set the other's
         flag, wait on one's own. µs per one-way handoff.
memory   RSS growth of 100,000 fibers parked in a one-hour sleep, divided by
         100,000. KiB per fiber.
park     seconds from the first of 100,000 spawns of a one-hour sleeper until
         every sleeper is parked on its timer (the spawner's own zero sleep
         returns after they all ran).
spawn100k  spawn 100,000 fibers running an empty function, all at once, then
         join every one: far past any pool of reusable fiber stacks. µs per
         fiber.

memory, park and spawn100k run each repetition in its own fresh interpreter
(--reps of them) and report the median and the spread (min-max): a process
that parked 100,000 fibers is not the one to measure the next run in.

bench/README.md lists the primitive used for each framework, and why.
The other timings are the best of --reps runs in one process.

usage: python bench/fibers.py [--frameworks a,b] [--benchmarks a,b] [--reps N]
                              [--scale F] [--json FILE]
       python bench/fibers.py --benchmarks breakdown [--scale F]

--benchmarks breakdown prints where the memory of 100,000 emilua fibers
parked in time.sleep() goes, per fiber (tracemalloc, RSS, greenlet).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import _harness
from _harness import Skip, best, emit

FRAMEWORKS = ["emilua", "greenlet", "gevent", "asyncio", "uvloop", "trio"]
BENCHMARKS = ["spawn", "yield", "handoff", "memory", "park", "spawn100k"]
UNITS = {
    "spawn": "µs/fiber", "yield": "µs/switch", "handoff": "µs/handoff", "memory": "KiB/fiber",
    "park": "s/100k", "spawn100k": "µs/fiber",
}  # fmt: skip
FRESH = {"memory", "park", "spawn100k"}  # one fresh interpreter per repetition

BATCH = 1000  # spawn benchmark: fibers spawned before they are joined
SLEEPERS = 100_000  # memory, park and spawn100k benchmarks
LONG_SLEEP = 3600.0  # the sleepers never wake: the process exits first


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") // 1024


# Each framework below provides spawn(n), yield_(n), handoff(n), memory(n),
# and, for the 100,000-fiber points, park(n) and spawn_all(n). The timed ones
# return seconds for the timed section only (engine start-up and tear-down
# excluded); memory and park leave the process with their result.


class Greenlet:
    """Raw greenlet: no scheduler, so the lower bound for switching."""

    def __init__(self) -> None:
        import greenlet

        self.greenlet = greenlet.greenlet
        self.getcurrent = greenlet.getcurrent

    def spawn(self, n: int) -> float:
        # Without a scheduler "spawn then join" is: create, then run to
        # completion by switching in; the switch returns when it finishes.
        def f() -> None:
            return None

        make = self.greenlet
        t = time.perf_counter()
        for _ in range(n // BATCH):
            for g in [make(f) for _ in range(BATCH)]:
                g.switch()
        return time.perf_counter() - t

    def yield_(self, n: int) -> float:
        raise Skip("no scheduler to yield to; see handoff")

    def handoff(self, n: int) -> float:
        main = self.getcurrent()

        def partner() -> None:
            while True:
                main.switch()

        g = self.greenlet(partner)
        t = time.perf_counter()
        for _ in range(n // 2):
            g.switch()  # two one-way switches per iteration
        return time.perf_counter() - t

    def memory(self, n: int) -> None:
        main = self.getcurrent()

        def park() -> None:
            main.switch()

        before = rss_kib()
        parked = [self.greenlet(park) for _ in range(n)]
        for g in parked:
            g.switch()  # runs until park() switches back; its stack is saved
        exit_with_memory(rss_kib() - before, n, parked)


class Gevent:
    def __init__(self) -> None:
        import gevent
        import gevent.event

        self.gevent = gevent
        self.Event = gevent.event.Event

    def spawn(self, n: int) -> float:
        def f() -> None:
            return None

        spawn = self.gevent.spawn
        t = time.perf_counter()
        for _ in range(n // BATCH):
            for g in [spawn(f) for _ in range(BATCH)]:
                g.join()
        return time.perf_counter() - t

    def yield_(self, n: int) -> float:
        sleep = self.gevent.sleep

        def f() -> None:
            for _ in range(n // 2):
                sleep(0)

        t = time.perf_counter()
        self.gevent.joinall([self.gevent.spawn(f), self.gevent.spawn(f)])
        return time.perf_counter() - t

    def handoff(self, n: int) -> float:
        to_a, to_b = self.Event(), self.Event()

        def a() -> None:
            for _ in range(n // 2):
                to_b.set()
                to_a.wait()
                to_a.clear()

        def b() -> None:
            for _ in range(n // 2):
                to_b.wait()
                to_b.clear()
                to_a.set()

        t = time.perf_counter()
        self.gevent.joinall([self.gevent.spawn(a), self.gevent.spawn(b)])
        return time.perf_counter() - t

    def memory(self, n: int) -> None:
        sleep = self.gevent.sleep
        before = rss_kib()
        sleepers = [self.gevent.spawn(sleep, LONG_SLEEP) for _ in range(n)]
        sleep(0.05)  # every sleeper runs and parks on its timer
        exit_with_memory(rss_kib() - before, n, sleepers)

    def park(self, n: int) -> None:
        sleep = self.gevent.sleep
        t = time.perf_counter()
        sleepers = [self.gevent.spawn(sleep, LONG_SLEEP) for _ in range(n)]
        sleep(0)  # queued after the sleepers' starts: returns once they all parked
        exit_with_value((time.perf_counter() - t) * SLEEPERS / n, n, sleepers)

    def spawn_all(self, n: int) -> float:
        def f() -> None:
            return None

        spawn = self.gevent.spawn
        t = time.perf_counter()
        for g in [spawn(f) for _ in range(n)]:
            g.join()
        return time.perf_counter() - t


class Asyncio:
    def __init__(self, loop_factory: Callable[[], Any] | None = None) -> None:
        import asyncio

        self.asyncio = asyncio
        self.loop_factory = loop_factory

    def run(self, coro: Any) -> Any:
        with self.asyncio.Runner(loop_factory=self.loop_factory) as runner:
            return runner.run(coro)

    def spawn(self, n: int) -> float:
        asyncio = self.asyncio

        async def f() -> None:
            return None

        async def main() -> float:
            t = time.perf_counter()
            for _ in range(n // BATCH):
                for task in [asyncio.create_task(f()) for _ in range(BATCH)]:
                    await task
            return time.perf_counter() - t

        return float(self.run(main()))

    def yield_(self, n: int) -> float:
        asyncio = self.asyncio

        async def f() -> None:
            for _ in range(n // 2):
                await asyncio.sleep(0)

        async def main() -> float:
            t = time.perf_counter()
            await asyncio.gather(f(), f())
            return time.perf_counter() - t

        return float(self.run(main()))

    def handoff(self, n: int) -> float:
        asyncio = self.asyncio

        async def main() -> float:
            to_a, to_b = asyncio.Event(), asyncio.Event()

            async def a() -> None:
                for _ in range(n // 2):
                    to_b.set()
                    await to_a.wait()
                    to_a.clear()

            async def b() -> None:
                for _ in range(n // 2):
                    await to_b.wait()
                    to_b.clear()
                    to_a.set()

            t = time.perf_counter()
            await asyncio.gather(a(), b())
            return time.perf_counter() - t

        return float(self.run(main()))

    def memory(self, n: int) -> None:
        asyncio = self.asyncio

        async def main() -> None:
            before = rss_kib()
            sleepers = [asyncio.create_task(asyncio.sleep(LONG_SLEEP)) for _ in range(n)]
            await asyncio.sleep(0.05)  # every sleeper runs and parks on its timer
            exit_with_memory(rss_kib() - before, n, sleepers)

        self.run(main())

    def park(self, n: int) -> None:
        asyncio = self.asyncio

        async def main() -> None:
            t = time.perf_counter()
            sleepers = [asyncio.create_task(asyncio.sleep(LONG_SLEEP)) for _ in range(n)]
            await asyncio.sleep(0)  # every sleeper's first step runs before this returns
            exit_with_value((time.perf_counter() - t) * SLEEPERS / n, n, sleepers)

        self.run(main())

    def spawn_all(self, n: int) -> float:
        asyncio = self.asyncio

        async def f() -> None:
            return None

        async def main() -> float:
            t = time.perf_counter()
            for task in [asyncio.create_task(f()) for _ in range(n)]:
                await task
            return time.perf_counter() - t

        return float(self.run(main()))


class Trio:
    def __init__(self) -> None:
        import trio
        import trio.lowlevel
        import trio.testing

        self.trio = trio

    def spawn(self, n: int) -> float:
        trio = self.trio

        async def f() -> None:
            return None

        async def main() -> float:
            t = time.perf_counter()
            for _ in range(n // BATCH):
                async with trio.open_nursery() as nursery:
                    for _ in range(BATCH):
                        nursery.start_soon(f)
            return time.perf_counter() - t

        return float(trio.run(main))

    def yield_(self, n: int) -> float:
        trio = self.trio

        async def f() -> None:
            for _ in range(n // 2):
                await trio.lowlevel.checkpoint()

        async def main() -> float:
            t = time.perf_counter()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(f)
                nursery.start_soon(f)
            return time.perf_counter() - t

        return float(trio.run(main))

    def handoff(self, n: int) -> float:
        trio = self.trio

        async def main() -> float:
            # trio.Event cannot be cleared; unbuffered channels are trio's
            # own way to hand a turn from one task to another.
            send_b, recv_b = trio.open_memory_channel[None](0)
            send_a, recv_a = trio.open_memory_channel[None](0)

            async def a() -> None:
                for _ in range(n // 2):
                    await send_b.send(None)
                    await recv_a.receive()

            async def b() -> None:
                for _ in range(n // 2):
                    await recv_b.receive()
                    await send_a.send(None)

            t = time.perf_counter()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(a)
                nursery.start_soon(b)
            return time.perf_counter() - t

        return float(trio.run(main))

    def memory(self, n: int) -> None:
        trio = self.trio

        async def main() -> None:
            before = rss_kib()
            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(trio.sleep, LONG_SLEEP)
                await trio.testing.wait_all_tasks_blocked()
                exit_with_memory(rss_kib() - before, n, nursery)

        trio.run(main)


class Emilua:
    """The API of the manual: spawn, join, this_fiber.yield_, time.sleep."""

    def __init__(self) -> None:
        try:
            import emilua
        except ImportError as e:
            raise Skip(f"import emilua failed: {e}") from None
        missing = [name for name in ("run", "spawn", "this_fiber") if not hasattr(emilua, name)]
        if missing:
            raise Skip("emilua has no " + ", ".join(missing) + " yet")
        self.emilua = emilua

    def run(self, main: Callable[[], Any]) -> Any:
        return self.emilua.run(main)

    def spawn(self, n: int) -> float:
        spawn = self.emilua.spawn

        def f() -> None:
            return None

        def main() -> float:
            t = time.perf_counter()
            for _ in range(n // BATCH):
                for fib in [spawn(f) for _ in range(BATCH)]:
                    fib.join()
            return time.perf_counter() - t

        return float(self.run(main))

    def yield_(self, n: int) -> float:
        emilua = self.emilua

        def f() -> None:
            yield_ = emilua.this_fiber.yield_
            for _ in range(n // 2):
                yield_()

        def main() -> float:
            t = time.perf_counter()
            a, b = emilua.spawn(f), emilua.spawn(f)
            a.join()
            b.join()
            return time.perf_counter() - t

        return float(self.run(main))

    def handoff(self, n: int) -> float:
        try:
            from emilua.condition_variable import condition_variable
            from emilua.mutex import mutex
        except ImportError as e:
            raise Skip(f"no mutex/condition_variable yet ({e})") from None
        emilua = self.emilua

        def main() -> float:
            # The manual's primitives for "wake the other, wait for my turn":
            # one mutex, one condition variable per direction, a turn flag.
            m = mutex()
            cv = {0: condition_variable(), 1: condition_variable()}
            turn = [0]

            def player(me: int) -> None:
                other = 1 - me
                m.lock()
                for _ in range(n // 2):
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

        return float(self.run(main))

    def memory(self, n: int) -> None:
        try:
            from emilua import time as etime
        except ImportError as e:
            raise Skip(f"no emilua.time yet ({e})") from None
        spawn = self.emilua.spawn

        def main() -> None:
            before = rss_kib()
            sleepers = [spawn(etime.sleep, LONG_SLEEP) for _ in range(n)]
            etime.sleep(0.05)  # every sleeper runs and parks on its timer
            exit_with_memory(rss_kib() - before, n, sleepers)

        self.run(main)

    def park(self, n: int) -> None:
        try:
            from emilua import time as etime
        except ImportError as e:
            raise Skip(f"no emilua.time yet ({e})") from None
        spawn = self.emilua.spawn

        def main() -> None:
            t = time.perf_counter()
            sleepers = [spawn(etime.sleep, LONG_SLEEP) for _ in range(n)]
            etime.sleep(0)  # returns after the round in which every sleeper parked
            exit_with_value((time.perf_counter() - t) * SLEEPERS / n, n, sleepers)

        self.run(main)

    def spawn_all(self, n: int) -> float:
        spawn = self.emilua.spawn

        def f() -> None:
            return None

        def main() -> float:
            t = time.perf_counter()
            for fib in [spawn(f) for _ in range(n)]:
                fib.join()
            return time.perf_counter() - t

        return float(self.run(main))


def exit_with_memory(grown_kib: int, n: int, keep_alive: object) -> None:
    """Report the memory benchmark and leave at once, from inside the framework.

    Tearing down 100,000 parked fibers (or waiting out their sleep) is not
    part of the measurement and, for some frameworks, takes longer than it.
    *keep_alive* holds the fibers until the measurement is taken.
    """
    exit_with_value(grown_kib / n, n, keep_alive)


def exit_with_value(value: float, n: int, keep_alive: object) -> None:
    """exit_with_memory() for any measurement taken with n fibers parked."""
    emit({"value": value, "n": n})
    del keep_alive
    os._exit(0)


def breakdown(n: int) -> dict[str, Any]:
    """Where the memory of n parked emilua sleepers goes, per fiber.

    RSS growth (/proc/self/statm), the part of it tracemalloc sees, grouped
    by the size of each allocation and named where the size identifies it,
    and greenlet's own count of the C stack bytes it saved per greenlet.
    """
    import gc
    import tracemalloc

    import greenlet

    import emilua
    from emilua import time as etime

    out: dict[str, Any] = {}

    def main() -> None:
        gc.collect()
        tracemalloc.start()
        before_rss, before = rss_kib(), tracemalloc.take_snapshot()
        sleepers = [emilua.spawn(etime.sleep, LONG_SLEEP) for _ in range(n)]
        etime.sleep(0)
        after_rss, after = rss_kib(), tracemalloc.take_snapshot()
        tracemalloc.stop()
        glets = [g for g in gc.get_objects() if type(g) is greenlet.greenlet and g._stack_saved]
        saved = sorted(g._stack_saved for g in glets)
        old: dict[int, int] = {}
        for tr in before.traces:
            old[tr.size] = old.get(tr.size, 0) + 1
        new: dict[int, int] = {}
        for tr in after.traces:
            new[tr.size] = new.get(tr.size, 0) + 1
        # Allocations made about once per fiber (or more), by size.
        rows = [
            (size, count - old.get(size, 0))
            for size, count in new.items()
            if count - old.get(size, 0) >= n // 2
        ]
        out.update(
            rss=(after_rss - before_rss) * 1024 / n,
            traced=sum(size * c for size, c in new.items()) - sum(s * c for s, c in old.items()),
            stack_saved=saved[len(saved) // 2],
            stack_glets=len(glets),
            sizes=sorted(rows, key=lambda r: -r[0] * r[1]),
            fiber=sys.getsizeof(sleepers[0]),
            glet=sys.getsizeof(glets[0]),
        )
        out["traced"] /= n
        emit(out)
        os._exit(0)

    emilua.run(main)
    return out


def make(framework: str) -> Any:
    if framework == "greenlet":
        return Greenlet()
    if framework == "gevent":
        return Gevent()
    if framework == "asyncio":
        return Asyncio()
    if framework == "uvloop":
        import uvloop

        return Asyncio(uvloop.new_event_loop)
    if framework == "trio":
        return Trio()
    if framework == "emilua":
        return Emilua()
    raise ValueError(framework)


def child(framework: str, benchmark: str, reps: int, scale: float) -> None:
    def measure() -> dict[str, Any]:
        fw = make(framework)
        if benchmark in ("memory", "park"):
            method = fw.memory if benchmark == "memory" else getattr(fw, "park", None)
            if method is None:
                raise Skip("not measured for this framework")
            method(max(1000, int(SLEEPERS * scale)))  # exits the process
            raise RuntimeError(f"the {benchmark} benchmark returned without a result")
        if benchmark == "spawn100k":
            if not hasattr(fw, "spawn_all"):
                raise Skip("not measured for this framework")
            n = max(1000, int(SLEEPERS * scale))
            return {"value": fw.spawn_all(n) / n * 1e6, "n": n}
        n = max(
            BATCH, int({"spawn": 50_000, "yield": 200_000, "handoff": 200_000}[benchmark] * scale)
        )
        n -= n % BATCH
        method = {"spawn": fw.spawn, "yield": fw.yield_, "handoff": fw.handoff}[benchmark]
        secs = best(reps, lambda: method(n))
        return {"value": secs / n * 1e6, "n": n, "reps": reps}

    _harness.child(measure)


def fmt(value: float, benchmark: str) -> str:
    return f"{value:.2f}" if benchmark == "memory" else f"{value:.3f}"


def cell(doc: dict[str, Any], benchmark: str) -> str:
    if "values" in doc:  # fresh-process repetitions: median (min-max)
        v = doc["values"]
        return f"{fmt(doc['value'], benchmark)} ({fmt(min(v), benchmark)}-{fmt(max(v), benchmark)})"
    if "value" in doc:
        return fmt(doc["value"], benchmark)
    if "skip" in doc:
        return "skipped"
    return "error"


def progress(fw: str, b: str, doc: dict[str, Any]) -> str:
    detail = doc.get("skip") or doc.get("error") or UNITS[b]
    return f"{fw:9} {b:8} {cell(doc, b):>9}  {detail}"


def run_fresh(fw: str, b: str, args: Any) -> dict[str, Any]:
    """One child per repetition; the median of their values, and all of them."""
    docs = [_harness.run_child(__file__, fw, b, args) for _ in range(args.reps)]
    values = [d["value"] for d in docs if "value" in d]
    if len(values) < len(docs):
        return next(d for d in docs if "value" not in d)
    return {"value": statistics.median(values), "values": values, "n": docs[0].get("n")}


def print_breakdown(args: Any) -> None:
    """--breakdown: the table of bench/RESULTS.md's per-fiber memory breakdown."""
    n = max(1000, int(SLEEPERS * args.scale))
    cmd = [sys.executable, __file__, "--child", "emilua", "breakdown", "--scale", str(args.scale)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    doc = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])
    print(f"{n} emilua fibers parked in time.sleep(); bytes per fiber")
    print()
    print("| part | bytes/fiber | measured by |")
    print("|---|---|---|")
    print(
        f"| RSS growth, tracemalloc on | {doc['rss']:.0f} | "
        "/proc/self/statm (includes tracemalloc's own records) |"
    )
    print(f"| of which seen by tracemalloc | {doc['traced']:.0f} | snapshot difference |")
    print(
        f"| C stack slice saved by greenlet (median) | {doc['stack_saved']} | "
        f"greenlet._stack_saved of {doc['stack_glets']} greenlets |"
    )
    print(f"| Fiber object | {doc['fiber']} | sys.getsizeof |")
    print(f"| greenlet object (Python part) | {doc['glet']} | sys.getsizeof |")
    for size, count in doc["sizes"]:
        print(f"| allocations of {size} B, {count / n:.2f} per fiber | {size * count / n:.0f} | "
              "tracemalloc, by size |")  # fmt: skip


def main() -> None:
    args = _harness.parse_args(__doc__, FRAMEWORKS, BENCHMARKS, reps=5, timeout=300.0)
    if args.child and args.child[1] == "breakdown":
        breakdown(max(1000, int(SLEEPERS * args.scale)))
        return
    if args.child:
        child(args.child[0], args.child[1], args.reps, args.scale)
        return
    if args.benchmarks == "breakdown":
        print_breakdown(args)
        return
    frameworks = _harness.pick(args.frameworks, FRAMEWORKS)
    benchmarks = _harness.pick(args.benchmarks, BENCHMARKS)
    results: _harness.Results = {}
    for fw in frameworks:
        for b in benchmarks:
            if b in FRESH:
                doc = run_fresh(fw, b, args)
            else:
                doc = _harness.run_child(__file__, fw, b, args)
            results.setdefault(fw, {})[b] = doc
            print(progress(fw, b, doc), file=sys.stderr, flush=True)

    date = _harness.print_header("Fiber benchmarks", "bench/fibers.py")
    print(
        f"Linux {platform.release()}, Python {platform.python_version()}; best of {args.reps} "
        f"in one process for {', '.join(b for b in benchmarks if b not in FRESH) or 'none'}; "
        f"median (min-max) of {args.reps} fresh processes for "
        f"{', '.join(b for b in benchmarks if b in FRESH) or 'none'}."
    )
    print()
    print("| framework | " + " | ".join(f"{b} ({UNITS[b]})" for b in benchmarks) + " |")
    print("|---|" + "---|" * len(benchmarks))
    for fw in frameworks:
        print(f"| {fw} | " + " | ".join(cell(results[fw][b], b) for b in benchmarks) + " |")
    # Raw greenlet has no scheduler to yield to: its skip is not news.
    _harness.print_notes(results, frameworks, expected={("greenlet", "yield")})
    _harness.write_json(args.json, date, args.reps, results)


if __name__ == "__main__":
    main()
