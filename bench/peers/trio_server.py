"""Echo server: trio.serve_tcp, one task per connection.

usage: python trio_server.py PORT
"""

import sys
from functools import partial

import trio


async def handle(stream: trio.SocketStream) -> None:
    try:
        # Iterating a stream calls receive_some(), which reads up to 64 KiB.
        async for data in stream:
            await stream.send_all(data)
    except trio.BrokenResourceError:
        pass  # the load generator may reset connections when it stops


if __name__ == "__main__":
    trio.run(partial(trio.serve_tcp, handle, int(sys.argv[1]), host="127.0.0.1"))
