# Manual: "websocket". Peers: the websockets library (its threaded, blocking
# API) in a thread of its own, and wsproto driving a raw socket for frames
# split at every byte boundary.
import gc
import threading

import pytest
from test_http_server import LO, Clamped, Server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.frame_protocol import CloseReason

from emilua import http, ip, to_thread, websocket
from emilua.byte_span import byte_span


def read_message(ws, size=7):
    """Read one whole message with a small buffer; return (data, kind, pieces)."""
    buf = byte_span(size)
    data = b""
    pieces = 0
    while True:
        n, status = ws.read_some(buf)
        data += bytes(buf.slice(0, n))
        pieces += 1
        if status != "partial":
            return data, status, pieces


class PyEchoServer:
    def __init__(self):
        self.close_codes = []

        def handler(conn):
            try:
                for msg in conn:
                    conn.send(msg)
            except ConnectionClosed:
                pass
            self.close_codes.append(conn.close_code)

        self.server = ws_serve(handler, LO, 0)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(30)
        # serve_forever leaves its selector to the garbage collector.
        gc.collect()


def tcp_connect(port):
    s = ip.tcp.socket()
    s.connect(ip.address.loopback_v4(), port)
    return s


def test_client_mode_against_websockets():
    py = PyEchoServer()
    ws = websocket.websocket(
        tcp_connect(py.port), f"{LO}:{py.port}", "/chat", {"origin": "http://example.test"}
    )
    assert ws.headers["upgrade"].lower() == "websocket"
    ws.write("héllo, wörld: a text message")
    assert read_message(ws) == ("héllo, wörld: a text message".encode(), "text", 5)
    ws.write(b"\x00\x01binary")
    assert read_message(ws, 100) == (b"\x00\x01binary", "binary", 1)
    ws.write(byte_span(3))
    assert read_message(ws) == (b"\0\0\0", "binary", 1)
    ws.write(b"as text", "text")
    assert read_message(ws)[1] == "text"
    ws.ping(b"p")
    ws.write("")
    assert read_message(ws) == (b"", "text", 1)
    ws.close(4001, "bye")
    assert not ws.is_open
    py.stop()
    assert py.close_codes == [4001]


def test_client_mode_refused_handshake_raises():
    srv = Server(lambda s: s.read_request(http.request()) or s.write_response(http.response(404)))
    with pytest.raises(ConnectionRefusedError):
        websocket.websocket(tcp_connect(srv.port), "x", "/")
    srv.stop()


def ws_echo_handler(results):
    def handler(s):
        req = http.request()
        s.read_request(req)
        results.append(websocket.is_websocket_upgrade(req))
        ws = websocket.websocket(s, req, {"x-server": "emilua"})
        try:
            while True:
                data, kind, _ = read_message(ws, 1000)
                ws.write(data if kind == "binary" else data.decode())
        except websocket.closed as e:
            results.append((e.code, e.reason))

    return handler


def test_server_mode_against_websockets():
    results = []
    srv = Server(ws_echo_handler(results))

    def client():
        with ws_connect(f"ws://{LO}:{srv.port}/room") as c:
            hdr = c.response.headers["x-server"]
            c.send("text one")
            a = c.recv(timeout=30)
            c.send(b"\x00bin")
            b = c.recv(timeout=30)
            c.send(iter(["frag", "mented"]))  # one message in two frames
            f = c.recv(timeout=30)
            big = bytes(range(256)) * 300
            c.send(big)
            g = c.recv(timeout=30)
            pong = c.ping(b"x")
            pong.wait(30)
            c.close(4000, "done")
            return hdr, a, b, f, g == big

    assert to_thread(client) == ("emilua", "text one", b"\x00bin", "fragmented", True)
    srv.stop()
    assert results == [True, (4000, "done")] and not srv.errors


def test_server_mode_peer_close_without_code():
    results = []
    srv = Server(ws_echo_handler(results))

    def client():
        c = Connection(ConnectionType.CLIENT)
        import socket as pysocket

        with pysocket.create_connection((LO, srv.port), timeout=30) as raw:
            raw.sendall(upgrade_request())
            head = b""
            while b"\r\n\r\n" not in head:
                head += raw.recv(1000)
            raw.sendall(c.send(CloseConnection(code=CloseReason.NO_STATUS_RCVD)))
            return raw.recv(1000)

    reply = to_thread(client)
    srv.stop()
    assert reply == b"\x88\x00"  # a close frame with no code back
    assert results == [True, (1005, "")]


def upgrade_request():
    return (
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )


def test_frames_split_at_every_byte_boundary():
    c = Connection(ConnectionType.CLIENT)
    wire = upgrade_request()
    wire += c.send(TextMessage(data="hé", message_finished=False))
    wire += c.send(Ping(payload=b"pp"))
    wire += c.send(TextMessage(data="llo", message_finished=True))
    wire += c.send(BytesMessage(data=b"\xff" * 130))
    wire += c.send(CloseConnection(code=1000, reason="ok"))
    lo = ip.address.loopback_v4()
    a = ip.tcp.acceptor()
    a.open(lo)
    a.bind(lo, 0)
    a.listen()
    for cut in range(1, len(wire)):
        peer = ip.tcp.socket()
        peer.connect(lo, a.local_port)
        s = http.socket(Clamped(a.accept(), cut))
        peer.write_some(wire)
        req = http.request()
        s.read_request(req)
        ws = websocket.websocket(s, req)
        got = []
        with pytest.raises(websocket.closed) as info:
            while True:
                data, kind, _ = read_message(ws, 64)
                got.append((data, kind))
        assert got == [("héllo".encode(), "text"), (b"\xff" * 130, "binary")], cut
        assert (info.value.code, info.value.reason) == (1000, "ok")
        # What the server sent: the 101, a pong, the close reply.
        out = b""
        buf = byte_span(4096)
        try:
            while True:
                out += bytes(buf.slice(0, peer.read_some(buf)))
        except EOFError:
            pass
        head, frames = out.split(b"\r\n\r\n", 1)
        assert b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        d = Connection(ConnectionType.CLIENT)
        d.receive_data(frames)
        evs = list(d.events())
        assert isinstance(evs[0], Pong) and evs[0].payload == b"pp"
        assert isinstance(evs[1], CloseConnection) and evs[1].code == 1000
        peer.close()
    a.close()


@pytest.mark.pure
def test_is_websocket_upgrade():
    req = http.request("GET", "/")
    assert not websocket.is_websocket_upgrade(req)
    req.headers = {
        "upgrade": "websocket",
        "connection": "keep-alive, Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
    }
    assert websocket.is_websocket_upgrade(req)
    req.method = "POST"
    assert not websocket.is_websocket_upgrade(req)
