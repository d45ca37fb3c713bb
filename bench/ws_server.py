"""WebSocket echo server for bench/ws_bench.py: emilua's websocket in server
mode, one fiber per connection, each message echoed whole.

usage: emilua bench/ws_server.py PORT
"""

from emilua import http, ip, spawn, system, websocket
from emilua.byte_span import byte_span

port = int(system.arguments[2])
acceptor = ip.tcp.acceptor()
addr = ip.address.loopback_v4()
acceptor.open(addr)
acceptor.set_option("reuse_address", True)
acceptor.bind(addr, port)
acceptor.listen(1024)


def serve(sock):
    s = http.socket(sock)
    req = http.request()
    try:
        s.read_request(req)
        ws = websocket.websocket(s, req)
        buf = byte_span(65536)
        view = memoryview(buf)
        while True:
            n, status = ws.read_some(buf)
            if status == "partial":
                continue  # the benchmark's messages fit in one buffer
            ws.write(bytes(view[:n]), status)
    except (EOFError, ConnectionError):
        pass
    finally:
        s.close()


while True:
    sock = acceptor.accept()
    sock.set_option("tcp_no_delay", True)
    spawn(serve, sock).detach()
