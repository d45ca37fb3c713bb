"""Test harness: each test function runs as the main fiber of a fresh engine.

Every engine test runs on both backends (``io_uring`` and ``epoll``), so a
feature that works on one only fails. Tests that need no engine (pure data
types) are marked ``pure`` and run once, outside any engine.

Teardown fails a test that leaked a file descriptor, or that left work behind:
a fiber of its VM other than the main one still alive when its main fiber
returns, or a fiber or an op in flight still counted once the engine stopped.
"""

from __future__ import annotations

import inspect
import os

import pytest

import emilua
from emilua._core import proactor as _core

BACKENDS = ("io_uring", "epoll")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pure: runs once, outside any engine")
    config.addinivalue_line("markers", "backend(name): the proactor backend of this run")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("pure") is not None:
        return
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS)
    else:
        metafunc.parametrize("_engine_backend", BACKENDS, ids=list(BACKENDS))


@pytest.fixture(autouse=True)
def _engine_backend(request: pytest.FixtureRequest) -> str | None:
    return getattr(request, "param", None)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if pyfuncitem.get_closest_marker("pure") is not None:
        return None
    backend = pyfuncitem.funcargs.get("backend") or pyfuncitem.funcargs.get("_engine_backend")
    testfunction = pyfuncitem.obj
    if inspect.iscoroutinefunction(testfunction):
        raise TypeError("emilua tests are plain functions, not coroutines")
    argnames = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in argnames}
    before = _open_fds()
    engine: list[_core.Proactor] = []
    left: list[int] = []

    def main() -> None:
        p = _core.current()
        assert p is not None
        engine.append(p)
        testfunction(**kwargs)
        # The test's own VM: its main fiber is still counted. Workers that
        # share the engine (spawn_vm) run on; the engine waits for them.
        left.append(getattr(p.vm, "nfibers", 1) - 1)

    emilua.run(main, backend=backend)
    if left and left[0]:
        pytest.fail(
            f"the test's main fiber returned with {left[0]} fiber(s) of its VM still "
            "alive (not joined or interrupted)"
        )
    after = engine[0].stats()
    if after["fibers"] or after["inflight"]:
        pytest.fail(f"the engine stopped with work left: {after}")
    leaked = _open_fds() - before
    # The listing itself opens one fd, which may differ between calls.
    leaked = {fd for fd in leaked if os.path.exists(f"/proc/self/fd/{fd}")}
    if leaked:
        targets = {}
        for fd in leaked:
            try:
                targets[fd] = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                pass
        if targets:
            pytest.fail(f"file descriptors leaked by the test: {targets}")
    return True
