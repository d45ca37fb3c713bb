# Manual: "ip.tcp.socket". Every test runs as the main fiber of a fresh
# engine, once per backend (io_uring, epoll). Traffic stays on the loopback.
import errno
import fcntl
import os
import socket as pysocket

import pytest
from helpers import tcp_pair, wait_until_idle

from emilua import ip, spawn, stream, this_fiber
from emilua.byte_span import byte_span
from emilua.file_descriptor import file_descriptor

LOOPBACKS = {"v4": ip.address.loopback_v4(), "v6": ip.address.loopback_v6()}


def listening(family: str = "v4") -> ip.tcp.acceptor:
    lo = LOOPBACKS[family]
    a = ip.tcp.acceptor()
    a.open(lo)
    a.bind(lo, 0)
    a.listen()
    return a


def recv_bytes(sock, n: int = 64) -> bytes:
    buf = byte_span(n)
    got = sock.read_some(buf)
    return bytes(buf.slice(0, got))


def close_all(*objs):
    for obj in objs:
        obj.close()


# ------------------------------------------------------------------ connect


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_connect_and_exchange_both_ways(family):
    with tcp_pair(v6=family == "v6") as (c, s):
        lo = LOOPBACKS[family]
        assert c.is_open and s.is_open
        assert c.remote_address == lo and c.remote_port == s.local_port
        assert s.remote_address == lo and s.remote_port == c.local_port
        assert c.local_address == lo
        assert c.write_some(b"hello") == 5
        assert recv_bytes(s) == b"hello"
        assert s.write_some("répondre") == len("répondre".encode())
        assert recv_bytes(c) == "répondre".encode()


def test_connect_opens_the_socket_with_the_addresss_family():
    a = listening("v6")
    c = ip.tcp.socket()
    assert not c.is_open
    c.connect("::1", a.local_port)
    assert c.is_open
    assert c.local_address.is_v6
    s = a.accept()
    close_all(a, c, s)


def test_open_then_bind_then_connect_uses_the_bound_port():
    a = listening()
    c = ip.tcp.socket()
    c.open("v4")
    c.set_option("reuse_address", True)
    c.bind(ip.address.loopback_v4(), 0)
    port = c.local_port
    c.connect(ip.address.loopback_v4(), a.local_port)
    assert c.local_port == port
    s = a.accept()
    assert s.remote_port == port
    close_all(a, c, s)


def test_connect_to_a_closed_port_raises_econnrefused():
    # A bound, non-listening socket holds the port: the SYN gets an RST.
    holder = ip.tcp.socket()
    holder.open("v4")
    holder.bind(ip.address.loopback_v4(), 0)
    c = ip.tcp.socket()
    with pytest.raises(ConnectionRefusedError) as e:
        c.connect(ip.address.loopback_v4(), holder.local_port)
    assert e.value.errno == errno.ECONNREFUSED
    assert c.is_open  # as in Boost.Asio: a failed connect leaves it open
    close_all(holder, c)


def test_connect_rejects_bad_arguments():
    c = ip.tcp.socket()
    with pytest.raises(TypeError):
        c.connect(b"127.0.0.1", 80)
    with pytest.raises(ValueError):
        c.connect("not an address", 80)
    with pytest.raises(ValueError):
        c.connect("127.0.0.1", 70000)
    assert not c.is_open  # nothing was opened for a call that could not start


def _pending_connect():
    """A connect that stays in progress: the listener's queue is full (backlog
    0 queues one connection; Linux drops further SYNs)."""
    a = ip.tcp.acceptor()
    a.open("v4")
    a.bind(ip.address.loopback_v4(), 0)
    a.listen(0)
    first = ip.tcp.socket()
    first.connect(ip.address.loopback_v4(), a.local_port)
    c = ip.tcp.socket()
    c.open("v4")
    return a, first, c


def test_close_cancels_a_pending_connect():
    a, first, c = _pending_connect()
    f = spawn(c.connect, ip.address.loopback_v4(), a.local_port)
    wait_until_idle()
    c.close()
    with pytest.raises(OSError) as e:
        f.join()
    assert e.value.errno == errno.ECANCELED
    close_all(a, first)


def test_interrupt_a_pending_connect():
    a, first, c = _pending_connect()
    f = spawn(c.connect, ip.address.loopback_v4(), a.local_port)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught
    close_all(a, first, c)


def test_disconnect_dissolves_the_association():
    a = listening()
    c = ip.tcp.socket()
    c.connect(ip.address.loopback_v4(), a.local_port)
    s = a.accept()
    c.disconnect()
    with pytest.raises(OSError) as e:
        _ = c.remote_port
    assert e.value.errno == errno.ENOTCONN
    # connect(AF_UNSPEC) aborts a TCP connection: the peer sees a reset.
    with pytest.raises(ConnectionResetError):
        s.read_some(byte_span(4))
    # The same socket can connect again.
    c.connect(ip.address.loopback_v4(), a.local_port)
    s2 = a.accept()
    c.write_some(b"again")
    assert recv_bytes(s2) == b"again"
    close_all(a, c, s, s2)


# --------------------------------------------------------- reads and writes


def test_read_some_raises_eof_at_end_of_stream():
    with tcp_pair() as (c, s):
        c.write_some(b"last")
        c.shutdown("send")
        assert recv_bytes(s) == b"last"
        with pytest.raises(EOFError):
            s.read_some(byte_span(8))
        with pytest.raises(EOFError):  # and again: EOF is sticky
            s.read_some(byte_span(8))


def test_read_some_raises_eof_when_the_peer_closes():
    with tcp_pair() as (c, s):
        c.close()
        with pytest.raises(EOFError):
            s.read_some(byte_span(8))


def test_read_some_into_an_empty_buffer_returns_zero():
    with tcp_pair() as (c, s):
        assert s.read_some(byte_span(0)) == 0


def test_read_some_accepts_writable_buffers():
    with tcp_pair() as (c, s):
        c.write_some(b"abcdef")
        ba = bytearray(3)
        assert s.read_some(ba) == 3
        assert ba == b"abc"
        mv = memoryview(bytearray(8))
        assert s.read_some(mv[2:]) == 3
        assert bytes(mv[2:5]) == b"def"


def test_read_some_rejects_read_only_buffers():
    with tcp_pair() as (c, s):
        c.write_some(b"x")
        with pytest.raises(BufferError):
            s.read_some(b"xxxx")


def test_write_some_takes_byte_span_bytes_and_str():
    with tcp_pair() as (c, s):
        span = byte_span(4)
        span.copy(b"span")
        assert c.write_some(span) == 4
        assert c.write_some(b"|bytes|") == 7
        assert c.write_some("str") == 3
        stream.write_all(c, b"")  # nothing to send is fine
        buf = byte_span(14)
        stream.read_all(s, buf)
        assert bytes(buf) == b"span|bytes|str"


def test_write_some_may_be_short_and_parks_when_the_buffer_is_full():
    with tcp_pair() as (c, s):
        c.set_option("send_buffer_size", 4096)
        s.set_option("receive_buffer_size", 4096)
        big = b"x" * (4 * 1024 * 1024)
        n = c.write_some(big)
        assert 0 < n < len(big)  # a short write, returned at once
        written = []

        def writer():
            while True:
                written.append(c.write_some(big))

        w = spawn(writer)
        wait_until_idle()
        before = len(written)
        wait_until_idle()
        assert len(written) == before  # parked, not spinning on EAGAIN
        buf = byte_span(65536)
        while len(written) == before:
            s.read_some(buf)  # draining wakes the writer
        assert written[-1] > 0
        w.interrupt()
        w.join()
        assert w.interruption_caught


def test_receive_with_peek_leaves_the_data_queued():
    with tcp_pair() as (c, s):
        c.write_some(b"peekaboo")
        s.wait("read")
        buf = byte_span(4)
        assert s.receive(buf, ip.message_flag.peek) == 4
        assert bytes(buf) == b"peek"
        assert s.io_control("bytes_readable") == 8
        assert recv_bytes(s) == b"peekaboo"


def test_receive_and_send_without_flags():
    with tcp_pair() as (c, s):
        assert c.send(b"plain") == 5
        assert c.send(b"!", 0) == 1
        buf = byte_span(6)
        stream.read_all(s, buf)
        assert bytes(buf) == b"plain!"
        c.shutdown("send")
        with pytest.raises(EOFError):
            s.receive(byte_span(1))


def test_send_out_of_band_arrives_out_of_band():
    with tcp_pair() as (c, s):
        c.send(b"a")
        c.send(b"!", ip.message_flag.out_of_band)
        s.wait("read")
        oob = byte_span(1)
        # The urgent byte is read separately, with MSG_OOB.
        assert s.receive(oob, ip.message_flag.out_of_band) == 1
        assert bytes(oob) == b"!"
        assert recv_bytes(s) == b"a"


def test_io_control_bytes_readable():
    with tcp_pair() as (c, s):
        assert s.io_control("bytes_readable") == 0
        c.write_some(b"12345")
        s.wait("read")
        assert s.io_control("bytes_readable") == 5
        with pytest.raises(ValueError):
            s.io_control("no_such_command")
        with pytest.raises(ValueError):
            s.io_control("bytes_readable", 1)


def test_wait_read_parks_until_data_arrives():
    with tcp_pair() as (c, s):
        order = []

        def waiter():
            s.wait("read")
            order.append("readable")

        f = spawn(waiter)
        wait_until_idle()
        assert order == []
        order.append("write")
        c.write_some(b"x")
        f.join()
        assert order == ["write", "readable"]
        assert recv_bytes(s) == b"x"  # wait() consumed nothing


def test_wait_write_returns_on_a_fresh_connection():
    with tcp_pair() as (c, s):
        c.wait("write")
        with pytest.raises(ValueError):
            c.wait("sideways")


def test_wait_error_waits_for_urgent_data_and_at_mark_finds_it():
    # Manual: wait("error") + out_of_band_inline + at_mark, for protocols
    # that use TCP urgent data.
    with tcp_pair() as (c, s):
        s.set_option("out_of_band_inline", True)
        done = []

        def waiter():
            s.wait("error")
            done.append(True)

        f = spawn(waiter)
        wait_until_idle()
        c.write_some(b"normal")
        wait_until_idle()
        assert done == []  # in-band data is not an error condition
        c.send(b"!", ip.message_flag.out_of_band)
        f.join()
        assert done == [True]
        assert s.at_mark is False
        buf = byte_span(6)
        stream.read_all(s, buf)
        assert bytes(buf) == b"normal"
        assert s.at_mark is True  # the next byte is the urgent one, inline
        assert recv_bytes(s) == b"!"


def test_wait_error_returns_when_the_connection_is_reset():
    with tcp_pair() as (c, s):
        f = spawn(c.wait, "error")
        wait_until_idle()
        s.set_option("linger", (True, 0))
        s.close()  # RST
        f.join()
        with pytest.raises(ConnectionResetError):
            c.read_some(byte_span(1))


def test_cancel_makes_a_parked_read_raise_ecanceled_and_the_socket_stays_usable():
    with tcp_pair() as (c, s):

        def reader():
            with pytest.raises(OSError) as e:
                s.read_some(byte_span(8))
            return e.value.errno

        f = spawn(reader)
        wait_until_idle()
        s.cancel()
        assert f.join() == errno.ECANCELED
        assert s.is_open
        c.write_some(b"still here")
        assert recv_bytes(s) == b"still here"  # no byte was swallowed


def test_cancel_with_nothing_in_flight_is_harmless():
    with tcp_pair() as (c, s):
        s.cancel()
        c.write_some(b"ok")
        assert recv_bytes(s) == b"ok"


def test_interrupt_a_parked_read_loses_no_byte():
    with tcp_pair() as (c, s):
        f = spawn(s.read_some, byte_span(8))
        wait_until_idle()
        f.interrupt()
        f.join()
        assert f.interruption_caught
        c.write_some(b"kept")
        assert recv_bytes(s) == b"kept"


def test_a_fiber_that_keeps_yielding_does_not_starve_a_parked_read():
    with tcp_pair() as (c, s):
        stop = []

        def busy():
            while not stop:
                this_fiber.yield_()

        b = spawn(busy)
        reader = spawn(recv_bytes, s)
        wait_until_idle()
        c.write_some(b"x")
        assert reader.join() == b"x"  # the hub polled although busy never parked
        stop.append(True)
        b.join()


# ---------------------------------------------------------------- shutdown


def test_shutdown_send_gives_the_peer_eof_and_keeps_receiving():
    with tcp_pair() as (c, s):
        c.shutdown("send")
        with pytest.raises(EOFError):
            s.read_some(byte_span(1))
        s.write_some(b"reply")
        assert recv_bytes(c) == b"reply"
        with pytest.raises(BrokenPipeError) as e:
            c.write_some(b"more")
        assert e.value.errno == errno.EPIPE


def test_shutdown_receive_makes_reads_return_eof():
    with tcp_pair() as (c, s):
        s.shutdown("receive")
        with pytest.raises(EOFError):
            s.read_some(byte_span(1))
        s.write_some(b"one way")
        assert recv_bytes(c) == b"one way"


def test_shutdown_both():
    with tcp_pair() as (c, s):
        c.shutdown("both")
        with pytest.raises(EOFError):
            c.read_some(byte_span(1))
        with pytest.raises(BrokenPipeError):
            c.write_some(b"x")
        with pytest.raises(EOFError):
            s.read_some(byte_span(1))


def test_shutdown_rejects_a_bad_direction_and_needs_a_connection():
    with tcp_pair() as (c, s):
        with pytest.raises(ValueError):
            c.shutdown("sideways")
    lone = ip.tcp.socket()
    lone.open("v4")
    with pytest.raises(OSError) as e:
        lone.shutdown("both")
    assert e.value.errno == errno.ENOTCONN
    lone.close()


def test_a_reset_connection_raises_econnreset_then_epipe():
    with tcp_pair() as (c, s):
        # linger on with a zero timeout: close(2) sends an RST (socket(7)).
        s.set_option("linger", (True, 0))
        s.close()
        with pytest.raises(ConnectionResetError) as e:
            c.read_some(byte_span(1))
        assert e.value.errno == errno.ECONNRESET
        with pytest.raises(BrokenPipeError) as e:
            c.write_some(b"x")
        assert e.value.errno == errno.EPIPE


def test_writing_to_a_closed_peer_raises_an_oserror_not_sigpipe():
    with tcp_pair() as (c, s):
        s.close()
        with pytest.raises(EOFError):
            c.read_some(byte_span(1))
        # The first write is answered with an RST, a later one fails.
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(100):
                c.write_some(b"x" * 1024)
                this_fiber.yield_()


# ------------------------------------------------------------------- close


def test_operations_on_a_closed_socket_raise_ebadf():
    with tcp_pair() as (c, s):
        s.close()
        assert not s.is_open
        s.close()  # closing again does nothing (as in Boost.Asio)
        for op in (
            lambda: s.read_some(byte_span(1)),
            lambda: s.write_some(b"x"),
            lambda: s.receive(byte_span(1), 0),
            lambda: s.send(b"x", 0),
            lambda: s.wait("read"),
            lambda: s.shutdown("both"),
            lambda: s.io_control("bytes_readable"),
            lambda: s.get_option("tcp_no_delay"),
            lambda: s.set_option("tcp_no_delay", True),
            lambda: s.local_port,
            lambda: s.remote_address,
            s.cancel,
            s.release,
            s.disconnect,
            s.fileno,
        ):
            with pytest.raises(OSError) as e:
                op()
            assert e.value.errno == errno.EBADF


def test_close_wakes_a_parked_reader_with_ecanceled():
    with tcp_pair() as (c, s):

        def reader():
            with pytest.raises(OSError) as e:
                s.read_some(byte_span(8))
            return e.value.errno

        f = spawn(reader)
        wait_until_idle()
        s.close()
        assert f.join() == errno.ECANCELED


def test_close_wakes_a_parked_writer_with_ecanceled():
    with tcp_pair() as (c, s):
        c.set_option("send_buffer_size", 4096)
        s.set_option("receive_buffer_size", 4096)
        chunk = b"y" * 65536

        def writer():
            with pytest.raises(OSError) as e:
                while True:
                    c.write_some(chunk)
            return e.value.errno

        f = spawn(writer)
        wait_until_idle()
        assert f.joinable
        c.close()
        assert f.join() == errno.ECANCELED


def test_closing_many_sockets_wakes_each_parked_reader():
    # One reader per socket, all parked; closing each wakes its own reader.
    pairs = []
    for _ in range(8):
        a = listening()
        c = ip.tcp.socket()
        c.connect(ip.address.loopback_v4(), a.local_port)
        s = a.accept()
        a.close()
        pairs.append((c, s))
    readers = [spawn(s.read_some, byte_span(4)) for _, s in pairs]
    wait_until_idle()
    for _, s in pairs:
        s.close()
    for f in readers:
        with pytest.raises(OSError) as e:
            f.join()
        assert e.value.errno == errno.ECANCELED
    for c, _ in pairs:
        c.close()


def test_a_new_socket_never_receives_what_the_old_peer_sends(backend):
    # The old socket has a recv in flight when it is closed. io_uring keeps
    # the open file referenced by the request (close(2) does not cancel it),
    # so the engine cancels by fd and releases the number only after the
    # completion arrived: until then a new socket cannot get that number.
    lo = ip.address.loopback_v4()
    a = listening()
    old_peer = ip.tcp.socket()
    old_peer.connect(lo, a.local_port)
    old = a.accept()
    got = []

    def reader():
        try:
            got.append(bytes(old.read_some(byte_span(16))))
        except OSError as e:
            got.append(e.errno)

    f = spawn(reader)
    wait_until_idle()
    old_fd = old.fileno()
    old.close()
    fresh = ip.tcp.socket()
    fresh.open("v4")  # created before the engine reaped the cancellation
    if backend == "io_uring":
        assert fresh.fileno() != old_fd
    else:
        # epoll has no kernel op in flight: the number is free at once.
        assert fresh.fileno() == old_fd
    f.join()
    assert got == [errno.ECANCELED]

    # Once the kernel let go, the number is reused by the next socket.
    reuser = ip.tcp.socket()
    if backend == "io_uring":
        reuser.open("v4")
        assert reuser.fileno() == old_fd
    else:
        reuser = fresh
    reuser.connect(lo, a.local_port)
    new_peer = a.accept()
    reader2 = spawn(recv_bytes, reuser)
    wait_until_idle()
    try:
        old_peer.write_some(b"OLD DATA")  # meant for the closed socket
    except OSError:
        pass
    new_peer.write_some(b"new")
    assert reader2.join() == b"new"
    assert reuser.io_control("bytes_readable") == 0
    assert got == [errno.ECANCELED]  # the orphaned read never got OLD DATA
    close_all(a, old_peer, new_peer, reuser)
    if fresh.is_open:
        fresh.close()


# ----------------------------------------------------------- release/assign


def test_release_and_assign_move_a_connection():
    with tcp_pair() as (c, s):
        fd = s.release()
        assert isinstance(fd, file_descriptor)
        assert not s.is_open
        moved = ip.tcp.socket()
        moved.assign("v4", fd)
        c.write_some(b"moved")
        assert recv_bytes(moved) == b"moved"
        moved.write_some(b"back")
        assert recv_bytes(c) == b"back"
        moved.close()


def test_release_cancels_a_parked_read_and_no_byte_is_lost():
    # Manual: release() makes the outstanding operations finish with
    # operation_aborted; then the fd belongs to the caller.
    with tcp_pair() as (c, s):

        def reader():
            with pytest.raises(OSError) as e:
                s.read_some(byte_span(8))
            return e.value.errno

        f = spawn(reader)
        wait_until_idle()
        fd = s.release()
        moved = ip.tcp.socket()
        moved.assign("v4", fd)
        c.write_some(b"after")
        assert recv_bytes(moved) == b"after"
        assert f.join() == errno.ECANCELED
        moved.close()


def test_released_fd_can_be_closed_by_its_owner():
    with tcp_pair() as (c, s):
        fd = s.release()
        n = int(str(fd).rsplit("/", 1)[1])
        dup = fd.dup()
        assert str(dup) != str(fd)
        fd.close()
        with pytest.raises(OSError) as e:
            fd.close()
        assert e.value.errno == errno.EBADF
        assert str(fd) == "file_descriptor(closed)"
        with pytest.raises(OSError) as e:
            os.fstat(n)
        assert e.value.errno == errno.EBADF
        dup.close()
        with pytest.raises(EOFError):
            c.read_some(byte_span(1))


def test_assign_rejects_an_open_socket_and_bad_arguments():
    with tcp_pair() as (c, s):
        fd = s.release()
        with pytest.raises(OSError) as e:
            c.assign("v4", fd)
        assert e.value.errno == errno.EALREADY
        with pytest.raises(TypeError):
            ip.tcp.socket().assign("v4", 0)
        with pytest.raises(ValueError):
            ip.tcp.socket().assign("v7", fd)
        fd.close()


# ------------------------------------------------------------------ options


@pytest.mark.parametrize(
    "opt", ["reuse_address", "reuse_port", "tcp_no_delay", "keep_alive", "out_of_band_inline"]
)
def test_bool_options_round_trip(opt):
    with tcp_pair() as (c, s):
        for value in (True, False, True):
            c.set_option(opt, value)
            assert c.get_option(opt) is value


@pytest.mark.parametrize("opt", ["send_buffer_size", "receive_buffer_size"])
def test_buffer_size_options(opt):
    with tcp_pair() as (c, s):
        c.set_option(opt, 32768)
        # socket(7): the kernel doubles the value for its bookkeeping.
        assert c.get_option(opt) == 65536


def test_receive_low_watermark():
    with tcp_pair() as (c, s):
        c.set_option("receive_low_watermark", 4)
        assert c.get_option("receive_low_watermark") == 4


def test_send_low_watermark_cannot_be_changed_on_linux():
    with tcp_pair() as (c, s):
        assert c.get_option("send_low_watermark") == 1
        # socket(7): SO_SNDLOWAT is not changeable on Linux.
        with pytest.raises(OSError) as e:
            c.set_option("send_low_watermark", 4)
        assert e.value.errno == errno.ENOPROTOOPT


def test_linger_option():
    with tcp_pair() as (c, s):
        assert c.get_option("linger") == (False, 0)
        c.set_option("linger", (True, 7))
        assert c.get_option("linger") == (True, 7)
        c.set_option("linger", [False, 0])
        # socket(7): turning linger off keeps the old timeout.
        assert c.get_option("linger") == (False, 7)
        for bad in (True, (1, 2), (True, "7"), (True,), (True, 1, 2), None):
            with pytest.raises(TypeError):
                c.set_option("linger", bad)


def test_v6_only_on_v6_and_v4_sockets():
    with tcp_pair(v6=True) as (c, s):
        assert c.get_option("v6_only") is False
        # ipv6(7): IPV6_V6ONLY can only be changed before bind/connect.
        with pytest.raises(OSError) as e:
            c.set_option("v6_only", True)
        assert e.value.errno == errno.EINVAL
    with tcp_pair() as (c, s):
        # An IPv6 option on an IPv4 socket: the kernel's own errnos.
        with pytest.raises(OSError) as e:
            c.get_option("v6_only")
        assert e.value.errno == errno.EOPNOTSUPP
        with pytest.raises(OSError) as e:
            c.set_option("v6_only", True)
        assert e.value.errno == errno.ENOPROTOOPT


def test_debug_and_do_not_route_options():
    with tcp_pair() as (c, s):
        c.set_option("debug", False)
        assert c.get_option("debug") is False
        c.set_option("do_not_route", True)
        assert c.get_option("do_not_route") is True


def test_bad_option_names_and_value_types():
    with tcp_pair() as (c, s):
        with pytest.raises(ValueError):
            c.set_option("no_such_option", True)
        with pytest.raises(ValueError):
            c.get_option("no_such_option")
        # Acceptor-only option.
        with pytest.raises(ValueError):
            c.set_option("enable_connection_aborted", True)
        with pytest.raises(TypeError):
            c.set_option("tcp_no_delay", 1)
        with pytest.raises(TypeError):
            c.set_option("send_buffer_size", "big")
        with pytest.raises(TypeError):
            c.set_option("send_buffer_size", True)


def test_options_work_before_connect():
    c = ip.tcp.socket()
    c.open("v6")
    c.set_option("v6_only", True)
    assert c.get_option("v6_only") is True
    c.set_option("tcp_no_delay", True)
    assert c.get_option("tcp_no_delay") is True
    c.close()


def test_at_mark_is_false_without_urgent_data():
    with tcp_pair() as (c, s):
        s.set_option("out_of_band_inline", True)
        assert s.at_mark is False


def test_send_file_is_windows_only():
    with tcp_pair() as (c, s):
        with pytest.raises(NotImplementedError):
            c.send_file(None, 0, 0)


# --------------------------------------------------------------- properties


def test_endpoint_properties_of_an_unconnected_socket():
    c = ip.tcp.socket()
    c.open("v4")
    assert c.local_address == ip.address.any_v4()
    assert c.local_port == 0
    with pytest.raises(OSError) as e:
        _ = c.remote_address
    assert e.value.errno == errno.ENOTCONN
    c.close()


def test_the_engines_fds_are_close_on_exec_and_nonblocking():
    with tcp_pair() as (c, s):
        for sock in (c, s):
            fd = sock.fileno()
            assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
            assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK


def test_a_connection_made_outside_the_engine_can_be_assigned():
    listener = pysocket.socket(pysocket.AF_INET, pysocket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    raw_c = pysocket.create_connection(listener.getsockname())
    raw_s, _ = listener.accept()
    listener.close()
    assert raw_c.getblocking()  # the engine makes it non-blocking
    c = ip.tcp.socket()
    c.assign("v4", file_descriptor._adopt(raw_c.detach()))
    s = ip.tcp.socket()
    s.assign(ip.address.loopback_v4(), file_descriptor._adopt(raw_s.detach()))
    assert s.remote_port == c.local_port
    f = spawn(recv_bytes, s)
    wait_until_idle()
    c.write_some(b"from outside")
    assert f.join() == b"from outside"
    close_all(c, s)
