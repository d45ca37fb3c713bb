#!/usr/bin/env python3
"""TLS 1.3 echo and handshake benchmark: emilua's tls.socket against uvloop's
asyncio SSL streams, under one C load generator (bench/tls_loadgen.c), in one run.

Points:
- echo: 100 connections, 1 KiB ping-pong over TLS 1.3 (after the handshakes):
  round trips/s and the server's CPU time per round trip.
- handshake: 100 slots of connect + full TLS 1.3 handshake (ECDSA P-256, no
  resumption) + 1 byte echoed + close_notify + close: handshakes/s and server
  CPU per handshake.

Each server runs pinned to one core (`taskset -c 0`), the generator on the
other; every (server, point) is measured --repeat times with a fresh server;
the table shows medians and the spread (min-max), and ratios to uvloop.

usage: python bench/tls.py [--duration S] [--warmup S] [--repeat N] [--servers a,b]
       python bench/tls.py --serve NAME PORT CERT KEY   (one server, used by the runner)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
BUILD = BENCH / "build"
SERVERS = ["emilua", "emilua-epoll", "uvloop_streams"]
REF = "uvloop_streams"
POINTS = ["echo", "handshake"]


# ------------------------------------------------------------------ servers


def serve_emilua(port: int, cert: str, key: str) -> None:
    from emilua import byte_span, ip, run, spawn, stream, tls

    def main() -> None:
        ctx = tls.context("tlsv13_server")
        ctx.use_certificate_chain_file(cert)
        ctx.use_private_key_file(key, "pem")
        acceptor = ip.tcp.acceptor()
        lo = ip.address.loopback_v4()
        acceptor.open(lo)
        acceptor.set_option("reuse_address", True)
        acceptor.bind(lo, port)
        acceptor.listen()

        def echo(sock: Any) -> None:
            s = tls.socket(sock, ctx)
            buf = byte_span.byte_span(64 * 1024)
            try:
                s.server_handshake()
                while True:
                    n = s.read_some(buf)
                    stream.write_all(s, buf.slice(0, n))
            except (EOFError, OSError):
                pass  # ssl.SSLError is an OSError
            finally:
                s.close()

        while True:
            sock = acceptor.accept()
            sock.set_option("tcp_no_delay", True)
            spawn(echo, sock).detach()

    run(main)


def serve_uvloop(port: int, cert: str, key: str) -> None:
    import asyncio
    import ssl

    import uvloop

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=ctx)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


# ------------------------------------------------------------------ runner


def build() -> Path:
    BUILD.mkdir(exist_ok=True)
    src, exe = BENCH / "tls_loadgen.c", BUILD / "tls_loadgen"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(
            ["cc", "-O2", "-Wall", "-o", str(exe), str(src), "-lssl", "-lcrypto"], check=True
        )
    return exe


def make_cert(d: Path) -> tuple[str, str]:
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-days", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(name: str, port: int, cert: str, key: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if name == "emilua-epoll":
        env["EMILUA_BACKEND"] = "epoll"
    argv = ["taskset", "-c", "0", sys.executable, __file__, "--serve", name, str(port), cert, key]
    log = open(BUILD / f"tls-{name}.log", "wb")  # noqa: SIM115 (kept open for the child)
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"{name} did not accept within 10 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


def measure(exe: Path, point: str, port: int, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    argv = ["taskset", "-c", "1", str(exe), "-p", str(port), "-c", "100", "-m", "1024",
            "-d", str(args.duration), "-w", str(args.warmup), "-s", str(pid)]  # fmt: skip
    if point == "handshake":
        argv.append("-H")
    r = subprocess.run(
        argv, capture_output=True, text=True, timeout=args.duration + args.warmup + 60
    )
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def spread(vals: list[float]) -> str:
    return f"{min(vals):,.0f}–{max(vals):,.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--points", default=",".join(POINTS))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--serve", nargs=4, metavar=("NAME", "PORT", "CERT", "KEY"))
    args = ap.parse_args()
    if args.serve:
        name, port, cert, key = args.serve
        if name.startswith("emilua"):
            serve_emilua(int(port), cert, key)
        else:
            serve_uvloop(int(port), cert, key)
        return
    if shutil.which("taskset") is None:
        sys.exit("taskset (util-linux) is needed")
    exe = build()
    servers = [s for s in SERVERS if s in args.servers.split(",")]
    points = [p for p in POINTS if p in args.points.split(",")]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(Path(tmp))
        for rep in range(args.repeat):
            for name in servers:  # interleaved: slow drifts of the machine hit every server
                port = free_port()
                proc = start(name, port, cert, key)
                try:
                    for point in points:
                        doc = measure(exe, point, port, proc.pid, args)
                        doc.update(server=name, point=point, rep=rep)
                        results.append(doc)
                        print(
                            f"{name:15} {point:9} rep {rep}: {doc['ops_per_s']:10,.0f}/s "
                            f"server {doc.get('server_cpu_us_per_op', 0):7.1f} µs/op "
                            f"errors {doc['errors']}",
                            file=sys.stderr,
                            flush=True,
                        )
                finally:
                    stop(proc)
    print(f"\n    python bench/tls.py {' '.join(sys.argv[1:])}\n")
    print("| point | server | ops/s (median) | spread | server CPU µs/op | loadgen core "
          "| ÷ uvloop ops/s | ÷ uvloop CPU/op |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for point in points:
        med: dict[str, tuple[float, float]] = {}
        for name in servers:
            recs = [r for r in results if r["server"] == name and r["point"] == point]
            ops = [r["ops_per_s"] for r in recs]
            cpu = [r["server_cpu_us_per_op"] for r in recs if "server_cpu_us_per_op" in r]
            med[name] = (statistics.median(ops), statistics.median(cpu) if cpu else 0.0)
        ref = med.get(REF)
        for name in servers:
            mine = [r for r in results if r["server"] == name and r["point"] == point]
            recs = [r["ops_per_s"] for r in mine]
            lg = statistics.median(r["loadgen_cpu"] for r in mine)
            o, c = med[name]
            ro = f"{o / ref[0]:.2f}" if ref and ref[0] else "–"
            rc = f"{c / ref[1]:.2f}" if ref and ref[1] else "–"
            print(
                f"| {point} | {name} | {o:,.0f} | {spread(recs)} | {c:.1f} | {lg:.0%} "
                f"| {ro} | {rc} |"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
