"""Subprocesses and signals: emilua against asyncio, uvloop and threads.

    python bench/spawn.py [--reps 3] [--count 1000] [--signals 2000]

spawn: start /bin/true and wait for it, ``--count`` times, one at a time
(seq) and 16 at a time (c16). The standard handles are inherited everywhere
(emilua: ``"share"``), so every framework does the same work per child.
Peers: ``asyncio.create_subprocess_exec`` on the default loop and on uvloop,
``subprocess.run`` (sequentially, then from 16 threads), and uvloop with
``close_fds=False`` (``uvloop-keepfds``).

signal: a helper process sends SIGUSR1 to this one; the time from its kill(2)
to the waiting fiber / coroutine running again (CLOCK_MONOTONIC on both
sides), ``--signals`` times; median and 99th percentile. emilua waits in
``system.signal.set.wait()``, asyncio in a future completed by
``loop.add_signal_handler``.

Each figure is the median of ``--reps`` runs, with the spread (lowest and
highest run) beside it. Every run is bounded by its count.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import signal
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

TRUE = "/bin/true"
CONCURRENCY = 16

# The helper of the signal benchmark: for each round, write the time, kill(2)
# the parent, and wait for the parent's go-ahead.
SENDER = """
import os, struct, sys, time
target, count = int(sys.argv[1]), int(sys.argv[2])
for _ in range(count):
    os.write(1, struct.pack("q", time.monotonic_ns()))
    os.kill(target, 10)
    if not os.read(0, 1):
        break
"""


# ----------------------------------------------------------------- emilua


def emilua_spawn(count: int, concurrency: int, backend: str) -> float:
    import emilua
    from emilua import system

    def one() -> None:
        p = system.spawn(
            program=TRUE, arguments=["true"], stdin="share", stdout="share", stderr="share"
        )
        p.wait()

    def main() -> float:
        t0 = time.perf_counter()
        if concurrency == 1:
            for _ in range(count):
                one()
        else:

            def worker(n: int) -> None:
                for _ in range(n):
                    one()

            share = count // concurrency
            fibers = [emilua.spawn(worker, share) for _ in range(concurrency)]
            for f in fibers:
                f.join()
        return time.perf_counter() - t0

    return float(emilua.run(main, backend=backend))


def emilua_signal(count: int, backend: str) -> list[float]:
    import emilua
    from emilua import file, system
    from emilua.byte_span import byte_span
    from emilua.file_descriptor import file_descriptor

    def main() -> list[float]:
        s = system.signal.set(system.signal.SIGUSR1)
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        r_fd, w_fd = file_descriptor._adopt(to_r), file_descriptor._adopt(from_w)
        p = system.spawn(
            program=sys.executable,
            arguments=[sys.executable, "-c", SENDER, str(os.getpid()), str(count)],
            stdin=r_fd,
            stdout=w_fd,
            stderr="share",
        )
        r_fd.close()
        w_fd.close()
        times = file.stream(file_descriptor._adopt(from_r))
        buf = byte_span(8)
        lat = []
        for _ in range(count):
            s.wait()
            t1 = time.monotonic_ns()
            n = 0
            while n < 8:
                n += times.read_some(buf[n:])
            lat.append((t1 - struct.unpack("q", bytes(buf))[0]) / 1000)
            os.write(to_w, b"x")
        os.close(to_w)
        times.close()
        p.wait()
        s.close()
        return lat

    return list(emilua.run(main, backend=backend))


# ---------------------------------------------------------------- asyncio


def asyncio_spawn(count: int, concurrency: int, use_uvloop: bool, close_fds: bool = True) -> float:
    async def one() -> None:
        p = await asyncio.create_subprocess_exec(TRUE, close_fds=close_fds)
        await p.wait()

    async def main() -> float:
        t0 = time.perf_counter()
        if concurrency == 1:
            for _ in range(count):
                await one()
        else:

            async def worker(n: int) -> None:
                for _ in range(n):
                    await one()

            share = count // concurrency
            await asyncio.gather(*(worker(share) for _ in range(concurrency)))
        return time.perf_counter() - t0

    return _arun(main(), use_uvloop)


def asyncio_signal(count: int, use_uvloop: bool) -> list[float]:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        waiter: list[asyncio.Future[None]] = [loop.create_future()]

        def on_signal() -> None:
            if not waiter[0].done():
                waiter[0].set_result(None)

        loop.add_signal_handler(signal.SIGUSR1, on_signal)
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        p = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SENDER, str(os.getpid()), str(count), stdin=to_r, stdout=from_w
        )
        os.close(to_r)
        os.close(from_w)
        lat = []
        for _ in range(count):
            await waiter[0]
            t1 = time.monotonic_ns()
            waiter[0] = loop.create_future()
            data = b""
            while len(data) < 8:
                data += os.read(from_r, 8 - len(data))  # already written
            lat.append((t1 - struct.unpack("q", data)[0]) / 1000)
            os.write(to_w, b"x")
        os.close(to_w)
        os.close(from_r)
        await p.wait()
        loop.remove_signal_handler(signal.SIGUSR1)
        return lat

    return _arun(main(), use_uvloop)


def _arun(coro: Any, use_uvloop: bool) -> Any:
    if use_uvloop:
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


# ---------------------------------------------------------------- threads


def threads_spawn(count: int, concurrency: int) -> float:
    def one() -> None:
        subprocess.run([TRUE], check=True)

    t0 = time.perf_counter()
    if concurrency == 1:
        for _ in range(count):
            one()
    else:
        with concurrent.futures.ThreadPoolExecutor(concurrency) as ex:
            list(ex.map(lambda _: one(), range(count)))
    return time.perf_counter() - t0


# ------------------------------------------------------------------ driver

SPAWNERS: dict[str, Callable[[int, int], float]] = {
    "emilua": lambda n, c: emilua_spawn(n, c, "io_uring"),
    "emilua-epoll": lambda n, c: emilua_spawn(n, c, "epoll"),
    "asyncio": lambda n, c: asyncio_spawn(n, c, False),
    "uvloop": lambda n, c: asyncio_spawn(n, c, True),
    # close_fds=False: whether closing fds in the child is what uvloop pays for.
    "uvloop-keepfds": lambda n, c: asyncio_spawn(n, c, True, close_fds=False),
    "threads": threads_spawn,
}
SIGNALLERS: dict[str, Callable[[int], list[float]]] = {
    "emilua": lambda n: emilua_signal(n, "io_uring"),
    "emilua-epoll": lambda n: emilua_signal(n, "epoll"),
    "asyncio": lambda n: asyncio_signal(n, False),
    "uvloop": lambda n: asyncio_signal(n, True),
}


def spread(values: list[float], fmt: str) -> str:
    lo, mid, hi = (fmt.format(v) for v in (min(values), statistics.median(values), max(values)))
    return f"{mid} ({lo}–{hi})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--signals", type=int, default=2000)
    ap.add_argument("--frameworks", help="comma-separated subset (uvloop is always run)")
    args = ap.parse_args()
    if args.frameworks:
        keep = set(args.frameworks.split(",")) | {"uvloop"}
        for table in (SPAWNERS, SIGNALLERS):
            for name in list(table):
                if name not in keep:
                    del table[name]

    print(f"spawn /bin/true and wait, {args.count} children, median of {args.reps} runs")
    print()
    print("| framework | seq children/s | c16 children/s | seq ÷ uvloop | c16 ÷ uvloop |")
    print("|---|---|---|---|---|")
    rates: dict[str, dict[int, list[float]]] = {}
    for _ in range(args.reps):
        for name, run in SPAWNERS.items():
            for c in (1, CONCURRENCY):
                secs = run(args.count, c)
                rates.setdefault(name, {}).setdefault(c, []).append(args.count / secs)
                print(f"  {name} c{c}: {args.count / secs:,.0f}/s", file=sys.stderr)
    uv = {c: statistics.median(rates["uvloop"][c]) for c in (1, CONCURRENCY)}
    for name, by_c in rates.items():
        ratios = [statistics.median(by_c[c]) / uv[c] for c in (1, CONCURRENCY)]
        print(
            f"| {name} | {spread(by_c[1], '{:,.0f}')} | {spread(by_c[CONCURRENCY], '{:,.0f}')} "
            f"| {ratios[0]:.2f} | {ratios[1]:.2f} |"
        )
    print()
    print(f"signal delivery, kill(2) to the waiter running, {args.signals} signals")
    print()
    print("| framework | p50 µs | p99 µs |")
    print("|---|---|---|")
    lat: dict[str, tuple[list[float], list[float]]] = {}
    for _ in range(args.reps):
        for name, run in SIGNALLERS.items():
            xs = sorted(run(args.signals))
            p50, p99 = xs[len(xs) // 2], xs[int(len(xs) * 0.99)]
            lat.setdefault(name, ([], []))[0].append(p50)
            lat[name][1].append(p99)
            print(f"  {name}: p50 {p50:.1f} µs p99 {p99:.1f} µs", file=sys.stderr)
    for name, (p50s, p99s) in lat.items():
        print(f"| {name} | {spread(p50s, '{:.1f}')} | {spread(p99s, '{:.1f}')} |")


if __name__ == "__main__":
    main()
