# read_some_span(): reads that hold no buffer while they wait, for servers with
# many idle connections. Every test runs as the main fiber of a fresh engine,
# once per backend (io_uring, epoll). Traffic stays on the loopback.
import errno
import gc

import pytest
from helpers import tcp_pair, wait_until_idle

from emilua import ip, spawn, stream
from emilua.byte_span import byte_span


def test_read_some_span_returns_what_the_peer_sent():
    with tcp_pair() as (c, s):
        c.write_some(b"hello")
        span = s.read_some_span()
        assert isinstance(span, byte_span)
        assert bytes(span) == b"hello"


def test_read_some_span_parks_until_data_arrives():
    with tcp_pair() as (c, s):
        f = spawn(s.read_some_span)
        wait_until_idle()
        assert f.joinable
        c.write_some(b"late")
        assert bytes(f.join()) == b"late"


def test_read_some_span_stops_at_max_length_and_keeps_the_rest_queued():
    with tcp_pair() as (c, s):
        c.write_some(b"0123456789")
        assert bytes(s.read_some_span(4)) == b"0123"
        buf = byte_span(16)
        n = s.read_some(buf)  # the old call reads what is left
        assert bytes(buf.slice(0, n)) == b"456789"


def test_read_some_span_returns_at_most_64_kib():
    with tcp_pair() as (c, s):
        big = bytes(range(256)) * 512  # 128 KiB
        w = spawn(stream.write_all, c, big)
        got = bytearray()
        while len(got) < len(big):
            span = s.read_some_span(1 << 20)
            assert 1 <= len(span) <= 65536
            got += bytes(span)
        w.join()
        assert bytes(got) == big


def test_read_some_span_rejects_a_max_length_below_one():
    with tcp_pair() as (c, s):
        with pytest.raises(ValueError):
            s.read_some_span(0)


def test_read_some_span_raises_eof_when_the_peer_closes():
    with tcp_pair() as (c, s):
        c.close()
        with pytest.raises(EOFError):
            s.read_some_span()


def test_a_span_handed_out_keeps_its_bytes_after_later_reads_and_can_be_dropped():
    # Each span is the caller's own copy: the engine's shared buffer is
    # reused by the next read, the span is not.
    with tcp_pair() as (c, s):
        c.write_some(b"first")
        first = s.read_some_span()
        c.write_some(b"SECOND")
        second = s.read_some_span()
        assert bytes(first) == b"first"
        assert bytes(second) == b"SECOND"
        first[0] = ord("F")  # writable, and only this span changes
        assert bytes(first) == b"First"
        del first, second
        gc.collect()
        c.write_some(b"third")
        assert bytes(s.read_some_span()) == b"third"


def test_interrupt_a_parked_read_some_span_loses_no_byte():
    with tcp_pair() as (c, s):
        f = spawn(s.read_some_span)
        wait_until_idle()
        f.interrupt()
        f.join()
        assert f.interruption_caught
        c.write_some(b"kept")
        assert bytes(s.read_some_span()) == b"kept"


def test_close_wakes_a_parked_read_some_span_with_ecanceled():
    with tcp_pair() as (c, s):

        def reader():
            with pytest.raises(OSError) as e:
                s.read_some_span()
            return e.value.errno

        f = spawn(reader)
        wait_until_idle()
        s.close()
        assert f.join() == errno.ECANCELED


def test_cancel_wakes_a_parked_read_some_span_and_the_socket_stays_usable():
    with tcp_pair() as (c, s):

        def reader():
            with pytest.raises(OSError) as e:
                s.read_some_span()
            return e.value.errno

        f = spawn(reader)
        wait_until_idle()
        s.cancel()
        assert f.join() == errno.ECANCELED
        c.write_some(b"still here")
        assert bytes(s.read_some_span()) == b"still here"


def test_read_some_span_on_a_closed_socket_raises_ebadf():
    with tcp_pair() as (c, s):
        s.close()
        with pytest.raises(OSError) as e:
            s.read_some_span()
        assert e.value.errno == errno.EBADF


def test_many_connections_parked_in_read_some_span_each_get_their_own_bytes():
    # 500 server-side readers parked at once, then every client writes its
    # own message: each reader gets exactly its connection's bytes, and a
    # second round goes through the same fibers.
    n = 500
    lo = ip.address.loopback_v4()
    a = ip.tcp.acceptor()
    a.open(lo)
    a.bind(lo, 0)
    a.listen(n)
    clients, servers = [], []
    try:
        for _ in range(n):
            c = ip.tcp.socket()
            c.connect(lo, a.local_port)
            clients.append(c)
            servers.append(a.accept())

        def echo_twice(s):
            for _ in range(2):
                stream.write_all(s, s.read_some_span())

        fibers = [spawn(echo_twice, s) for s in servers]
        wait_until_idle()
        for rnd in range(2):
            for i, c in enumerate(clients):
                c.write_some(b"%d:%d" % (rnd, i))
            for i, c in enumerate(clients):
                want = b"%d:%d" % (rnd, i)
                buf = byte_span(len(want))
                stream.read_all(c, buf)
                assert bytes(buf) == want
        for f in fibers:
            f.join()
    finally:
        for sock in clients + servers:
            sock.close()
        a.close()
