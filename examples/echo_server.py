"""A TCP echo server: one fiber per connection.

usage: emilua examples/echo_server.py [PORT] [HOST]
Prints the endpoint it listens on, then echoes every byte back until the
client closes. Stop it with Ctrl-C.
"""

from emilua import byte_span, ip, spawn, stream, system

args = system.arguments[2:]
port = int(args[0]) if args else 8080
host = args[1] if len(args) > 1 else "127.0.0.1"

acceptor = ip.tcp.acceptor()
addr = ip.address(host)
acceptor.open(addr)
acceptor.set_option("reuse_address", True)
acceptor.bind(addr, port)
acceptor.listen()
print("Listening on " + ip.tostring(acceptor.local_address, acceptor.local_port), flush=True)


def echo(sock):
    buf = byte_span.byte_span(64 * 1024)
    try:
        while True:
            n = sock.read_some(buf)
            stream.write_all(sock, buf.slice(0, n))
    except (EOFError, ConnectionError):
        pass
    finally:
        sock.close()


while True:
    sock = acceptor.accept()
    sock.set_option("tcp_no_delay", True)
    spawn(echo, sock).detach()
