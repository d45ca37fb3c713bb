#!/usr/bin/env python3
"""UDP echo benchmark: emilua (both backends), uvloop, asyncio and a C server,
under the same load generator, in one run.

Each server runs pinned to one core; the load generator (bench/udp_echo.c,
``load`` mode: 32 connected client sockets, one datagram in flight each, one
epoll loop) runs on the other. For each (server, size) it reports echoed
datagrams per second and the server's CPU time per datagram (utime+stime of
the server process over the measured window), as the median of the
repetitions with their range, and ratios to uvloop. The machine is shared
with other work: compare numbers of one run only, and rerun when the ranges
are wide.

The servers:
  emilua, emilua-epoll  this file run by ``emilua``: 32 fibers share one
                        socket, each looping receive_from + send_to
  uvloop, asyncio       an asyncio DatagramProtocol that sends each datagram
                        back from datagram_received
  c-mmsg                udp_echo serve: recvmmsg(2)/sendmmsg(2) of up to 64

usage: python bench/udp.py [--seconds S] [--warmup S] [--repeat N]
                           [--servers a,b] [--sizes 64,1024] [--clients N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BUILD = BENCH / "build"
FIBERS = 32
STARTUP_TIMEOUT = 10.0


# ------------------------------------------------------------------ servers


def serve_emilua(port: int) -> None:
    from emilua import byte_span, ip, spawn

    sock = ip.udp.socket()
    sock.open("v4")
    sock.bind(ip.address.loopback_v4(), port)

    def echo() -> None:
        buf = byte_span.byte_span(65536)
        receive_from, send_to = sock.receive_from, sock.send_to
        while True:
            n, addr, peer_port = receive_from(buf)
            send_to(buf.slice(0, n), addr, peer_port)

    fibers = [spawn(echo) for _ in range(FIBERS)]
    print("ready", flush=True)
    for f in fibers:
        f.join()


def serve_asyncio(port: int, use_uvloop: bool) -> None:
    import asyncio

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(data, addr)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", port))
        print("ready", flush=True)
        await asyncio.Event().wait()

    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


SERVERS = {
    "emilua": ["emilua", str(Path(__file__).resolve()), "{port}"],
    "emilua-epoll": ["emilua", "--backend=epoll", str(Path(__file__).resolve()), "{port}"],
    "uvloop": [sys.executable, str(Path(__file__).resolve()), "--serve", "uvloop", "{port}"],
    "asyncio": [sys.executable, str(Path(__file__).resolve()), "--serve", "asyncio", "{port}"],
    "c-mmsg": [str(BUILD / "udp_echo"), "serve", "{port}"],
}


# ------------------------------------------------------------------ driver


def build() -> None:
    BUILD.mkdir(exist_ok=True)
    cc = os.environ.get("CC", "cc")
    subprocess.run(
        [cc, "-O2", "-Wall", "-o", str(BUILD / "udp_echo"), str(BENCH / "udp_echo.c")],
        check=True,
    )


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(name: str, size: int, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    argv = ["taskset", "-c", "0", *(a.format(port=port) for a in SERVERS[name])]
    server = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = server.stdout.readline()
        if line.strip() != b"ready" or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start: {line!r}")
        out = subprocess.run(
            [
                "taskset",
                "-c",
                "1",
                str(BUILD / "udp_echo"),
                "load",
                str(port),
                str(args.clients),
                str(size),
                str(args.warmup),
                str(args.seconds),
                str(server.pid),
            ],
            check=True,
            capture_output=True,
            timeout=args.warmup + args.seconds + 30,
        )
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    import json

    doc = json.loads(out.stdout)
    rate = doc["datagrams"] / doc["seconds"]
    return {
        "rate": rate,
        "cpu_us": 1e6 * doc["server_cpu"] / max(doc["datagrams"], 1),
        "lost": doc["lost"],
    }


def fmt(values: list[float], digits: int = 0) -> str:
    med = statistics.median(values)
    return f"{med:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--sizes", default="64,1024")
    ap.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve_asyncio(int(args.serve[1]), args.serve[0] == "uvloop")
        return
    build()
    servers = args.servers.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    # Repetitions interleave the servers, so a slow spell of the machine
    # spreads over all of them instead of landing on one.
    for rep in range(args.repeat):
        for size in sizes:
            for name in servers:
                r = measure(name, size, args)
                results.setdefault((name, size), []).append(r)
                print(
                    f"rep {rep + 1} {name} {size}B: {r['rate']:,.0f}/s "
                    f"{r['cpu_us']:.2f} us/datagram lost {r['lost']:.0f}",
                    file=sys.stderr,
                )
    print(
        f"load average {os.getloadavg()[0]:.1f}, {args.repeat} repetitions of "
        f"{args.seconds:g} s, {args.clients} clients\n"
    )
    for size in sizes:
        ref = results.get(("uvloop", size))
        print(f"### {size} B datagrams\n")
        print("| server | datagrams/s | × uvloop | server CPU µs/datagram | × uvloop |")
        print("|---|---|---|---|---|")
        for name in servers:
            rs = results[(name, size)]
            rates = [r["rate"] for r in rs]
            cpus = [r["cpu_us"] for r in rs]
            ratio = cratio = ""
            if ref:
                rr = [r / statistics.median([x["rate"] for x in ref]) for r in rates]
                cr = [c / statistics.median([x["cpu_us"] for x in ref]) for c in cpus]
                ratio, cratio = fmt(rr, 2), fmt(cr, 2)
            print(f"| {name} | {fmt(rates)} | {ratio} | {fmt(cpus, 2)} | {cratio} |")
        print()


if __name__ == "__main__":
    if globals().get("_CONTEXT") == "main":  # run by emilua: the server
        from emilua import system

        serve_emilua(int(system.arguments[-1]))
    else:
        main()
