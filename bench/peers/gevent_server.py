"""Echo server: gevent's StreamServer, one greenlet per connection.

Blocking-style socket code on gevent's cooperative sockets: the closest peer
to emilua's programming model (a fiber per connection, parking on IO).

usage: python gevent_server.py PORT
"""

import socket
import sys

from gevent.server import StreamServer


def handle(sock: socket.socket, address: tuple[str, int]) -> None:
    # asyncio, uvloop and trio set TCP_NODELAY on their TCP streams; gevent
    # leaves sockets as accepted, so set it here for a like-for-like run.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while data := sock.recv(65536):
            sock.sendall(data)
    except ConnectionError:
        pass  # the load generator may reset connections when it stops


if __name__ == "__main__":
    StreamServer(("127.0.0.1", int(sys.argv[1])), handle).serve_forever()
