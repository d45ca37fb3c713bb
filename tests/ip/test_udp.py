# Manual: "ip.udp.socket", and the udp forms of "ip.get_address_info" and
# "ip.get_name_info". Every test runs as the main fiber of a fresh engine, once
# per backend (io_uring, epoll). Traffic stays on the loopback.
import errno
import os
import socket as pysocket

import pytest
from helpers import wait_until_idle

from emilua import ip, spawn, this_fiber
from emilua.byte_span import byte_span
from emilua.file_descriptor import file_descriptor

LOOPBACKS = {"v4": ip.address.loopback_v4(), "v6": ip.address.loopback_v6()}
FAMILIES = ["v4", "v6"]


def bound(family: str = "v4") -> ip.udp.socket:
    lo = LOOPBACKS[family]
    s = ip.udp.socket()
    s.open(family)
    s.bind(lo, 0)
    return s


def received(sock, n: int = 64, flags: int = 0):
    buf = byte_span(n)
    got, addr, port = sock.receive_from(buf, flags)
    return bytes(buf.slice(0, got)), addr, port


# ------------------------------------------------------------ open / bind


@pytest.mark.parametrize("family", FAMILIES)
def test_open_bind_and_local_endpoint(family):
    s = bound(family)
    assert s.is_open
    assert s.local_address == LOOPBACKS[family]
    assert s.local_port > 0
    s.close()
    assert not s.is_open


def test_open_infers_the_family_from_an_address():
    s = ip.udp.socket()
    s.open(ip.address.loopback_v6())
    s.bind("::1", 0)
    assert s.local_address.is_v6
    s.close()


def test_open_twice_raises_ealready():
    s = ip.udp.socket()
    s.open("v4")
    with pytest.raises(OSError) as e:
        s.open("v4")
    assert e.value.errno == errno.EALREADY
    s.close()


def test_open_rejects_an_unknown_family():
    with pytest.raises(ValueError):
        ip.udp.socket().open("v5")


def test_bind_accepts_a_string_address():
    s = ip.udp.socket()
    s.open("v4")
    s.bind("127.0.0.1", 0)
    assert str(s.local_address) == "127.0.0.1"
    s.close()


def test_bind_to_a_taken_port_raises_eaddrinuse():
    a = bound()
    b = ip.udp.socket()
    b.open("v4")
    with pytest.raises(OSError) as e:
        b.bind(ip.address.loopback_v4(), a.local_port)
    assert e.value.errno == errno.EADDRINUSE
    a.close()
    b.close()


def test_operations_on_a_closed_socket_raise_ebadf():
    s = ip.udp.socket()
    with pytest.raises(OSError) as e:
        s.receive(byte_span(4))
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        s.send_to(b"x", "127.0.0.1", 9)
    assert e.value.errno == errno.EBADF


# ------------------------------------------------------------ send / receive


@pytest.mark.parametrize("family", FAMILIES)
def test_send_to_and_receive_from(family):
    a, b = bound(family), bound(family)
    assert a.send_to(b"hello", b.local_address, b.local_port) == 5
    data, addr, port = received(b)
    assert data == b"hello"
    assert addr == LOOPBACKS[family] and port == a.local_port
    assert b.send_to("réponse", addr, port) == len("réponse".encode())
    data, addr, port = received(a)
    assert data == "réponse".encode() and port == b.local_port
    a.close()
    b.close()


@pytest.mark.parametrize("family", FAMILIES)
def test_connect_send_receive_and_remote_endpoint(family):
    a, b = bound(family), bound(family)
    lo = LOOPBACKS[family]
    a.connect(lo, b.local_port)
    assert a.remote_address == lo and a.remote_port == b.local_port
    assert a.send(b"ping") == 4
    buf = byte_span(16)
    n, addr, port = b.receive_from(buf)
    assert bytes(buf.slice(0, n)) == b"ping" and port == a.local_port
    b.send_to(b"pong", addr, port)
    assert a.receive(buf) == 4 and bytes(buf.slice(0, 4)) == b"pong"
    a.close()
    b.close()


def test_connect_opens_the_socket():
    b = bound("v6")
    a = ip.udp.socket()
    a.connect("::1", b.local_port)
    assert a.is_open and a.local_address.is_v6
    a.send(b"x")
    assert received(b)[0] == b"x"
    a.close()
    b.close()


def test_a_connected_socket_receives_only_from_its_peer():
    a, b, c = bound(), bound(), bound()
    a.connect(b.local_address, b.local_port)
    c.send_to(b"stranger", a.local_address, a.local_port)
    b.send_to(b"peer", a.local_address, a.local_port)
    assert received(a)[0] == b"peer"
    for s in (a, b, c):
        s.close()


def test_disconnect_dissolves_the_association():
    a, b = bound(), bound()
    a.connect(b.local_address, b.local_port)
    a.disconnect()
    with pytest.raises(OSError) as e:
        a.remote_port  # noqa: B018
    assert e.value.errno == errno.ENOTCONN
    with pytest.raises(OSError) as e:
        a.send(b"x")
    assert e.value.errno == errno.EDESTADDRREQ
    a.close()
    b.close()


def test_send_on_an_unconnected_socket_raises_edestaddrreq():
    a = bound()
    with pytest.raises(OSError) as e:
        a.send(b"x")
    assert e.value.errno == errno.EDESTADDRREQ
    a.close()


def test_datagrams_are_never_split_or_merged():
    a, b = bound(), bound()
    sizes = [0, 1, 7, 100, 1500, 9000, 3]
    for i, n in enumerate(sizes):
        a.send_to(bytes([i]) * n, b.local_address, b.local_port)
    buf = byte_span(65536)
    for i, n in enumerate(sizes):
        got, _, _ = b.receive_from(buf)
        assert got == n
        assert bytes(buf.slice(0, got)) == bytes([i]) * n
    a.close()
    b.close()


def test_a_zero_byte_datagram_is_received_as_zero():
    a, b = bound(), bound()
    a.connect(b.local_address, b.local_port)
    assert a.send(b"") == 0
    assert b.receive(byte_span(8)) == 0
    a.close()
    b.close()


def test_a_datagram_longer_than_the_buffer_is_cut_and_the_rest_discarded():
    a, b = bound(), bound()
    a.send_to(b"0123456789", b.local_address, b.local_port)
    a.send_to(b"next", b.local_address, b.local_port)
    data, _, port = received(b, 4)
    assert data == b"0123" and port == a.local_port
    buf = byte_span(4)
    assert b.receive(buf) == 4 and bytes(buf) == b"next"
    a.send_to(b"abcdefgh", b.local_address, b.local_port)
    assert b.receive(buf) == 4 and bytes(buf) == b"abcd"
    a.close()
    b.close()


def test_peek_leaves_the_datagram_queued():
    a, b = bound(), bound()
    a.send_to(b"peeked", b.local_address, b.local_port)
    assert received(b, flags=ip.message_flag.peek)[0] == b"peeked"
    buf = byte_span(16)
    assert b.receive(buf, ip.message_flag.peek) == 6
    assert received(b)[0] == b"peeked"
    a.close()
    b.close()


def test_do_not_route_flag_sends_on_the_loopback():
    a, b = bound(), bound()
    assert a.send_to(b"dr", b.local_address, b.local_port, ip.message_flag.do_not_route) == 2
    assert received(b)[0] == b"dr"
    a.connect(b.local_address, b.local_port)
    assert a.send(b"dr2", ip.message_flag.do_not_route) == 3
    assert received(b)[0] == b"dr2"
    a.close()
    b.close()


def test_end_of_record_is_accepted_on_a_datagram():
    a, b = bound(), bound()
    assert a.send_to(b"rec", b.local_address, b.local_port, ip.message_flag.end_of_record) == 3
    assert received(b)[0] == b"rec"
    a.close()
    b.close()


def test_out_of_band_is_not_supported_by_udp():
    a, b = bound(), bound()
    with pytest.raises(OSError) as e:
        a.send_to(b"x", b.local_address, b.local_port, ip.message_flag.out_of_band)
    assert e.value.errno == errno.EOPNOTSUPP
    a.close()
    b.close()


def test_bad_flags_and_ports_raise_type_or_value_errors():
    a = bound()
    with pytest.raises(TypeError):
        a.send_to(b"x", "127.0.0.1", 9, "peek")
    with pytest.raises(TypeError):
        a.receive(byte_span(1), 1.5)
    with pytest.raises(ValueError):
        a.send_to(b"x", "127.0.0.1", 70000)
    with pytest.raises(TypeError):
        a.send_to(b"x", 12, 9)
    a.close()


def test_send_to_a_v4_address_from_a_v6_socket_raises():
    a = bound("v6")
    with pytest.raises(OSError):
        a.send_to(b"x", "127.0.0.1", 9)
    a.close()


def test_receive_into_a_read_only_buffer_raises_buffererror():
    a = bound()
    with pytest.raises(BufferError):
        a.receive_from(b"immutable")
    a.close()


def test_many_fibers_receive_each_datagram_once():
    a, b = bound(), bound()
    got = []

    def reader():
        got.append(received(b)[0])

    fibers = [spawn(reader) for _ in range(8)]
    wait_until_idle()
    for i in range(8):
        a.send_to(b"d%d" % i, b.local_address, b.local_port)
    for f in fibers:
        f.join()
    assert sorted(got) == sorted(b"d%d" % i for i in range(8))
    a.close()
    b.close()


# ------------------------------------------------------------ faults


def test_an_interrupted_receive_loses_no_datagram():
    a, b = bound(), bound()

    def reader():
        return received(b)

    f = spawn(reader)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught
    a.send_to(b"after", b.local_address, b.local_port)
    assert received(b)[0] == b"after"
    a.close()
    b.close()


def test_an_interrupted_receive_that_already_completed_returns_its_datagram():
    a, b = bound(), bound()
    out = []

    def reader():
        out.append(received(b)[0])

    f = spawn(reader)
    wait_until_idle()
    a.send_to(b"raced", b.local_address, b.local_port)
    f.interrupt()
    f.join()
    # Either the reader got the datagram, or it is still queued: never lost.
    if not out:
        out.append(received(b)[0])
    assert out == [b"raced"]
    a.close()
    b.close()


@pytest.mark.parametrize("how", ["close", "cancel"])
def test_close_and_cancel_wake_every_parked_fiber_with_ecanceled(how):
    s = bound()
    errors = []

    def reader():
        try:
            received(s)
        except OSError as e:
            errors.append(e.errno)

    def plain_reader():
        try:
            s.receive(byte_span(8))
        except OSError as e:
            errors.append(e.errno)

    fibers = [spawn(reader) for _ in range(3)] + [spawn(plain_reader) for _ in range(2)]
    wait_until_idle()
    getattr(s, how)()
    for f in fibers:
        f.join()
    assert errors == [errno.ECANCELED] * 5
    assert s.is_open == (how == "cancel")
    s.close()


def test_release_wakes_parked_fibers_and_gives_back_the_socket():
    s = bound()
    port = s.local_port
    errors = []

    def reader():
        try:
            received(s)
        except OSError as e:
            errors.append(e.errno)

    f = spawn(reader)
    wait_until_idle()
    fd = s.release()
    f.join()
    assert errors == [errno.ECANCELED]
    assert not s.is_open
    t = ip.udp.socket()
    t.assign("v4", fd)
    assert t.local_port == port
    t.close()


def test_assign_adopts_a_native_socket():
    raw = pysocket.socket(pysocket.AF_INET6, pysocket.SOCK_DGRAM)
    raw.bind(("::1", 0))
    port = raw.getsockname()[1]
    s = ip.udp.socket()
    s.assign("v6", file_descriptor._adopt(raw.detach()))
    assert s.local_port == port
    peer = bound("v6")
    peer.send_to(b"adopted", "::1", port)
    assert received(s)[0] == b"adopted"
    s.close()
    peer.close()


def test_assign_to_an_open_socket_raises_ealready():
    s = bound()
    raw = pysocket.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM)
    fd = file_descriptor._adopt(raw.detach())
    with pytest.raises(OSError) as e:
        s.assign("v4", fd)
    assert e.value.errno == errno.EALREADY
    fd.close()
    s.close()


def test_shutdown_receive_keeps_sends_working():
    a, b = bound(), bound()
    a.connect(b.local_address, b.local_port)
    a.shutdown("receive")
    assert a.send(b"still") == 5
    assert received(b)[0] == b"still"
    with pytest.raises(ValueError):
        a.shutdown("sideways")
    a.close()
    b.close()


def test_shutdown_send_makes_sends_fail_with_epipe():
    a, b = bound(), bound()
    a.connect(b.local_address, b.local_port)
    a.shutdown("send")
    with pytest.raises(OSError) as e:
        a.send(b"x")
    assert e.value.errno == errno.EPIPE
    a.shutdown("both")
    a.close()
    b.close()


def test_no_fd_survives_interrupted_and_cancelled_receives():
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        s = bound()
        f = spawn(lambda s=s: received(s))
        wait_until_idle()
        f.interrupt()
        f.join()
        assert f.interruption_caught

        def closed_under(s=s):
            with pytest.raises(OSError):
                received(s)

        g = spawn(closed_under)
        wait_until_idle()
        s.close()
        g.join()
    wait_until_idle()
    assert len(os.listdir("/proc/self/fd")) == before


# ------------------------------------------------------------ io_control


def test_io_control_bytes_readable_is_the_next_datagram_size():
    a, b = bound(), bound()
    assert b.io_control("bytes_readable") == 0
    a.send_to(b"12345", b.local_address, b.local_port)
    a.send_to(b"1234567890", b.local_address, b.local_port)
    # Wait for the datagram with a peek, then ask.
    b.receive(byte_span(1), ip.message_flag.peek)
    assert b.io_control("bytes_readable") == 5
    with pytest.raises(ValueError):
        b.io_control("bytes_writable")
    a.close()
    b.close()


# ------------------------------------------------------------ options


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "opt,value",
    [
        ("debug", False),
        ("broadcast", True),
        ("do_not_route", True),
        ("reuse_address", True),
        ("multicast_loop", False),
        ("multicast_hops", 7),
        ("unicast_hops", 33),
    ],
)
def test_options_round_trip(family, opt, value):
    s = ip.udp.socket()
    s.open(family)
    s.set_option(opt, value)
    assert s.get_option(opt) == value
    s.close()


def test_buffer_size_options_round_trip_as_the_kernel_doubles_them():
    s = bound()
    s.set_option("send_buffer_size", 8192)
    s.set_option("receive_buffer_size", 8192)
    assert s.get_option("send_buffer_size") == 16384  # socket(7): doubled
    assert s.get_option("receive_buffer_size") == 16384
    s.close()


def test_v6_only_on_a_v6_socket():
    s = ip.udp.socket()
    s.open("v6")
    s.set_option("v6_only", True)
    assert s.get_option("v6_only") is True
    s.set_option("v6_only", False)
    assert s.get_option("v6_only") is False
    s.close()


def test_unknown_or_wrongly_typed_options_raise():
    s = bound()
    with pytest.raises(ValueError):
        s.set_option("tcp_no_delay", True)
    with pytest.raises(ValueError):
        s.get_option("join_multicast_group")
    with pytest.raises(TypeError):
        s.set_option("broadcast", 1)
    with pytest.raises(TypeError):
        s.set_option("multicast_hops", "3")
    with pytest.raises(TypeError):
        s.set_option("multicast_loop", 1)
    s.close()


def test_broadcast_send_needs_the_broadcast_option():
    s = bound()
    with pytest.raises(OSError) as e:
        s.send_to(b"x", ip.address.broadcast_v4(), 9)
    assert e.value.errno == errno.EACCES
    s.close()


def test_multicast_join_loop_interface_and_leave_v4():
    group = ip.address("239.7.7.7")
    r = ip.udp.socket()
    r.open("v4")
    r.set_option("reuse_address", True)
    r.bind(ip.address.any_v4(), 0)
    r.set_option("join_multicast_group", (group, ip.address.loopback_v4()))
    s = ip.udp.socket()
    s.open("v4")
    s.set_option("multicast_interface", ip.address.loopback_v4())
    s.set_option("multicast_loop", True)
    s.set_option("multicast_hops", 1)
    s.send_to(b"to the group", group, r.local_port)
    assert received(r)[0] == b"to the group"
    r.set_option("leave_multicast_group", (group, ip.address.loopback_v4()))
    with pytest.raises(OSError) as e:
        r.set_option("leave_multicast_group", (group, ip.address.loopback_v4()))
    assert e.value.errno == errno.EADDRNOTAVAIL
    r.close()
    s.close()


def test_multicast_join_and_leave_v6():
    lo = pysocket.if_nametoindex("lo")
    group = ip.address("ff02::1:3")
    r = ip.udp.socket()
    r.open("v6")
    r.bind(ip.address.any_v6(), 0)
    r.set_option("join_multicast_group", (group, lo))
    r.set_option("multicast_interface", lo)
    r.set_option("leave_multicast_group", (group, lo))
    g2 = ip.address("ff02::1:4")
    g2.scope_id = lo
    r.set_option("join_multicast_group", g2)
    r.set_option("leave_multicast_group", g2)
    r.close()


def test_joining_a_unicast_address_raises_einval():
    r = bound()
    with pytest.raises(OSError) as e:
        r.set_option("join_multicast_group", ip.address.loopback_v4())
    assert e.value.errno == errno.EINVAL
    r.close()


# ------------------------------------------------------------ resolution


def test_udp_get_address_info_numeric():
    res = ip.udp.get_address_info(ip.address.loopback_v4(), 53)
    assert [(e.address, e.port) for e in res] == [(ip.address.loopback_v4(), 53)]
    res = ip.udp.get_address_v6_info("::1", 53)
    assert all(e.address.is_v6 and e.port == 53 for e in res) and res
    res = ip.udp.get_address_v4_info("127.0.0.1", "domain")
    assert [(e.address, e.port) for e in res] == [(ip.address.loopback_v4(), 53)]


def test_udp_get_address_info_localhost_with_canonical_name():
    res = ip.udp.get_address_v4_info("localhost", 7, ip.address_info_flag.canonical_name)
    assert res and all(e.address.is_loopback and e.canonical_name for e in res)


def test_udp_get_address_info_gives_one_entry_per_address():
    # A UDP query gives datagram entries only: no duplicate per socket type.
    res = ip.udp.get_address_info("127.0.0.1", 9, 0)
    assert len(res) == 1


def test_udp_get_name_info_uses_udp_service_names():
    # Port 512 is "exec" over TCP and "biff" over UDP (IANA, /etc/services).
    entries = ip.udp.get_name_info(ip.address.loopback_v4(), 512)
    assert [e.service_name for e in entries] == ["biff"]
    assert entries[0].host_name
    assert [e.service_name for e in ip.tcp.get_name_info(ip.address.loopback_v4(), 512)] == ["exec"]


def test_udp_get_address_info_is_interruptible():
    def resolve():
        this_fiber.yield_()
        return ip.udp.get_address_info("127.0.0.1", 9)

    f = spawn(resolve)
    f.interrupt()
    f.join()
    assert f.interruption_caught


def test_mixed_readers_under_bursts_get_every_datagram_once():
    # Readers that take queued datagrams directly race readers parked in the
    # ring; a parked reader that loses waits again instead of failing.
    a, b = bound(), bound()
    a.connect(b.local_address, b.local_port)
    b.connect(a.local_address, a.local_port)
    got = []
    total = 16 * 50

    def reader(plain):
        buf = byte_span(16)
        try:
            while len(got) < total:
                if plain:
                    n = b.receive(buf)
                else:
                    n = b.receive_from(buf)[0]
                got.append(bytes(buf.slice(0, n)))
        except OSError as e:
            assert e.errno == errno.ECANCELED  # closed once everything arrived

    fibers = [spawn(reader, i % 2 == 0) for i in range(16)]
    wait_until_idle()
    for burst in range(50):
        for i in range(16):
            a.send(b"%d.%d" % (burst, i))
        wait_until_idle(3)
    while len(got) < total:
        this_fiber.yield_()
    b.close()
    for f in fibers:
        f.join()
    assert sorted(got) == sorted(b"%d.%d" % (j, i) for j in range(50) for i in range(16))
    a.close()


def test_the_datagram_core_ops_refuse_a_none_handle():
    from emilua._fiber import _proactor

    p = _proactor()
    with pytest.raises(TypeError):
        p.recvfrom(None, bytearray(4))
    with pytest.raises(TypeError):
        p.sendto(None, b"x", bytes(16))
