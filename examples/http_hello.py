"""A keep-alive HTTP/1.1 hello-world server: one fiber per connection.

usage: emilua examples/http_hello.py [PORT] [HOST]
Prints the endpoint it listens on. Every request gets "Hello World". A client
that takes longer than HEADER_DEADLINE seconds to send a request's header
section (a slow-loris attack, or an idle keep-alive connection) is
disconnected: the read runs in a fiber of its own that a watchdog interrupts
(manual, "Interruption API").
"""

from emilua import http, ip, spawn, system, time

HEADER_DEADLINE = 10.0

args = system.arguments[2:]
port = int(args[0]) if args else 8080
host = args[1] if len(args) > 1 else "127.0.0.1"

acceptor = ip.tcp.acceptor()
addr = ip.address(host)
acceptor.open(addr)
acceptor.set_option("reuse_address", True)
acceptor.bind(addr, port)
acceptor.listen(1024)
print("Listening on " + ip.tostring(acceptor.local_address, acceptor.local_port), flush=True)


def read_request_within(s, req, seconds):
    """read_request with a deadline; False when the deadline passed first."""
    reader = spawn(s.read_request, req)
    watchdog = spawn(lambda: (time.sleep(seconds), reader.interrupt()))
    try:
        reader.join()
    finally:
        watchdog.interrupt()
        watchdog.join()
    return not reader.interruption_caught


def serve(sock):
    s = http.socket(sock)
    req = http.request()
    res = http.response()
    res.headers["content-type"] = "text/plain"
    res.body = b"Hello World"
    try:
        while read_request_within(s, req, HEADER_DEADLINE):
            while s.read_state != "finished":
                s.read_some(req)  # the body, unused here
            s.write_response(res)
    except (EOFError, ConnectionError, http.protocol_error):
        pass
    finally:
        s.close()


while True:
    sock = acceptor.accept()
    sock.set_option("tcp_no_delay", True)
    spawn(serve, sock).detach()
