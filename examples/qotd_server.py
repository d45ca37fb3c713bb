"""A Quote of the Day server (RFC 865): each connection gets one quote, then
the server closes it.

usage: emilua examples/qotd_server.py [PORT] [HOST]
RFC 865 keeps a quote under 512 characters of ASCII; the quotes rotate.
"""

from emilua import ip, spawn, stream, system

QUOTES = [
    "The cheapest, fastest and most reliable components are those that aren't there.",
    "Simplicity is prerequisite for reliability.",
    "Make it work, make it right, make it fast.",
    "Premature optimization is the root of all evil.",
]

args = system.arguments[2:]
port = int(args[0]) if args else 8017
host = args[1] if len(args) > 1 else "127.0.0.1"

acceptor = ip.tcp.acceptor()
addr = ip.address(host)
acceptor.open(addr)
acceptor.set_option("reuse_address", True)
acceptor.bind(addr, port)
acceptor.listen()
print("Listening on " + ip.tostring(acceptor.local_address, acceptor.local_port), flush=True)


def serve(sock, quote):
    try:
        stream.write_all(sock, quote + "\r\n")
        sock.shutdown("send")
    except OSError:
        pass
    finally:
        sock.close()


served = 0
while True:
    sock = acceptor.accept()
    spawn(serve, sock, QUOTES[served % len(QUOTES)]).detach()
    served += 1
