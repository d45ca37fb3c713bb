"""What the engine says about itself: logging, counters, fiber dumps, and a
warning for fibers that hold the thread too long.

Everything the engine reports goes through ``logging.getLogger("emilua")``.
Without any logging configuration, Python's last-resort handler prints
warnings and errors to stderr as plain messages, so a program that never
touches ``logging`` sees what it always saw; one that configures logging
gets the engine's reports in its own handlers and format.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from typing import Any, TextIO

from emilua._core import proactor as _core
from emilua._traceback import _is_engine_frame, _keep_engine_frames, format_exception

__all__ = ["dump_fibers", "log", "stats"]

log = logging.getLogger("emilua")


def _vm_name(f: Any) -> str:
    vm = f.vm
    return repr(vm) if vm is not None else "<no vm>"


def _describe(f: Any) -> str:
    name = "main" if f.is_main else (f.name or "?")
    return f"fiber {f.id} ({name}) of {_vm_name(f)}"


def _proactor() -> Any:
    p = _core.current()
    if p is None:
        raise RuntimeError("no emilua engine runs in this thread")
    return p


def report_fiber_error(f: Any, exc: BaseException) -> None:
    """The engine's report of an error that ended a detached fiber."""
    text = "".join(format_exception(exc)).rstrip("\n")
    log.error("Exception in detached %s:\n%s", _describe(f), text)


_core.set_error_reporter(report_fiber_error)


def stats() -> dict[str, Any]:
    """Counters of the engine running in this thread.

    ``fibers`` (not ended), ``ready`` (waiting for their turn), ``inflight``
    (kernel operations and readiness waits in flight), ``timers`` (armed),
    ``offloaded`` (calls running on worker threads), ``switches`` (fiber
    switches so far), ``backend`` (``"io_uring"`` or ``"epoll"``).
    """
    p = _proactor()
    s: dict[str, Any] = dict(p.stats())
    s["offloaded"] = p.offloaded
    s["switches"] = p.switches
    return s


def _stack_lines(frame: Any) -> list[str]:
    summary = traceback.extract_stack(frame)
    if not _keep_engine_frames():
        summary = traceback.StackSummary.from_list(
            [fs for fs in summary if not _is_engine_frame(fs.filename)]
        )
    return summary.format()


def dump_fibers(file: TextIO | None = None) -> None:
    """Write every live fiber of this thread's engine, with its stack.

    For each fiber: its id, start function and VM, what it is parked on, and
    where (the Python stack, from the user's code down to the call that
    parked it). The fiber that calls this shows its own stack.
    """
    out = sys.stderr if file is None else file
    p = _proactor()
    current = p.current_fiber
    fibers = sorted(p.fibers(), key=lambda f: f.serial)
    out.write(f"emilua: {len(fibers)} fibers on the {p.stats()['backend']} engine\n")
    for f in fibers:
        if f is current:
            state, frame = "running (this call)", sys._getframe(1)
        else:
            waiting = f.waiting_on
            state = f"parked on {waiting}" if waiting else "ready"
            frame = f.frame
        out.write(f"\n{_describe(f)}: {state}\n")
        if frame is not None:
            out.write("".join(_stack_lines(frame)))
        else:
            out.write("  (not started)\n")
    out.flush()


def _innermost_user_line(frame: Any) -> str:
    while frame is not None:
        code = frame.f_code
        if not _is_engine_frame(code.co_filename):
            return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
        frame = frame.f_back
    return "?"


class _SlowFiberWatch:
    """A thread that warns when one fiber holds the engine for too long.

    Every fiber switch bumps a counter in the scheduler; when the counter
    and the running fiber stay the same for longer than the threshold, the
    fiber has run that long without suspending, and with it every other
    fiber of the thread is frozen (the usual cause: a blocking call such as
    ``time.sleep`` or ``requests.get``, or a long computation).
    """

    def __init__(self, p: Any, threshold: float) -> None:
        self.p = p
        self.threshold = threshold
        self.engine_thread = threading.get_ident()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="emilua-slow-fiber-watch", daemon=True)
        self.thread.start()

    def run(self) -> None:
        p = self.p
        period = self.threshold / 4
        last = (-1, None)
        since = 0.0
        warned = False
        clock = 0.0
        while not self.stop.wait(period):
            clock += period
            now = (p.switches, p.current_fiber)
            if now != last or now[1] is None:
                last, since, warned = now, clock, False
                continue
            if not warned and clock - since >= self.threshold:
                warned = True
                frame = sys._current_frames().get(self.engine_thread)
                log.warning(
                    "%s has run for %.0f ms without suspending (every other fiber of its "
                    "thread waits); now at %s",
                    _describe(now[1]),
                    (clock - since) * 1000,
                    _innermost_user_line(frame),
                )

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def watch_engine(p: Any) -> _SlowFiberWatch | None:
    """Start the slow-fiber warning for engine *p* if EMILUA_SLOW_FIBER_MS asks."""
    value = os.environ.get("EMILUA_SLOW_FIBER_MS")
    if not value:
        return None
    try:
        ms = float(value)
    except ValueError:
        log.warning("EMILUA_SLOW_FIBER_MS=%r is not a number of milliseconds: ignored", value)
        return None
    if ms <= 0:
        return None
    return _SlowFiberWatch(p, ms / 1000)
