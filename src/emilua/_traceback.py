"""Tracebacks that start at the user's code.

An error escaping a fiber travels through the engine's own frames (the CLI,
``runpy``, the fiber trampoline, the actor machinery) before it reaches the
code that raised it. Those frames say nothing to the program's author, so
the engine drops them when it prints an error; ``EMILUA_DEBUG=1`` keeps them.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from typing import TextIO

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_RUNPY = {os.path.abspath(runpy.__file__), "<frozen runpy>"}


def _core_sources() -> frozenset[str]:
    """The names Cython gives the core's frames: ``<module>.pyx``."""
    names = set()
    try:
        for entry in os.listdir(os.path.join(_PACKAGE_DIR, "_core")):
            if entry.endswith((".so", ".pyd")):
                names.add(entry.split(".", 1)[0] + ".pyx")
    except OSError:
        pass
    return frozenset(names)


_CORE_SOURCES = _core_sources()


def _is_engine_frame(filename: str) -> bool:
    if filename in _RUNPY or os.path.basename(filename) in _CORE_SOURCES:
        return True
    return os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)


def _keep_engine_frames() -> bool:
    return os.environ.get("EMILUA_DEBUG", "") not in ("", "0")


def _strip(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    frames = [f for f in te.stack if not _is_engine_frame(f.filename)]
    # An error raised by the engine itself (a bad argument, an OS error) keeps
    # the frames from the user's last call onwards hidden too: the user's line
    # that called into the engine is the last frame shown.
    te.stack = traceback.StackSummary.from_list(frames)
    for chained in (te.__cause__, te.__context__):
        if chained is not None:
            _strip(chained, seen)
    for sub in getattr(te, "exceptions", None) or ():
        _strip(sub, seen)


def format_exception(exc: BaseException) -> list[str]:
    """The lines ``traceback.format_exception`` gives, less the engine's frames."""
    te = traceback.TracebackException.from_exception(exc)
    if not _keep_engine_frames():
        _strip(te, set())
    return list(te.format())


def print_exception(exc: BaseException, file: TextIO | None = None) -> None:
    """Print *exc* as Python would, starting at the user's code."""
    out = sys.stderr if file is None else file
    try:
        out.write("".join(format_exception(exc)))
        out.flush()
    except (OSError, ValueError):
        pass
