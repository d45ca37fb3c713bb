# What the engine says about itself: emilua.stats(), emilua.dump_fibers(),
# error reports through logging, the slow-fiber warning, and the dump on
# SIGUSR2.
import io
import logging
import os
import signal
import subprocess
import sys
import textwrap

import emilua
from emilua import spawn, this_fiber, time, unix

TIMEOUT = 30


def test_stats_count_fibers_ops_and_timers(backend):
    a, b = unix.stream_socket.pair()
    before = emilua.stats()
    assert before["backend"] == backend
    assert before["fibers"] == 1  # this test's own fiber
    sleeper = spawn(time.sleep, 10)
    reader = spawn(a.read_some, bytearray(4))
    this_fiber.yield_()
    s = emilua.stats()
    assert s["fibers"] == 3
    assert s["timers"] == before["timers"] + 1
    assert s["inflight"] >= before["inflight"] + 1
    assert s["switches"] > before["switches"]
    assert s["offloaded"] == 0
    sleeper.interrupt()
    reader.interrupt()
    for f in (sleeper, reader):
        try:
            f.join()
        except emilua.FiberInterrupted:
            pass
    a.close()
    b.close()


def test_dump_fibers_shows_each_fiber_where_it_waits():
    def napper():
        time.sleep(10)

    f = spawn(napper)
    this_fiber.yield_()
    out = io.StringIO()
    emilua.dump_fibers(out)
    text = out.getvalue()
    assert "emilua: 2 fibers on the" in text
    assert ".napper) of <vm" in text
    assert "parked on timer wait" in text
    assert "in napper\n    time.sleep(10)" in text
    assert "running (this call)" in text
    assert "test_dump_fibers_shows_each_fiber_where_it_waits" in text
    f.interrupt()
    f.join()


def test_a_detached_fibers_error_is_logged_with_its_function_and_vm():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("emilua")
    handler = Keep()
    logger.addHandler(handler)
    try:

        def broken():
            raise KeyError("lost")

        spawn(broken).detach()
        this_fiber.yield_()
    finally:
        logger.removeHandler(handler)
    assert len(records) == 1
    msg = records[0].getMessage()
    assert records[0].levelno == logging.ERROR
    assert "Exception in detached fiber" in msg
    assert (
        "(test_a_detached_fibers_error_is_logged_with_its_function_and_vm.<locals>.broken)" in msg
    )
    assert "of <vm" in msg
    assert msg.rstrip().endswith("KeyError: 'lost'")
    assert "emilua" + os.sep not in msg  # the engine's frames are left out


def run_program(tmp_path, source, env=None):
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(source))
    return subprocess.Popen(
        [sys.executable, "-m", "emilua", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_a_fiber_that_holds_the_thread_is_named_with_its_line(tmp_path, backend):
    p = run_program(
        tmp_path,
        """
        import time as blocking
        from emilua import spawn, time

        def ticker():
            time.sleep(0.01)

        def hog():
            blocking.sleep(0.4)   # blocks every fiber of the thread

        spawn(ticker)
        spawn(hog).join()
        print("done")
        """,
        env={"EMILUA_SLOW_FIBER_MS": "100", "EMILUA_BACKEND": backend},
    )
    out, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0, err
    assert out == "done\n"
    assert "(hog) of <vm" in err  # a module-level function: its plain name
    assert "without suspending" in err
    assert "prog.py:9 in hog" in err
    assert err.count("without suspending") == 1


def test_no_warning_unless_asked(tmp_path):
    p = run_program(tmp_path, "import time\ntime.sleep(0.2)\nprint('ok')\n")
    out, err = p.communicate(timeout=TIMEOUT)
    assert (out, err) == ("ok\n", "")


def test_sigusr2_dumps_the_fibers_when_asked(tmp_path, backend):
    p = run_program(
        tmp_path,
        """
        from emilua import spawn, this_fiber, time

        def waiter():
            time.sleep(30)

        spawn(waiter)
        this_fiber.yield_()  # the waiter runs up to its sleep
        print("ready", flush=True)
        time.sleep(30)
        """,
        env={"EMILUA_DUMP_ON_SIGUSR2": "1", "EMILUA_BACKEND": backend},
    )
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGUSR2)
    lines = []
    while True:
        line = p.stderr.readline()
        lines.append(line)
        if "(waiter)" in line or not line:
            break
    lines.append(p.stderr.readline())  # its state line is followed by its stack
    lines.append(p.stderr.readline())
    p.terminate()
    p.communicate(timeout=TIMEOUT)
    text = "".join(lines)
    assert "fibers on the" in text
    assert "(waiter) of <vm" in text
    assert "in waiter" in text
