#!/usr/bin/env python3
"""Scaling a TCP echo server over process actors.

N process actors (spawn_vm("bench/scale_worker.py", subprocess=True)) each
listen on the same port with SO_REUSEPORT and echo; bench/loadgen drives
them with 100 connections of 1 KiB ping-pong. For each N the report gives
round trips per second (median of --reps loadgen runs), the ratio to N=1,
the load generator's share of a core, the cores the workers used together
and their CPU time per round trip (utime+stime of every worker, from
/proc/PID/stat around each run), and the CPU pressure (PSI "some": the
share of the time some task waited for a core, ours or another program's).

Nothing is pinned: the workers and the load generator share every core the
machine has, so on a small machine the generator's own CPU bounds the figure
as N approaches the core count. --work K makes each round trip cost the
server K SHA-256 passes over the message (CPU work, GIL held), which puts
the bottleneck in the servers: then N workers can use N cores.

usage: python bench/scale.py [--workers 1,2] [--reps N] [--duration S] [--work K] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
WORKER = BENCH / "scale_worker.py"
CONNS = 100
SIZE = 1024


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(nworkers: int, args: argparse.Namespace, loadgen: Path) -> dict[str, Any]:
    import echo

    import emilua
    from emilua import _process_actor, inbox, spawn_vm

    port = free_port()
    runs: list[dict[str, Any]] = []

    def main() -> None:
        chans = [spawn_vm(str(WORKER), subprocess=True) for _ in range(nworkers)]
        try:
            for chan in chans:
                chan.send({"port": port, "reply_to": inbox, "work": args.work})
            for _ in chans:
                inbox.receive()
            pids = [chan.child_pid for chan in chans]
            argv = [
                str(loadgen), "-p", str(port), "-c", str(CONNS), "-m", str(SIZE),
                "-d", str(args.duration), "-w", str(args.warmup),
            ]  # fmt: skip
            for _ in range(args.reps):
                # Blocking is fine here: the main actor has nothing else to do,
                # and the servers run in their own processes.
                cpu0 = sum(cpu_seconds(pid) for pid in pids)
                psi0, t0 = echo.cpu_pressure_us(), time.monotonic()
                r = subprocess.run(
                    argv, capture_output=True, text=True,
                    timeout=args.duration + args.warmup + 30,
                )  # fmt: skip
                cpu1 = sum(cpu_seconds(pid) for pid in pids)
                psi1, wall = echo.cpu_pressure_us(), time.monotonic() - t0
                rec: dict[str, Any] = json.loads(r.stdout)
                # The warm-up is included in the CPU window; scale it out.
                total = args.warmup + rec["seconds"]
                rec["server_cpu_cores"] = (cpu1 - cpu0) / total
                rec["server_cpu_us_per_rt"] = rec["server_cpu_cores"] / rec["rt_per_s"] * 1e6
                if psi0 is not None and psi1 is not None:
                    # Some task waited for a CPU this share of the time: ours
                    # (N workers + loadgen on the cores) or someone else's.
                    rec["cpu_pressure"] = (psi1 - psi0) / 1e6 / wall
                runs.append(rec)
        finally:
            for chan in chans:
                chan.kill()

    emilua.run(main)
    _process_actor.join_children()
    best = sorted(runs, key=lambda r: r["rt_per_s"])[len(runs) // 2]
    return {
        "workers": nworkers,
        "rt_per_s": statistics.median(r["rt_per_s"] for r in runs),
        "all_rt_per_s": [round(r["rt_per_s"]) for r in runs],
        "p50_us": best["p50_us"],
        "p99_us": best["p99_us"],
        "loadgen_cpu": best["loadgen_cpu"],
        "server_cpu_cores": best["server_cpu_cores"],
        "server_cpu_us_per_rt": best["server_cpu_us_per_rt"],
        "errors": sum(r["errors"] for r in runs),
        "cpu_pressure": best.get("cpu_pressure"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--reps", type=int, default=3, help="loadgen runs per count (median kept)")
    ap.add_argument("--duration", type=float, default=3.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    ap.add_argument(
        "--work", type=int, default=0,
        help="rounds of CPU work (SHA-256 of the message) per round trip in the server, "
        "so that the servers, not the load generator, need the cores",
    )  # fmt: skip
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()

    sys.path.insert(0, str(BENCH))
    import echo  # the C programs' build lives there

    failed = echo.build()
    if "loadgen" in failed:
        sys.exit(f"cannot build the load generator: {failed['loadgen']}")
    # As the emilua command does: the supervisor first, before any thread.
    from emilua import _supervisor

    _supervisor.start()

    results = []
    for n in (int(w) for w in args.workers.split(",")):
        results.append(doc := measure(n, args, echo.BUILD / "loadgen"))
        print(f"N={n}: {doc['rt_per_s']:,.0f} rt/s {doc['all_rt_per_s']}", file=sys.stderr)

    base = results[0]["rt_per_s"]
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Scaling with process actors, {date}")
    print()
    print(f"    python bench/scale.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print(
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; {CONNS} connections x {SIZE} B ping-pong, "
        f"{args.duration:g} s after {args.warmup:g} s warm-up, median of {args.reps}; "
        f"{args.work} rounds of SHA-256 per round trip in the server."
    )
    print()
    print("| workers | rt/s | vs N=1 | runs (rt/s) | p50 µs | p99 µs | loadgen core | "
          "server cores | server CPU µs/rt | CPU pressure |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d in results:
        print(
            f"| {d['workers']} | {d['rt_per_s']:,.0f} | {d['rt_per_s'] / base:.2f}x | "
            f"{', '.join(f'{x:,}' for x in d['all_rt_per_s'])} | {d['p50_us']:.0f} | "
            f"{d['p99_us']:.0f} | {d['loadgen_cpu']:.0%} | {d['server_cpu_cores']:.2f} | "
            f"{d['server_cpu_us_per_rt']:.2f} | "
            f"{'' if d['cpu_pressure'] is None else format(d['cpu_pressure'], '.0%')} |"
        )
    if args.json:
        doc = {"date": date, "argv": sys.argv, "results": results}
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
