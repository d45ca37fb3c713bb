# Manual: "http.socket" (client side). The peer is Python's http.server in a
# thread of its own, or a raw blocking socket for what http.server cannot send.
import socket as pysocket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emilua import http, ip

LO = "127.0.0.1"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, body, status=200, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Done")
            self.end_headers()
            for part in (b"alpha ", b"beta ", b"gamma"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Done: yes\r\n\r\n")
            return
        body = f"{self.command} {self.path} {self.request_version} {self.headers['x-test']}"
        self._reply(body.encode(), extra=[("X-Multi", "1"), ("X-Multi", "2")])

    do_HEAD = do_GET

    def do_POST(self):
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    trailer = self.rfile.readline()
                    while trailer not in (b"\r\n", b""):
                        body += b"|" + trailer.strip()
                        trailer = self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        self._reply(b"got " + body, status=201)


class PyServer:
    """http.server in a thread; stop() waits for its connection threads."""

    def __init__(self):
        self.srv = ThreadingHTTPServer((LO, 0), Handler)
        self.srv.daemon_threads = False
        self.srv.block_on_close = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(30)


def connect(port):
    s = ip.tcp.socket()
    s.connect(ip.address.loopback_v4(), port)
    return http.socket(s)


def fetch(s, res):
    s.read_response(res)
    while s.read_state != "empty":
        s.read_some(res)
    return res


def test_get_requests_on_one_connection():
    py = PyServer()
    s = connect(py.port)
    for i in range(3):
        req = http.request("GET", f"/p{i}")
        req.headers["host"] = "localhost"
        req.headers["x-test"] = str(i)
        s.write_request(req)
        res = fetch(s, http.response())
        assert (res.status, res.reason) == (200, "OK")
        assert res.headers["content-type"] == "text/plain"
        assert res.headers["x-multi"] == ["1", "2"]
        assert res.body == f"GET /p{i} HTTP/1.1 {i}".encode()
    s.close()
    py.stop()


def test_pipelined_requests_and_head():
    py = PyServer()
    s = connect(py.port)
    for target in ("/a", "/c"):
        s.write_request(http.request("GET", target))
    with pytest.raises(RuntimeError):
        s.write_request(http.request("HEAD", "/"))
    a = fetch(s, http.response())
    c = fetch(s, http.response())
    for method, target in (("HEAD", "/b"), ("GET", "/d")):
        s.write_request(http.request(method, target))
    b = fetch(s, http.response())
    d = fetch(s, http.response())
    assert a.body == b"GET /a HTTP/1.1 None"
    assert c.body == b"GET /c HTTP/1.1 None"
    assert b.body == b"" and b.headers["content-length"] == str(len(b"HEAD /b HTTP/1.1 None"))
    assert d.body == b"GET /d HTTP/1.1 None"
    s.close()
    py.stop()


def test_post_body_whole_and_chunked_with_trailers():
    py = PyServer()
    s = connect(py.port)
    req = http.request("POST", "/form")
    req.headers["host"] = "localhost"
    req.body = "x=1"
    s.write_request(req)
    res = fetch(s, http.response())
    assert (res.status, res.reason, res.body) == (201, "Created", b"got x=1")

    req = http.request("POST", "/stream")
    req.headers["host"] = "localhost"
    s.write_request_metadata(req)
    assert s.write_state == "metadata_issued"
    for part in (b"one,", b"two"):
        req.body = part
        s.write(req)
    req.trailers["x-end"] = "1"
    s.write_trailers(req)
    assert s.write_state == "empty"
    res = fetch(s, http.response())
    assert res.body == b"got one,two|x-end: 1"
    s.close()
    py.stop()


def test_chunked_response_with_trailers():
    py = PyServer()
    s = connect(py.port)
    req = http.request("GET", "/chunked")
    req.headers["host"] = "localhost"
    s.write_request(req)
    res = http.response()
    s.read_response(res)
    assert s.read_state in ("message_ready", "body_ready", "empty")
    while s.read_state != "empty":
        s.read_some(res)
    assert res.body == b"alpha beta gamma"
    assert res.trailers == {"x-done": "yes"}
    s.close()
    py.stop()


def test_lock_client_to_http10():
    py = PyServer()
    s = connect(py.port)
    s.lock_client_to_http10()
    req = http.request("GET", "/old")
    req.headers["host"] = "localhost"
    s.write_request(req)
    res = fetch(s, http.response())
    assert res.body == b"GET /old HTTP/1.0 None"
    s.close()
    py.stop()


def raw_peer(reply):
    """A one-shot server that reads one request head and sends *reply*."""
    lsock = pysocket.create_server((LO, 0))

    def run():
        conn, _ = lsock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            conn.sendall(reply)
        lsock.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return lsock.getsockname()[1], t


def test_response_delimited_by_end_of_connection_and_interim_100():
    port, t = raw_peer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 Fine\r\n\r\nall of it")
    s = connect(port)
    s.write_request(http.request("GET", "/"))
    res = fetch(s, http.response())
    assert (res.status, res.reason, res.body) == (200, "Fine", b"all of it")
    s.close()
    t.join(30)


def test_malformed_response_raises_protocol_error():
    port, t = raw_peer(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
    s = connect(port)
    s.write_request(http.request("GET", "/"))
    with pytest.raises(http.protocol_error) as info:
        s.read_response(http.response())
    assert info.value.status == 502
    assert not s.is_open
    t.join(30)


def test_client_splits_at_every_byte_boundary():
    from test_http_server import Clamped

    reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\nx-t: 1\r\n\r\n"
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"
    )
    lo = ip.address.loopback_v4()
    a = ip.tcp.acceptor()
    a.open(lo)
    a.bind(lo, 0)
    a.listen()
    for cut in range(1, len(reply)):
        c = ip.tcp.socket()
        c.connect(lo, a.local_port)
        peer = a.accept()
        peer.write_some(reply)
        s = http.socket(Clamped(c, cut))
        s.write_request(http.request("GET", "/1"))
        s.write_request(http.request("GET", "/2"))
        one = fetch(s, http.response())
        two = fetch(s, http.response())
        assert (one.status, one.body, dict(one.trailers)) == (200, b"abcd", {"x-t": "1"}), cut
        assert (two.status, two.reason, two.body) == (404, "Not Found", b"no"), cut
        s.close()
        peer.close()
    a.close()


def test_symmetric_socket_takes_one_role():
    from emilua import unix

    a, b = unix.stream_socket.pair()
    s = http.socket(a)
    s.write_request(http.request())
    with pytest.raises(RuntimeError):
        s.read_request(http.request())
    s.close()
    b.close()
