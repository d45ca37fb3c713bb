"""Manual, "system.exit": exit the VM; other VMs in the process are not stopped."""

import os
import subprocess
import sys

import pytest

PROGRAM = os.path.join(os.path.dirname(__file__), "programs", "exit_in_worker.py")


@pytest.mark.pure
@pytest.mark.parametrize("backend", ["io_uring", "epoll"])
def test_exit_in_a_same_thread_worker_ends_only_that_vm(backend):
    out = subprocess.run(
        [sys.executable, "-m", "emilua", f"--backend={backend}", PROGRAM],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = out.stdout.splitlines()
    # The worker's other fiber unwinds (its finally runs), the worker's inbox
    # closes, and the main VM goes on to exit with its own code.
    assert lines == [
        "worker exiting",
        "worker bg unwound",
        "main: send failed: ChannelClosedError",
        "main continues",
    ], out.stderr
    assert "NOT REACHED" not in out.stdout
    assert out.returncode == 3


ERROR_PROGRAM = os.path.join(os.path.dirname(__file__), "programs", "error_in_worker.py")


@pytest.mark.pure
@pytest.mark.parametrize("backend", ["io_uring", "epoll"])
def test_error_in_a_same_thread_workers_main_fiber_ends_only_that_vm(backend):
    out = subprocess.run(
        [sys.executable, "-m", "emilua", f"--backend={backend}", ERROR_PROGRAM],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.splitlines() == [
        "worker bg unwound",
        "main: send failed: ChannelClosedError",
        "main continues",
    ], out.stderr
    assert "ValueError: worker failed" in out.stderr
    assert out.returncode == 0
