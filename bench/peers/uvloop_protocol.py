"""Echo server: an asyncio Protocol on uvloop.

The transport calls data_received with what one read returned (uvloop
reads into a 250 KB buffer owned by the loop) and write() sends at once
when its buffer is empty, so this is uvloop's shortest path per message.

usage: python uvloop_protocol.py PORT
"""

import asyncio
import sys
from typing import cast

import uvloop


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    # A peer that stops reading fills the transport's buffer; stop reading
    # from it until the buffer drains instead of buffering without bound.
    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
