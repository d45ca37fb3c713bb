# Manual: "http.socket" (server side), "http.request", "http.response",
# "http.headers". The server is an emilua fiber; the clients are Python's
# http.client and urllib, or a raw blocking socket, each run in a worker
# thread (emilua.to_thread) so the engine serves while they wait.
import socket as pysocket
import urllib.request
from http import client as pyclient

import pytest

from emilua import FiberInterrupted, http, ip, spawn, time, to_thread

LO = "127.0.0.1"


class Server:
    """An acceptor on the loopback; each connection runs handler(http.socket)."""

    def __init__(self, handler, **limits):
        self.acceptor = ip.tcp.acceptor()
        lo = ip.address.loopback_v4()
        self.acceptor.open(lo)
        self.acceptor.bind(lo, 0)
        self.acceptor.listen()
        self.port = self.acceptor.local_port
        self.handler = handler
        self.limits = limits
        self.connections = 0
        self.errors = []
        self.fibers = []
        self.accepting = spawn(self._accept)

    def _accept(self):
        while True:
            sock = self.acceptor.accept()
            self.connections += 1
            self.fibers.append(spawn(self._run, sock))

    def _run(self, sock):
        s = http.socket(sock, **self.limits)
        try:
            self.handler(s)
        except EOFError:
            pass
        except Exception as e:  # recorded, checked by the test
            self.errors.append(e)
        finally:
            s.close()

    def stop(self):
        self.accepting.interrupt()
        try:
            self.accepting.join()
        except FiberInterrupted:
            pass
        for f in self.fibers:
            f.join()
        self.acceptor.close()


def echo_handler(s):
    """Answers every request with its method, target and body."""
    req = http.request()
    res = http.response()
    while True:
        s.read_request(req)
        while s.read_state != "finished":
            s.read_some(req)
        res.status = 200
        res.headers = {"content-type": "text/plain"}
        if req.trailers:
            res.headers["x-trailers"] = ",".join(f"{k}={v}" for k, v in req.trailers.items())
        res.body = f"{req.method} {req.target} ".encode() + req.body
        s.write_response(res)


def raw_exchange(port, data, shut=False):
    """Send *data* on a blocking socket; return all the bytes until the server closes."""
    with pysocket.create_connection((LO, port), timeout=30) as c:
        c.sendall(data)
        if shut:
            c.shutdown(pysocket.SHUT_WR)
        out = b""
        while True:
            got = c.recv(65536)
            if not got:
                return out
            out += got


def test_keep_alive_requests_share_one_connection():
    srv = Server(echo_handler)

    def client():
        conn = pyclient.HTTPConnection(LO, srv.port, timeout=30)
        out = []
        for i in range(3):
            conn.request("GET", f"/page/{i}")
            r = conn.getresponse()
            out.append((r.status, r.reason, r.getheader("content-type"), r.read()))
        conn.request("POST", "/form", body=b"a=1&b=2")
        r = conn.getresponse()
        out.append((r.status, r.reason, r.getheader("content-type"), r.read()))
        conn.close()
        return out

    out = to_thread(client)
    assert out[:3] == [(200, "OK", "text/plain", f"GET /page/{i} ".encode()) for i in range(3)]
    assert out[3] == (200, "OK", "text/plain", b"POST /form a=1&b=2")
    srv.stop()
    assert srv.connections == 1 and not srv.errors


def test_urllib_fetches_and_headers_arrive_lower_case():
    seen = {}

    def handler(s):
        req = http.request()
        s.read_request(req)
        seen.update(req.headers)
        res = http.response()
        res.headers["x-multi"] = ["one", "two"]
        res.body = "héllo"
        s.write_response(res)

    srv = Server(handler)

    def client():
        rq = urllib.request.Request(f"http://{LO}:{srv.port}/x", headers={"X-Custom": "Val"})
        with urllib.request.urlopen(rq, timeout=30) as r:
            return r.status, r.headers.get_all("X-Multi"), r.read()

    status, multi, body = to_thread(client)
    srv.stop()
    assert (status, multi, body) == (200, ["one", "two"], "héllo".encode())
    assert seen["x-custom"] == "Val" and seen["host"] == f"{LO}:{srv.port}"


def test_chunked_request_body_and_trailers():
    srv = Server(echo_handler)
    data = (
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Check: ok\r\n\r\n"
    )
    out = to_thread(raw_exchange, srv.port, data)
    srv.stop()
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close\r\n" in out and b"x-trailers: x-check=ok\r\n" in out
    assert out.endswith(b"\r\n\r\nPOST /up hello world")


def test_http_client_chunked_upload():
    srv = Server(echo_handler)

    def client():
        conn = pyclient.HTTPConnection(LO, srv.port, timeout=30)
        conn.request("PUT", "/c", body=iter([b"ab", b"cd", b"ef"]), encode_chunked=True)
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return body

    assert to_thread(client) == b"PUT /c abcdef"
    srv.stop()


def test_pipelined_requests_are_answered_in_order():
    srv = Server(echo_handler)
    data = (
        b"".join(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(20))
        + b"POST /last HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nend"
    )
    out = to_thread(raw_exchange, srv.port, data)
    srv.stop()
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in out.split(b"HTTP/1.1 200 OK")[1:]]
    want = [f"GET /{i} ".encode() for i in range(20)] + [b"POST /last end"]
    assert [b[: len(w)] for b, w in zip(bodies, want, strict=True)] == want


def test_expect_100_continue():
    events = []

    def handler(s):
        req = http.request()
        s.read_request(req)
        events.append(("required", req.continue_required(), s.read_state))
        s.write_response_continue()
        events.append(s.write_state)
        while s.read_state != "finished":
            s.read_some(req)
        res = http.response(201)
        res.body = req.body
        s.write_response(res)

    srv = Server(handler)

    def client():
        with pysocket.create_connection((LO, srv.port), timeout=30) as c:
            c.sendall(
                b"PUT /f HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
            )
            interim = c.recv(100)
            c.sendall(b"data")
            final = b""
            while not final.endswith(b"data"):
                final += c.recv(1000)
            return interim, final

    interim, final = to_thread(client)
    srv.stop()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final.startswith(b"HTTP/1.1 201 Created\r\n")
    assert events == [("required", True, "message_ready"), "continue_issued"]
    assert not srv.errors


def test_final_answer_without_continue_closes_the_connection():
    def handler(s):
        req = http.request()
        s.read_request(req)
        assert req.continue_required()
        s.write_response(http.response(417))
        assert not s.is_open

    srv = Server(handler)
    data = b"PUT /f HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    out = to_thread(raw_exchange, srv.port, data)
    srv.stop()
    assert out.startswith(b"HTTP/1.1 417 Expectation Failed\r\nconnection: close\r\n")
    assert not srv.errors


def test_http10_client_gets_http10_and_the_connection_closes():
    srv = Server(echo_handler)
    out = to_thread(raw_exchange, srv.port, b"GET /old HTTP/1.0\r\n\r\n")
    srv.stop()
    assert out.startswith(b"HTTP/1.0 200 OK\r\nconnection: close\r\n")
    assert out.endswith(b"GET /old ")
    assert not srv.errors


def test_http10_keep_alive():
    srv = Server(echo_handler)
    data = b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n"
    out = to_thread(raw_exchange, srv.port, data)
    srv.stop()
    assert out.count(b"HTTP/1.0 200 OK") == 2
    assert b"connection: keep-alive\r\n" in out and out.endswith(b"GET /b ")


def test_streamed_response_chunked_with_trailers():
    def handler(s):
        req = http.request()
        s.read_request(req)
        assert s.is_write_response_native_stream
        res = http.response()
        res.headers["content-type"] = "text/plain"
        s.write_response_metadata(res)
        assert s.write_state == "metadata_issued"
        for part in ("one ", "two ", "three"):
            res.body = part
            s.write(res)
        res.trailers["x-sum"] = "3"
        s.write_trailers(res)
        assert s.write_state == "empty" and s.read_state == "empty"

    srv = Server(handler)

    def client():
        conn = pyclient.HTTPConnection(LO, srv.port, timeout=30)
        conn.request("GET", "/")
        r = conn.getresponse()
        out = r.getheader("transfer-encoding"), r.read()
        conn.close()
        return out

    assert to_thread(client) == ("chunked", b"one two three")
    srv.stop()
    assert not srv.errors


def test_streamed_response_to_http10_ends_with_the_connection():
    def handler(s):
        req = http.request()
        s.read_request(req)
        assert not s.is_write_response_native_stream
        res = http.response()
        s.write_response_metadata(res)
        res.body = b"abc"
        s.write(res)
        s.write(res)
        s.write_end_of_message()
        assert not s.is_open

    srv = Server(handler)
    out = to_thread(raw_exchange, srv.port, b"GET / HTTP/1.0\r\n\r\n")
    srv.stop()
    assert out == b"HTTP/1.0 200 OK\r\nconnection: close\r\n\r\nabcabc"
    assert not srv.errors


def test_head_response_has_no_body():
    srv = Server(echo_handler)
    out = to_thread(raw_exchange, srv.port, b"HEAD /h HTTP/1.1\r\nConnection: close\r\n\r\n")
    srv.stop()
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 8\r\n" in out and out.endswith(b"\r\n\r\n")


def test_upgrade_desired():
    seen = []

    def handler(s):
        req = http.request()
        s.read_request(req)
        seen.append((req.upgrade_desired(), req.headers["upgrade"]))
        res = http.response(101)
        res.headers = {"upgrade": "echo", "connection": "upgrade"}
        s.write_response(res)
        sock, rest = s.release()
        sock.write_some(b"echo:" + rest)
        sock.close()

    srv = Server(handler)
    data = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly"
    out = to_thread(raw_exchange, srv.port, data)
    srv.stop()
    assert seen == [(True, "echo")]
    assert out.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert out.endswith(b"\r\n\r\necho:early")


def test_declined_upgrade_goes_on_with_http():
    srv = Server(echo_handler)
    data = (
        b"GET /first HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
        b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    out = to_thread(raw_exchange, srv.port, data)
    srv.stop()
    assert out.count(b"HTTP/1.1 200 OK") == 2
    assert b"GET /first " in out and out.endswith(b"GET /second ")
    assert not srv.errors


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
        (b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX : a\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(3000)) + b"\r\n", 431),
        (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n" + b"a" * 2000, 413),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + b"a" * 2000, 413),
    ],
)
def test_refused_requests_get_an_error_status_and_the_connection_closes(data, status):
    srv = Server(echo_handler, max_body_size=1000)
    out = to_thread(raw_exchange, srv.port, data, True)
    srv.stop()
    assert out.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"connection: close\r\n" in out
    assert len(srv.errors) == 1 and isinstance(srv.errors[0], http.protocol_error)
    assert srv.errors[0].status == status


def test_header_limit_is_configurable():
    srv = Server(echo_handler, max_header_size=100)
    out = to_thread(raw_exchange, srv.port, b"GET / HTTP/1.1\r\nX: " + b"a" * 200 + b"\r\n\r\n")
    srv.stop()
    assert out.startswith(b"HTTP/1.1 431 ")


def test_slow_client_is_cut_by_a_deadline():
    """Slow-loris defence through interruption: the header read has a deadline."""
    outcome = []

    def handler(s):
        req = http.request()
        reader = spawn(s.read_request, req)
        watchdog = spawn(lambda: (time.sleep(0.05), reader.interrupt()))
        reader.join()
        watchdog.interrupt()
        watchdog.join()
        if reader.interruption_caught:
            outcome.append("timed out")

    srv = Server(handler)

    def client():
        with pysocket.create_connection((LO, srv.port), timeout=30) as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost:")
            return c.recv(100)

    assert to_thread(client) == b""
    srv.stop()
    assert outcome == ["timed out"] and not srv.errors


def test_states_follow_the_manual():
    states = []

    def handler(s):
        states.append((s.read_state, s.write_state))
        req = http.request()
        s.read_request(req)
        while s.read_state != "finished":
            assert s.read_state in ("message_ready", "body_ready")
            s.read_some(req)
        states.append((s.read_state, req.body, req.trailers))
        s.write_response(http.response(204))
        states.append((s.read_state, s.write_state))

    srv = Server(handler)

    def client():
        with pysocket.create_connection((LO, srv.port), timeout=30) as c:
            c.sendall(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            # The server reads the head alone, then waits for body data.
            c.sendall(b"3\r\nabc\r\n")
            c.sendall(b"0\r\nx-t: 1\r\n\r\n")
            return c.recv(1000)

    out = to_thread(client)
    srv.stop()
    assert not srv.errors
    assert out.startswith(b"HTTP/1.1 204 No Content\r\n") and b"content-length" not in out
    assert states[0] == ("empty", "empty")
    assert states[1][0] in ("message_ready", "finished")
    assert states[-2] == ("finished", b"abc", {"x-t": "1"})
    assert states[-1] == ("empty", "empty")


class Clamped:
    """A real stream socket whose reads return at most *first* bytes the first
    time, then one byte at a time for a few reads, then what is there: a
    message split at a chosen byte boundary, however TCP packs it."""

    def __init__(self, sock, first):
        self.sock = sock
        self.sizes = [first, 1, 1]

    def read_some(self, buf):
        size = self.sizes.pop(0) if self.sizes else len(buf)
        return self.sock.read_some(buf[: max(1, min(size, len(buf)))])

    def write_some(self, buf):
        return self.sock.write_some(buf)

    @property
    def is_open(self):
        return self.sock.is_open

    def close(self):
        self.sock.close()


def test_messages_split_at_every_byte_boundary():
    message = (
        b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\nx-t: z\r\n\r\n"
        b"GET /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy"
    )
    lo = ip.address.loopback_v4()
    a = ip.tcp.acceptor()
    a.open(lo)
    a.bind(lo, 0)
    a.listen()
    for cut in range(1, len(message)):
        c = ip.tcp.socket()
        c.connect(lo, a.local_port)
        srv = a.accept()
        c.write_some(message)
        s = http.socket(Clamped(srv, cut))
        got = []
        req = http.request()
        for _ in range(2):
            s.read_request(req)
            while s.read_state != "finished":
                s.read_some(req)
            got.append((req.method, req.target, req.body, dict(req.trailers)))
            s.write_response(http.response())
        assert got == [("POST", "/a", b"abcde", {"x-t": "z"}), ("GET", "/b", b"xy", {})], cut
        s.close()
        c.close()
    a.close()


@pytest.mark.pure
def test_headers_validate_names_and_values():
    h = http.headers()
    h["x-ok"] = "a value"
    h["x-list"] = ["a", "b"]
    with pytest.raises(ValueError):
        h["X-Upper"] = "v"
    with pytest.raises(ValueError):
        h["x"] = " leading space"
    with pytest.raises(ValueError):
        h["x"] = "new\r\nline"
    with pytest.raises(TypeError):
        h["x"] = 3
    assert dict(h) == {"x-ok": "a value", "x-list": ["a", "b"]}
    assert list(h.fields()) == [("x-ok", "a value"), ("x-list", "a"), ("x-list", "b")]
