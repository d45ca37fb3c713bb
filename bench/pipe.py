#!/usr/bin/env python3
"""Pipe throughput: emilua's pipe streams against os.read/os.write in a loop.

One process moves --mib MiB through a pipe in 64 KiB writes, the reader
reading up to 64 KiB at a time:

- emilua, emilua-epoll: ``pipe.pair()``, a writer fiber (``write_some`` of
  64 KiB in a loop) and a reader fiber (``read_some`` into a 64 KiB
  byte_span), in one engine thread.
- os: ``os.pipe()`` (blocking), a writer thread calling ``os.write`` of 64
  KiB and the main thread calling ``os.readv`` into one 64 KiB bytearray (the
  form of ``os.read`` that reuses its buffer, as read_some does), in a loop.

Each case runs in a fresh interpreter, pinned to one core (--cores 1) or to
two (--cores 2), --repeat times; the table shows the median MiB/s, the
spread and the ratio to the os loop.

usage: python bench/pipe.py [--mib N] [--repeat N] [--cores 1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

CHUNK = 64 * 1024
CASES = ["emilua", "emilua-epoll", "os"]


def run_emilua(total: int, backend: str) -> float:
    from emilua import pipe, run, spawn
    from emilua.byte_span import byte_span

    def main() -> float:
        r, w = pipe.pair()
        data = b"p" * CHUNK

        def writer() -> None:
            sent = 0
            while sent < total:
                sent += w.write_some(data)
            w.close()

        t0 = time.perf_counter()
        f = spawn(writer)
        buf = byte_span(CHUNK)
        got = 0
        while got < total:
            got += r.read_some(buf)
        f.join()
        elapsed = time.perf_counter() - t0
        r.close()
        return elapsed

    return float(run(main, backend=backend))


def run_os(total: int) -> float:
    r, w = os.pipe()
    data = b"p" * CHUNK

    def writer() -> None:
        sent = 0
        while sent < total:
            sent += os.write(w, data)
        os.close(w)

    buf = bytearray(CHUNK)
    t0 = time.perf_counter()
    t = threading.Thread(target=writer)
    t.start()
    got = 0
    while got < total:
        got += os.readv(r, [buf])
    t.join()
    elapsed = time.perf_counter() - t0
    os.close(r)
    return elapsed


def child(case: str, total: int, cores: int) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, set(cpus[:cores]))
    if case == "os":
        elapsed = run_os(total)
    else:
        elapsed = run_emilua(total, "epoll" if case == "emilua-epoll" else "io_uring")
    print(json.dumps({"mib_per_s": total / elapsed / 2**20}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cores", default="1,2")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        case, total, cores = args.child
        child(case, int(total), int(cores))
        return
    total = args.mib * 2**20
    rows = []
    for cores in [int(c) for c in args.cores.split(",")]:
        vals: dict[str, list[float]] = {c: [] for c in CASES}
        for rep in range(args.repeat):
            for case in CASES:  # interleaved
                argv = [sys.executable, __file__, "--child", case, str(total), str(cores)]
                r = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
                v = json.loads(r.stdout)["mib_per_s"]
                vals[case].append(v)
                print(f"{cores} core(s) {case:13} rep {rep}: {v:8,.0f} MiB/s", file=sys.stderr)
        ref = statistics.median(vals["os"])
        for case in CASES:
            m = statistics.median(vals[case])
            spread = f"{min(vals[case]):,.0f}–{max(vals[case]):,.0f}"
            rows.append(f"| {cores} | {case} | {m:,.0f} | {spread} | {m / ref:.2f} |")
    print(f"\n    python bench/pipe.py {' '.join(sys.argv[1:])}\n")
    print("| cores | case | MiB/s (median) | spread | ÷ os loop |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
