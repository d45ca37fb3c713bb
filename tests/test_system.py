# Manual: "system.in_", "system.out", "system.err", "system.arguments",
# "system.environment", "system.exit", "file_descriptor". The standard streams
# are the process's own fds 0-2, so most tests run a small program under the
# emilua command in a child process, with pipes or a pseudo-terminal as its
# standard streams, on the backend of the test.
import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from emilua import system

TIMEOUT = 30


def program(tmp_path, source: str, name: str = "prog.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def emilua_cmd(backend: str, prog: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "emilua", f"--backend={backend}", prog, *args]


def run(backend, prog, *args, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        emilua_cmd(backend, prog, *args), capture_output=True, timeout=TIMEOUT, **kwargs
    )


# -------------------------------------------------------------- out and err


def test_out_and_err_write_some_to_pipes(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        from emilua import stream, system
        from emilua.byte_span import byte_span

        assert system.out.write_some(b"to ") == 3
        span = byte_span(4)
        span.copy(b"out\\n")
        assert system.out.write_some(span) == 4
        assert system.err.write_some("to err\\n") == 7
        stream.write_all(system.out, "all " * 3 + "\\n")
        assert not system.out.isatty() and not system.err.isatty()
        """,
    )
    r = run(backend, prog)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"to out\nall all all \n"
    assert r.stderr == b"to err\n"


def test_a_big_write_to_a_slow_pipe_parks_only_the_writer(tmp_path, backend):
    # 4 MiB does not fit in a pipe: write_all must wait for the reader (the
    # parent) while another fiber keeps running.
    prog = program(
        tmp_path,
        """
        from emilua import spawn, stream, system, this_fiber

        ticks = []

        def ticker():
            while len(ticks) < 1000:
                ticks.append(1)
                this_fiber.yield_()

        t = spawn(ticker)
        stream.write_all(system.out, b"x" * (4 * 1024 * 1024))
        t.join()
        system.err.write_some(f"ticks={len(ticks)}\\n")
        """,
    )
    r = run(backend, prog)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"x" * (4 * 1024 * 1024)
    assert r.stderr == b"ticks=1000\n"


def test_writing_to_a_closed_pipe_raises_epipe(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        import errno, os
        from emilua import stream, system

        r, w = os.pipe()
        os.dup2(w, 1)  # stdout is a pipe nobody reads from any more
        os.close(r)
        os.close(w)
        try:
            stream.write_all(system.out, "lost\\n")
        except BrokenPipeError as e:
            system.err.write_some(f"errno={e.errno}\\n")
        """,
    )
    r = run(backend, prog)
    assert r.returncode == 0, r.stderr
    assert r.stderr == f"errno={errno.EPIPE}\n".encode()


def test_out_to_a_regular_file_appends_in_order(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        from emilua import stream, system
        for i in range(5):
            stream.write_all(system.out, f"line {i}\\n")
        print("printed")
        stream.write_all(system.out, "end\\n")
        """,
    )
    out = tmp_path / "out.txt"
    # Python buffers a file by blocks unless told otherwise; the emilua
    # command makes print() flush per line so it stays in order.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open(out, "wb") as f:
        r = subprocess.run(
            emilua_cmd(backend, prog),
            stdout=f,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            timeout=TIMEOUT,
            env=env,
        )
    assert r.returncode == 0, r.stderr
    lines = [f"line {i}" for i in range(5)] + ["printed", "end"]
    assert out.read_text() == "".join(f"{x}\n" for x in lines)


# ----------------------------------------------------------------------- in_

READER = """
import os, stat
from emilua import spawn, stream, system, this_fiber
from emilua.byte_span import byte_span

def reader():
    buf = byte_span(64)
    while True:
        try:
            n = system.in_.read_some(buf)
        except EOFError:
            stream.write_all(system.out, "eof\\n")
            return
        stream.write_all(system.out, f"got:{bytes(buf[:n])!r}\\n")

r = spawn(reader)
for _ in range(50):
    this_fiber.yield_()  # the reader is parked on the empty pipe by now
# Still running: the engine was not blocked by the read.
stream.write_all(system.out, "tick\\n")
r.join()
"""


def test_in_read_some_from_a_pipe_never_blocks_the_engine(tmp_path, backend):
    prog = program(tmp_path, READER)
    p = subprocess.Popen(
        emilua_cmd(backend, prog),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert p.stdout.readline() == b"tick\n"  # while stdin had no data
        p.stdin.write(b"hello")
        p.stdin.flush()
        assert p.stdout.readline() == b"got:b'hello'\n"
        p.stdin.close()
        assert p.stdout.readline() == b"eof\n"
        assert p.wait(TIMEOUT) == 0
        assert p.stderr.read() == b""
    finally:
        p.kill()
        p.wait()
        for f in (p.stdout, p.stderr):
            f.close()


def test_in_reads_a_terminal(tmp_path, backend):
    prog = program(tmp_path, READER)
    master, slave = os.openpty()
    p = subprocess.Popen(
        emilua_cmd(backend, prog), stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    os.close(slave)
    try:
        assert p.stdout.readline() == b"tick\n"
        os.write(master, b"typed\n")
        assert p.stdout.readline() == b"got:b'typed\\n'\n"
        os.write(master, b"\x04")  # ^D on an empty line: end of input
        assert p.stdout.readline() == b"eof\n"
        assert p.wait(TIMEOUT) == 0
    finally:
        p.kill()
        p.wait()
        os.close(master)
        for f in (p.stdout, p.stderr):
            f.close()


def test_in_from_a_socket_never_blocks_the_engine(tmp_path, backend):
    import socket

    prog = program(tmp_path, READER)
    ours, theirs = socket.socketpair()
    p = subprocess.Popen(
        emilua_cmd(backend, prog), stdin=theirs, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    theirs.close()
    try:
        assert p.stdout.readline() == b"tick\n"
        ours.sendall(b"sock")
        assert p.stdout.readline() == b"got:b'sock'\n"
        ours.shutdown(socket.SHUT_WR)
        assert p.stdout.readline() == b"eof\n"
        assert p.wait(TIMEOUT) == 0
    finally:
        p.kill()
        p.wait()
        ours.close()
        for f in (p.stdout, p.stderr):
            f.close()


def test_in_reopens_the_pipe_nonblocking_and_close_on_exec(tmp_path, backend):
    # While a read is parked, the fd it uses is a second open file description
    # of the same pipe: O_NONBLOCK and close-on-exec, and fd 0 is left as is.
    prog = program(
        tmp_path,
        """
        import fcntl, os
        from emilua import spawn, stream, system, this_fiber
        from emilua.byte_span import byte_span

        r = spawn(system.in_.read_some, byte_span(8))
        for _ in range(50):
            this_fiber.yield_()
        pipe = os.readlink("/proc/self/fd/0")
        others = [int(n) for n in os.listdir("/proc/self/fd")
                  if n != "0" and os.path.exists(f"/proc/self/fd/{n}")
                  and os.readlink(f"/proc/self/fd/{n}") == pipe]
        [fd] = others
        fl = fcntl.fcntl(fd, fcntl.F_GETFL)
        print("nonblock", bool(fl & os.O_NONBLOCK),
              "cloexec", bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC),
              "fd0_nonblock", bool(fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK),
              flush=True)
        r.interrupt()
        r.join()
        left = [n for n in os.listdir("/proc/self/fd")
                if os.path.exists(f"/proc/self/fd/{n}")
                and os.readlink(f"/proc/self/fd/{n}") == pipe]
        print("after", left, flush=True)
        """,
    )
    rfd, wfd = os.pipe()  # the write end stays open: no EOF for the reader
    try:
        r = run(backend, prog, stdin=rfd)
    finally:
        os.close(rfd)
        os.close(wfd)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"nonblock True cloexec True fd0_nonblock False\nafter ['0']\n"


def test_a_scanner_over_stdin(tmp_path, backend):
    # AWK's classic: sum the second column.
    prog = program(
        tmp_path,
        """
        from emilua import stream, system

        sc = stream.scanner.with_awk_defaults(system.in_)
        total = 0
        while True:
            try:
                fields = sc.get_line()
            except EOFError:
                break
            if len(fields) >= 2:
                total += int(bytes(fields[1]))
        stream.write_all(system.out, f"{sc.record_number} {total}\\n")
        """,
    )
    data = "".join(f"item{i}  {i}\tx\n" for i in range(1000)) + "\nlast 5"
    r = run(backend, prog, input=data.encode(), stdin=None)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"1002 {sum(range(1000)) + 5}\n".encode()


def test_in_is_read_only_and_out_is_write_only():
    with pytest.raises(OSError) as e:
        system.in_.write_some(b"x")
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        system.out.read_some(bytearray(1))
    assert e.value.errno == errno.EBADF


def test_in_read_some_with_an_empty_buffer_returns_zero():
    assert system.in_.read_some(bytearray(0)) == 0


# ------------------------------------------------------------ dup and isatty


def test_dup_refers_to_the_same_open_file():
    for std, n in ((system.in_, 0), (system.out, 1), (system.err, 2)):
        fd = std.dup()
        num = int(str(fd).rsplit("/", 1)[1])
        assert num > 2
        a, b = os.fstat(num), os.fstat(n)
        assert (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
        fd.close()


def test_isatty_and_tcgetpgrp_on_a_terminal(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        import os
        from emilua import system
        print(system.in_.isatty(), system.out.isatty(), flush=True)
        os.setsid()
        import fcntl, termios
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the pty becomes our terminal
        print(system.in_.tcgetpgrp() == os.getpgrp(), flush=True)
        system.in_.tcsetpgrp(os.getpgrp())
        print(system.in_.tcgetpgrp() == os.getpgrp(), flush=True)
        """,
    )
    master, slave = os.openpty()
    try:
        r = run(backend, prog, stdin=slave)
    finally:
        os.close(slave)
        os.close(master)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"True False\nTrue\nTrue\n"


def test_tcgetpgrp_without_a_terminal_raises_enotty(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        from emilua import system
        try:
            system.out.tcgetpgrp()
        except OSError as e:
            print(e.errno)
        """,
    )
    r = run(backend, prog)
    assert r.stdout == f"{errno.ENOTTY}\n".encode()


def test_standard_stream_repr():
    assert repr(system.in_) == "<system.in_>"
    assert repr(system.out) == "<system.out>"
    assert repr(system.err) == "<system.err>"


# ------------------------------------------------------ arguments, environment


def test_arguments_and_environment(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        from emilua import system
        print(system.arguments[1:])
        print(system.arguments[0].endswith(("emilua", "__main__.py")))
        print(system.environment["EMILUA_TEST_VAR"], "PATH" in system.environment)
        """,
    )
    env = dict(os.environ, EMILUA_TEST_VAR="set by the test")
    r = run(backend, prog, "--", "one", "two words", "--three", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == [
        repr([prog, "one", "two words", "--three"]),
        "True",
        "set by the test True",
    ]


def test_environment_holds_the_process_environment():
    assert isinstance(system.environment, dict)
    assert system.environment["PATH"] == os.environ["PATH"]
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in system.environment.items())


# ----------------------------------------------------------------------- exit


@pytest.mark.parametrize("code", [0, 3, 255])
def test_exit_from_the_main_fiber_sets_the_status(tmp_path, backend, code):
    prog = program(
        tmp_path,
        f"""
        from emilua import spawn, system, time

        def never():
            time.sleep(60)
            print("not reached")

        spawn(never).detach()
        print("before", flush=True)
        system.exit({code})
        print("not reached either")
        """,
    )
    r = run(backend, prog)
    assert r.returncode == code
    assert r.stdout == b"before\n"
    assert r.stderr == b""


def test_exit_from_another_fiber_sets_the_status(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        from emilua import spawn, system, this_fiber, time

        def quitter():
            this_fiber.yield_()
            system.exit(7)

        spawn(quitter).detach()
        time.sleep(60)
        print("not reached")
        """,
    )
    r = run(backend, prog)
    assert r.returncode == 7
    assert r.stdout == b""
    assert r.stderr == b""


def test_exit_force_2_skips_cleanup(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        import atexit
        from emilua import scope, scope_cleanup_push, system

        atexit.register(lambda: print("atexit ran"))
        print("flushed first")  # buffered output is still written
        with scope():
            scope_cleanup_push(lambda: print("cleanup ran"))
            try:
                system.exit(5, force=2)
            finally:
                print("finally ran")
        """,
    )
    r = run(backend, prog)
    assert r.returncode == 5
    assert r.stdout == b"flushed first\n"


def test_exit_force_abort(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        from emilua import system
        system.exit(0, force="abort")
        """,
    )
    r = run(backend, prog)
    assert r.returncode == -signal.SIGABRT


def test_exit_rejects_bad_arguments(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        from emilua import system
        for args, kwargs in (((1.5,), {}), (("1",), {}), ((True,), {}), ((0,), {"force": 3})):
            try:
                system.exit(*args, **kwargs)
            except (TypeError, ValueError) as e:
                print(type(e).__name__)
        try:
            system.exit(0, force=1)
        except NotImplementedError:
            print("NotImplementedError")
        system.exit(4)
        """,
    )
    r = run(backend, prog)
    assert r.returncode == 4, r.stderr
    assert r.stdout.decode().split() == [
        "TypeError",
        "TypeError",
        "TypeError",
        "ValueError",
        "NotImplementedError",
    ]
