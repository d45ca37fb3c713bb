"""Walking a 100,000-file tree with emilua.filesystem while another fiber ticks.

One fiber walks the tree with ``filesystem.recursive_directory_iterator``
and reads each entry's ``status``; a second fiber asks to wake every 1 ms
and records how late it wakes (its lateness: the engine thread is busy, or
the walking fiber holds it between two parks). The same walk in plain
Python, ``os.walk`` + ``os.stat`` on every file and directory, outside any
engine, is the reference for the walk time.

    python bench/fs_walk.py                    # 5 repetitions, both backends
    python bench/fs_walk.py --reps 3 --files 20000 --per-call

``--per-call`` adds a row where the walking fiber calls
``filesystem.status(entry.path)`` for each entry, one trip to a worker
thread per file, instead of reading the entry's cached status.

Ratios are taken per repetition (each emilua walk against the plain walk
of the same repetition). CPU time is the process's, every thread counted.
The tree is built once under /tmp (a fresh directory), walked once to warm
the page cache, measured, and deleted at the end. Every figure is a median
over the repetitions, with the spread (min-max) beside it. The output is a
Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import emilua
from emilua import filesystem as fs
from emilua import spawn
from emilua import time as etime

TICK = 0.001


def build_tree(root: str, files: int, per_dir: int = 100, fanout: int = 20) -> int:
    """*files* empty files, *per_dir* per leaf directory, leaves grouped
    *fanout* to a parent directory. Returns the number of entries."""
    leaves = (files + per_dir - 1) // per_dir
    made = 0
    entries = 0
    for leaf in range(leaves):
        parent = os.path.join(root, f"d{leaf // fanout:03d}")
        if leaf % fanout == 0:
            os.mkdir(parent)
            entries += 1
        d = os.path.join(parent, f"l{leaf % fanout:03d}")
        os.mkdir(d)
        entries += 1
        for i in range(min(per_dir, files - made)):
            with open(os.path.join(d, f"f{i:04d}"), "wb"):
                pass
            made += 1
            entries += 1
    return entries


def walk_plain(root: str) -> tuple[float, float, int]:
    n = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            os.stat(os.path.join(dirpath, name))
            n += 1
        for name in filenames:
            os.stat(os.path.join(dirpath, name))
            n += 1
    return time.perf_counter() - t0, time.process_time() - c0, n


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def walk_emilua(root: str, backend: str, per_call: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def main() -> None:
        late: list[float] = []
        running = [True]

        def ticker() -> None:
            next_t = time.monotonic() + TICK
            while running[0]:
                etime.sleep(max(next_t - time.monotonic(), 0.0))
                now = time.monotonic()
                late.append(now - next_t)
                next_t = max(next_t + TICK, now)

        tick = spawn(ticker)
        etime.sleep(0.02)  # the ticker is in its rhythm
        late.clear()
        n = 0
        c0 = time.process_time()  # every thread of the process: the workers' too
        t0 = time.perf_counter()
        if per_call:
            for entry, _ in fs.recursive_directory_iterator(root):
                fs.status(entry.path)
                n += 1
        else:
            for entry, _ in fs.recursive_directory_iterator(root):
                entry.status  # noqa: B018 - the read is what is measured
                n += 1
        out["walk"] = time.perf_counter() - t0
        out["cpu"] = time.process_time() - c0
        out["entries"] = n
        out["ticks"] = len(late)
        out["p99"] = percentile(late, 0.99)
        out["max"] = max(late) if late else 0.0
        running[0] = False
        tick.join()

    emilua.run(main, backend=backend)
    return out


def idle_ticks(backend: str, seconds: float = 0.5) -> float:
    """p99 lateness of the ticker alone: the floor of the figure above."""
    res: list[float] = []

    def main() -> None:
        next_t = time.monotonic() + TICK
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            etime.sleep(max(next_t - time.monotonic(), 0.0))
            now = time.monotonic()
            res.append(now - next_t)
            next_t = max(next_t + TICK, now)

    emilua.run(main, backend=backend)
    return percentile(res, 0.99)


def summary(values: list[float], scale: float, fmt: str) -> str:
    med = statistics.median(values) * scale
    return f"{med:{fmt}} ({min(values) * scale:{fmt}}-{max(values) * scale:{fmt}})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--backends", default="io_uring,epoll")
    ap.add_argument("--per-call", action="store_true", help="add the status(entry.path) row")
    args = ap.parse_args()
    if args.reps < 3:
        sys.exit("--reps must be at least 3")
    backends = [b.strip() for b in args.backends.split(",")]
    load_before = os.getloadavg()[0]
    root = tempfile.mkdtemp(prefix="emilua-fs-walk-", dir="/tmp")
    try:
        t0 = time.perf_counter()
        entries = build_tree(root, args.files)
        print(
            f"tree: {entries} entries ({args.files} files) under {root}, "
            f"built in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        walk_plain(root)  # warm the page cache and the dentry cache
        rows: list[tuple[str, Callable[[], dict[str, Any]]]] = []
        for b in backends:
            rows.append((f"emilua {b}, entry.status", lambda b=b: walk_emilua(root, b, False)))
            if args.per_call:
                rows.append((f"emilua {b}, status(path)", lambda b=b: walk_emilua(root, b, True)))
        plain: list[float] = []
        plain_cpu: list[float] = []
        results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in rows}
        idle: dict[str, list[float]] = {b: [] for b in backends}
        for rep in range(args.reps):
            gc.collect()
            t, c, n = walk_plain(root)
            assert n == entries, (n, entries)
            plain.append(t)
            plain_cpu.append(c)
            for name, run in rows:
                gc.collect()
                r = run()
                assert r["entries"] == entries, (r["entries"], entries)
                results[name].append(r)
            for b in backends:
                idle[b].append(idle_ticks(b))
            print(f"rep {rep + 1}/{args.reps} done", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    load_after = os.getloadavg()[0]
    print(f"    python bench/fs_walk.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print(
        f"{entries} entries; {args.reps} repetitions; median (min-max). "
        f"{os.cpu_count()} cores; load average {load_before:.1f} before, {load_after:.1f} after."
    )
    print()
    print(
        "| walk | time (s) | ÷ os.walk+os.stat | CPU (s) | CPU ÷ os.walk+os.stat "
        "| ticker p99 late (ms) | ticker max late (ms) |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| os.walk + os.stat, plain Python | {summary(plain, 1, '.3f')} | 1.00 "
        f"| {summary(plain_cpu, 1, '.3f')} | 1.00 | | |"
    )
    for name, _ in rows:
        rs = results[name]
        walks = [r["walk"] for r in rs]
        ratios = [r["walk"] / p for r, p in zip(rs, plain, strict=True)]
        cpus = [r["cpu"] for r in rs]
        cpu_ratios = [r["cpu"] / p for r, p in zip(rs, plain_cpu, strict=True)]
        print(
            f"| {name} | {summary(walks, 1, '.3f')} | {summary(ratios, 1, '.2f')} "
            f"| {summary(cpus, 1, '.3f')} | {summary(cpu_ratios, 1, '.2f')} "
            f"| {summary([r['p99'] for r in rs], 1e3, '.2f')} "
            f"| {summary([r['max'] for r in rs], 1e3, '.2f')} |"
        )
    for b in backends:
        print(f"| ticker alone, {b} | | | | | {summary(idle[b], 1e3, '.2f')} | |")


if __name__ == "__main__":
    main()
