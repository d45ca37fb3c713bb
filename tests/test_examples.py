# The example programs are real programs: each runs here as a user would run
# it (the emilua command, in a child process) and is driven over real
# sockets and files from this engine.
import os
import re
import subprocess
import sys

from emilua import ip, spawn, stream
from emilua.byte_span import byte_span

TIMEOUT = 30
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def start_server(backend, name):
    p = subprocess.Popen(
        [sys.executable, "-m", "emilua", f"--backend={backend}", os.path.join(EXAMPLES, name), "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = p.stdout.readline()
    m = re.fullmatch(r"Listening on 127\.0\.0\.1:(\d+)\n", line)
    assert m, (line, p.stderr.read() if p.poll() is not None else "")
    return p, int(m.group(1))


def stop(p):
    p.terminate()
    p.wait(TIMEOUT)
    p.stdout.close()
    p.stderr.close()


def connect(port):
    c = ip.tcp.socket()
    c.connect(ip.address.loopback_v4(), port)
    return c


def read_line(lines):
    return bytes(lines.get_line()).decode()


def test_chat_server_relays_each_line_to_every_other_client(backend):
    p, port = start_server(backend, "chat_server.py")
    try:
        alice, bob, carol = connect(port), connect(port), connect(port)
        a, b, c = (stream.scanner(s, record_separator="\n") for s in (alice, bob, carol))
        names = {}
        for who, lines in (("alice", a), ("bob", b), ("carol", c)):
            welcome = read_line(lines)
            assert welcome.startswith("welcome, 127.0.0.1:")
            names[who] = welcome.removeprefix("welcome, ")
        # Joins reach whoever was connected already.
        assert read_line(a) == f"* {names['bob']} joined"
        assert read_line(a) == f"* {names['carol']} joined"
        assert read_line(b) == f"* {names['carol']} joined"

        stream.write_all(alice, "hello everyone\n")
        for lines in (b, c):
            assert read_line(lines) == f"{names['alice']}: hello everyone"

        # Two clients talking at once: each line arrives whole, in order per sender.
        def say(sock, n):
            for i in range(n):
                stream.write_all(sock, f"line {i}\n")

        fb, fc = spawn(say, bob, 20), spawn(say, carol, 20)
        fb.join()
        fc.join()
        got = [read_line(a) for _ in range(40)]
        assert [g for g in got if g.startswith(names["bob"])] == [
            f"{names['bob']}: line {i}" for i in range(20)
        ]
        assert [g for g in got if g.startswith(names["carol"])] == [
            f"{names['carol']}: line {i}" for i in range(20)
        ]

        bob.close()
        assert read_line(a) == f"* {names['bob']} left"
        alice.close()
        carol.close()
    finally:
        stop(p)


def test_qotd_server_sends_one_quote_and_closes(backend):
    p, port = start_server(backend, "qotd_server.py")
    try:
        quotes = []
        for _ in range(5):
            s = connect(port)
            buf = byte_span(1024)
            got = b""
            try:
                while True:
                    n = s.read_some(buf)
                    got += bytes(buf[:n])
            except EOFError:
                pass
            s.close()
            assert got.endswith(b"\r\n") and len(got) < 512
            got.decode("ascii")
            quotes.append(got)
        assert len(set(quotes)) == 4  # the quotes rotate
        assert quotes[4] == quotes[0]
    finally:
        stop(p)


def test_file_copy_copies_and_other_fibers_run(tmp_path, backend):
    src = tmp_path / "src.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    src.write_bytes(data)
    dst = tmp_path / "dst.bin"
    r = subprocess.run(
        [sys.executable, "-m", "emilua", f"--backend={backend}"]
        + [os.path.join(EXAMPLES, "file_copy.py"), str(src), str(dst)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"copied {len(data)} bytes from {src} to {dst}\n"
    assert dst.read_bytes() == data
    r = subprocess.run(
        [sys.executable, "-m", "emilua", os.path.join(EXAMPLES, "file_copy.py"), str(src)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("usage: emilua examples/file_copy.py")


def scan(backend, port, timeout="0.3"):
    r = subprocess.run(
        [sys.executable, "-m", "emilua", f"--backend={backend}"]
        + [os.path.join(EXAMPLES, "port_scanner.py"), "127.0.0.1", str(port), str(port), timeout],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_port_scanner_tells_open_closed_and_filtered_ports(backend):
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    open_port = listener.getsockname()[1]
    # A port bound but not listening answers a SYN with a reset: closed.
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))
    closed_port = unused.getsockname()[1]
    # A listener whose accept queue is full drops new SYNs: the connect
    # neither succeeds nor fails, so only the deadline ends it.
    full = socket.create_server(("127.0.0.1", 0), backlog=0)
    full_port = full.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", full_port))
        fillers.append(c)
    try:
        assert scan(backend, open_port) == f"{open_port}/tcp open\n1 open\n"
        assert scan(backend, closed_port) == "1 closed\n"
        assert scan(backend, full_port) == "1 filtered\n"
    finally:
        for s in [listener, unused, full, *fillers]:
            s.close()

    r = subprocess.run(
        [sys.executable, "-m", "emilua", os.path.join(EXAMPLES, "port_scanner.py")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("usage: emilua examples/port_scanner.py")
