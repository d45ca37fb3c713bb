"""Helpers for tests that run inside an engine (pytest fixtures run outside it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from emilua import ip, spawn, this_fiber


@contextlib.contextmanager
def tcp_pair(v6: bool = False) -> Iterator[tuple[Any, Any]]:
    """A connected (client, server) pair of ip.tcp.socket on the loopback."""
    lo = ip.address.loopback_v6() if v6 else ip.address.loopback_v4()
    a = ip.tcp.acceptor()
    a.open(lo)
    a.bind(lo, 0)
    a.listen()
    accepted = spawn(a.accept)
    c = ip.tcp.socket()
    c.connect(lo, a.local_port)
    s = accepted.join()
    a.close()
    try:
        yield c, s
    finally:
        for sock in (c, s):
            if sock.is_open:
                sock.close()


def wait_until_idle(rounds: int = 20) -> None:
    """Yield enough times for every ready fiber to reach its next park point."""
    for _ in range(rounds):
        this_fiber.yield_()
