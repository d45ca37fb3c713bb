"""HTTP hello server: an asyncio Protocol on uvloop parsing with httptools.

The shortest HTTP path asyncio offers: data_received feeds the parser, each
completed request queues a prebuilt response, and the responses of one read
go out in one transport.write (pipelining-safe, keep-alive).

usage: python http_uvloop_httptools.py PORT BODY_SIZE
"""

import asyncio
import sys

import httptools
import uvloop


def main() -> None:
    port, size = int(sys.argv[1]), int(sys.argv[2])
    body = b"x" * size if size else b"Hello World"
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % len(body)
    close_head = head.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n")

    class Hello(asyncio.Protocol):
        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)
            self.out: list[bytes] = []

        def on_message_complete(self) -> None:
            if self.parser.should_keep_alive():
                self.out.append(head + body)
            else:
                self.out.append(close_head + body)
                self.closing = True

        def data_received(self, data: bytes) -> None:
            self.closing = False
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.close()
                return
            if self.out:
                self.transport.write(b"".join(self.out))
                self.out.clear()
            if self.closing:
                self.transport.close()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Hello, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    uvloop.run(serve())


if __name__ == "__main__":
    main()
