"""Actors that come and go leave nothing behind in the spawning process.

Each cycle spawns an actor, does one round trip and lets it end. After a
warm-up, many cycles must leave the number of engine objects (proactors,
VMs, mailboxes, fibers, greenlets, threads) where it was, and the resident
set within 1 MiB. The time per cycle is measured in bench/actor_cycles.py.
"""

from __future__ import annotations

import gc
import os
import threading

import greenlet
from emilua._core.proactor import Fiber, Proactor

from emilua import _actor, _process_actor, _supervisor, inbox, spawn_vm

HERE = os.path.dirname(os.path.abspath(__file__))
THREAD_GUEST = os.path.join(HERE, "actors", "once.py")
SANDBOX_GUEST = os.path.join(HERE, "process_actors", "once.py")

_supervisor.start()

WATCHED = (Proactor, _actor.VM, _actor.Mailbox, Fiber, greenlet.greenlet, threading.Thread)


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def census() -> dict[str, int]:
    gc.collect()
    counts = dict.fromkeys((t.__name__ for t in WATCHED), 0)
    for o in gc.get_objects():
        for t in WATCHED:
            if type(o) is t or (t is greenlet.greenlet and isinstance(o, t)):
                counts[t.__name__] += 1
    return counts


def thread_cycle() -> None:
    ch = spawn_vm(THREAD_GUEST, inherit_context=False)
    thread = _actor._threads[-1]
    ch.send((inbox, "ping"))
    assert inbox.receive() == "ping"
    ch.close()
    thread.join()  # the actor ended with its only fiber


def sandbox_cycle() -> None:
    ch = spawn_vm(SANDBOX_GUEST, linux_namespaces={})
    ch.send(inbox)
    assert inbox.receive() == "bye"
    ch.close()


def cycles(one, warmup: int, n: int) -> None:
    for _ in range(warmup):
        one()
    before, rss0 = census(), rss_kib()
    for _ in range(n):
        one()
    _process_actor.release_ended()
    after, rss1 = census(), rss_kib()
    # A leak keeps one of each per cycle; the greenlet pool of a proactor
    # may keep a few more as concurrency peaks (bounded, reused).
    grown = {k: after[k] - before[k] for k in after if after[k] - before[k] > 2}
    assert not grown, (before, after)
    assert rss1 - rss0 < 1024, f"RSS grew by {rss1 - rss0} KiB over {n} cycles"


def test_thread_actors_that_end_leave_nothing_behind() -> None:
    # The leak this guards against kept ~11 KiB and one proactor per cycle.
    cycles(thread_cycle, 10, 40)
    assert len(_actor._threads) <= 1  # ended threads are not kept for join


def test_sandboxed_actors_that_end_leave_nothing_behind() -> None:
    cycles(sandbox_cycle, 5, 30)
