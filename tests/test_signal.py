# Manual: "system.signal", "system.signal.raise", "system.signal.set",
# "system.signal.ignore", "system.signal.default". Every test runs as the main
# fiber of a fresh engine, once per backend, with real signals sent to this
# process.
from __future__ import annotations

import errno
import os
import signal as pysignal
import threading

import pytest
from emilua._core.proactor import current

from emilua import _actor, inbox, spawn, spawn_vm, system, this_fiber

sig = system.signal


@pytest.fixture(autouse=True)
def _signal_state_is_restored():
    """Each test leaves the mask and Python's SIGINT handler as it found them."""
    mask = pysignal.pthread_sigmask(pysignal.SIG_BLOCK, ())
    yield
    assert pysignal.pthread_sigmask(pysignal.SIG_BLOCK, ()) == mask
    assert pysignal.getsignal(pysignal.SIGINT) is pysignal.default_int_handler


def test_the_constants_are_the_hosts_signal_numbers():
    names = (
        "SIGABRT SIGFPE SIGILL SIGINT SIGSEGV SIGTERM SIGALRM SIGBUS SIGCHLD SIGCONT "
        "SIGHUP SIGIO SIGKILL SIGPIPE SIGPROF SIGQUIT SIGSTOP SIGSYS SIGTRAP SIGTSTP "
        "SIGTTIN SIGTTOU SIGURG SIGUSR1 SIGUSR2 SIGVTALRM SIGWINCH SIGXCPU SIGXFSZ"
    ).split()
    for name in names:
        assert getattr(sig, name) == getattr(pysignal, name), name


def test_raise_reaches_a_set_and_wait_returns_the_number():
    s = sig.set(sig.SIGUSR1)
    try:
        sig.raise_(sig.SIGUSR1)
        assert s.wait() == sig.SIGUSR1
    finally:
        s.close()


def test_wait_parks_the_fiber_until_the_signal_arrives():
    s = sig.set(sig.SIGUSR2)
    got = []
    try:
        f = spawn(lambda: got.append(s.wait()))
        this_fiber.yield_()
        assert got == []  # parked, nothing arrived yet
        sig.raise_(sig.SIGUSR2)
        f.join()
        assert got == [sig.SIGUSR2]
    finally:
        s.close()


def test_signals_arriving_with_no_waiter_are_queued_lowest_number_first():
    s = sig.set()
    s.add(sig.SIGUSR2)
    s.add(sig.SIGUSR1)
    try:
        sig.raise_(sig.SIGUSR2)
        sig.raise_(sig.SIGUSR1)
        assert [s.wait(), s.wait()] == [sig.SIGUSR1, sig.SIGUSR2]
    finally:
        s.close()


def test_every_set_holding_the_signal_gets_a_notification():
    a = sig.set(sig.SIGUSR1)
    b = sig.set(sig.SIGUSR1, sig.SIGUSR2)
    got = []
    try:
        fa = spawn(lambda: got.append(("a", a.wait())))
        fb = spawn(lambda: got.append(("b", b.wait())))
        this_fiber.yield_()
        sig.raise_(sig.SIGUSR1)
        fa.join()
        fb.join()
        assert sorted(got) == [("a", sig.SIGUSR1), ("b", sig.SIGUSR1)]
    finally:
        a.close()
        b.close()


def test_a_signal_from_another_process_is_delivered():
    s = sig.set(sig.SIGHUP)
    try:
        kill = system.spawn(program="/bin/kill", arguments=["kill", "-HUP", str(os.getpid())])
        assert s.wait() == sig.SIGHUP
        kill.wait()
        assert kill.exit_code == 0
    finally:
        s.close()


def test_cancel_makes_waits_raise_ecanceled():
    s = sig.set(sig.SIGUSR1)
    errors = []

    def waiter():
        try:
            s.wait()
        except OSError as e:
            errors.append(e.errno)

    try:
        f = spawn(waiter)
        this_fiber.yield_()
        s.cancel()
        f.join()
        assert errors == [errno.ECANCELED]
        sig.raise_(sig.SIGUSR1)  # the set still works after a cancel
        assert s.wait() == sig.SIGUSR1
    finally:
        s.close()


def test_an_interrupted_wait_loses_no_signal():
    s = sig.set(sig.SIGUSR1)
    try:
        f = spawn(s.wait)
        this_fiber.yield_()
        f.interrupt()
        sig.raise_(sig.SIGUSR1)  # arrives while the interruption is on its way
        # Either the wait completed first (it returns the signal) or it was
        # interrupted and the notification stays queued on the set.
        got = f.join()
        assert (got or s.wait()) == sig.SIGUSR1
    finally:
        s.close()


def test_remove_discards_queued_notifications():
    s = sig.set(sig.SIGUSR1, sig.SIGUSR2)
    try:
        sig.raise_(sig.SIGUSR1)
        s.remove(sig.SIGUSR1)
        s.add(sig.SIGUSR1)
        sig.raise_(sig.SIGUSR2)
        assert s.wait() == sig.SIGUSR2
        s.clear()
        s.add(sig.SIGUSR1)
        sig.raise_(sig.SIGUSR1)
        assert s.wait() == sig.SIGUSR1
    finally:
        s.close()


def test_remove_leaves_the_other_sets_their_notification():
    a = sig.set(sig.SIGUSR1)
    b = sig.set(sig.SIGUSR1)
    try:
        sig.raise_(sig.SIGUSR1)
        a.remove(sig.SIGUSR1)
        assert b.wait() == sig.SIGUSR1
    finally:
        a.close()
        b.close()


def test_a_closed_set_refuses_every_operation():
    s = sig.set(sig.SIGUSR1)
    s.close()
    for call in (s.wait, s.clear, s.cancel, s.close, lambda: s.add(sig.SIGUSR2)):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EBADF


def test_bad_signal_numbers_are_refused():
    with pytest.raises(OSError) as e:
        sig.set(0)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        sig.set(sig.SIGKILL)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        sig.raise_("SIGUSR1")


def test_sigint_goes_to_a_set_while_one_holds_it_and_to_python_otherwise():
    s = sig.set(sig.SIGINT)
    try:
        sig.raise_(sig.SIGINT)
        assert s.wait() == sig.SIGINT  # no KeyboardInterrupt meanwhile
    finally:
        s.close()
    with pytest.raises(KeyboardInterrupt):
        sig.raise_(sig.SIGINT)
        this_fiber.yield_()


def test_ignore_and_default():
    sig.ignore(sig.SIGUSR1)
    try:
        sig.raise_(sig.SIGUSR1)  # ignored: the process goes on
        assert pysignal.getsignal(pysignal.SIGUSR1) is pysignal.SIG_IGN
    finally:
        sig.default(sig.SIGUSR1)
    assert pysignal.getsignal(pysignal.SIGUSR1) is pysignal.SIG_DFL


def test_default_fails_while_a_set_holds_the_signal():
    s = sig.set(sig.SIGUSR2)
    try:
        with pytest.raises(OSError) as e:
            sig.default(sig.SIGUSR2)
        assert e.value.errno == errno.EBUSY
    finally:
        s.close()
    sig.default(sig.SIGUSR2)


def test_a_spawned_child_does_not_inherit_the_blocked_signals():
    s = sig.set(sig.SIGTERM)
    try:
        p = system.spawn(program="/bin/sleep", arguments=["sleep", "1000"])
        p.kill(sig.SIGTERM)  # default disposition, not blocked: it ends
        p.wait()
        assert p.exit_signal == sig.SIGTERM
    finally:
        s.close()


GUEST = """
from emilua import inbox, system

reply_to = inbox.receive()
sig = system.signal
refused = {}
for name, call in [
    ("set", lambda: sig.set(sig.SIGUSR1)),
    ("default", lambda: sig.default(sig.SIGUSR1)),
    ("ignore", lambda: sig.ignore(sig.SIGUSR1)),
]:
    try:
        call()
        refused[name] = False
    except PermissionError as e:
        refused[name] = True
reply_to.send(refused)
s = inbox.receive()
"""


def test_only_the_master_vm_creates_sets_and_changes_dispositions(tmp_path):
    module = tmp_path / "guest.py"
    module.write_text(GUEST)
    chan = spawn_vm(str(module))
    chan.send(inbox)
    assert inbox.receive() == {"set": True, "default": True, "ignore": True}
    chan.send(None)


NEW_MASTER = """
from emilua import inbox, system

reply_to = inbox.receive()
s = system.signal.set(system.signal.SIGUSR1)
reply_to.send("ready")
got = s.wait()
s.close()
reply_to.send(got)
"""


def test_sets_in_two_threads_both_get_the_signal(tmp_path):
    # The master role moves to a VM on its own thread, which then creates a
    # set of its own; whichever thread reads the signal first hands the
    # other set its notification.
    module = tmp_path / "master.py"
    module.write_text(NEW_MASTER)
    a = sig.set(sig.SIGUSR1)
    try:
        before = set(_actor._threads)
        chan = spawn_vm(str(module), inherit_context=False, new_master=True)
        (thread,) = [t for t in _actor._threads if t not in before]
        chan.send(inbox)
        assert inbox.receive() == "ready"
        got = []
        f = spawn(lambda: got.append(a.wait()))
        this_fiber.yield_()
        sig.raise_(sig.SIGUSR1)
        f.join()
        assert got == [sig.SIGUSR1]
        assert inbox.receive() == sig.SIGUSR1
        del chan
        join_thread(thread)  # its engine's fds are gone before the test ends
    finally:
        a.close()  # the last holder, in this thread: SIGUSR1 is unblocked here


def join_thread(thread: threading.Thread) -> None:
    """Park the calling fiber (not the engine) until *thread* has ended."""
    p = current()
    fiber = p.current_fiber

    def resume() -> None:
        p.keepalive -= 1
        p.wake(fiber)

    def watch() -> None:
        thread.join()
        p.post(resume)

    class NotInterruptible:
        def cancel(self, fiber: object) -> bool:
            return False

    p.keepalive += 1
    watcher = threading.Thread(target=watch)
    watcher.start()
    p.suspend(NotInterruptible())
    watcher.join()


CLI_PROGRAM = """
import os
from emilua import system

s = system.signal.set(system.signal.SIGINT, system.signal.SIGTERM)
os.write(1, b"ready\\n")
print(s.wait(), s.wait(), flush=True)
s.close()
"""


def test_a_program_under_the_emilua_command_waits_for_sigint(tmp_path):
    # The command's own SIGINT handler steps aside while a set holds SIGINT.
    import sys

    from emilua import file
    from emilua.byte_span import byte_span
    from emilua.file_descriptor import file_descriptor

    prog = tmp_path / "prog.py"
    prog.write_text(CLI_PROGRAM)
    r, w = os.pipe()
    out = file_descriptor._adopt(w)
    p = system.spawn(
        program=sys.executable,
        arguments=[sys.executable, "-m", "emilua", str(prog)],
        environment=dict(os.environ),
        stdout=out,
        stderr="share",
    )
    out.close()
    reader = file.stream(file_descriptor._adopt(r))
    data = b""
    buf = byte_span(64)
    try:
        while b"ready\n" not in data:
            n = reader.read_some(buf)
            data += bytes(buf[:n])
        p.kill(sig.SIGTERM)
        p.kill(sig.SIGINT)
        while True:
            try:
                n = reader.read_some(buf)
            except EOFError:
                break
            data += bytes(buf[:n])
    finally:
        reader.close()
    p.wait()
    assert p.exit_code == 0
    # Both arrive; the order depends on whether the program woke in between.
    first, rest = data.split(b"\n", 1)
    assert first == b"ready"
    assert sorted(map(int, rest.split())) == [sig.SIGINT, sig.SIGTERM]
