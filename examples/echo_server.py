"""A TCP echo server: one fiber per connection.

usage: emilua examples/echo_server.py [PORT] [HOST]
Prints the endpoint it listens on, then echoes every byte back until the
client closes. Stop it with Ctrl-C.

Each connection reads with read_some_span(): while a connection waits for
data it holds no buffer, and the engine copies what arrives into a span
that the fiber writes back and drops. A fiber that read into a buffer of its
own (sock.read_some(buf)) would keep that buffer for as long as the
connection lives, which at thousands of idle connections is most of the
server's memory (see docs/io.md).
"""

from emilua import ip, spawn, stream, system

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
    try:
        while True:
            stream.write_all(sock, sock.read_some_span())
    except (EOFError, ConnectionError):
        pass
    finally:
        sock.close()


while True:
    sock = acceptor.accept()
    sock.set_option("tcp_no_delay", True)
    spawn(echo, sock).detach()
