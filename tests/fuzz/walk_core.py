"""Call every callable of every extension module in emilua._core with bad input.

Run as a program (``python walk_core.py``); tests/test_core_walk.py runs it in a
subprocess so that a crash fails one test instead of killing the suite.

The extension modules are found at run time (every module of the
``emilua._core`` package whose file is a compiled extension), so a module added
later is walked too. For each module it calls:

- every module-level function, with each argument tuple of ``ARGS``;
- every callable and descriptor of every type defined there (methods, slot
  wrappers, properties, static and class methods), unbound, with each value of
  ``WRONG_SELVES`` as ``self`` followed by each argument tuple;
- the same methods on a bare instance (``T.__new__(T)``: the right type,
  never initialised) and on an instance made by ``T()`` where the type
  accepts no arguments, with each argument tuple.

Each callable runs in a forked child with an alarm, so a call that changes the
process (chdir, unshare, clone) touches only that child, and a call that
blocks shows up as a hang. Before each call the child writes what it is about
to call to a pipe; the parent reads it back, so a crash or hang names its call.
Exceptions are the expected outcome: any exception is fine, a signal is not.

Prints one line per failing call and ``walked N calls`` at the end; exits 1
when some call crashed or hung.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import pkgutil
import signal
import sys

import emilua._core
from emilua.byte_span import byte_span

ALARM_SECONDS = 10

# Callables that cannot be called safely even in a forked child, with the reason.
# Keys are "module.Type.attr" or "module.function".
EXCLUDED: dict[str, str] = {}

WRONG_SELVES = (
    None,
    0,
    -1,
    2**64,
    -(2**70),
    "xy",
    b"abc",
    bytearray(b"ab"),
    byte_span(3),
    object(),
    [1],
    3.5,
)

_HUGE = (2**63, 2**64, 2**100, -(2**63) - 1)
ARGS: tuple[tuple[object, ...], ...] = (
    (),
    (None,),
    (0,),
    (1,),
    (-1,),
    *((h,) for h in _HUGE),
    ("x",),
    ("",),
    (b"x",),
    (bytearray(2),),
    (byte_span(4),),
    (object(),),
    ([],),
    ((),),
    (3.5,),
    (None, None),
    (-1, -1),
    (0, -1),
    (-1, 0),
    (2**63, 2**63),
    (2**31, 2**31),
    ("x", "z"),
    (b"abc", "x"),
    (byte_span(2), -1),
    (byte_span(2), 2**64),
    (-1, byte_span(2)),
    (-1, b"x", -1),
    (None, None, None),
    (-1, -1, -1, -1),
    (-1, -1, -1, -1, -1, -1),
)


def extension_modules() -> list[object]:
    """Every compiled extension module of the emilua._core package."""
    mods = []
    for info in pkgutil.iter_modules(emilua._core.__path__):
        spec = importlib.util.find_spec(f"emilua._core.{info.name}")
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            continue
        mods.append(importlib.import_module(spec.name))
    return mods


def _defined_in(obj: object, mod: object) -> bool:
    short = mod.__name__.rsplit(".", 1)[-1]
    return getattr(obj, "__module__", None) in (mod.__name__, short)


def targets() -> list[tuple[str, list[tuple[str, object, tuple[object, ...]]]]]:
    """(name, calls) per callable; a call is (label, function, args)."""
    out = []
    for mod in extension_modules():
        short = mod.__name__.rsplit(".", 1)[-1]
        for name, value in sorted(vars(mod).items()):
            if isinstance(value, type):
                if _defined_in(value, mod):
                    out.extend(_type_targets(f"{short}.{name}", value))
            elif callable(value) and not isinstance(value, type(os)):
                qual = f"{short}.{name}"
                if qual in EXCLUDED:
                    continue
                out.append((qual, [(f"{qual}{a!r}", value, a) for a in ARGS]))
    return out


def _type_targets(tname: str, cls: type) -> list[tuple[str, list]]:
    out = []
    # Every attribute the type itself defines, private and special ones too.
    for attr, raw in sorted(vars(cls).items()):
        if attr in ("__doc__", "__module__", "__dict__", "__weakref__", "__pyx_vtable__"):
            continue
        qual = f"{tname}.{attr}"
        if qual in EXCLUDED:
            continue
        calls = []
        if isinstance(raw, (staticmethod, classmethod)):
            fn = getattr(cls, attr)
            calls += [(f"{qual}{a!r}", fn, a) for a in ARGS]
        elif attr == "__new__":
            fn = getattr(cls, attr)
            calls += [(f"{qual}({s!r})", fn, (s,)) for s in WRONG_SELVES]
            calls += [(f"{qual}(cls, *{a!r})", fn, (cls, *a)) for a in ARGS]
        elif hasattr(raw, "__get__") and not callable(raw):
            # a property or member: get, set and delete through the descriptor
            for s in WRONG_SELVES:
                calls.append((f"{qual}.__get__({s!r})", raw.__get__, (s, type(s))))
                if hasattr(raw, "__set__"):
                    calls.append((f"{qual}.__set__({s!r}, None)", raw.__set__, (s, None)))
            calls.append((f"bare {qual}.__get__", _bare_get, (cls, attr)))
            if hasattr(raw, "__set__"):
                for a in ARGS:
                    if len(a) == 1:
                        calls.append((f"bare {qual} = {a[0]!r}", _bare_set, (cls, attr, a[0])))
        elif callable(raw):
            fn = getattr(cls, attr)
            for s in WRONG_SELVES:
                calls += [(f"{qual}({s!r}, *{a!r})", fn, (s, *a)) for a in ARGS[:8]]
            calls += [(f"bare {qual}(*{a!r})", _bare_call, (cls, attr, a)) for a in ARGS]
            calls += [(f"made {qual}(*{a!r})", _made_call, (cls, attr, a)) for a in ARGS]
        else:
            continue
        out.append((qual, calls))
    return out


def _bare(cls: type) -> object:
    return cls.__new__(cls)


def _bare_get(cls: type, attr: str) -> object:
    return getattr(_bare(cls), attr)


def _bare_set(cls: type, attr: str, value: object) -> None:
    setattr(_bare(cls), attr, value)


def _bare_call(cls: type, attr: str, args: tuple[object, ...]) -> object:
    return getattr(_bare(cls), attr)(*args)


def _made_call(cls: type, attr: str, args: tuple[object, ...]) -> object:
    try:
        obj = cls()
    except Exception:  # a type that needs arguments has no default instance
        return None
    return getattr(obj, attr)(*args)


def _run_child(calls: list, wfd: int) -> None:
    signal.alarm(ALARM_SECONDS)
    me = os.getpid()
    for label, fn, args in calls:
        os.write(wfd, label.encode("utf-8", "backslashreplace")[:4000] + b"\0")
        try:
            fn(*args)
        except BaseException:  # every exception is a fine outcome here
            pass
        if os.getpid() != me:  # a clone-like call returned in a new child
            os._exit(0)
    os.write(wfd, b"\1")
    os._exit(0)


def _run(calls: list, devnull: int) -> tuple[int, int, str | None]:
    """Run *calls* in a child: (calls started, wait status, label of the last)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        _run_child(calls, w)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    labels = [x for x in data.rstrip(b"\1").split(b"\0") if x]
    if data.endswith(b"\1") and status == 0:
        return len(labels), status, None
    return len(labels), status, labels[-1].decode() if labels else None


def _why(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        return "hung" if sig == "SIGALRM" else f"killed by {sig}"
    return f"exited with status {os.WEXITSTATUS(status)}"


def walk() -> int:
    failures = []
    count = 0
    # A silent child: the calls' own output (e.g. warnings) is not the report.
    devnull = os.open(os.devnull, os.O_WRONLY)
    for qual, calls in targets():
        # After a failing call, go on with the next one in a new child, so
        # that one failure does not hide the others.
        while calls:
            started, status, last = _run(calls, devnull)
            count += started
            if last is None:
                break
            failures.append(f"{qual}: {_why(status)} in {last}")
            calls = calls[max(started, 1) :]
    os.close(devnull)
    for f in failures:
        print(f)
    print(f"walked {count} calls")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(walk())
