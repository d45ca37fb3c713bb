"""WebSocket echo server: the websockets library (asyncio API) on uvloop.

usage: python ws_websockets_uvloop.py PORT
"""

import sys

import uvloop
from websockets.asyncio.server import serve


async def echo(ws):  # type: ignore[no-untyped-def]
    async for msg in ws:
        await ws.send(msg)


async def main(port: int) -> None:
    async with serve(echo, "127.0.0.1", port, compression=None, max_size=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
