"""WebSocket echo, 1 KiB binary messages, 100 connections: emilua against the
websockets library on uvloop.

Each server is pinned to one core; the load generator (this script with
--loadgen, an asyncio Protocol client on uvloop, pinned to the other core)
opens 100 connections, does the opening handshake, then keeps one message in
flight per connection: a prebuilt masked frame out, the 1028-byte echo frame
back. Reports messages/s and the server's CPU per message (utime + stime
from /proc/PID/stat).

    python bench/ws_bench.py --duration 10 --repeat 1
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_bench import cpu_seconds, emilua_cmd, free_port, wait_port  # noqa: E402

HERE = Path(__file__).resolve().parent
SIZE = 1024
CONNS = 100
SERVERS = {
    "emilua": lambda: [*emilua_cmd("io_uring")[:-1], str(HERE / "ws_server.py")],
    "emilua-epoll": lambda: [*emilua_cmd("epoll")[:-1], str(HERE / "ws_server.py")],
    "websockets_uvloop": lambda: [sys.executable, str(HERE / "peers" / "ws_websockets_uvloop.py")],
}


def masked_frame(payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x82, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask + body


def loadgen(port: int, seconds: float) -> None:
    import uvloop

    frame = masked_frame(os.urandom(SIZE))
    echo_len = 4 + SIZE
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    count = [0]
    running = [True]

    class Client(asyncio.Protocol):
        def __init__(self, ready: asyncio.Future[None]) -> None:
            self.ready = ready
            self.head = b""
            self.pending = 0

        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            self.t = transport
            transport.write(handshake)

        def data_received(self, data: bytes) -> None:
            if not self.ready.done():
                self.head += data
                end = self.head.find(b"\r\n\r\n")
                if end < 0:
                    return
                data = self.head[end + 4 :]
                self.ready.set_result(None)
                self.t.write(frame)
            self.pending += len(data)
            while self.pending >= echo_len:
                self.pending -= echo_len
                count[0] += 1
                if running[0]:
                    self.t.write(frame)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        readies = []
        for _ in range(CONNS):
            fut = loop.create_future()
            await loop.create_connection(lambda f=fut: Client(f), "127.0.0.1", port)
            readies.append(fut)
        await asyncio.gather(*readies)
        await asyncio.sleep(1)  # warm-up
        c0, t0 = count[0], time.monotonic()
        print("START", flush=True)
        await asyncio.sleep(seconds)
        c1, t1 = count[0], time.monotonic()
        print(f"END {c1 - c0} {t1 - t0}", flush=True)
        running[0] = False

    uvloop.run(main())


def run_one(name: str, duration: int, cores: list[int]) -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen(
        ["taskset", "-c", str(cores[0]), *SERVERS[name](), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_port(port, proc)
        lg = subprocess.Popen(
            ["taskset", "-c", str(cores[1]), sys.executable, __file__, "--loadgen", str(port),
             str(duration)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert lg.stdout is not None
        line = lg.stdout.readline()
        if not line.startswith("START"):
            raise RuntimeError(f"load generator: {line!r}")
        c0 = cpu_seconds(proc.pid)
        line = lg.stdout.readline()
        c1 = cpu_seconds(proc.pid)
        lg.wait(30)
    finally:
        proc.terminate()
        proc.wait(10)
    m = re.fullmatch(r"END (\d+) ([\d.]+)\n", line)
    if not m:
        raise RuntimeError(f"load generator: {line!r}")
    msgs, secs = int(m.group(1)), float(m.group(2))
    return {"mps": msgs / secs, "cpu_us": (c1 - c0) / msgs * 1e6, "util": (c1 - c0) / secs}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--loadgen":
        return loadgen(int(sys.argv[2]), float(sys.argv[3]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    servers = args.servers.split(",")
    results: dict[str, list[dict[str, float]]] = {}
    for rep in range(args.repeat):
        for name in servers:
            r = run_one(name, args.duration, cores)
            results.setdefault(name, []).append(r)
            line = f"{r['mps']:,.0f} msg/s, {r['cpu_us']:.2f} us CPU/msg, util {r['util']:.2f}"
            print(f"[{rep + 1}/{args.repeat}] {name}: {line}", file=sys.stderr, flush=True)
    ref = "websockets_uvloop"
    print(
        "| server | messages/s | server CPU µs/message | server util "
        "| msg/s vs websockets | CPU/msg vs websockets |"
    )
    print("|---|---|---|---|---|---|")
    keys = ("mps", "cpu_us", "util")
    med = {n: {k: statistics.median(r[k] for r in results[n]) for k in keys} for n in servers}
    for n in servers:
        m, r = med[n], med.get(ref)
        ratio = f"{m['mps'] / r['mps']:.2f}x | {m['cpu_us'] / r['cpu_us']:.2f}x" if r else "- | -"
        print(f"| {n} | {m['mps']:,.0f} | {m['cpu_us']:.2f} | {m['util']:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
