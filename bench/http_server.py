"""HTTP hello server for bench/http_bench.py: emilua's http.socket, one
fiber per connection, keep-alive, the response object built once.

usage: emilua bench/http_server.py PORT BODY_SIZE
"""

from emilua import http, ip, spawn, system

args = system.arguments[2:]
port, size = int(args[0]), int(args[1])

acceptor = ip.tcp.acceptor()
addr = ip.address.loopback_v4()
acceptor.open(addr)
acceptor.set_option("reuse_address", True)
acceptor.bind(addr, port)
acceptor.listen(1024)

res = http.response()
res.headers["content-type"] = "text/plain"
res.body = b"x" * size if size else b"Hello World"


def serve(sock):
    s = http.socket(sock)
    req = http.request()
    try:
        while True:
            s.read_request(req)
            while s.read_state != "finished":
                s.read_some(req)
            s.write_response(res)
    except (EOFError, ConnectionError, http.protocol_error):
        pass
    finally:
        s.close()


while True:
    sock = acceptor.accept()
    sock.set_option("tcp_no_delay", True)
    spawn(serve, sock).detach()
