#!/usr/bin/env python3
"""Sandbox start-up: from "create it" to the first message from inside, in one run.

Rows (each measured --runs times, interleaved round-robin so that drift in
the machine hits every row alike):

- ``emilua, 6 namespaces``: ``spawn_vm(guest, linux_namespaces={all six
  new_* flags})``, send it our address, receive its first message.
- ``emilua, no namespace``: the same with ``linux_namespaces={}`` (the
  fixed cost of a process actor: supervisor round trip, fork, engine start).
- ``bwrap --unshare-all``: bubblewrap running a Python one-liner that writes
  to a SOCK_SEQPACKET socket inherited as an fd.
- ``unshare + python``: util-linux unshare(1) with the same six namespaces
  (``--fork`` for the PID namespace) running the same one-liner.

The clock starts before the spawning call and stops when the first message
is read. Each sandbox is then waited for (not timed). The peers' one-liner
runs as ``python3 -I -S -c`` (no site import), the cheapest Python start.

usage: python bench/sandbox.py [--runs N] [--backend io_uring|epoll] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
GUEST = str(BENCH / "sandbox_guest.py")
ONE_LINER = "import socket,sys; socket.socket(fileno=int(sys.argv[1])).send(b'up')"
ALL_SIX = ("new_user", "new_mount", "new_uts", "new_ipc", "new_net", "new_pid")
PEERS = {
    "bwrap --unshare-all": [
        "bwrap", "--unshare-all", "--die-with-parent",
        "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--",
    ],
    "unshare + python": [
        "unshare", "--user", "--mount", "--uts", "--ipc", "--net", "--pid",
        "--fork", "--kill-child", "--",
    ],
}  # fmt: skip


def wait_exit(pid: int) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([pidfd], [], [], 10)
    finally:
        os.close(pidfd)


def emilua_once(namespaces: dict[str, bool]) -> float:
    from emilua import inbox, spawn_vm

    t0 = time.perf_counter()
    ch = spawn_vm(GUEST, linux_namespaces=namespaces)
    ch.send(inbox)
    answer = inbox.receive()
    t1 = time.perf_counter()
    assert answer == "up", answer
    wait_exit(ch.child_pid)
    ch.close()
    return t1 - t0


def peer_once(prefix: list[str]) -> float:
    host, guest = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-I", "-S", "-c", ONE_LINER, str(guest.fileno())],
            pass_fds=[guest.fileno()],
        )
        guest.close()
        answer = host.recv(16)
        t1 = time.perf_counter()
        proc.wait()
    finally:
        host.close()
        guest.close()
    assert answer == b"up", (prefix[0], answer, proc.returncode)
    return t1 - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--backend", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    # As the emilua command does: the supervisor first, before any thread.
    from emilua import _supervisor

    _supervisor.start()
    import emilua

    rows: dict[str, Any] = {
        "emilua, 6 namespaces": lambda: emilua_once(dict.fromkeys(ALL_SIX, True)),
        "emilua, no namespace": lambda: emilua_once({}),
    }
    skipped = []
    for name, prefix in PEERS.items():
        if shutil.which(prefix[0]) is None:
            skipped.append(f"{name}: {prefix[0]} not found")
            continue
        rows[name] = lambda prefix=prefix: peer_once(prefix)
    samples: dict[str, list[float]] = {name: [] for name in rows}

    def run_all() -> None:
        for once in rows.values():  # warm-up: supervisor start, page cache
            once()
        for _ in range(args.runs):
            for name, once in rows.items():
                samples[name].append(once())

    emilua.run(run_all, backend=args.backend)

    base = statistics.median(samples["emilua, 6 namespaces"])
    print(f"sandbox start-up to first message, {args.runs} runs each, interleaved\n")
    print("| sandbox | median ms | p10 ms | p90 ms | median / emilua (6 namespaces) |")
    print("|---|---|---|---|---|")
    summary = {}
    for name, xs in samples.items():
        xs = sorted(xs)
        med = statistics.median(xs)
        p10 = xs[len(xs) // 10]
        p90 = xs[(len(xs) * 9) // 10]
        summary[name] = {"median": med, "p10": p10, "p90": p90}
        print(
            f"| {name} | {med * 1e3:.1f} | {p10 * 1e3:.1f} | {p90 * 1e3:.1f} | {med / base:.2f} |"
        )
    for line in skipped:
        print(f"\nskipped: {line}")
    env = {
        "date": datetime.date.today().isoformat(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "backend": args.backend or os.environ.get("EMILUA_BACKEND", "io_uring"),
        "bwrap": _version(["bwrap", "--version"]),
        "unshare": _version(["unshare", "--version"]),
    }
    print("\n" + ", ".join(f"{k}: {v}" for k, v in env.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples": samples, "summary": summary, "env": env}, f, indent=1)
    return 0


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout
    except OSError:
        return "not found"
    return out.strip().splitlines()[0] if out.strip() else "?"


if __name__ == "__main__":
    sys.exit(main())
