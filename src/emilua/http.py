"""HTTP/1.1 over a stream socket (manual: "http.headers", "http.request",
"http.response", "http.socket").

``http.socket`` wraps an ``ip.tcp.socket``, ``tls.socket`` or
``unix.stream_socket`` (anything with ``read_some``/``write_some``) and is
symmetric: it becomes a server socket with its first ``read_request`` and a
client socket with its first ``write_request``. Messages are parsed by llhttp
(through ``httptools``) in its strict mode: conflicting ``Content-Length`` and
``Transfer-Encoding``, duplicate ``Content-Length``, obs-fold and malformed
tokens are errors, never guesses.

A server that receives a message it refuses (malformed: 400; header section
over ``max_header_size``: 431; body over ``max_body_size``: 413) answers it
with that status and ``connection: close``, closes the connection and raises
``http.protocol_error``. Pipelined requests are parsed as they arrive and
handed out one ``read_request`` at a time, so responses go out in order.

There is no implicit write buffer: each ``write_*`` call is one
``write_all`` on the underlying stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from typing import Any

import httptools

from emilua import stream as _stream
from emilua.byte_span import byte_span

__all__ = ["headers", "protocol_error", "request", "response", "socket"]

_TOKEN = re.compile(r"[0-9a-z!#$%&'*+\-.^_`|~]+")
_VALUE = re.compile(
    r"(?:[\x21-\x7e\x80-\xff](?:[\x20\x09\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?"
)
_METHOD = re.compile(r"[0-9A-Za-z!#$%&'*+\-.^_`|~]+")
_TARGET = re.compile(r"[\x21-\x7e\x80-\xff]+")
_REASON = re.compile(r"[\x09\x20-\x7e\x80-\xff]*")

DEFAULT_MAX_HEADER_SIZE = 16 * 1024
DEFAULT_MAX_BODY_SIZE = 16 * 1024 * 1024
_READ_SIZE = 64 * 1024


class protocol_error(ValueError):
    """The peer sent a message this socket refuses.

    ``status`` is the response a server sent before closing the connection
    (400, 413 or 431); 502 for a malformed response read by a client.
    """

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status} {HTTPStatus(status).phrase}: {detail}")
        self.status = status
        self.detail = detail


def _check_value(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"a header value is a str, not {type(v).__name__}")
    if not _VALUE.fullmatch(v):
        raise ValueError(f"invalid header value {v!r}")
    return v


class headers(dict[str, Any]):
    """HTTP headers or trailers (manual: "http.headers").

    A dict from lower-case field names to a value: a ``str``, or a ``list``
    of ``str`` when the field appears several times (their order kept).
    Names and values are checked against the manual's character sets when
    set; fields received from the wire are stored with lower-case names.
    """

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        if args or kwargs:
            self.update(*args, **kwargs)

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not _TOKEN.fullmatch(key):
            raise ValueError(f"invalid header name {key!r} (lower-case token characters only)")
        if isinstance(value, (list, tuple)):
            value = [_check_value(v) for v in value]
        else:
            _check_value(value)
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def _add(self, key: str, value: str) -> None:
        # Wire input, already validated by the parser: no checks.
        old = dict.get(self, key)
        if old is None:
            dict.__setitem__(self, key, value)
        elif isinstance(old, list):
            old.append(value)
        else:
            dict.__setitem__(self, key, [old, value])

    def fields(self) -> Iterator[tuple[str, str]]:
        """Every (name, value) pair, a multi-valued field once per value."""
        for k, v in self.items():
            if isinstance(v, list):
                for x in v:
                    yield k, x
            else:
                yield k, v

    def _tokens(self, key: str) -> list[str]:
        v = dict.get(self, key)
        if v is None:
            return []
        vals = v if isinstance(v, list) else [v]
        return [t.strip().lower() for x in vals for t in x.split(",") if t.strip()]


def _body_bytes(body: Any) -> bytes | memoryview:
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes):
        return body
    if isinstance(body, byte_span):
        return memoryview(body)
    return memoryview(body).cast("B")


_headers_type = headers


class _Message:
    __slots__ = ("_headers", "_trailers", "body")

    def __init__(self) -> None:
        self._headers = headers()
        self._trailers = headers()
        self.body: Any = b""

    @property
    def headers(self) -> _headers_type:
        return self._headers

    @headers.setter
    def headers(self, value: Any) -> None:
        self._headers = value if isinstance(value, headers) else headers(value)

    @property
    def trailers(self) -> _headers_type:
        return self._trailers

    @trailers.setter
    def trailers(self, value: Any) -> None:
        self._trailers = value if isinstance(value, headers) else headers(value)


class request(_Message):
    """An HTTP request (manual: "http.request").

    ``body`` is ``bytes`` once read; a ``str`` (sent as UTF-8), ``bytes``,
    ``bytearray`` or ``byte_span`` when written.
    """

    __slots__ = ("method", "target", "_version")

    def __init__(self, method: str = "GET", target: str = "/") -> None:
        super().__init__()
        self.method = method
        self.target = target
        self._version = 11

    def continue_required(self) -> bool:
        """Whether the request asks for a "100 (Continue)" response before
        its body (RFC 7231, 5.1.1). Callable as ``request.continue_required(req)``."""
        return self._version >= 11 and "100-continue" in self._headers._tokens("expect")

    def upgrade_desired(self) -> bool:
        """Whether the client asks for a protocol upgrade (the ``upgrade``
        header names the protocols; ``connection`` must list ``upgrade``)."""
        return (
            self._version >= 11
            and "upgrade" in self._headers
            and "upgrade" in self._headers._tokens("connection")
        )

    def __repr__(self) -> str:
        return f"<http.request {self.method} {self.target}>"


class response(_Message):
    """An HTTP response (manual: "http.response"). An empty ``reason`` is
    sent as the standard phrase of ``status``."""

    __slots__ = ("status", "reason")

    def __init__(self, status: int = 200, reason: str = "") -> None:
        super().__init__()
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"<http.response {self.status} {self.reason}>"


# --------------------------------------------------------------- parsing

_EV_HEAD = 0  # (kind, version, keep_alive, method|status, url|None, headers, upgrade)
_EV_BODY = 1
_EV_TRAILERS = 2
_EV_DONE = 3


class _Sink:
    """httptools callbacks: turn the byte stream into a queue of events."""

    __slots__ = (
        "events",
        "url",
        "hdrs",
        "header_bytes",
        "body_bytes",
        "max_header",
        "max_body",
        "parser",
        "is_request",
        "reason",
        "error",
        "in_head",
        "head_fed",
    )

    def __init__(self, is_request: bool, max_header: int, max_body: int | None) -> None:
        self.events: list[Any] = []
        self.url = b""
        self.hdrs = headers()
        self.header_bytes = 0
        self.body_bytes = 0
        self.max_header = max_header
        self.max_body = max_body
        self.is_request = is_request
        self.error = 0
        self.parser: Any = None
        self.reason = b""
        self.in_head = True
        self.head_fed = 0

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.header_bytes += len(url)
        if self.header_bytes > self.max_header:
            self.error = 431
            raise ValueError("header section too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        if self.header_bytes > self.max_header:
            self.error = 431
            raise ValueError("header section too large")
        self.hdrs._add(name.decode("latin-1").lower(), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        p = self.parser
        h = self.hdrs
        v = p.get_http_version()
        version = 10 if v == "1.0" else 11
        if self.is_request:
            if isinstance(dict.get(h, "host"), list):
                self.error = 400
                raise ValueError("several host fields")
            head = (
                version,
                p.should_keep_alive(),
                p.get_method().decode("latin-1"),
                self.url.decode("latin-1"),
                h,
            )
        else:
            head = (
                version,
                p.should_keep_alive(),
                p.get_status_code(),
                self.reason.decode("latin-1"),
                h,
            )
        self.in_head = False
        self.events.append((_EV_HEAD, head))
        self.hdrs = headers()
        self.url = b""
        self.reason = b""
        self.header_bytes = 0
        self.body_bytes = 0

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.max_body is not None and self.body_bytes > self.max_body:
            self.error = 413
            raise ValueError("body too large")
        self.events.append((_EV_BODY, body))

    def on_message_complete(self) -> None:
        if self.hdrs:
            self.events.append((_EV_TRAILERS, self.hdrs))
            self.hdrs = headers()
        self.events.append((_EV_DONE, None))
        # The next message starts with its head.
        self.in_head = True
        self.head_fed = 0
        self.header_bytes = 0


_RESPONSE_REASON = re.compile(rb"HTTP/\d\.\d (\d{3}) ?([^\r\n]*)\r?\n")


# --------------------------------------------------------------- socket

# read states (manual: "http.socket", read_state)
_EMPTY = "empty"
_MESSAGE_READY = "message_ready"
_BODY_READY = "body_ready"
_FINISHED = "finished"
# write states
_CONTINUE_ISSUED = "continue_issued"
_METADATA_ISSUED = "metadata_issued"

_NO_BODY_STATUS = (204, 304)
_STATUS_LINES: dict[tuple[Any, Any, int], str] = {}


class socket:
    """An HTTP/1.1 socket over a stream socket (manual: "http.socket").

    ``http.socket(sock, max_header_size=16384, max_body_size=16 MiB)``: the
    limits are per message (``None`` for no body limit). The wrapped socket is
    owned from now on: ``close()`` closes it.
    """

    def __init__(
        self,
        sock: Any,
        *,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        if not hasattr(sock, "read_some") or not hasattr(sock, "write_some"):
            raise TypeError("http.socket wraps a stream socket (read_some/write_some)")
        self._sock = sock
        self._max_header = max_header_size
        self._max_body = max_body_size
        self._buf = byte_span(_READ_SIZE)
        self._sink: _Sink | None = None
        self._parser: Any = None
        self._events: list[Any] = []
        self._evpos = 0
        self._role: str | None = None  # "server" | "client"
        self._rstate = _EMPTY
        self._wstate = _EMPTY
        self._eof = False
        self._upgraded = b""  # bytes after an upgrade request, kept for the new protocol
        self._upgrade_pending = False
        self._status_out = 0
        # server: facts about the request being answered
        self._req_version = 11
        self._req_keep_alive = True
        self._req_continue = False
        self._req_head = False
        self._close_after = False
        self._chunked_out = False
        # client
        self._http10 = False
        self._sent_methods: list[str] = []
        self._resp_until_eof = False

    # ------------------------------------------------------------ state

    @property
    def is_open(self) -> bool:
        return bool(self._sock is not None and self._sock.is_open)

    @property
    def read_state(self) -> str:
        return self._rstate

    @property
    def write_state(self) -> str:
        return self._wstate

    @property
    def is_write_response_native_stream(self) -> bool:
        """Whether the response may be streamed (chunked): HTTP/1.1 peers.

        Raises RuntimeError when no request was read yet (read_state "empty")."""
        if self._rstate == _EMPTY:
            raise RuntimeError("no request was read yet (read_state is 'empty')")
        return self._req_version >= 11

    def close(self) -> None:
        """Close the socket (and the stream socket it wraps)."""
        if self._sock is not None:
            self._sock.close()

    def lock_client_to_http10(self) -> None:
        """Send requests as HTTP/1.0 (no chunked bodies, no keep-alive)."""
        self._http10 = True

    def release(self) -> Any:
        """Hand back the wrapped stream socket, and the bytes already read past
        the last message (the start of an upgraded protocol's stream)."""
        sock, self._sock = self._sock, None
        rest = self._upgraded
        self._upgraded = b""
        return sock, rest

    # ------------------------------------------------------------ reading

    def _setup(self, role: str) -> None:
        if self._role is None:
            self._role = role
            self._sink = _Sink(role == "server", self._max_header, self._max_body)
            cls = httptools.HttpRequestParser if role == "server" else httptools.HttpResponseParser
            self._parser = cls(self._sink)
            self._sink.parser = self._parser
            self._events = self._sink.events
        elif self._role != role:
            raise RuntimeError(f"this http.socket is already a {self._role} socket")

    def _next_event(self) -> Any:
        """The next parse event, reading from the stream when none is queued.
        Interruption point."""
        ev = self._events
        if self._evpos < len(ev):
            e = ev[self._evpos]
            self._evpos += 1
            return e
        ev.clear()
        self._evpos = 0
        while not ev:
            self._fill()
        self._evpos = 1
        return ev[0]

    def _fill(self) -> None:
        if self._sock is None:
            raise OSError(9, "the http.socket was released")
        if self._upgrade_pending:
            raise RuntimeError("the connection was upgraded: release() it to the new protocol")
        if self._eof:
            raise EOFError("end of stream")
        buf = self._buf
        try:
            n = self._sock.read_some(buf)
        except EOFError:
            self._eof = True
            if self._role == "client" and self._resp_until_eof and self._rstate != _EMPTY:
                # A response delimited by the end of the connection (RFC 7230, 3.3.3 #7).
                self._events.append((_EV_DONE, None))
                return
            raise
        self._feed(memoryview(buf)[:n])

    def _feed(self, data: Any) -> None:
        sink = self._sink
        assert sink is not None
        was_in_head = sink.in_head
        try:
            self._parser.feed_data(data)
            # httptools holds a header line until it ends: bound what it holds.
            if was_in_head and sink.in_head:
                sink.head_fed += len(data)
                if sink.head_fed > self._max_header:
                    sink.error = 431
                    raise httptools.HttpParserError("header section too large")
        except httptools.HttpParserUpgrade as e:
            off = e.args[0]
            self._upgraded = bytes(data[off:])
            # llhttp stops at an upgrade: a request with a body then has none
            # to report (the body belongs to the new protocol); close it here.
            if not self._events or self._events[-1][0] != _EV_DONE:
                self._events.append((_EV_DONE, None))
            self._upgrade_pending = True
        except (httptools.HttpParserCallbackError, httptools.HttpParserError) as e:
            status = self._sink.error if self._sink is not None and self._sink.error else 400
            self._refuse(status, str(e.__cause__ or e))

    def _refuse(self, status: int, detail: str) -> None:
        if self._role == "server" and self._wstate in (_EMPTY, _CONTINUE_ISSUED):
            phrase = HTTPStatus(status).phrase
            msg = (
                f"HTTP/1.1 {status} {phrase}\r\nconnection: close\r\n"
                f"content-length: {len(phrase)}\r\n\r\n{phrase}"
            ).encode()
            try:
                _stream.write_all(self._sock, msg)
            except (OSError, EOFError):
                pass
        self._eof = True
        self.close()
        raise protocol_error(status if self._role == "server" else 502, detail)

    def _take_available(self, msg: _Message) -> None:
        """Apply the queued events of the current message without reading."""
        ev = self._events
        chunks = []
        while self._evpos < len(ev):
            kind, val = ev[self._evpos]
            if kind == _EV_HEAD:
                break
            self._evpos += 1
            if kind == _EV_BODY:
                chunks.append(val)
            elif kind == _EV_TRAILERS:
                self._rstate = _BODY_READY
                msg.trailers = val
            else:
                self._end_message()
                break
        if chunks:
            msg.body = b"".join([msg.body, *chunks]) if msg.body else b"".join(chunks)

    def _end_message(self) -> None:
        if self._role == "server":
            self._rstate = _FINISHED
        else:
            self._rstate = _EMPTY
            self._resp_until_eof = False

    def _skip_rest_of_message(self) -> None:
        while self._rstate in (_MESSAGE_READY, _BODY_READY):
            kind, _ = self._next_event()
            if kind == _EV_DONE:
                self._end_message()

    def read_some(self, message: _Message) -> None:
        """Read a part of the body (appended to ``message.body``) or the
        trailers (``message.trailers``). Interruption point."""
        if self._rstate not in (_MESSAGE_READY, _BODY_READY):
            raise RuntimeError(
                f"read_some() needs a message being read (read_state {self._rstate!r})"
            )
        kind, val = self._next_event()
        if kind == _EV_BODY:
            message.body = message.body + val if message.body else val
        elif kind == _EV_TRAILERS:
            self._rstate = _BODY_READY
            message.trailers = val
        elif kind == _EV_DONE:
            self._end_message()
        self._take_available(message)
        if self._role == "server" and self._req_continue and self._rstate == _FINISHED:
            self._req_continue = False

    def read_request(self, req: request) -> None:
        """Read a request's start line and header section into *req*; body
        parts that already arrived are in ``req.body`` (read the rest with
        ``read_some`` until ``read_state`` is "finished"). An unread rest of
        the previous request is discarded. Interruption point.

        Raises EOFError when the peer closed the connection between requests
        (or after a response that closed it), ``protocol_error`` on a refused
        request.
        """
        self._setup("server")
        if self._wstate not in (_EMPTY, _FINISHED) or (
            self._rstate != _EMPTY and self._wstate != _FINISHED
        ):
            raise RuntimeError("write the response to the previous request first")
        if self._close_after:
            raise EOFError("the connection closed after the last response")
        if self._rstate in (_MESSAGE_READY, _BODY_READY):
            self._skip_rest_of_message()
        self._rstate = _EMPTY
        self._wstate = _EMPTY
        kind, head = self._next_event()
        assert kind == _EV_HEAD
        version, keep_alive, method, target, hdrs = head
        req.method = method
        req.target = target
        req._version = version
        req._headers = hdrs
        req._trailers = headers()
        req.body = b""
        self._req_version = version
        self._req_keep_alive = keep_alive
        self._req_head = method == "HEAD"
        self._req_continue = "expect" in hdrs and req.continue_required()
        self._rstate = _MESSAGE_READY
        if self._evpos < len(self._events):
            self._take_available(req)
        if self._rstate == _FINISHED:
            self._req_continue = False

    def read_response(self, res: response) -> None:
        """Read a response's status line and header section into *res*
        (interim 1xx responses other than 101 are skipped); body parts that
        already arrived are in ``res.body``. Interruption point."""
        self._setup("client")
        if self._rstate != _EMPTY:
            raise RuntimeError(f"a response is being read (read_state {self._rstate!r})")
        if not self._sent_methods:
            raise RuntimeError("no request waits for a response")
        method = self._sent_methods[0]
        if method == "HEAD":
            # llhttp cannot be told a response has no body: parse the head alone.
            return self._read_head_response(res)
        while True:
            kind, head = self._next_event()
            if kind != _EV_HEAD:
                raise protocol_error(502, "unexpected data before a response")
            version, keep_alive, status, reason, hdrs = head
            if 100 <= status < 200 and status != 101:
                kind, _ = self._next_event()
                continue
            break
        self._sent_methods.pop(0)
        self._set_response(res, status, reason, hdrs)
        self._rstate = _MESSAGE_READY
        self._resp_until_eof = (
            status not in _NO_BODY_STATUS
            and "content-length" not in hdrs
            and "transfer-encoding" not in hdrs
            and status >= 200
        )
        self._take_available(res)

    def _set_response(self, res: response, status: int, reason: str, hdrs: headers) -> None:
        res.status = status
        res.reason = reason
        res._headers = hdrs
        res._trailers = headers()
        res.body = b""

    def _read_head_response(self, res: response) -> None:
        # Find the end of the header section ourselves and feed exactly that to
        # a parser of its own.
        pending = b""
        while True:
            if self._sock is None:
                raise OSError(9, "the http.socket was released")
            end = pending.find(b"\r\n\r\n")
            if end >= 0:
                head, rest = pending[: end + 4], pending[end + 4 :]
                sink = _Sink(False, self._max_header, 0)
                p = httptools.HttpResponseParser(sink)
                sink.parser = p
                try:
                    p.feed_data(head)
                except (httptools.HttpParserCallbackError, httptools.HttpParserError) as e:
                    self._refuse(502, str(e))
                kind, h = sink.events[0]
                version, keep_alive, status, reason, hdrs = h
                if 100 <= status < 200 and status != 101:
                    pending = rest
                    continue
                self._feed_rest(rest)
                self._sent_methods.pop(0)
                self._set_response(res, status, reason, hdrs)
                self._rstate = _EMPTY
                return
            if len(pending) > self._max_header:
                self._refuse(502, "header section too large")
            n = self._sock.read_some(self._buf)
            pending += bytes(memoryview(self._buf)[:n])

    def _feed_rest(self, rest: bytes) -> None:
        if rest:
            self._feed(rest)

    # ------------------------------------------------------------ writing

    def _send(self, data: Any) -> None:
        sock = self._sock
        if sock is None:
            raise OSError(9, "the http.socket was released")
        n = sock.write_some(data)
        if n < len(data):
            _stream.write_all(sock, memoryview(data)[n:])

    @staticmethod
    def _header_lines(parts: list[str], hdrs: headers, skip: Iterable[str] = ()) -> None:
        for k, v in hdrs.items():
            if k in skip:
                continue
            if isinstance(v, list):
                for x in v:
                    parts.append(f"{k}: {x}\r\n")
            else:
                parts.append(f"{k}: {v}\r\n")

    def _status_line(self, res: response) -> str:
        key = (res.status, res.reason, self._req_version)
        line = _STATUS_LINES.get(key)
        if line is None:
            line = self._make_status_line(res)
            if len(_STATUS_LINES) < 256:
                _STATUS_LINES[key] = line
        return line

    def _make_status_line(self, res: response) -> str:
        status = res.status
        if type(status) is not int or not 100 <= status <= 999:
            raise ValueError(f"invalid status {status!r}")
        reason = res.reason
        if not reason:
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = ""
        elif not _REASON.fullmatch(reason):
            raise ValueError(f"invalid reason phrase {reason!r}")
        return f"HTTP/1.{1 if self._req_version >= 11 else 0} {status} {reason}\r\n"

    def _check_response_start(self) -> None:
        if self._role != "server" or self._rstate == _EMPTY:
            raise RuntimeError("a response answers a request read with read_request()")
        if self._wstate not in (_EMPTY, _CONTINUE_ISSUED):
            raise RuntimeError(f"a response was already written (write_state {self._wstate!r})")

    def _connection_header(self, parts: list[str], res: response) -> None:
        conn = res.headers._tokens("connection") if "connection" in res.headers else ()
        if "close" in conn:
            self._close_after = True
        if self._req_continue and self._rstate != _FINISHED:
            # The client waits for "100 Continue" or a final answer: its body
            # may never come. Finish the exchange by closing the connection.
            self._close_after = True
        if not self._req_keep_alive:
            self._close_after = True
        if self._close_after:
            if "close" not in conn:
                parts.append("connection: close\r\n")
        elif self._req_version < 11 and "keep-alive" not in conn:
            parts.append("connection: keep-alive\r\n")

    def write_response(self, res: response) -> None:
        """Write the response *res* whole (``content-length`` from its body).
        Interruption point. After a response that ends the connection
        (``connection: close``, an HTTP/1.0 client without keep-alive), the
        stream socket is closed."""
        if self._role != "server" or self._rstate == _EMPTY or self._wstate != _EMPTY:
            self._check_response_start()
        body = res.body
        if body:
            if type(body) is not bytes:
                body = _body_bytes(body)
        else:
            body = b""
        status = res.status
        self._status_out = res.status
        parts = [self._status_line(res)]
        hdrs = res._headers
        if self._close_after or not self._req_keep_alive or "connection" in hdrs:
            self._connection_header(parts, res)
        elif self._req_continue and self._rstate != _FINISHED:
            self._connection_header(parts, res)
        elif self._req_version < 11:
            parts.append("connection: keep-alive\r\n")
        for k, v in hdrs.items():
            if type(v) is str:
                if k != "content-length" and k != "transfer-encoding":
                    parts.append(f"{k}: {v}\r\n")
            elif k != "content-length" and k != "transfer-encoding":
                parts.extend([f"{k}: {x}\r\n" for x in v])
        if status >= 200 and status not in _NO_BODY_STATUS:
            parts.append(f"content-length: {len(body)}\r\n")
        elif body:
            raise ValueError(f"a {status} response has no body")
        parts.append("\r\n")
        head = "".join(parts).encode("latin-1")
        self._wstate = _METADATA_ISSUED
        if body and not self._req_head:
            if len(body) <= 65536:
                self._send(head + body)
            else:
                self._send(head)
                self._send(body)
        else:
            self._send(head)
        self._finish_response()

    def _finish_response(self) -> None:
        self._wstate = _FINISHED
        if self._close_after:
            self.close()
        elif self._upgrade_pending and self._status_out != 101:
            # The upgrade was declined: what followed the request is HTTP
            # again, for a new parser (llhttp stops for good at an upgrade).
            self._upgrade_pending = False
            self._role = None
            self._setup("server")
            self._evpos = 0
            self._rstate = _EMPTY
            self._wstate = _EMPTY
            self._req_continue = False
            rest, self._upgraded = self._upgraded, b""
            if rest:
                self._feed(rest)
        elif self._rstate == _FINISHED and not self._upgrade_pending:
            self._rstate = _EMPTY
            self._wstate = _EMPTY
            self._req_continue = False

    def write_response_continue(self) -> None:
        """Write "100 Continue". Interruption point."""
        if self._role != "server" or self._rstate == _EMPTY:
            raise RuntimeError("a 100 Continue answers a request read with read_request()")
        if self._wstate != _EMPTY:
            raise RuntimeError(f"write_state is {self._wstate!r}, not 'empty'")
        if self._req_version < 11:
            raise RuntimeError("an HTTP/1.0 client takes no 100 Continue")
        self._send(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._wstate = _CONTINUE_ISSUED
        self._req_continue = False

    def write_response_metadata(self, res: response) -> None:
        """Write the status line and header section; the body follows with
        ``write`` (chunked for an HTTP/1.1 client unless *res* has a
        ``content-length``) and ends with ``write_trailers`` or
        ``write_end_of_message``. Interruption point."""
        self._check_response_start()
        self._status_out = res.status
        parts = [self._status_line(res)]
        has_length = "content-length" in res.headers
        if not has_length and self._req_version < 11:
            self._close_after = True  # the body ends with the connection
        self._connection_header(parts, res)
        self._header_lines(parts, res.headers, ("transfer-encoding",))
        self._chunked_out = not has_length and self._req_version >= 11
        if self._chunked_out:
            parts.append("transfer-encoding: chunked\r\n")
        parts.append("\r\n")
        self._send("".join(parts).encode("latin-1"))
        self._wstate = _METADATA_ISSUED

    def write_request_metadata(self, req: request) -> None:
        """Write the request line and header section; the body follows with
        ``write`` (chunked unless *req* has a ``content-length`` or the socket
        is locked to HTTP/1.0). Interruption point."""
        self._start_request(req)
        self._check_head_request(req)
        parts = [self._request_line(req)]
        has_length = "content-length" in req.headers
        if not has_length and self._http10:
            raise ValueError("an HTTP/1.0 request body needs a content-length")
        self._header_lines(parts, req.headers, ("transfer-encoding",))
        self._chunked_out = not has_length
        if self._chunked_out:
            parts.append("transfer-encoding: chunked\r\n")
        parts.append("\r\n")
        self._send("".join(parts).encode("latin-1"))
        self._sent_methods.append(req.method)
        self._wstate = _METADATA_ISSUED

    def write(self, message: _Message) -> None:
        """Write ``message.body`` as the next part of the body (a chunk when
        chunked). Interruption point."""
        if self._wstate != _METADATA_ISSUED:
            raise RuntimeError(f"write() follows the metadata (write_state {self._wstate!r})")
        body = _body_bytes(message.body) if message.body else b""
        if not body:
            return
        if self._req_head and self._role == "server":
            return
        if self._chunked_out:
            self._send(b"%x\r\n" % len(body) + bytes(body) + b"\r\n")
        else:
            self._send(body)

    def write_trailers(self, message: _Message) -> None:
        """End a chunked body with ``message.trailers``. Interruption point."""
        if self._wstate != _METADATA_ISSUED:
            raise RuntimeError(
                f"write_trailers() follows the metadata (write_state {self._wstate!r})"
            )
        if not self._chunked_out:
            raise RuntimeError("trailers need a chunked body")
        parts = ["0\r\n"]
        self._header_lines(parts, message.trailers)
        parts.append("\r\n")
        self._end_body("".join(parts).encode("latin-1"))

    def write_end_of_message(self) -> None:
        """End the message written with the ``*_metadata``/``write`` calls.
        Interruption point."""
        if self._wstate != _METADATA_ISSUED:
            raise RuntimeError(f"nothing to end (write_state {self._wstate!r})")
        self._end_body(b"0\r\n\r\n" if self._chunked_out else b"")

    def _end_body(self, data: bytes) -> None:
        if data and not (self._req_head and self._role == "server"):
            self._send(data)
        self._chunked_out = False
        if self._role == "server":
            self._finish_response()
        else:
            self._wstate = _EMPTY

    def _start_request(self, req: request) -> None:
        self._setup("client")
        if self._wstate != _EMPTY:
            raise RuntimeError(f"a request is being written (write_state {self._wstate!r})")

    def _request_line(self, req: request) -> str:
        if not isinstance(req.method, str) or not _METHOD.fullmatch(req.method):
            raise ValueError(f"invalid method {req.method!r}")
        if not isinstance(req.target, str) or not _TARGET.fullmatch(req.target):
            raise ValueError(f"invalid request target {req.target!r}")
        return f"{req.method} {req.target} HTTP/1.{0 if self._http10 else 1}\r\n"

    def write_request(self, req: request) -> None:
        """Write the request *req* whole (``content-length`` from its body,
        when it has one or its method is POST, PUT or PATCH). Interruption point."""
        self._start_request(req)
        self._check_head_request(req)
        body = _body_bytes(req.body) if req.body else b""
        parts = [self._request_line(req)]
        self._header_lines(parts, req.headers, ("content-length", "transfer-encoding"))
        if body or req.method in ("POST", "PUT", "PATCH"):
            parts.append(f"content-length: {len(body)}\r\n")
        parts.append("\r\n")
        head = "".join(parts).encode("latin-1")
        self._sent_methods.append(req.method)
        self._send(head + bytes(body) if body else head)

    def _check_head_request(self, req: request) -> None:
        # llhttp cannot be told that a response answers HEAD (and so has no
        # body): such a response is parsed on its own, which needs every
        # earlier response read first.
        if req.method == "HEAD" and self._sent_methods:
            raise RuntimeError("a HEAD request is not pipelined behind unanswered requests")
