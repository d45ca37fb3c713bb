"""WebSocket client and server (manual: "websocket").

The opening handshake goes through ``http.socket``; framing, masking, UTF-8
validation of text and the close handshake are ``wsproto``'s, fed from and
flushed to the underlying stream socket with no buffering beyond one read.

``websocket(sock, host, request_target[, extra_headers])`` is client mode,
``websocket(http_sock, request[, extra_headers])`` server mode. In client mode
the headers the server answered with are ``ws.headers`` (the manual's second
return value of ``new()``).
"""

from __future__ import annotations

from typing import Any

from wsproto.connection import Connection, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import (
    LocalProtocolError,
    RemoteProtocolError,
    generate_accept_token,
    generate_nonce,
)

from emilua import http
from emilua import stream as _stream
from emilua.byte_span import byte_span
from emilua.mutex import mutex

__all__ = ["closed", "is_websocket_upgrade", "new", "websocket"]

_READ_SIZE = 64 * 1024


class closed(EOFError):
    """The connection was closed by a close frame: ``code`` (1005 when the
    frame had none) and ``reason`` are the peer's."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"websocket closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


def is_websocket_upgrade(req: http.request) -> bool:
    """Whether *req* is a WebSocket opening handshake (RFC 6455, 4.2.1)."""
    h = req.headers
    return (
        req.method == "GET"
        and req.upgrade_desired()
        and "websocket" in h._tokens("upgrade")
        and h.get("sec-websocket-version") == "13"
        and isinstance(h.get("sec-websocket-key"), str)
    )


def _extra(extra_headers: dict[str, str] | None) -> http.headers:
    return http.headers(extra_headers or {})


class websocket:
    """A WebSocket connection (manual: "websocket")."""

    def __init__(self, sock: Any, *args: Any) -> None:
        self._sock: Any = None
        self._conn: Connection | None = None
        self._buf = byte_span(_READ_SIZE)
        self._pending: memoryview | None = None
        self._pending_kind = ""
        self._pending_final = False
        self._wlock = mutex()
        self._closed: closed | None = None
        self._close_sent = False
        self.headers = http.headers()
        if isinstance(sock, http.socket):
            self._server(sock, *args)
        else:
            self._client(sock, *args)

    # ------------------------------------------------------------ handshake

    def _server(self, hs: http.socket, req: http.request, extra: Any = None) -> None:
        try:
            if not is_websocket_upgrade(req):
                raise ValueError("the request is not a WebSocket upgrade")
            if hs.read_state != "finished":
                raise ValueError("the whole upgrade request must be read first")
            res = http.response(101)
            res.headers = _extra(extra)
            res.headers["upgrade"] = "websocket"
            res.headers["connection"] = "upgrade"
            key = req.headers["sec-websocket-key"].encode("latin-1")
            res.headers["sec-websocket-accept"] = generate_accept_token(key).decode()
            hs.write_response(res)
            sock, rest = hs.release()
        except BaseException:
            hs.close()
            raise
        self._sock = sock
        self._conn = Connection(ConnectionType.SERVER)
        if rest:
            self._conn.receive_data(rest)

    def _client(self, sock: Any, host: str, target: str, extra: Any = None) -> None:
        hs = http.socket(sock)
        try:
            req = http.request("GET", target)
            req.headers = _extra(extra)
            nonce: Any = generate_nonce()
            key: str = nonce.decode() if isinstance(nonce, bytes) else nonce
            req.headers["host"] = host
            req.headers["upgrade"] = "websocket"
            req.headers["connection"] = "upgrade"
            req.headers["sec-websocket-key"] = key
            req.headers["sec-websocket-version"] = "13"
            hs.write_request(req)
            res = http.response()
            hs.read_response(res)
            h = res.headers
            if res.status != 101:
                raise ConnectionRefusedError(f"the server answered {res.status} {res.reason}")
            if "websocket" not in h._tokens("upgrade") or "upgrade" not in h._tokens("connection"):
                raise ConnectionError("the server did not upgrade to websocket")
            if h.get("sec-websocket-accept") != generate_accept_token(key.encode()).decode():
                raise ConnectionError("wrong sec-websocket-accept")
            sock, rest = hs.release()
        except BaseException:
            hs.close()
            raise
        self.headers = res.headers
        self._sock = sock
        self._conn = Connection(ConnectionType.CLIENT)
        if rest:
            self._conn.receive_data(rest)

    # ------------------------------------------------------------ IO

    @property
    def is_open(self) -> bool:
        return bool(self._sock is not None and self._sock.is_open)

    def _send(self, event: Any) -> None:
        conn = self._conn
        assert conn is not None
        self._wlock.lock()
        try:
            data = conn.send(event)
            if data:
                _stream.write_all(self._sock, data)
        finally:
            self._wlock.unlock()

    def write(self, data: Any, type: str = "auto") -> None:  # noqa: A002 (the manual's name)
        """Send *data* as one complete message: "text", "binary", or "auto"
        ("text" for a str, "binary" otherwise). Interruption point."""
        if self._closed is not None:
            raise self._closed
        if type == "auto":
            type = "text" if isinstance(data, str) else "binary"
        if type == "text":
            if not isinstance(data, str):
                data = bytes(data).decode()
            self._send(TextMessage(data=data))
        elif type == "binary":
            if isinstance(data, str):
                data = data.encode()
            self._send(BytesMessage(data=bytes(data)))
        else:
            raise ValueError(f"type is 'text', 'binary' or 'auto', not {type!r}")

    def ping(self, payload: Any = b"") -> None:
        """Send a ping frame (the peer answers with a pong, which ``read_some``
        consumes). Interruption point."""
        self._send(Ping(payload=bytes(payload)))

    def read_some(self, buffer: Any) -> tuple[int, str]:
        """Read message data into *buffer*; return the count and "partial"
        (more of the message follows), "text" or "binary" (the message ends
        here). Pings are answered while reading. Interruption point.

        Raises ``websocket.closed`` (an EOFError) once a close frame arrived;
        the close handshake is answered and the connection shut.
        """
        while self._pending is None:
            self._next_message_piece()
        view = memoryview(buffer).cast("B")
        pending = self._pending
        n = min(len(view), len(pending))
        view[:n] = pending[:n]
        if n < len(pending):
            self._pending = pending[n:]
            return n, "partial"
        self._pending = None
        return n, self._pending_kind if self._pending_final else "partial"

    def _next_message_piece(self) -> None:
        if self._closed is not None:
            raise self._closed
        conn = self._conn
        if conn is None:
            raise OSError(9, "the websocket is closed")
        try:
            for ev in conn.events():
                if isinstance(ev, Message):
                    data = ev.data
                    if isinstance(ev, TextMessage):
                        data = data.encode()
                        self._pending_kind = "text"
                    else:
                        self._pending_kind = "binary"
                    if not data and not ev.message_finished:
                        continue
                    self._pending = memoryview(data)
                    self._pending_final = ev.message_finished
                    return
                if isinstance(ev, Ping):
                    self._send(ev.response())
                elif isinstance(ev, CloseConnection):
                    self._on_close(ev)
                elif isinstance(ev, Pong):
                    pass
        except RemoteProtocolError as e:
            self._fail(e.event_hint)
            raise ConnectionError(f"websocket protocol error: {e}") from None
        n = self._sock.read_some(self._buf)
        conn.receive_data(bytes(memoryview(self._buf)[:n]))

    def _fail(self, hint: Any) -> None:
        if hint is not None:
            try:
                self._send(hint)
            except (OSError, EOFError, LocalProtocolError):
                pass
        self._teardown()

    def _on_close(self, ev: CloseConnection) -> None:
        code = int(ev.code) if ev.code is not None else 1005
        self._closed = closed(code, ev.reason or "")
        if not self._close_sent:
            self._close_sent = True
            reply = ev.response()
            if code == 1005:
                reply = CloseConnection(code=CloseReason.NO_STATUS_RCVD)
            try:
                self._send(reply)
            except (OSError, EOFError, LocalProtocolError):
                pass
        self._teardown()
        raise self._closed

    def _teardown(self) -> None:
        if self._sock is not None:
            self._sock.close()

    def close(self, code: int = 1005, reason: str | None = None) -> None:
        """Send a close frame (unless sent already), read and drop frames until
        the peer's close frame, then close the connection. Interruption point."""
        if self._sock is None:
            return
        if self._closed is None and not self._close_sent:
            self._close_sent = True
            wire_code: Any = CloseReason.NO_STATUS_RCVD if code == 1005 else code
            try:
                self._send(CloseConnection(code=wire_code, reason=reason))
            except (OSError, EOFError):
                self._teardown()
                raise
        try:
            while self._closed is None:
                self._pending = None
                self._next_message_piece()
        except closed:
            pass
        except (OSError, EOFError):
            pass
        finally:
            self._teardown()


new = websocket
