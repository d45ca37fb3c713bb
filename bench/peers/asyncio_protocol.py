"""Echo server: an asyncio Protocol on the default loop.

The transport calls data_received with what one recv returned (the
selector transport asks for up to 256 KiB at a time) and write() sends at
once when its buffer is empty, so this is asyncio's shortest path per
message.

usage: python asyncio_protocol.py PORT
"""

import asyncio
import sys
from typing import cast


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
    asyncio.run(main(int(sys.argv[1])))
