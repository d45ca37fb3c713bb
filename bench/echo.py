#!/usr/bin/env python3
"""TCP echo benchmark: every server under the same load generator, in one run.

Each server runs pinned to one core; bench/loadgen (C, epoll) drives it from
the other core, except at the single-connection point, where both share a
core. For each (server, point) the report gives round trips per second,
latency percentiles, and the server's CPU time per round trip (utime+stime
from /proc/PID/stat, sampled by the load generator at the exact edges of the
measured window), with ratios to uvloop's Protocol server (throughput) and to
the C io_uring server (CPU per round trip). See bench/README.md.

usage: python bench/echo.py [--duration S] [--repeat N] [--servers a,b]
                            [--points p,q] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BUILD = BENCH / "build"
PEERS = BENCH / "peers"

STARTUP_TIMEOUT = 10.0  # seconds for a server to accept its first connection
THROUGHPUT_REF = "uvloop_protocol"
CPU_REF = "echo_uring"
# The load generator is "busy" above this share of its core: the server may
# not be what limits round trips/s (its CPU per round trip is still valid).
LOADGEN_BUSY = 0.90
# Extra warm-up before the first point after a server starts: that point
# measured up to 25% low in some runs here (pages and allocator arenas still
# growing, caches cold), while later points of the same server did not.
FIRST_POINT_EXTRA_WARMUP = 2.0
# Where server and generator share a core, together they should keep it busy;
# less means something else ran there.
SHARED_CORE_MIN = 0.90
RETRY_PAUSE = 5.0  # seconds before measuring a disturbed point again
# Share of wall time some task waited for a CPU (PSI). Above this, something
# else competed for the two cores and the point should be rerun.
CONTENTION_WARN = 0.05


@dataclass(frozen=True)
class Point:
    name: str
    conns: int
    size: int
    pipeline: int = 1
    same_core: bool = False
    default: bool = True  # part of a run without --points
    # Whether PSI CPU pressure says anything about other load at this point.
    check_contention: bool = True


POINTS = [
    Point("64B", conns=100, size=64),
    Point("1KiB", conns=100, size=1024),
    Point("16KiB", conns=100, size=16384),
    # Server and generator on one core: no cross-core wakeups, so the time per
    # round trip is the sum of both sides' per-operation costs.
    Point("1KiB-1conn-1core", conns=1, size=1024, same_core=True),
    # 16 messages in flight per connection: reads and writes batch, so the
    # per-message cost of the server's own machinery dominates.
    Point("64B-pipe16", conns=100, size=64, pipeline=16),
    # The single-connection point across two cores, only on request: it shows
    # what a cross-core wakeup costs on this machine, the same for any server.
    # Every message there wakes an idle core, and PSI counts the wake-up delay
    # as waiting for a CPU (about 15% on a quiet machine), so it is no sign
    # of other load.
    Point("1KiB-1conn-2core", conns=1, size=1024, default=False, check_contention=False),
    # Many connections, only on request: whether any connection starves (p99
    # and max latency) and how much memory the server holds per connection
    # and gives back once they close. Each needs a file descriptor per
    # connection in both processes (see raise_fd_limit()).
    Point("64B-1k", conns=1000, size=64, default=False),
    Point("64B-10k", conns=10000, size=64, default=False),
]


SHARED_POINTS = {p.name for p in POINTS if p.same_core}
UNCHECKED_POINTS = {p.name for p in POINTS if not p.check_contention}


@dataclass(frozen=True)
class Server:
    name: str
    argv: tuple[str, ...]  # "{port}" is replaced by the port number
    env: dict[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()  # paths that must exist, checked before starting


def python_peer(name: str, script: str) -> Server:
    path = PEERS / script
    return Server(name, (sys.executable, str(path), "{port}"), requires=(str(path),))


def emilua_server(name: str, env: dict[str, str]) -> Server:
    return Server(
        name,
        ("emilua", "examples/echo_server.py", "{port}"),
        env=env,
        requires=(str(REPO / "examples" / "echo_server.py"),),
    )


SERVERS = [
    Server("echo_uring", (str(BUILD / "echo_uring"), "{port}")),
    Server("echo_epoll", (str(BUILD / "echo_epoll"), "{port}")),
    emilua_server("emilua", {}),
    emilua_server("emilua-epoll", {"EMILUA_BACKEND": "epoll"}),
    python_peer("uvloop_protocol", "uvloop_protocol.py"),
    python_peer("uvloop_streams", "uvloop_streams.py"),
    python_peer("asyncio_protocol", "asyncio_protocol.py"),
    python_peer("asyncio_streams", "asyncio_streams.py"),
    python_peer("gevent", "gevent_server.py"),
    python_peer("trio", "trio_server.py"),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build() -> dict[str, str]:
    """Compile the C programs into bench/build; return {program: error} for failures."""
    BUILD.mkdir(exist_ok=True)
    cc = os.environ.get("CC", "cc")
    try:
        uring = subprocess.run(
            ["pkg-config", "--cflags", "--libs", "liburing"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        uring = ["-luring"]
    failed = {}
    for name, libs in (("loadgen", []), ("echo_epoll", []), ("echo_uring", uring)):
        src, out = BENCH / f"{name}.c", BUILD / name
        if out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
            continue
        cmd = [cc, "-O2", "-Wall", "-o", str(out), str(src), *libs]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["compiler failed"])[-1]
            failed[name] = f"{' '.join(cmd)}: {last}"
    return failed


def raise_fd_limit(need: int) -> None:
    """Let this process, and so the servers and the load generator it starts, open *need* fds.

    The soft limit goes up to the hard one; the hard one too where we may
    (as root), up to the kernel's fs.nr_open.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kib(pid: int) -> int | None:
    """Resident set size of *pid* and every process of its session, in KiB."""
    total, found = 0, False
    try:
        sid = os.getsid(pid)
    except OSError:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) != sid:
                continue
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        found = True
                        break
        except (OSError, ValueError):
            continue
    return total if found else None


class RssSampler:
    """The largest RSS of a server seen while a point runs, sampled every 100 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, rss_kib(self.pid) or 0)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# Seconds after the load generator's connections close before the server's
# RSS is read again: what it has given back by then counts as returned.
RSS_SETTLE = 2.0


def free_port() -> int:
    # A fresh port per server start: a killed io_uring server's listening
    # socket can outlive the process briefly (the ring is torn down
    # asynchronously), which would make reusing one port fail with EADDRINUSE.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def start_server(
    server: Server, port: int, core: int
) -> tuple[subprocess.Popen[bytes] | None, str]:
    """Start *server* pinned to *core*; wait until it accepts. Returns (process, error)."""
    for path in server.requires:
        if not Path(path).exists():
            return None, f"{os.path.relpath(path, REPO)} not found"
    if shutil.which(server.argv[0]) is None:
        return None, f"command {server.argv[0]!r} not found"
    argv = ["taskset", "-c", str(core), *(a.format(port=port) for a in server.argv)]
    logfile = BUILD / f"{server.name}.log"
    with open(logfile, "wb") as out:
        # A session of its own, so that stopping it also stops anything it
        # spawned (emilua's supervisor process) and nothing else.
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**os.environ, **server.env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None, f"exited with status {proc.returncode}: {log_tail(logfile)}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, ""
        except OSError:
            time.sleep(0.05)
    stop_server(proc)
    return None, f"did not accept on port {port} within {STARTUP_TIMEOUT:.0f} s"


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def cpu_pressure_us() -> int | None:
    """Total µs during which some task waited for a CPU (PSI), or None."""
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some"):
                    return int(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def disturbance(point: str, rec: dict[str, Any]) -> tuple[float, str] | None:
    """How much other load disturbed a measurement, and how to say so; None if unknown.

    The score is compared with 0: above it, the point was disturbed.
    """
    lg_cpu, util = rec.get("loadgen_cpu"), rec.get("server_util")
    if point in SHARED_POINTS:
        # Server and generator take turns on one core, so each waits for the
        # other by design and PSI says nothing about the machine; but between
        # them they should use the whole core.
        if lg_cpu is None or util is None:
            return None
        used = lg_cpu + util
        return SHARED_CORE_MIN - used, f"server+loadgen only {used:.0%} of the core"
    contention = rec.get("cpu_contention")
    if contention is None or point in UNCHECKED_POINTS:
        return None
    return contention - CONTENTION_WARN, f"CPU contention {contention:.0%}"


def run_point(
    pid: int,
    port: int,
    point: Point,
    args: argparse.Namespace,
    cores: tuple[int, int],
    warmup: float,
) -> dict[str, Any]:
    core = cores[0] if point.same_core else cores[1]
    argv = [
        "taskset", "-c", str(core), str(BUILD / "loadgen"),
        "-p", str(port), "-c", str(point.conns), "-m", str(point.size),
        "-P", str(point.pipeline), "-d", str(args.duration), "-w", str(warmup),
        "-s", str(pid),
    ]  # fmt: skip
    psi0, t0 = cpu_pressure_us(), time.monotonic()
    rss_before = rss_kib(pid)
    try:
        with RssSampler(pid) as rss:
            # Connecting comes first and is not timed: at 10,000 connections
            # to a server with a short listen backlog (asyncio's is 100), a
            # dropped SYN costs a connect 1 s or more.
            limit = args.duration + warmup + 60 + point.conns / 50
            r = subprocess.run(argv, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"error": "load generator timed out"}
    psi1, wall = cpu_pressure_us(), time.monotonic() - t0
    time.sleep(RSS_SETTLE)
    rss_after = rss_kib(pid)
    try:
        rec: dict[str, Any] = json.loads(r.stdout)
    except json.JSONDecodeError:
        return {"error": f"loadgen exited {r.returncode}: {r.stderr.strip()}"}
    if r.returncode != 0:
        rec["error"] = f"loadgen exited {r.returncode}: {r.stderr.strip()}"
    if psi0 is not None and psi1 is not None:
        rec["cpu_contention"] = (psi1 - psi0) / 1e6 / wall
    if rec.get("server_cpu_s") is not None and rec.get("seconds"):
        rec["server_util"] = rec["server_cpu_s"] / rec["seconds"]
    rec["rss_before_mib"] = rss_before / 1024 if rss_before else None
    rec["rss_peak_mib"] = rss.peak / 1024 if rss.peak else None
    rec["rss_after_mib"] = rss_after / 1024 if rss_after else None
    return rec


def measure(
    pid: int,
    port: int,
    point: Point,
    args: argparse.Namespace,
    cores: tuple[int, int],
    warmup: float,
    name: str,
) -> dict[str, Any]:
    """Run *point*, again (up to --retries times) while other load disturbs it.

    On a shared machine a burst of someone else's work can halve a point's
    throughput; the least disturbed attempt is kept.
    """
    best: dict[str, Any] | None = None
    best_score = float("inf")
    for attempt in range(1 + args.retries):
        rec = run_point(pid, port, point, args, cores, warmup)
        rec["attempts"] = attempt + 1
        if "error" in rec:
            return rec
        d = disturbance(point.name, rec)
        score = d[0] if d else float("-inf")
        if best is None or score < best_score:
            best, best_score = rec, score
        if d is None or d[0] < 0 or attempt == args.retries:
            break
        log(f"{name:17} {point.name:17} {d[1]}; again in {RETRY_PAUSE:.0f} s")
        time.sleep(RETRY_PAUSE)
    assert best is not None
    return best


def pick(names: str | None, known: list[str], what: str, default: list[str]) -> list[str]:
    if names is None:
        return default
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in known]
    if unknown:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return [n for n in known if n in chosen]  # keep the canonical order


def summarize(
    results: list[dict[str, Any]], servers: list[str], points: list[str]
) -> list[dict[str, Any]]:
    """One row per (point, server): medians over repetitions, then ratios."""
    rows = []
    for p in points:
        by_server = {}
        for s in servers:
            recs = [r for r in results if r["server"] == s and r["point"] == p and "error" not in r]
            if not recs:
                continue

            def med(key: str, recs: list[dict[str, Any]] = recs) -> float | None:
                vals = [r[key] for r in recs if r.get(key) is not None]
                return statistics.median(vals) if vals else None

            def spread(key: str, recs: list[dict[str, Any]] = recs) -> tuple[float, float] | None:
                vals = [r[key] for r in recs if r.get(key) is not None]
                return (min(vals), max(vals)) if len(vals) > 1 else None

            by_server[s] = {
                "server": s,
                "point": p,
                "runs": len(recs),
                "rt_per_s": med("rt_per_s"),
                "p50_us": med("p50_us"),
                "p99_us": med("p99_us"),
                "p99_spread": spread("p99_us"),
                "max_us": med("max_us"),
                "max_spread": spread("max_us"),
                "rss_peak_mib": med("rss_peak_mib"),
                "rss_after_mib": med("rss_after_mib"),
                "cpu_us_per_rt": med("server_cpu_us_per_rt"),
                "server_util": med("server_util"),
                "loadgen_cpu": med("loadgen_cpu"),
                "cpu_contention": med("cpu_contention"),
            }
        ref_rt = by_server.get(THROUGHPUT_REF, {}).get("rt_per_s")
        ref_cpu = by_server.get(CPU_REF, {}).get("cpu_us_per_rt")
        for row in by_server.values():
            row["rt_vs_ref"] = row["rt_per_s"] / ref_rt if ref_rt else None
            cpu = row["cpu_us_per_rt"]
            row["cpu_vs_ref"] = cpu / ref_cpu if cpu is not None and ref_cpu else None
            rows.append(row)
    return rows


def fmt(v: float | None, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def fmt_spread(row: dict[str, Any], key: str) -> str:
    """The median of *key* in µs, with the range over repetitions when there were several."""
    text = fmt(row[f"{key}_us"], ",.0f")
    sp = row.get(f"{key}_spread")
    if sp is not None:
        text += f" ({sp[0]:,.0f}–{sp[1]:,.0f})"
    return text


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| server | point | rt/s | p50 µs | p99 µs | max µs | server CPU µs/rt | server core "
        f"| RSS peak MiB | RSS after MiB "
        f"| rt/s ÷ {THROUGHPUT_REF} | CPU/rt ÷ {CPU_REF} | notes |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        notes = []
        lg_cpu = r["loadgen_cpu"]
        if r["point"] not in SHARED_POINTS and lg_cpu is not None and lg_cpu >= LOADGEN_BUSY:
            notes.append(f"loadgen {lg_cpu:.0%} busy")
        d = disturbance(r["point"], r)
        if d is not None and d[0] >= 0:
            notes.append(d[1])
        lines.append(
            f"| {r['server']} | {r['point']} | {fmt(r['rt_per_s'], ',.0f')} "
            f"| {fmt(r['p50_us'], '.0f')} | {fmt_spread(r, 'p99')} | {fmt_spread(r, 'max')} "
            f"| {fmt(r['cpu_us_per_rt'], '.2f')} | {fmt(r['server_util'], '.0%')} "
            f"| {fmt(r['rss_peak_mib'], '.0f')} | {fmt(r['rss_after_mib'], '.0f')} "
            f"| {fmt(r['rt_vs_ref'], '.2f')} "
            f"| {fmt(r['cpu_vs_ref'], '.2f')} | {'; '.join(notes)} |"
        )
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            env["cpu"] = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?"
            )
    except OSError:
        pass
    for pkg in ("uvloop", "gevent", "trio", "greenlet", "emilua"):
        try:
            env[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            env[pkg] = None
    env["loadavg"] = os.getloadavg()[0]
    return env


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--duration", type=float, default=5.0, help="measured seconds per point (default 5)"
    )
    ap.add_argument(
        "--warmup", type=float, default=1.0, help="unmeasured seconds before each point (default 1)"
    )
    ap.add_argument(
        "--repeat", type=int, default=1, help="runs of every server; the table shows medians"
    )
    ap.add_argument(
        "--servers", help="comma-separated subset of: " + ", ".join(s.name for s in SERVERS)
    )
    ap.add_argument(
        "--points", help="comma-separated subset of: " + ", ".join(p.name for p in POINTS)
    )
    ap.add_argument(
        "--retries",
        type=int,
        default=2,
        help="measure a point again up to this many times while other load disturbs it",
    )
    ap.add_argument("--cores", default="0,1", help="server core, loadgen core (default 0,1)")
    ap.add_argument("--json", type=Path, help="write every measurement and the summary here")
    args = ap.parse_args()

    all_servers = [s.name for s in SERVERS]
    server_names = pick(args.servers, all_servers, "servers", all_servers)
    default_points = [p.name for p in POINTS if p.default]
    point_names = pick(args.points, [p.name for p in POINTS], "points", default_points)
    servers = [s for s in SERVERS if s.name in server_names]
    points = [p for p in POINTS if p.name in point_names]
    try:
        server_core, loadgen_core = (int(c) for c in args.cores.split(","))
    except ValueError:
        sys.exit("--cores takes two core numbers, e.g. 0,1")
    allowed = os.sched_getaffinity(0)
    if server_core not in allowed or loadgen_core not in allowed:
        sys.exit(f"--cores {args.cores}: this process may only use cores {sorted(allowed)}")
    if shutil.which("taskset") is None:
        sys.exit("taskset (util-linux) is required")

    failed = build()
    if "loadgen" in failed:
        sys.exit(f"cannot build the load generator: {failed['loadgen']}")
    skipped: dict[str, str] = {}
    for s in servers:
        if s.name in failed:
            skipped[s.name] = f"build failed: {failed[s.name]}"

    # One fd per connection in the server and in the load generator, plus
    # what the interpreter and the listening socket take.
    raise_fd_limit(max(p.conns for p in points) + 256)
    cores = (server_core, loadgen_core)
    env = environment()
    results: list[dict[str, Any]] = []
    t_start = time.monotonic()
    try:
        for rep in range(args.repeat):
            for server in servers:
                if server.name in skipped:
                    continue
                port = free_port()
                proc, err = start_server(server, port, server_core)
                if proc is None:
                    skipped[server.name] = err
                    log(f"skip {server.name}: {err}")
                    continue
                try:
                    for i, point in enumerate(points):
                        warmup = args.warmup + (FIRST_POINT_EXTRA_WARMUP if i == 0 else 0.0)
                        rec = measure(proc.pid, port, point, args, cores, warmup, server.name)
                        rec.update(server=server.name, point=point.name, rep=rep)
                        results.append(rec)
                        if "error" in rec:
                            log(f"{server.name:17} {point.name:17} error: {rec['error']}")
                        else:
                            log(
                                f"{server.name:17} {point.name:17} {rec['rt_per_s']:>11,.0f} rt/s"
                                f"  p99 {rec['p99_us']:>8.0f} µs  max {rec['max_us']:>9.0f} µs"
                                f"  RSS {rec.get('rss_peak_mib') or 0:5.0f}"
                                f"/{rec.get('rss_after_mib') or 0:.0f} MiB"
                                f"  {rec.get('server_cpu_us_per_rt', float('nan')):6.2f} CPU µs/rt"
                            )
                        if proc.poll() is not None:
                            skipped[server.name] = (
                                f"exited with status {proc.returncode} during {point.name}: "
                                + log_tail(BUILD / f"{server.name}.log")
                            )
                            log(f"skip {server.name}: {skipped[server.name]}")
                            break
                finally:
                    stop_server(proc)
    except KeyboardInterrupt:
        log("interrupted; reporting what was measured")

    rows = summarize(results, server_names, point_names)
    print(f"Echo benchmark, {env['date']}, {time.monotonic() - t_start:.0f} s")
    print()
    print(f"    python bench/echo.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print(
        f"Linux {env['kernel']}, {env['cpus']} × {env.get('cpu', '?')}, Python {env['python']}, "
        f"uvloop {env['uvloop']}, gevent {env['gevent']}, trio {env['trio']}; "
        f"server on core {server_core}, loadgen on core {loadgen_core}; "
        f"{args.duration:g} s per point after {args.warmup:g} s warm-up; "
        f"median of {args.repeat} run(s) (p99 and max: median, then the range); "
        f"load average {env['loadavg']:.2f} at the start, {os.getloadavg()[0]:.2f} at the end."
    )
    print()
    print(markdown(rows))
    for name, why in skipped.items():
        print(f"\nSkipped {name}: {why}")
    if args.json:
        doc = {
            "environment": env,
            "argv": sys.argv,
            "duration": args.duration,
            "warmup": args.warmup,
            "cores": [server_core, loadgen_core],
            "results": results,
            "summary": rows,
            "skipped": skipped,
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
