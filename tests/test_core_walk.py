"""No call from Python into the compiled core crashes the interpreter.

tests/fuzz/walk_core.py calls every callable of every extension module in
emilua._core (found at run time) with wrong ``self`` types, bare
(uninitialised) instances and wrong argument types; it runs in a subprocess
here, so a crash fails this test and names the call instead of ending the
suite.
"""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.pure

WALKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz", "walk_core.py")


def test_no_call_into_the_core_crashes_the_interpreter():
    run = subprocess.run(
        [sys.executable, WALKER], capture_output=True, text=True, timeout=300, cwd="/"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # The walk reached every module: a walker that found nothing proves nothing.
    walked = int(run.stdout.rsplit("walked ", 1)[1].split()[0])
    assert walked > 10_000, run.stdout


def test_the_walker_finds_every_extension_module():
    sys.path.insert(0, os.path.dirname(WALKER))
    try:
        import walk_core
    finally:
        sys.path.pop(0)
    import emilua._core

    names = {m.__name__.rsplit(".", 1)[1] for m in walk_core.extension_modules()}
    on_disk = {
        f.split(".", 1)[0]
        for f in os.listdir(os.path.dirname(emilua._core.__file__))
        if f.endswith(".so")
    }
    assert names == on_disk
    assert {"byte_span", "proactor", "codec", "initscript", "clone"} <= names


def test_the_walker_reports_a_crash():
    # The harness itself: a call that kills its process is reported, by name.
    code = (
        f"import sys; sys.path.insert(0, {os.path.dirname(WALKER)!r});"
        "import walk_core, os, signal;"
        "boom = lambda: os.kill(os.getpid(), signal.SIGSEGV);"
        "walk_core.targets = lambda: [('boom', [('boom()', boom, ())])];"
        "sys.exit(walk_core.walk())"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "boom: killed by SIGSEGV in boom()" in run.stdout
