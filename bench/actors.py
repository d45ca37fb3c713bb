#!/usr/bin/env python3
"""Actor messaging: emilua channels against asyncio.Queue, uvloop and queue.Queue.

Two numbers per case, for a small message (a tuple of an int and 16 bytes):

stream   one-way throughput: the producer sends N messages, the consumer
         takes them and says "done" once at the end. Messages per second.
rtt      round-trip latency: send one message, wait for the echo, repeat.
         Median and 99th percentile in µs, after a warm-up.

Cases. The same-thread ones run pinned to one core, the cross-thread ones to
two cores (when the machine has them):

emilua-same-thread   two VMs on one proactor: spawn_vm(module)
asyncio-queue        two tasks, asyncio.Queue(); the producer never blocks
asyncio-queue1       two tasks, asyncio.Queue(maxsize=1): a hand-off
uvloop-queue         as asyncio-queue on uvloop's loop
uvloop-queue1        as asyncio-queue1 on uvloop's loop
emilua-new-thread    two VMs, two threads: spawn_vm(module, inherit_context=False)
threading-queue      two threads, queue.Queue()
threading-queue1     two threads, queue.Queue(maxsize=1)
emilua-process       the main actor and a process actor (spawn_vm(module,
                     subprocess=True)): one AF_UNIX SOCK_SEQPACKET socket each way
mp-pipe              two processes, multiprocessing.Pipe() (a socket pair,
                     pickled messages)
mp-queue             two processes, multiprocessing.Queue() for the messages
                     (a feeder thread pickles them into a pipe)

Messages to and from another process must fit the process-actor format (one
leaf or a flat dict of leaves), so the three process cases send a dict
{"i": int, "p": 16-character str} instead of the tuple.

An emilua send between in-process actors is a rendezvous: it returns once
the receiver took the message, and the message is deep-copied; to a process
actor it returns once the kernel queued the message on the socket. The
queues pass a reference and (except the maxsize=1 ones) let the producer
run ahead; they do the least work a program could do to move a message,
which makes them the floor to compare with, not an equivalent.

Every case runs in a fresh interpreter; stream is the best of --reps runs.

usage: python bench/actors.py [--cases a,b] [--reps N] [--scale F] [--cores N] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CASES = [
    "emilua-same-thread",
    "asyncio-queue",
    "asyncio-queue1",
    "uvloop-queue",
    "uvloop-queue1",
    "emilua-new-thread",
    "threading-queue",
    "threading-queue1",
    "emilua-process",
    "mp-pipe",
    "mp-queue",
]
# Ratios are taken against the plain queue of the same placement.
BASELINE = {
    "emilua-same-thread": "asyncio-queue",
    "asyncio-queue": "asyncio-queue",
    "asyncio-queue1": "asyncio-queue",
    "uvloop-queue": "asyncio-queue",
    "uvloop-queue1": "asyncio-queue",
    "emilua-new-thread": "threading-queue",
    "threading-queue": "threading-queue",
    "threading-queue1": "threading-queue",
    "emilua-process": "mp-queue",
    "mp-pipe": "mp-queue",
    "mp-queue": "mp-queue",
}
PROCESS = {"emilua-process", "mp-pipe", "mp-queue"}
CROSS_THREAD = {"emilua-new-thread", "threading-queue", "threading-queue1", *PROCESS}

PAYLOAD = b"0123456789abcdef"
PAYLOAD_STR = PAYLOAD.decode()
STREAM_N = 50_000
RTT_N = 3_000
RTT_WARMUP = 300


class Skip(Exception):
    """The case cannot be measured here."""


def latency_summary(samples_ns: list[int]) -> dict[str, float]:
    samples = sorted(samples_ns)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return {"rtt_median_us": statistics.median(samples) / 1e3, "rtt_p99_us": p99 / 1e3}


# ------------------------------------------------------------------ emilua

# This file is also the program of the echoing actor: spawn_vm() runs it with
# _CONTEXT == "worker", and worker() below takes over.


def worker() -> None:
    """The consumer actor: serves ("stream"|"rtt", reply_to, n) commands."""
    from emilua import NoSendersError, inbox

    while True:
        try:
            cmd = inbox.receive()
        except NoSendersError:
            return
        if isinstance(cmd, dict):  # from another process: a flat dict
            # Numbers cross processes as doubles.
            mode, reply_to, n = cmd["mode"], cmd["reply_to"], int(cmd["n"])
        else:
            mode, reply_to, n = cmd
        if mode == "stream":
            for _ in range(n):
                inbox.receive()
            reply_to.send("done")
        else:
            for _ in range(n):
                reply_to.send(inbox.receive())
        del reply_to


def measure_emilua(inherit_context: bool, n: int, rtt_n: int, reps: int) -> dict[str, Any]:
    import emilua
    from emilua import _actor, inbox, spawn_vm

    out: dict[str, Any] = {}

    def main() -> None:
        chan = spawn_vm(os.path.abspath(__file__), inherit_context=inherit_context)
        best = float("inf")
        for _ in range(reps):
            gc.collect()
            chan.send(("stream", inbox, n))
            t0 = time.perf_counter()
            for i in range(n):
                chan.send((i, PAYLOAD))
            inbox.receive()
            best = min(best, time.perf_counter() - t0)
        out["stream_msgs_per_s"] = n / best
        chan.send(("rtt", inbox, RTT_WARMUP + rtt_n))
        samples = []
        for i in range(RTT_WARMUP + rtt_n):
            t0 = time.perf_counter_ns()
            chan.send((i, PAYLOAD))
            inbox.receive()
            samples.append(time.perf_counter_ns() - t0)
        out.update(latency_summary(samples[RTT_WARMUP:]))
        chan.close()

    emilua.run(main)
    _actor.join_threads()
    return out


def measure_emilua_process(n: int, rtt_n: int, reps: int) -> dict[str, Any]:
    """The main actor and a process actor running worker()."""
    import emilua
    from emilua import _actor, _process_actor, _supervisor, inbox, spawn_vm

    # As the emilua command does: the supervisor first, before any thread.
    _supervisor.start()
    out: dict[str, Any] = {}

    def main() -> None:
        chan = spawn_vm(os.path.abspath(__file__), subprocess=True)
        best = float("inf")
        for _ in range(reps):
            gc.collect()
            chan.send({"mode": "stream", "reply_to": inbox, "n": n})
            t0 = time.perf_counter()
            for i in range(n):
                chan.send({"i": i, "p": PAYLOAD_STR})
            inbox.receive()
            best = min(best, time.perf_counter() - t0)
        out["stream_msgs_per_s"] = n / best
        chan.send({"mode": "rtt", "reply_to": inbox, "n": RTT_WARMUP + rtt_n})
        samples = []
        for i in range(RTT_WARMUP + rtt_n):
            t0 = time.perf_counter_ns()
            chan.send({"i": i, "p": PAYLOAD_STR})
            inbox.receive()
            samples.append(time.perf_counter_ns() - t0)
        out.update(latency_summary(samples[RTT_WARMUP:]))
        chan.close()

    emilua.run(main)
    _actor.join_threads()
    _process_actor.join_children()
    return out


# ---------------------------------------------------------- multiprocessing


def _mp_pipe_echo(conn: Any) -> None:
    while True:
        cmd = conn.recv()
        if cmd is None:
            return
        mode, count = cmd
        if mode == "stream":
            for _ in range(count):
                conn.recv()
            conn.send("done")
        else:
            for _ in range(count):
                conn.send(conn.recv())


def _mp_queue_echo(there: Any, back: Any) -> None:
    while True:
        cmd = there.get()
        if cmd is None:
            return
        mode, count = cmd
        if mode == "stream":
            for _ in range(count):
                there.get()
            back.put("done")
        else:
            for _ in range(count):
                back.put(there.get())


def measure_multiprocessing(kind: str, n: int, rtt_n: int, reps: int) -> dict[str, Any]:
    """A child process serving the protocol of worker() over a Pipe or two Queues."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    if kind == "pipe":
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=_mp_pipe_echo, args=(theirs,))
        put, get = ours.send, ours.recv
    else:
        there, back = ctx.Queue(), ctx.Queue()
        proc = ctx.Process(target=_mp_queue_echo, args=(there, back))
        put, get = there.put, back.get
    proc.start()
    try:
        best = float("inf")
        for _ in range(reps):
            gc.collect()
            put(("stream", n))
            t0 = time.perf_counter()
            for i in range(n):
                put({"i": i, "p": PAYLOAD_STR})
            get()
            best = min(best, time.perf_counter() - t0)
        put(("rtt", RTT_WARMUP + rtt_n))
        samples = []
        for i in range(RTT_WARMUP + rtt_n):
            t0 = time.perf_counter_ns()
            put({"i": i, "p": PAYLOAD_STR})
            get()
            samples.append(time.perf_counter_ns() - t0)
        put(None)
        proc.join(10)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
    return {"stream_msgs_per_s": n / best, **latency_summary(samples[RTT_WARMUP:])}


# ----------------------------------------------------------- asyncio/uvloop


def measure_asyncio(
    use_uvloop: bool, maxsize: int, n: int, rtt_n: int, reps: int
) -> dict[str, Any]:
    import asyncio

    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            raise Skip("uvloop is not installed") from None
        new_loop = uvloop.new_event_loop
    else:
        new_loop = asyncio.new_event_loop

    async def stream() -> float:
        q: asyncio.Queue[Any] = asyncio.Queue(maxsize)

        async def consumer() -> None:
            for _ in range(n):
                await q.get()

        t0 = time.perf_counter()
        task = asyncio.get_running_loop().create_task(consumer())
        for i in range(n):
            await q.put((i, PAYLOAD))
        await task
        return time.perf_counter() - t0

    async def rtt() -> list[int]:
        there: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        back: asyncio.Queue[Any] = asyncio.Queue(maxsize)

        async def echo() -> None:
            for _ in range(RTT_WARMUP + rtt_n):
                await back.put(await there.get())

        task = asyncio.get_running_loop().create_task(echo())
        samples = []
        for i in range(RTT_WARMUP + rtt_n):
            t0 = time.perf_counter_ns()
            await there.put((i, PAYLOAD))
            await back.get()
            samples.append(time.perf_counter_ns() - t0)
        await task
        return samples[RTT_WARMUP:]

    loop = new_loop()
    try:
        best = float("inf")
        for _ in range(reps):
            gc.collect()
            best = min(best, loop.run_until_complete(stream()))
        samples = loop.run_until_complete(rtt())
    finally:
        loop.close()
    return {"stream_msgs_per_s": n / best, **latency_summary(samples)}


# ------------------------------------------------------------ threading


def measure_threading(maxsize: int, n: int, rtt_n: int, reps: int) -> dict[str, Any]:
    import queue
    import threading

    def stream() -> float:
        q: queue.Queue[Any] = queue.Queue(maxsize)

        def consumer() -> None:
            for _ in range(n):
                q.get()

        t0 = time.perf_counter()
        t = threading.Thread(target=consumer)
        t.start()
        for i in range(n):
            q.put((i, PAYLOAD))
        t.join()
        return time.perf_counter() - t0

    def rtt() -> list[int]:
        there: queue.Queue[Any] = queue.Queue(maxsize)
        back: queue.Queue[Any] = queue.Queue(maxsize)

        def echo() -> None:
            for _ in range(RTT_WARMUP + rtt_n):
                back.put(there.get())

        t = threading.Thread(target=echo)
        t.start()
        samples = []
        for i in range(RTT_WARMUP + rtt_n):
            t0 = time.perf_counter_ns()
            there.put((i, PAYLOAD))
            back.get()
            samples.append(time.perf_counter_ns() - t0)
        t.join()
        return samples[RTT_WARMUP:]

    best = float("inf")
    for _ in range(reps):
        gc.collect()
        best = min(best, stream())
    return {"stream_msgs_per_s": n / best, **latency_summary(rtt())}


# ----------------------------------------------------------------- runner


def measure(case: str, reps: int, scale: float) -> dict[str, Any]:
    n = max(1000, int(STREAM_N * scale))
    rtt_n = max(100, int(RTT_N * scale))
    if case == "emilua-same-thread":
        return measure_emilua(True, n, rtt_n, reps)
    if case == "emilua-new-thread":
        return measure_emilua(False, n, rtt_n, reps)
    if case == "emilua-process":
        return measure_emilua_process(n, rtt_n, reps)
    if case.startswith("mp-"):
        return measure_multiprocessing(case[3:], n, rtt_n, reps)
    if case.startswith(("asyncio", "uvloop")):
        return measure_asyncio(
            case.startswith("uvloop"), 1 if case.endswith("1") else 0, n, rtt_n, reps
        )
    if case.startswith("threading"):
        return measure_threading(1 if case.endswith("1") else 0, n, rtt_n, reps)
    raise ValueError(case)


def child(case: str, reps: int, scale: float, max_cores: int) -> None:
    cores = sorted(os.sched_getaffinity(0))
    want = 2 if case in CROSS_THREAD else 1
    os.sched_setaffinity(0, cores[: min(want, max_cores)])
    try:
        doc = measure(case, reps, scale)
        doc["cores"] = len(os.sched_getaffinity(0))
    except Skip as e:
        doc = {"skip": str(e)}
    except Exception as e:  # reported in the table; the other cases go on
        doc = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(doc), flush=True)


def run_child(case: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", case,
           "--reps", str(args.reps), "--scale", str(args.scale),
           "--cores", str(args.cores)]  # fmt: skip
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout:.0f} s"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = " | ".join(r.stderr.strip().splitlines()[-3:])
        return {"error": f"exit status {r.returncode}: {tail}"}
    doc: dict[str, Any] = json.loads(lines[-1])
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cases", help="comma-separated subset of: " + ", ".join(CASES))
    ap.add_argument("--reps", type=int, default=5, help="stream runs per process (best is kept)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply message counts")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per subprocess")
    ap.add_argument(
        "--cores", type=int, default=2,
        help="at most this many cores per case (1: both ends of a cross-thread or "
        "cross-process case share one core, as on a busy machine)",
    )  # fmt: skip
    ap.add_argument("--json", type=Path, help="write all results here")
    ap.add_argument("--child", metavar="CASE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.reps, args.scale, args.cores)
        return

    cases = CASES
    if args.cases:
        chosen = {c.strip() for c in args.cases.split(",")}
        if chosen - set(CASES):
            sys.exit(f"unknown: {', '.join(sorted(chosen - set(CASES)))}")
        cases = [c for c in CASES if c in chosen]

    results: dict[str, dict[str, Any]] = {}
    for case in cases:
        results[case] = doc = run_child(case, args)
        shown = (
            f"{doc['stream_msgs_per_s']:>10,.0f} msg/s  rtt {doc['rtt_median_us']:.1f} µs"
            if "stream_msgs_per_s" in doc
            else doc.get("skip") or doc.get("error")
        )
        print(f"{case:19} {shown}", file=sys.stderr, flush=True)

    def ratio(case: str, key: str) -> str:
        base = results.get(BASELINE[case], {})
        if key not in results[case] or key not in base:
            return ""
        return f"{results[case][key] / base[key]:.2f}x"

    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Actor messaging, {date}")
    print()
    print(f"    python bench/actors.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print(
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; message (int, 16 bytes); stream best of {args.reps}."
    )
    print()
    print(
        "| case | cores | stream (msg/s) | vs queue | rtt median (µs) | rtt p99 (µs) | vs queue |"
    )
    print("|---|---|---|---|---|---|---|")
    for case in cases:
        doc = results[case]
        if "stream_msgs_per_s" not in doc:
            print(f"| {case} | | {doc.get('skip') or doc.get('error')} | | | | |")
            continue
        print(
            f"| {case} | {doc['cores']} | {doc['stream_msgs_per_s']:,.0f} | "
            f"{ratio(case, 'stream_msgs_per_s')} | {doc['rtt_median_us']:.1f} | "
            f"{doc['rtt_p99_us']:.1f} | {ratio(case, 'rtt_median_us')} |"
        )
    print()
    print(
        "Ratios: throughput and median round trip against asyncio-queue (same thread), "
        "threading-queue (cross-thread) or mp-queue (cross-process); above 1x is more "
        "messages or a longer round trip."
    )
    if args.json:
        doc = {"date": date, "argv": sys.argv, "reps": args.reps, "results": results}
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if globals().get("_CONTEXT") == "worker":
    worker()
elif __name__ == "__main__":
    main()
