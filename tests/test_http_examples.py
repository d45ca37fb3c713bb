# The HTTP and WebSocket example programs, run as a user runs them (the
# emilua command, in a child process), driven by independent clients.
import os
import subprocess
import sys
import urllib.request
from http import client as pyclient

from test_examples import EXAMPLES, TIMEOUT, start_server, stop
from websockets.sync.client import connect as ws_connect

from emilua import to_thread

LO = "127.0.0.1"


def test_http_hello_keeps_the_connection_alive(backend):
    p, port = start_server(backend, "http_hello.py")
    try:

        def client():
            conn = pyclient.HTTPConnection(LO, port, timeout=TIMEOUT)
            out = []
            for method in ("GET", "POST", "GET"):
                conn.request(method, "/", body=b"ignored" if method == "POST" else None)
                r = conn.getresponse()
                out.append((r.status, r.read()))
            conn.close()
            return out

        assert to_thread(client) == [(200, b"Hello World")] * 3
    finally:
        stop(p)


def test_http_get_fetches_from_http_hello(backend):
    p, port = start_server(backend, "http_hello.py")
    try:
        got = to_thread(
            lambda: subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "emilua",
                    f"--backend={backend}",
                    os.path.join(EXAMPLES, "http_get.py"),
                    f"http://{LO}:{port}/x?y=1",
                ],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=TIMEOUT,
            )
        )
    finally:
        stop(p)
    assert got.returncode == 0, got.stderr
    out = got.stdout.decode()
    assert out.startswith("200 OK\n")
    assert "content-type: text/plain\n" in out and out.endswith("\n\nHello World")


def test_ws_chat_serves_its_page_and_relays_messages(backend):
    p, port = start_server(backend, "ws_chat.py")
    try:

        def clients():
            with urllib.request.urlopen(f"http://{LO}:{port}/", timeout=TIMEOUT) as r:
                page = r.read().decode()
            with ws_connect(f"ws://{LO}:{port}/chat") as a:
                with ws_connect(f"ws://{LO}:{port}/chat") as b:
                    joined = a.recv(timeout=TIMEOUT)
                    b.send("hi all")
                    relayed = a.recv(timeout=TIMEOUT)
                left = a.recv(timeout=TIMEOUT)
            return page, joined, relayed, left

        page, joined, relayed, left = to_thread(clients)
    finally:
        stop(p)
    assert "new WebSocket" in page
    assert joined.startswith("* 127.0.0.1:") and joined.endswith(" joined")
    assert relayed.endswith(": hi all")
    assert left.endswith(" left")
