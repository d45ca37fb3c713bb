"""A TCP chat server: every line a client sends goes to every other client.

usage: emilua examples/chat_server.py [PORT] [HOST]
Prints the endpoint it listens on. Try it with two `nc 127.0.0.1 PORT`.
Each client gets a fiber that reads its lines; a line is written to the
other clients by the reader's fiber, one client after another, so a slow
client slows the sender only (back-pressure, no unbounded queue). A client
that fails a write is dropped.
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

clients = set()


def broadcast(sender, line):
    for other in list(clients):
        if other is sender:
            continue
        try:
            stream.write_all(other, line)
        except OSError:
            clients.discard(other)


def serve(sock):
    name = ip.tostring(sock.remote_address, sock.remote_port)
    clients.add(sock)
    lines = stream.scanner(sock, record_separator="\n")
    try:
        stream.write_all(sock, f"welcome, {name}\n")
        broadcast(sock, f"* {name} joined\n")
        while True:
            line = lines.get_line()
            broadcast(sock, f"{name}: {bytes(line).decode(errors='replace')}\n")
    except (EOFError, OSError):
        pass
    finally:
        clients.discard(sock)
        sock.close()
        broadcast(None, f"* {name} left\n")


while True:
    spawn(serve, acceptor.accept()).detach()
