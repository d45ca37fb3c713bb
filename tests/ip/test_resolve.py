# Manual: "ip.get_address_info", "ip.get_name_info", "ip.connect". Lookups use
# names /etc/hosts answers (localhost, IPv4) and numeric hosts only: no query
# leaves the machine.
import errno
import socket as pysocket
import threading

import pytest
from helpers import wait_until_idle

from emilua import FiberInterrupted, ip, spawn, this_fiber
from emilua._fiber import _proactor
from emilua._offload import run_blocking
from emilua.byte_span import byte_span

LO4 = ip.address.loopback_v4()
LO6 = ip.address.loopback_v6()
flag = ip.address_info_flag


def listening(addr=LO4) -> ip.tcp.acceptor:
    a = ip.tcp.acceptor()
    a.open(addr)
    a.bind(addr, 0)
    a.listen()
    return a


def refused_port(addr=LO4):
    """A port nobody listens on, held by a bound socket for the test's length."""
    holder = ip.tcp.socket()
    holder.open(addr)
    holder.bind(addr, 0)
    return holder, holder.local_port


# ---------------------------------------------------------- get_address_info


def test_localhost_resolves_to_the_loopback():
    entries = ip.get_address_info("localhost", 8080, 0)
    assert entries
    assert {(e.address, e.port) for e in entries} == {(LO4, 8080)}
    assert all(e.canonical_name is None for e in entries)
    e = entries[0]
    addr, port, canonical = e  # an entry is also a tuple
    assert (addr, port, canonical) == (LO4, 8080, None)


def test_default_flags_are_glibcs():
    assert ip._resolve.DEFAULT_FLAGS == flag.address_configured | flag.v4_mapped
    entries = ip.get_address_info("localhost", 80)
    assert (LO4, 80) in {(e.address, e.port) for e in entries}


def test_service_names_are_resolved_and_numbers_are_not():
    [e] = ip.tcp.get_address_info("127.0.0.1", "http", 0)
    assert e.port == 80
    [e] = ip.tcp.get_address_info("127.0.0.1", "8080", 0)
    assert e.port == 8080
    [e] = ip.tcp.get_address_info("127.0.0.1", 0, 0)
    assert e.port == 0


def test_an_address_host_is_not_looked_up():
    [e] = ip.get_address_info(LO6, 443, 0)
    assert e.address == LO6 and e.port == 443
    [e] = ip.get_address_info(ip.address("fe80::1%1"), 1, 0)
    assert e.address == ip.address("fe80::1%1")
    assert e.address.scope_id == 1


def test_canonical_name_is_given_to_every_entry():
    entries = ip.get_address_info("localhost", 80, flag.canonical_name)
    assert entries
    assert {e.canonical_name for e in entries} == {"localhost"}


def test_passive_without_host_gives_the_wildcard_addresses():
    entries = ip.get_address_info(None, 80, flag.passive)
    assert {e.address for e in entries} <= {ip.address.any_v4(), ip.address.any_v6()}
    assert ip.address.any_v4() in {e.address for e in entries}
    entries = ip.get_address_info("", 80, flag.passive)
    assert ip.address.any_v4() in {e.address for e in entries}


def test_v4_and_v6_variants_restrict_the_family():
    entries = ip.tcp.get_address_v4_info("localhost", 80, 0)
    assert entries and all(e.address.is_v4 for e in entries)
    [e] = ip.tcp.get_address_v6_info("::1", 22, 0)
    assert e.address == LO6
    # v4_mapped: an IPv6 query answered by an IPv4 address.
    [e] = ip.tcp.get_address_v6_info("127.0.0.1", 80, flag.v4_mapped)
    assert e.address == ip.address("::ffff:127.0.0.1")
    with pytest.raises(ValueError):
        ip.get_address_info("localhost", 80, 0, family="v5")


def test_resolver_errors_keep_their_code():
    with pytest.raises(pysocket.gaierror) as e:
        ip.get_address_info(LO4, "no-such-service-name", 0)
    assert e.value.errno == pysocket.EAI_SERVICE
    assert isinstance(e.value, OSError)


def test_bad_arguments():
    with pytest.raises(TypeError):
        ip.get_address_info(b"localhost", 80)
    with pytest.raises(TypeError):
        ip.get_address_info("localhost", 80.0)
    with pytest.raises(TypeError):
        ip.get_address_info("localhost", True)
    with pytest.raises(TypeError):
        ip.get_address_info("localhost", 80, "passive")
    with pytest.raises(ValueError):
        ip.get_address_info("localhost", 70000)
    with pytest.raises(ValueError):
        ip.get_address_info("localhost", 80, protocol="sctp")


def test_udp_protocol_resolves_udp_services():
    [e] = ip.get_address_info(LO4, "domain", 0, protocol="udp")
    assert e.port == 53


def test_lookups_from_many_fibers_run_concurrently():
    results = {}

    def lookup(i):
        results[i] = ip.get_address_info("localhost", 1000 + i, 0)

    fibers = [spawn(lookup, i) for i in range(20)]
    for f in fibers:
        f.join()
    assert {i: {(e.address, e.port) for e in r} for i, r in results.items()} == {
        i: {(LO4, 1000 + i)} for i in range(20)
    }


# -------------------------------------------------------------- get_name_info


def test_get_name_info_matches_the_c_library():
    entries = ip.get_name_info(LO4, 80)
    assert entries == [ip.name_info(*pysocket.getnameinfo(("127.0.0.1", 80), 0))]
    [e] = entries
    assert e.service_name == "http"
    assert e.host_name == pysocket.getnameinfo(("127.0.0.1", 80), 0)[0]
    [e] = ip.tcp.get_name_info(LO4, 5)
    assert (e.host_name, e.service_name) == pysocket.getnameinfo(("127.0.0.1", 5), 0)


def test_get_name_info_of_a_port_without_a_service_is_numeric():
    [e] = ip.get_name_info(LO4, 54321)
    assert e.service_name == pysocket.getnameinfo(("127.0.0.1", 54321), 0)[1]


def test_get_name_info_for_udp():
    [e] = ip.get_name_info(LO4, 53, protocol="udp")
    assert e.service_name == "domain"


def test_get_name_info_bad_arguments():
    with pytest.raises(TypeError):
        ip.get_name_info("127.0.0.1", 80)
    with pytest.raises(TypeError):
        ip.get_name_info(LO4, "80")
    with pytest.raises(ValueError):
        ip.get_name_info(LO4, -1)


# ------------------------------------------------------ the off-engine calls


def test_the_engine_keeps_running_while_a_lookup_blocks():
    gate = threading.Event()
    ticks = []

    def other():
        for i in range(5):
            ticks.append(i)
            this_fiber.yield_()
        gate.set()  # only reachable if the engine thread is free

    spawn(other)
    assert run_blocking(lambda: gate.wait(10)) is True
    assert ticks == [0, 1, 2, 3, 4]


def test_an_exception_in_the_worker_reaches_the_fiber():
    def fails():
        raise ValueError("from the worker")

    with pytest.raises(ValueError, match="from the worker"):
        run_blocking(fails)


def test_an_interrupted_call_raises_at_once_and_its_late_result_is_dropped():
    gate = threading.Event()
    finished = threading.Event()
    woken = []

    def slow():
        gate.wait(10)
        finished.set()
        return "late"

    def caller():
        try:
            woken.append(run_blocking(slow))
        except FiberInterrupted:
            woken.append("interrupted")
            raise

    f = spawn(caller)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught
    assert woken == ["interrupted"]
    gate.set()
    assert finished.wait(10)
    wait_until_idle()
    assert woken == ["interrupted"]  # the late result woke nobody


def test_an_already_interrupted_fiber_does_not_wait_for_the_lookup():
    def caller():
        this_fiber.yield_()
        ip.get_address_info("localhost", 80, 0)

    f = spawn(caller)
    f.interrupt()
    f.join()
    assert f.interruption_caught


def test_interrupting_a_real_lookup():
    f = spawn(ip.get_address_info, "localhost", 80, 0)
    wait_until_idle(1)
    f.interrupt()
    result = f.join()
    # Either the fiber was withdrawn from the lookup, or the lookup completed
    # first: a completed call returns its result (and the interruption would
    # be raised at the next interruption point, which never comes).
    assert f.interruption_caught == (result is None)


def test_a_blocking_call_needs_a_fiber():
    from emilua import time

    errors = []

    def posted():  # the hub runs posted callbacks outside any fiber
        try:
            run_blocking(lambda: None)
        except RuntimeError as e:
            errors.append(e)

    _proactor().post(posted)
    time.sleep(0)  # park, so the hub runs the posted callback
    assert len(errors) == 1


# ------------------------------------------------------------------ connect


def test_connect_tries_endpoints_in_order_until_one_accepts():
    holder, dead = refused_port()
    a = listening()
    sock = ip.tcp.socket()
    addr, port = ip.connect(sock, [(LO4, dead), (LO4, a.local_port)])
    assert (addr, port) == (LO4, a.local_port)
    assert sock.remote_port == a.local_port
    s = a.accept()
    sock.write_some(b"hi")
    buf = byte_span(2)
    s.read_some(buf)
    assert bytes(buf) == b"hi"
    for obj in (holder, a, sock, s):
        obj.close()


def test_connect_with_resolver_results():
    a = listening()
    sock = ip.tcp.socket()
    addr, port = ip.connect(sock, ip.tcp.get_address_info("localhost", a.local_port, 0))
    assert (addr, port) == (LO4, a.local_port)
    s = a.accept()
    for obj in (a, sock, s):
        obj.close()


def test_connect_condition_sees_the_last_error_and_can_skip():
    holder, dead = refused_port()
    a = listening()
    seen = []

    def condition(last_error, next_addr, next_port):
        seen.append((type(last_error).__name__ if last_error else None, next_port))
        return next_port != 1  # skip port 1

    sock = ip.tcp.socket()
    result = ip.connect(sock, [(LO4, 1), (LO4, dead), (LO4, a.local_port)], condition)
    assert result == (LO4, a.local_port)
    assert seen == [
        (None, 1),
        (None, dead),
        ("ConnectionRefusedError", a.local_port),
    ]
    s = a.accept()
    for obj in (holder, a, sock, s):
        obj.close()


def test_connect_raises_the_last_error_when_every_attempt_fails():
    holder, dead = refused_port()
    sock = ip.tcp.socket()
    with pytest.raises(ConnectionRefusedError) as e:
        ip.connect(sock, [(LO4, dead), (LO4, dead)])
    assert e.value.errno == errno.ECONNREFUSED
    holder.close()
    sock.close()


def test_connect_with_nothing_to_try_raises_not_found():
    sock = ip.tcp.socket()
    with pytest.raises(LookupError):
        ip.connect(sock, [])
    with pytest.raises(LookupError):
        ip.connect(sock, [(LO4, 1)], lambda *_: False)
    assert not sock.is_open


def test_connect_closes_an_open_socket_and_switches_family():
    a = listening(LO4)
    sock = ip.tcp.socket()
    sock.open("v6")
    sock.bind(LO6, 0)
    ip.connect(sock, [ip.address_info(LO4, a.local_port)])
    assert sock.local_address == LO4  # a new socket, of the endpoint's family
    s = a.accept()
    for obj in (a, sock, s):
        obj.close()


def test_connect_stops_when_the_socket_is_closed_under_it():
    # backlog 0 queues one connection; the next connect stays pending.
    a = ip.tcp.acceptor()
    a.open("v4")
    a.bind(LO4, 0)
    a.listen(0)
    first = ip.tcp.socket()
    first.connect(LO4, a.local_port)
    sock = ip.tcp.socket()
    holder, dead = refused_port()
    attempts = []

    def condition(last_error, addr, port):
        attempts.append(port)
        return True

    f = spawn(ip.connect, sock, [(LO4, a.local_port), (LO4, dead)], condition)
    wait_until_idle()
    sock.close()
    with pytest.raises(OSError) as e:
        f.join()
    assert e.value.errno == errno.ECANCELED
    assert attempts == [a.local_port]
    for obj in (a, first, holder):
        obj.close()
