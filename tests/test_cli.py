# The emilua command (manual: "Getting started"; the CLI runs a program as the
# main actor: _CONTEXT == 'main'). Programs run in child processes on the
# backend of the test; the echo server is exercised from this engine.
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

import emilua
from emilua import ip, spawn, stream
from emilua.byte_span import byte_span

TIMEOUT = 30
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def program(tmp_path, source: str, name: str = "prog.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def emilua_cmd(backend: str | None, *args: str) -> list[str]:
    cmd = [sys.executable, "-m", "emilua"]
    if backend is not None:
        cmd.append(f"--backend={backend}")
    return cmd + list(args)


def run(backend, *args, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        emilua_cmd(backend, *args), capture_output=True, text=True, timeout=TIMEOUT, **kwargs
    )


def test_program_runs_as_the_main_actor(tmp_path, backend):
    program(
        tmp_path,
        """
        print("submodule sees _CONTEXT:", "_CONTEXT" in globals())
        """,
        name="helper_module.py",
    )
    prog = program(
        tmp_path,
        """
        import sys
        import helper_module  # found next to the program
        from emilua import this_fiber
        print(_CONTEXT, __name__, this_fiber.is_main)
        print(sys.argv[1:])
        """,
    )
    r = run(backend, prog, "a", "b")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "submodule sees _CONTEXT: False",
        "main __main__ True",
        "['a', 'b']",
    ]
    assert r.stderr == ""


def test_arguments_after_a_double_dash(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        from emilua import system
        print(system.arguments[2:])
        """,
    )
    r = run(backend, prog, "--", "--not-an-option", "x")
    assert r.stdout == "['--not-an-option', 'x']\n"
    r = run(backend, "--", prog, "y")
    assert r.stdout == "['y']\n"


def test_an_exception_escaping_the_main_fiber(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        print("started")
        def inner():
            raise ValueError("boom in main")
        inner()
        print("not reached")
        """,
    )
    r = run(backend, prog)
    assert r.returncode == 1
    assert r.stdout == "started\n"
    assert "Traceback (most recent call last)" in r.stderr
    assert "in inner" in r.stderr
    assert r.stderr.rstrip().endswith("ValueError: boom in main")


def test_a_failing_program_ends_although_a_thread_actor_waits_for_it(tmp_path, backend):
    program(
        tmp_path,
        """
        from emilua import NoSendersError, inbox
        try:
            inbox.receive()
        except NoSendersError:
            print("worker: no senders left")
        """,
        name="worker.py",
    )
    prog = program(
        tmp_path,
        """
        from emilua import spawn_vm
        worker = spawn_vm("worker.py", inherit_context=False)
        raise RuntimeError("main gave up")
        """,
    )
    r = run(backend, prog, cwd=str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.rstrip().endswith("RuntimeError: main gave up")
    assert r.stdout == "worker: no senders left\n"


def test_an_exception_in_a_detached_fiber_is_printed_and_the_program_goes_on(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        from emilua import spawn, this_fiber

        def broken():
            raise RuntimeError("boom in a fiber")

        spawn(broken).detach()
        for _ in range(5):
            this_fiber.yield_()
        print("still running")
        """,
    )
    r = run(backend, prog)
    assert r.returncode == 0
    assert r.stdout == "still running\n"
    assert "Traceback (most recent call last)" in r.stderr
    assert "in broken" in r.stderr
    assert "RuntimeError: boom in a fiber" in r.stderr


def test_sys_exit_in_the_program(tmp_path, backend):
    prog = program(tmp_path, "import sys\nsys.exit(3)\n")
    assert run(backend, prog).returncode == 3
    prog = program(tmp_path, "import sys\nsys.exit('fatal: bad input')\n")
    r = run(backend, prog)
    assert r.returncode == 1
    assert r.stderr == "fatal: bad input\n"


def test_version_and_help():
    r = run(None, "--version")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == f"emilua {emilua.__version__}"
    assert any(line.startswith("kernel: Linux ") for line in lines)
    backends = next(line for line in lines if line.startswith("backends: "))
    assert "io_uring (" in backends and "epoll (available)" in backends
    for flag in ("--help", "-h"):
        r = run(None, flag)
        assert r.returncode == 0
        assert r.stdout.startswith("usage: emilua")
        assert "--backend" in r.stdout
        assert "EMILUA_DEBUG" in r.stdout


def assert_usage_error(r: subprocess.CompletedProcess, first_line: str) -> None:
    """Python's convention: exit status 2, one line saying what is wrong, the usage."""
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0] == f"emilua: {first_line}"
    assert lines[1].startswith("usage: emilua")
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


def test_usage_errors():
    hello = os.path.join(EXAMPLES, "hello.py")
    assert_usage_error(run(None), "no program given")
    assert_usage_error(run(None, "--no-such-option", "x.py"), "unknown option '--no-such-option'")
    assert_usage_error(run(None, "--backend"), "option --backend needs a value (io_uring or epoll)")
    assert_usage_error(
        run(None, "--backend=nonsense", hello),
        "unknown backend 'nonsense' (choose io_uring or epoll)",
    )
    assert_usage_error(
        run(None, "--backend", "nonsense", hello),
        "unknown backend 'nonsense' (choose io_uring or epoll)",
    )
    r = run(None, hello, env={**os.environ, "EMILUA_BACKEND": "nonsense"})
    assert_usage_error(r, "unknown backend 'nonsense' in EMILUA_BACKEND (choose io_uring or epoll)")
    r = run(None, "/nonexistent/prog.py")
    assert r.returncode == 2
    assert r.stderr == (
        "emilua: can't open file '/nonexistent/prog.py': [Errno 2] No such file or directory\n"
    )


def test_a_directory_runs_its_main_module(tmp_path, backend):
    app = tmp_path / "app"
    app.mkdir()
    (app / "helper.py").write_text("WORD = 'found'\n")
    (app / "__main__.py").write_text(
        "import helper, sys\nprint(_CONTEXT, helper.WORD, sys.argv[1:])\n"
    )
    r = run(backend, str(app), "x")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "main found ['x']\n"
    (tmp_path / "empty").mkdir()
    r = run(backend, str(tmp_path / "empty"))
    assert r.returncode == 1
    assert r.stderr == f"emilua: can't find '__main__.py' in {str(tmp_path / 'empty')!r}\n"


def test_dash_reads_the_program_from_stdin(backend):
    source = textwrap.dedent(
        """
        import sys
        from emilua import this_fiber, time
        time.sleep(0.001)
        print(_CONTEXT, __name__, this_fiber.is_main, sys.argv)
        """
    )
    r = subprocess.run(
        emilua_cmd(backend, "-", "a", "b"),
        input=source,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "main __main__ True ['-', 'a', 'b']\n"


def test_tracebacks_start_at_the_users_code(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        def inner():
            raise ValueError("boom")
        inner()
        """,
    )
    r = run(backend, prog)
    assert r.returncode == 1
    frames = re.findall(r'^  File "([^"]+)"', r.stderr, re.M)
    assert frames == [prog, prog], r.stderr
    r = run(backend, prog, env={**os.environ, "EMILUA_DEBUG": "1"})
    frames = re.findall(r'^  File "([^"]+)"', r.stderr, re.M)
    assert len(frames) > 2 and frames[-2:] == [prog, prog]
    assert any(os.sep + "emilua" + os.sep in f for f in frames)


def test_a_syntax_error_is_reported_as_python_does(tmp_path, backend):
    prog = program(tmp_path, "print('ok')\ndef broken(:\n    pass\n")
    r = run(backend, prog)
    assert r.returncode == 1
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith(f'  File "{prog}", line 2\n')
    assert "SyntaxError" in r.stderr.splitlines()[-1]


def test_writing_to_a_closed_stdout(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        import sys
        for i in range(100_000):
            print("line", i)
        """,
    )
    rfd, wfd = os.pipe()
    os.close(rfd)
    try:
        r = subprocess.run(
            emilua_cmd(backend, prog),
            stdout=wfd,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=TIMEOUT,
        )
    finally:
        os.close(wfd)
    assert r.returncode == 1
    assert r.stderr.rstrip().endswith("BrokenPipeError: [Errno 32] Broken pipe")
    frames = re.findall(r'^  File "([^"]+)"', r.stderr, re.M)
    assert frames == [prog], r.stderr
    assert "Exception ignored" not in r.stderr


def test_verbose_names_the_backend(tmp_path, backend):
    prog = program(tmp_path, "print('hi')\n")
    r = run(backend, "-v", prog)
    assert r.returncode == 0
    assert r.stdout == "hi\n"
    assert f"emilua: running {prog} on the {backend} backend\n" in r.stderr


def test_the_emilua_console_script():
    script = shutil.which("emilua", path=os.path.dirname(sys.executable)) or shutil.which("emilua")
    assert script is not None
    r = subprocess.run(
        [script, "--version"], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    assert r.stdout.splitlines()[0] == f"emilua {emilua.__version__}"
    r = subprocess.run(
        [script, os.path.join(EXAMPLES, "hello.py")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0
    assert r.stdout == "Hello World\nHello World\n"


# ------------------------------------------------------------------ examples


def test_example_hello(backend):
    r = run(backend, os.path.join(EXAMPLES, "hello.py"))
    assert r.returncode == 0, r.stderr
    # print() first, then "Hello " from the main fiber, then "World" after 0.1 s.
    assert r.stdout == "Hello World\nHello World\n"
    assert r.stderr == ""


def test_example_sleepsort(backend):
    r = run(backend, os.path.join(EXAMPLES, "sleepsort.py"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "2", "8", "38", "39", "42", "111"]


# A process started in the background by a non-interactive shell inherits
# SIGINT ignored, and Python (like any program) keeps it so. The server must
# see SIGINT as a terminal's Ctrl-C would: restore the default, then exec.
WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def start_echo_server(backend):
    p = subprocess.Popen(
        [sys.executable, "-c", WITH_DEFAULT_SIGINT]
        + emilua_cmd(backend, os.path.join(EXAMPLES, "echo_server.py"), "0"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = p.stdout.readline()
    m = re.fullmatch(r"Listening on 127\.0\.0\.1:(\d+)\n", line)
    assert m, (line, p.stderr.read() if p.poll() is not None else "")
    return p, int(m.group(1))


def echo_roundtrips(port: int) -> None:
    """Several clients at once, each with a few messages (from this engine)."""

    def client(i):
        c = ip.tcp.socket()
        c.connect(ip.address.loopback_v4(), port)
        for j in range(3):
            msg = f"client {i} message {j}".encode() * (j + 1)
            stream.write_all(c, msg)
            back = byte_span(len(msg))
            stream.read_all(c, back)
            assert bytes(back) == msg
        c.close()

    fibers = [spawn(client, i) for i in range(5)]
    for f in fibers:
        f.join()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_example_echo_server_serves_and_stops_on_a_signal(backend, sig):
    p, port = start_echo_server(backend)
    try:
        echo_roundtrips(port)
        # An idle connection stays open while the signal arrives.
        idle = ip.tcp.socket()
        idle.connect(ip.address.loopback_v4(), port)
        stream.write_all(idle, "x")
        stream.read_all(idle, byte_span(1))
        p.send_signal(sig)
        status = p.wait(TIMEOUT)
        stderr = p.stderr.read()
        if sig == signal.SIGINT:
            assert status == 130
            assert "Traceback" not in stderr
        else:
            assert status == -signal.SIGTERM
        # The server is gone: its side of the idle connection was closed.
        with pytest.raises((EOFError, ConnectionResetError)):
            idle.read_some(byte_span(1))
        idle.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


BUSY = """
from emilua import spawn, stream, system, this_fiber
from emilua.byte_span import byte_span

def busy():
    while True:
        this_fiber.yield_()  # always Python code running in some fiber

spawn(busy).detach()
stream.write_all(system.out, "ready\\n")
buf = byte_span(16)
n = system.in_.read_some(buf)
stream.write_all(system.out, "alive " + str(buf[:n]))
system.exit(0)  # the busy fiber would keep the program running
"""


def start_with_sigint(backend, prog, disposition):
    wrapper = (
        f"import os, signal, sys; signal.signal(signal.SIGINT, signal.{disposition}); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return subprocess.Popen(
        [sys.executable, "-c", wrapper] + emilua_cmd(backend, prog),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigint_ends_a_busy_program_whichever_fiber_runs(tmp_path, backend):
    p = start_with_sigint(backend, program(tmp_path, BUSY), "SIG_DFL")
    try:
        assert p.stdout.readline() == "ready\n"
        p.send_signal(signal.SIGINT)
        assert p.wait(TIMEOUT) == 130
        stderr = p.stderr.read()
        assert "KeyboardInterrupt" not in stderr
        assert "detached fiber" not in stderr
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for f in (p.stdin, p.stdout, p.stderr):
            f.close()


def test_an_inherited_ignored_sigint_stays_ignored(tmp_path, backend):
    p = start_with_sigint(backend, program(tmp_path, BUSY), "SIG_IGN")
    try:
        assert p.stdout.readline() == "ready\n"
        p.send_signal(signal.SIGINT)  # discarded by the kernel at once
        p.stdin.write("ping")
        p.stdin.flush()
        assert p.stdout.read() == "alive ping"
        assert p.wait(TIMEOUT) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for f in (p.stdin, p.stdout, p.stderr):
            f.close()


# ------------------------------------------------------------ the supervisor


def test_the_supervisor_is_reaped_at_exit_with_no_resource_warning(tmp_path, backend):
    # Under -X dev an unreaped child process is a ResourceWarning at exit;
    # a process actor makes the supervisor fork too.
    prog = program(
        tmp_path,
        """
        from emilua import inbox, spawn_vm
        ch = spawn_vm(__file__.replace("prog.py", "guest.py"), subprocess=True)
        ch.send(inbox)
        print(inbox.receive())
        """,
    )
    program(tmp_path, "from emilua import inbox\ninbox.receive().send('bye')\n", "guest.py")
    cmd = [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", *emilua_cmd(backend)[1:]]
    out = subprocess.run(
        [*cmd, prog], capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "bye\n"
    assert "Warning" not in out.stderr, out.stderr
    assert out.stderr == ""


def test_the_supervisor_ends_quietly_when_the_program_dies_of_a_broken_pipe(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        import os, sys
        from emilua import _supervisor
        report = int(sys.argv[1])
        os.write(report, b"%d\\n" % _supervisor.pid())
        os.close(report)
        while True:
            print("line")
        """,
    )
    r, w = os.pipe()
    report_r, report_w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-X", "dev", *emilua_cmd(backend)[1:], prog, str(report_w)],
        stdout=w,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        pass_fds=[report_w],
        text=True,
    )
    os.close(w)
    os.close(report_w)
    with os.fdopen(report_r) as report:
        sup = int(report.readline())
    pidfd = os.pidfd_open(sup)
    os.close(r)  # the reader goes away: the program's next print raises EPIPE
    try:
        _, err = proc.communicate(timeout=TIMEOUT)  # EOF once the supervisor closed it too
        # The supervisor ends with the program (its pidfd reads as ready).
        assert select.select([pidfd], [], [], TIMEOUT)[0] == [pidfd]
    finally:
        os.close(pidfd)
    assert proc.returncode == 1
    # The program's own error, once; nothing from the supervisor.
    assert err.count("BrokenPipeError") == 1, err
    assert "JSONDecodeError" not in err and "_supervisor.py" not in err, err
    assert "ResourceWarning" not in err, err


def test_the_supervisor_ends_quietly_when_the_program_is_killed(tmp_path, backend):
    prog = program(
        tmp_path,
        """
        import os, signal, sys
        from emilua import _supervisor
        print(_supervisor.pid(), flush=True)
        sys.stdin.readline()  # the test holds a pidfd of the supervisor now
        os.kill(os.getpid(), signal.SIGKILL)
        """,
    )
    proc = subprocess.Popen(
        emilua_cmd(backend, prog),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    sup = int(proc.stdout.readline())
    pidfd = os.pidfd_open(sup)
    try:
        out, err = proc.communicate("go\n", timeout=TIMEOUT)  # EOF once the supervisor closed them
        assert select.select([pidfd], [], [], TIMEOUT)[0] == [pidfd]
    finally:
        os.close(pidfd)
    assert proc.returncode == -signal.SIGKILL
    assert err == "", err
