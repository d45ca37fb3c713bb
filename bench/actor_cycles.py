#!/usr/bin/env python3
"""Actor spawn/exit cycles: does the spawning process grow or slow down?

Each cycle spawns one actor, does one round trip with it (send it our
address, receive its answer) and lets it end; a thread actor
(``spawn_vm(guest, inherit_context=False)``) is then waited for (its thread
joined), a sandboxed one
(``linux_namespaces={}``) reaped. Reports the main process's RSS (VmRSS from
/proc/self/status) and the mean time per cycle at the start and at the end of
the run, after a warm-up whose growth (allocator arenas, caches) is not
counted.

usage: python bench/actor_cycles.py [--kind thread|sandbox|both] [--cycles N]
       [--warmup N] [--window N]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
GUEST = os.path.join(BENCH, "sandbox_guest.py")


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def one_cycle(kind: str) -> None:
    from emilua import _actor, inbox, spawn_vm

    if kind == "thread":
        ch = spawn_vm(GUEST, inherit_context=False)
        thread = _actor._threads[-1]
        ch.send(inbox)
        inbox.receive()
        ch.close()
        thread.join()  # as a program would: no join_threads() between cycles
    else:
        ch = spawn_vm(GUEST, linux_namespaces={})
        ch.send(inbox)
        inbox.receive()
        ch.close()
        from emilua import _process_actor

        _process_actor.join_children()


def measure(kind: str, cycles: int, warmup: int, window: int) -> dict[str, float]:
    times: list[float] = []
    for _ in range(warmup):
        one_cycle(kind)
    gc.collect()
    rss0 = rss_kib()
    for _ in range(cycles):
        t = time.perf_counter()
        one_cycle(kind)
        times.append(time.perf_counter() - t)
    gc.collect()
    rss1 = rss_kib()
    return {
        "rss_start_kib": rss0,
        "rss_end_kib": rss1,
        "growth_kib": rss1 - rss0,
        "first_ms": sum(times[:window]) / window * 1e3,
        "last_ms": sum(times[-window:]) / window * 1e3,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kind", choices=["thread", "sandbox", "both"], default="both")
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--window", type=int, default=100)
    args = ap.parse_args()
    import emilua
    from emilua import _supervisor

    _supervisor.start()
    kinds = ["thread", "sandbox"] if args.kind == "both" else [args.kind]
    print(
        "| actor | cycles | RSS after warm-up KiB | RSS at end KiB | growth KiB "
        f"| ms/cycle, first {args.window} | ms/cycle, last {args.window} |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind in kinds:
        r: dict[str, float] = emilua.run(measure, kind, args.cycles, args.warmup, args.window)
        print(
            f"| {kind} | {args.cycles} | {r['rss_start_kib']:,} | {r['rss_end_kib']:,} "
            f"| {r['growth_kib']:+,} | {r['first_ms']:.2f} | {r['last_ms']:.2f} |",
            flush=True,
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
