"""Echo server: asyncio streams (StreamReader/StreamWriter) on uvloop.

usage: python uvloop_streams.py PORT
"""

import asyncio
import sys

import uvloop


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            # drain() is the streams API's back-pressure point; it returns at
            # once while the transport's buffer is under its high-water mark.
            await writer.drain()
    except ConnectionError:
        pass  # the load generator may reset connections when it stops
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
