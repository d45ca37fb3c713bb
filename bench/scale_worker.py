"""The echo server of bench/scale.py, run as a process actor.

It receives {"port": int, "reply_to": address, "work": int}, listens on 127.0.0.1:port
with SO_REUSEPORT (every worker binds the same port; the kernel spreads new
connections across the listening sockets), answers "ready", then echoes on
one fiber per connection until it is killed. With work > 0 each message
costs that many SHA-256 passes over it before the echo (CPU-bound servers).
"""

import hashlib

from emilua import byte_span, inbox, ip, spawn, stream

cmd = inbox.receive()
port = int(cmd["port"])  # numbers cross processes as doubles
work = int(cmd.get("work", 0))

acceptor = ip.tcp.acceptor()
addr = ip.address("127.0.0.1")
acceptor.open(addr)
acceptor.set_option("reuse_port", True)
acceptor.bind(addr, port)
acceptor.listen()
cmd["reply_to"].send("ready")
del cmd


def echo(sock):
    buf = byte_span.byte_span(64 * 1024)
    try:
        while True:
            n = sock.read_some(buf)
            if work:
                data = bytes(buf.slice(0, n))
                for _ in range(work):
                    data = data[: n - 32] + hashlib.sha256(data).digest()
            stream.write_all(sock, buf.slice(0, n))
    except (EOFError, ConnectionError):
        pass
    finally:
        sock.close()


while True:
    sock = acceptor.accept()
    sock.set_option("tcp_no_delay", True)
    spawn(echo, sock).detach()
