"""HTTP hello server: aiohttp's web application on its default (asyncio) loop.

usage: python http_aiohttp.py PORT BODY_SIZE
"""

import sys

from aiohttp import web


def main() -> None:
    port, size = int(sys.argv[1]), int(sys.argv[2])
    body = b"x" * size if size else b"Hello World"

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/", hello)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=1024)


if __name__ == "__main__":
    main()
