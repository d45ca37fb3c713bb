# Manual: "stream.write_all", "stream.write_at_least", "stream.read_all",
# "stream.read_at_least", "stream.scanner", and "Working with streams".
# Composed operations run against loopback TCP and against small in-memory
# streams that make short reads and writes deterministic.
import errno
import re

import pytest
from helpers import tcp_pair, wait_until_idle

from emilua import spawn, stream, this_fiber
from emilua.byte_span import byte_span


class ChunkedReader:
    """A read stream that hands out its data *chunk* bytes at a time."""

    def __init__(self, data: bytes | list[bytes], chunk: int = 3) -> None:
        self.parts = list(data) if isinstance(data, list) else [data]
        self.chunk = chunk
        self.calls = 0
        self.buffers = []

    def read_some(self, buffer):
        self.calls += 1
        self.buffers.append(buffer)
        this_fiber.yield_()  # a real stream suspends here
        while self.parts and not self.parts[0]:
            self.parts.pop(0)
        if not self.parts:
            raise EOFError
        head = self.parts[0]
        n = min(len(buffer), self.chunk, len(head))
        buffer[0:n] = head[:n]
        self.parts[0] = head[n:]
        return n


class ChunkedWriter:
    """A write stream that accepts at most *chunk* bytes per call."""

    def __init__(self, chunk: int = 3) -> None:
        self.chunk = chunk
        self.data = bytearray()
        self.buffers = []

    def write_some(self, buffer):
        self.buffers.append(buffer)
        n = min(len(buffer), self.chunk)
        self.data += bytes(buffer[0:n])
        return n


def span_of(data: bytes) -> byte_span:
    s = byte_span(len(data))
    s.copy(data)
    return s


# ---------------------------------------------------------------- write_all


@pytest.mark.parametrize(
    "make",
    [
        lambda d: d,
        lambda d: d.decode(),
        span_of,
        bytearray,
        memoryview,
    ],
    ids=["bytes", "str", "byte_span", "bytearray", "memoryview"],
)
def test_write_all_sends_every_byte_of_any_buffer(make):
    data = b"0123456789" * 10
    w = ChunkedWriter(chunk=7)
    assert stream.write_all(w, make(data)) == len(data)
    assert bytes(w.data) == data
    assert len(w.buffers) == 15  # ceil(100 / 7) calls, no more


def test_write_all_passes_byte_span_slices_to_the_stream():
    w = ChunkedWriter(chunk=4)
    stream.write_all(w, span_of(b"abcdefghij"))
    assert all(isinstance(b, byte_span) for b in w.buffers)
    assert [bytes(b) for b in w.buffers] == [b"abcdefghij", b"efghij", b"ij"]
    w = ChunkedWriter(chunk=4)
    stream.write_all(w, "héllo")  # a str becomes a byte_span (UTF-8)
    assert all(isinstance(b, byte_span) for b in w.buffers)
    assert bytes(w.data) == "héllo".encode()


def test_write_all_of_nothing_makes_no_call():
    w = ChunkedWriter()
    assert stream.write_all(w, b"") == 0
    assert stream.write_all(w, "") == 0
    assert w.buffers == []


def test_write_all_over_tcp_survives_short_writes():
    with tcp_pair() as (c, s):
        c.set_option("send_buffer_size", 4096)
        data = bytes(range(256)) * 2048  # 512 KiB: many short writes
        received = bytearray()

        def drain():
            buf = byte_span(65536)
            while len(received) < len(data):
                n = s.read_some(buf)
                received.extend(bytes(buf[:n]))

        reader = spawn(drain)
        assert stream.write_all(c, span_of(data)) == len(data)
        reader.join()
        assert bytes(received) == data


def test_write_all_raises_the_streams_error():
    with tcp_pair() as (c, s):
        c.shutdown("send")
        with pytest.raises(BrokenPipeError):
            stream.write_all(c, "x")


def test_an_interrupted_write_all_raises_fiberinterrupted():
    with tcp_pair() as (c, s):
        c.set_option("send_buffer_size", 4096)
        s.set_option("receive_buffer_size", 4096)
        f = spawn(stream.write_all, c, b"z" * (8 * 1024 * 1024))
        wait_until_idle()
        f.interrupt()
        f.join()
        assert f.interruption_caught


# ----------------------------------------------------------- write_at_least


def test_write_at_least_stops_once_the_minimum_went_out():
    w = ChunkedWriter(chunk=4)
    assert stream.write_at_least(w, b"abcdefghij", 5) == 8  # two calls of 4
    assert bytes(w.data) == b"abcdefgh"
    w = ChunkedWriter(chunk=4)
    assert stream.write_at_least(w, "abcdefghij", 4) == 4


def test_write_at_least_zero_makes_no_call():
    w = ChunkedWriter()
    assert stream.write_at_least(w, b"abc", 0) == 0
    assert w.buffers == []


def test_write_at_least_checks_the_minimum():
    w = ChunkedWriter()
    with pytest.raises(ValueError):
        stream.write_at_least(w, b"abc", 4)
    with pytest.raises(ValueError):
        stream.write_at_least(w, b"abc", -1)
    with pytest.raises(TypeError):
        stream.write_at_least(w, b"abc", 1.5)


def test_write_at_least_over_tcp():
    with tcp_pair() as (c, s):
        n = stream.write_at_least(c, b"hello world", 5)
        assert 5 <= n <= 11
        buf = byte_span(n)
        stream.read_all(s, buf)
        assert bytes(buf) == b"hello world"[:n]


# ----------------------------------------------------------------- read_all


@pytest.mark.parametrize(
    "make", [byte_span, bytearray, lambda n: memoryview(bytearray(n))], ids=["span", "ba", "mv"]
)
def test_read_all_fills_the_buffer_across_short_reads(make):
    r = ChunkedReader(b"abcdefghijXYZ", chunk=3)
    buf = make(10)
    assert stream.read_all(r, buf) == 10
    assert bytes(buf) == b"abcdefghij"
    assert r.calls == 4
    # The rest stays in the stream for the next read.
    rest = bytearray(3)
    assert stream.read_all(r, rest) == 3
    assert rest == b"XYZ"


def test_read_all_passes_byte_span_slices_to_the_stream():
    r = ChunkedReader(b"abcdef", chunk=2)
    stream.read_all(r, byte_span(6))
    assert all(isinstance(b, byte_span) for b in r.buffers)
    assert [len(b) for b in r.buffers] == [6, 4, 2]


def test_read_all_raises_eof_when_the_stream_ends_first():
    r = ChunkedReader(b"abc", chunk=2)
    with pytest.raises(EOFError):
        stream.read_all(r, byte_span(10))


def test_read_all_over_tcp_and_eof_in_the_middle():
    with tcp_pair() as (c, s):
        c.write_some(b"12345")
        buf = byte_span(5)
        assert stream.read_all(s, buf) == 5
        assert bytes(buf) == b"12345"
        c.write_some(b"abc")
        c.shutdown("send")
        with pytest.raises(EOFError):
            stream.read_all(s, byte_span(10))


def test_read_all_of_an_empty_buffer_makes_no_call():
    r = ChunkedReader(b"abc")
    assert stream.read_all(r, byte_span(0)) == 0
    assert r.calls == 0


def test_a_stream_reporting_the_end_with_zero_raises_eof():
    class ZeroAtEnd:
        def read_some(self, buffer):
            return 0

    with pytest.raises(EOFError):
        stream.read_all(ZeroAtEnd(), byte_span(4))


def test_reads_need_a_writable_buffer():
    r = ChunkedReader(b"abc")
    for bad in (b"xxx", "xxx", memoryview(b"xxx")):
        with pytest.raises(TypeError):
            stream.read_all(r, bad)


# ------------------------------------------------------------ read_at_least


def test_read_at_least_returns_once_the_minimum_arrived():
    r = ChunkedReader(b"abcdefghij", chunk=3)
    buf = byte_span(10)
    assert stream.read_at_least(r, buf, 4) == 6  # two reads of 3
    assert bytes(buf[:6]) == b"abcdef"


def test_read_at_least_checks_the_minimum_and_raises_eof():
    r = ChunkedReader(b"ab", chunk=3)
    with pytest.raises(ValueError):
        stream.read_at_least(r, byte_span(2), 3)
    assert stream.read_at_least(r, byte_span(2), 0) == 0
    assert r.calls == 0
    with pytest.raises(EOFError):
        stream.read_at_least(r, byte_span(5), 3)


def test_read_at_least_over_tcp():
    with tcp_pair() as (c, s):
        c.write_some(b"abc")

        def later():
            wait_until_idle()
            c.write_some(b"defg")

        spawn(later)
        buf = byte_span(16)
        n = stream.read_at_least(s, buf, 5)
        assert n == 7
        assert bytes(buf[:n]) == b"abcdefg"


def test_reads_and_writes_on_one_socket_need_no_lock():
    # Manual: read_all and write_all on the same object overlap safely.
    with tcp_pair() as (c, s):
        data = b"ping" * 50000

        def echo():
            buf = byte_span(len(data))
            stream.read_all(s, buf)
            stream.write_all(s, buf)

        e = spawn(echo)
        back = byte_span(len(data))
        writer = spawn(stream.write_all, c, data)
        stream.read_all(c, back)
        writer.join()
        e.join()
        assert bytes(back) == data


# ------------------------------------------------------------------ scanner


def test_scanner_splits_crlf_records_even_across_reads():
    r = ChunkedReader(b"first\r\nsecond\r\n\r\nlast", chunk=3)
    sc = stream.scanner(r)
    assert sc.record_number == 0
    assert sc.record_terminator is None
    line = sc.get_line()
    assert isinstance(line, byte_span)
    assert bytes(line) == b"first"
    assert sc.record_terminator == "\r\n"
    assert sc.record_number == 1
    assert bytes(sc.get_line()) == b"second"
    assert bytes(sc.get_line()) == b""  # an empty record
    assert sc.record_terminator == "\r\n"
    # The stream ends without a separator: the buffered data is the last record.
    assert bytes(sc.get_line()) == b"last"
    assert sc.record_terminator == ""
    assert sc.record_number == 4
    with pytest.raises(EOFError):
        sc.get_line()
    assert sc.record_number == 4


def test_scanner_separator_split_between_two_reads():
    r = ChunkedReader([b"ab\r", b"\ncd\r", b"\n"], chunk=100)
    sc = stream.scanner(r)
    assert bytes(sc.get_line()) == b"ab"
    assert bytes(sc.get_line()) == b"cd"
    with pytest.raises(EOFError):
        sc.get_line()


def test_scanner_eof_with_an_empty_buffer():
    sc = stream.scanner(ChunkedReader(b""))
    with pytest.raises(EOFError):
        sc.get_line()
    sc = stream.scanner(ChunkedReader(b"x\n"), record_separator="\n")
    assert bytes(sc.get_line()) == b"x"
    with pytest.raises(EOFError):
        sc.get_line()


def test_scanner_terminator_types_follow_the_separator():
    sc = stream.scanner(ChunkedReader(b"a;b"), record_separator=b";")
    sc.get_line()
    assert sc.record_terminator == b";"
    sc.get_line()
    assert sc.record_terminator == b""
    sc = stream.scanner(ChunkedReader(b"a;;b"), record_separator=re.compile(rb";+"))
    assert bytes(sc.get_line()) == b"a"
    assert isinstance(sc.record_terminator, byte_span)
    assert bytes(sc.record_terminator) == b";;"
    assert bytes(sc.get_line()) == b"b"
    assert isinstance(sc.record_terminator, byte_span)
    assert len(sc.record_terminator) == 0


def test_scanner_regex_separator_ignores_empty_matches():
    sc = stream.scanner(ChunkedReader(b"a1b22c", chunk=100), record_separator=re.compile(rb"\d*"))
    assert [bytes(sc.get_line()) for _ in range(3)] == [b"a", b"b", b"c"]


def test_scanner_fields_by_string_regex_function_and_pattern():
    data = b"a,b,,c\n"
    sc = stream.scanner(ChunkedReader(data), record_separator="\n", field_separator=",")
    assert [bytes(f) for f in sc.get_line()] == [b"a", b"b", b"", b"c"]

    sc = stream.scanner(
        ChunkedReader(b"x  y\tz\n"), record_separator="\n", field_separator=re.compile(rb"\s+")
    )
    fields = sc.get_line()
    assert all(isinstance(f, byte_span) for f in fields)
    assert [bytes(f) for f in fields] == [b"x", b"y", b"z"]

    sc = stream.scanner(
        ChunkedReader(b"k=v\n"),
        record_separator="\n",
        field_separator=lambda rec: tuple(bytes(rec).split(b"=")),
    )
    assert sc.get_line() == (b"k", b"v")

    sc = stream.scanner(
        ChunkedReader(b'say "hi there" now\n'),
        record_separator="\n",
        field_pattern=re.compile(rb'"[^"]*"|\S+'),
    )
    assert [bytes(f) for f in sc.get_line()] == [b"say", b'"hi there"', b"now"]
    assert bytes(sc.buffered_line()) == b'say "hi there" now'


def test_scanner_trim_record():
    sc = stream.scanner(ChunkedReader(b"  padded \t\r\n"), trim_record=True)
    assert bytes(sc.get_line()) == b"padded"
    sc = stream.scanner(ChunkedReader(b"--x--\r\n"), trim_record="-")
    assert bytes(sc.get_line()) == b"x"


def test_scanner_with_awk_defaults():
    data = b"  alpha  beta\tgamma \n\nlast line"
    sc = stream.scanner.with_awk_defaults(ChunkedReader(data, chunk=4))
    assert [bytes(f) for f in sc.get_line()] == [b"alpha", b"beta", b"gamma"]
    assert sc.get_line() == []  # AWK: an empty record has no fields
    assert [bytes(f) for f in sc.get_line()] == [b"last", b"line"]
    assert sc.record_terminator == ""
    assert sc.record_number == 3


def test_scanner_rules_can_change_between_records():
    sc = stream.scanner(ChunkedReader(b"HEAD\r\nk:v;k2:v2;", chunk=5))
    assert bytes(sc.get_line()) == b"HEAD"
    sc.record_separator = ";"
    sc.field_separator = ":"
    assert [bytes(f) for f in sc.get_line()] == [b"k", b"v"]
    assert [bytes(f) for f in sc.get_line()] == [b"k2", b"v2"]


def test_scanner_hands_over_buffered_data_for_a_body():
    # HTTP-like: headers by line, then a fixed-length body read directly,
    # then the next message through set_buffer().
    msg = b"Content-Length: 10\r\n\r\n0123456789NEXT\r\n"
    r = ChunkedReader(msg, chunk=8)
    sc = stream.scanner(r)
    headers = []
    while True:
        line = sc.get_line()
        if len(line) == 0:
            break
        headers.append(bytes(line))
    assert headers == [b"Content-Length: 10"]
    sc.remove_line()
    assert sc.record_terminator is None
    buf, offset = sc.buffer()
    buffered = buf[offset:]
    body = byte_span(10)
    have = min(len(buffered), 10)
    body[0:have] = buffered[:have]
    stream.read_all(r, body[have:])
    assert bytes(body) == b"0123456789"
    # Whatever came after the body goes back to the scanner.
    leftover = buffered[have:]
    sc.set_buffer(leftover)
    assert bytes(sc.get_line()) == b"NEXT"


def test_scanner_set_buffer_with_an_offset_and_spare_capacity():
    src = byte_span(6, 64)
    src.copy(b"xxa\r\nb")
    r = ChunkedReader(b"c\r\n")
    sc = stream.scanner(r)
    sc.set_buffer(src, 2)
    assert bytes(sc.get_line()) == b"a"
    assert bytes(sc.get_line()) == b"bc"  # read into the spare capacity
    buf, offset = sc.buffer()
    assert buf.capacity == 64
    with pytest.raises(ValueError):
        sc.set_buffer(src, 7)
    with pytest.raises(TypeError):
        sc.set_buffer(b"abc")


def test_scanner_records_stay_valid_after_more_reads():
    data = b"".join(b"line %d\n" % i for i in range(200))
    sc = stream.scanner(ChunkedReader(data, chunk=50), record_separator="\n", buffer_size_hint=16)
    lines = []
    while True:
        try:
            lines.append(sc.get_line())
        except EOFError:
            break
    assert [bytes(x) for x in lines] == [b"line %d" % i for i in range(200)]


def test_scanner_max_record_size():
    sc = stream.scanner(
        ChunkedReader(b"short\nwaytoolongrecord\n", chunk=4),
        record_separator="\n",
        buffer_size_hint=4,
        max_record_size=8,
    )
    assert bytes(sc.get_line()) == b"short"
    with pytest.raises(OSError) as e:
        sc.get_line()
    assert e.value.errno == errno.EMSGSIZE


def test_scanner_preconditions_and_bad_options():
    sc = stream.scanner(ChunkedReader(b"a\r\n"))
    with pytest.raises(RuntimeError):
        sc.buffered_line()
    with pytest.raises(RuntimeError):
        sc.remove_line()
    sc.get_line()
    sc.remove_line()
    with pytest.raises(RuntimeError):
        sc.remove_line()
    with pytest.raises(TypeError):
        stream.scanner().get_line()  # no stream
    with pytest.raises(ValueError):
        stream.scanner(ChunkedReader(b"a"), record_separator="").get_line()
    with pytest.raises(TypeError):
        stream.scanner(ChunkedReader(b"a"), record_separator=re.compile("x")).get_line()
    with pytest.raises(ValueError):
        stream.scanner(ChunkedReader(b"a"), buffer_size_hint=0)


def test_scanner_over_a_tcp_socket():
    with tcp_pair() as (c, s):
        sc = stream.scanner(s)

        def send():
            for part in (b"GET / HTTP/1.1\r\nHost: x", b"\r\n", b"\r\n"):
                c.write_some(part)
                wait_until_idle()
            c.shutdown("send")

        spawn(send)
        lines = []
        while True:
            try:
                lines.append(bytes(sc.get_line()))
            except EOFError:
                break
        assert lines == [b"GET / HTTP/1.1", b"Host: x", b""]
