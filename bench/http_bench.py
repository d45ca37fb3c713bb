"""HTTP keep-alive hello world under wrk: emilua's http.socket against its peers.

Each server runs pinned to one core (taskset), wrk (-t1 -c100) to the other.
Per run: requests/s from wrk, and the server's CPU time (utime + stime from
/proc/PID/stat, read just before and after wrk) divided by the requests wrk
completed: server CPU per request, the deciding figure where wrk saturates its
own core. Points: an 11-byte body and a 16 KiB body. Prints a Markdown table
with ratios to uvloop + httptools.

    python bench/http_bench.py                 # every server, both points, 10 s, 3 runs
    python bench/http_bench.py --servers emilua,uvloop_httptools --duration 5 --repeat 1

Needs wrk (apt-get install wrk), taskset, a C compiler, the emilua command on
PATH, and uvloop, httptools, aiohttp and gevent.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
BUILD = HERE / "build"
TICK = os.sysconf("SC_CLK_TCK")
REF = "uvloop_httptools"


def emilua_cmd(backend: str) -> list[str]:
    exe = shutil.which("emilua") or sys.executable
    pre = [exe] if exe != sys.executable else [sys.executable, "-m", "emilua"]
    return [*pre, f"--backend={backend}", str(HERE / "http_server.py")]


SERVERS = {
    "emilua": lambda: emilua_cmd("io_uring"),
    "emilua-epoll": lambda: emilua_cmd("epoll"),
    "uvloop_httptools": lambda: [sys.executable, str(PEERS / "http_uvloop_httptools.py")],
    "aiohttp": lambda: [sys.executable, str(PEERS / "http_aiohttp.py")],
    "gevent_pywsgi": lambda: [sys.executable, str(PEERS / "http_gevent_pywsgi.py")],
    "c_epoll": lambda: [str(BUILD / "http_epoll")],
}
POINTS = {"hello": 0, "16KiB": 16384}


def build_c() -> None:
    src, out = HERE / "http_epoll.c", BUILD / "http_epoll"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        BUILD.mkdir(exist_ok=True)
        subprocess.run(["cc", "-O2", "-Wall", "-o", str(out), str(src)], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run_one(name: str, size: int, duration: int, cores: list[int]) -> dict[str, float]:
    port = free_port()
    cmd = ["taskset", "-c", str(cores[0]), *SERVERS[name](), str(port), str(size)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port, proc)
        url = f"http://127.0.0.1:{port}/"
        # warm-up: connections, caches, the first allocations
        subprocess.run(["taskset", "-c", str(cores[1]), "wrk", "-t1", "-c100", "-d1", url],
                       capture_output=True, check=True)  # fmt: skip
        c0 = cpu_seconds(proc.pid)
        out = subprocess.run(
            ["taskset", "-c", str(cores[1]), "wrk", "-t1", "-c100", f"-d{duration}", url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        c1 = cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    m = re.search(r"(\d+) requests in ([\d.]+)s", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m or not rps:
        raise RuntimeError(f"unexpected wrk output: {out!r}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    reqs = int(m.group(1))
    return {
        "rps": float(rps.group(1)),
        "cpu_us": (c1 - c0) / reqs * 1e6,
        "util": (c1 - c0) / float(m.group(2)),
        "errors": bool(errors),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--points", default=",".join(POINTS))
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        sys.exit("needs two cores: one for the server, one for wrk")
    build_c()
    servers = args.servers.split(",")
    points = args.points.split(",")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    # Interleave servers within each repetition so drift hits all alike.
    for rep in range(args.repeat):
        for point in points:
            for name in servers:
                r = run_one(name, POINTS[point], args.duration, cores)
                results.setdefault((name, point), []).append(r)
                print(f"[{rep + 1}/{args.repeat}] {point} {name}: {r['rps']:,.0f} req/s, "
                      f"{r['cpu_us']:.2f} us CPU/req, util {r['util']:.2f}"
                      + (" (wrk reported errors)" if r["errors"] else ""),
                      file=sys.stderr, flush=True)  # fmt: skip
    print(
        "| point | server | requests/s | server CPU µs/request | server util "
        "| CPU/req vs uvloop+httptools | req/s vs aiohttp |"
    )
    print("|---|---|---|---|---|---|---|")
    for point in points:
        med = {
            name: {k: statistics.median(r[k] for r in results[(name, point)])
                   for k in ("rps", "cpu_us", "util")}
            for name in servers
        }  # fmt: skip
        for name in servers:
            m = med[name]
            ref = med.get(REF)
            aio = med.get("aiohttp")
            cpu_ratio = f"{m['cpu_us'] / ref['cpu_us']:.2f}x" if ref else "-"
            rps_ratio = f"{m['rps'] / aio['rps']:.2f}x" if aio else "-"
            print(f"| {point} | {name} | {m['rps']:,.0f} | {m['cpu_us']:.2f} | {m['util']:.2f} "
                  f"| {cpu_ratio} | {rps_ratio} |")  # fmt: skip


if __name__ == "__main__":
    main()
