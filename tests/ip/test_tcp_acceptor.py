# Manual: "ip.tcp.acceptor". Every test runs as the main fiber of a fresh
# engine, once per backend (io_uring, epoll). Traffic stays on the loopback.
import errno
import fcntl
import os
import socket as pysocket

import pytest
from helpers import wait_until_idle

from emilua import ip, spawn, this_fiber
from emilua.byte_span import byte_span
from emilua.file_descriptor import file_descriptor

LOOPBACKS = {"v4": ip.address.loopback_v4(), "v6": ip.address.loopback_v6()}


def listening(family: str = "v4", backlog: int | None = None) -> ip.tcp.acceptor:
    lo = LOOPBACKS[family]
    a = ip.tcp.acceptor()
    a.open(lo)
    a.bind(lo, 0)
    a.listen(backlog)
    return a


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_open_bind_listen_accept(family):
    lo = LOOPBACKS[family]
    a = ip.tcp.acceptor()
    assert not a.is_open
    a.open(family)
    assert a.is_open
    a.bind(str(lo), 0)
    a.listen()
    assert a.local_address == lo
    port = a.local_port
    assert 0 < port < 65536

    accepted = spawn(a.accept)
    c = ip.tcp.socket()
    c.connect(lo, port)
    s = accepted.join()
    assert isinstance(s, ip.tcp.socket)
    assert s.is_open
    assert s.local_address == lo and s.local_port == port
    assert s.remote_address == lo and s.remote_port == c.local_port
    c.write_some(b"ping")
    buf = byte_span(8)
    assert s.read_some(buf) == 4
    assert bytes(buf.slice(0, 4)) == b"ping"
    for obj in (a, c, s):
        obj.close()
        assert not obj.is_open


def test_open_infers_the_family_from_an_address():
    a = ip.tcp.acceptor()
    a.open(ip.address("::1"))
    a.bind("::1", 0)
    assert a.local_address.is_v6
    a.close()


def test_open_rejects_a_bad_family():
    a = ip.tcp.acceptor()
    with pytest.raises(ValueError):
        a.open("v5")
    assert not a.is_open


def test_open_twice_raises_ealready():
    a = ip.tcp.acceptor()
    a.open("v4")
    with pytest.raises(OSError) as e:
        a.open("v4")
    assert e.value.errno == errno.EALREADY
    a.close()


def test_bind_to_a_busy_port_raises_eaddrinuse():
    a = listening()
    b = ip.tcp.acceptor()
    b.open("v4")
    with pytest.raises(OSError) as e:
        b.bind(ip.address.loopback_v4(), a.local_port)
    assert e.value.errno == errno.EADDRINUSE
    a.close()
    b.close()


def test_listen_backlog_is_passed_to_the_kernel():
    # With a backlog of 0 Linux queues one connection (the queue is full when
    # its length exceeds the backlog): a second SYN is dropped, so the second
    # connect is still in progress when the first accept() returns.
    a = listening(backlog=0)
    lo = ip.address.loopback_v4()
    c1 = ip.tcp.socket()
    c1.connect(lo, a.local_port)
    c2 = ip.tcp.socket()
    pending = spawn(c2.connect, lo, a.local_port)
    wait_until_idle()
    s1 = a.accept()
    assert s1.remote_port == c1.local_port
    c2.close()
    with pytest.raises(OSError) as e:
        pending.join()
    assert e.value.errno == errno.ECANCELED
    for obj in (a, c1, s1):
        obj.close()


def test_accept_serves_many_connections_in_order():
    a = listening()
    lo = ip.address.loopback_v4()
    clients = []
    for _ in range(5):
        c = ip.tcp.socket()
        c.connect(lo, a.local_port)
        clients.append(c)
    for c in clients:
        s = a.accept()
        assert s.remote_port == c.local_port
        s.close()
        c.close()
    a.close()


def test_close_cancels_a_parked_accept():
    a = listening()

    def acceptor_fiber():
        with pytest.raises(OSError) as e:
            a.accept()
        return e.value.errno

    f = spawn(acceptor_fiber)
    wait_until_idle()
    a.close()
    assert f.join() == errno.ECANCELED
    assert not a.is_open


def test_cancel_a_parked_accept_keeps_the_acceptor_usable():
    a = listening()
    f = spawn(a.accept)
    wait_until_idle()
    a.cancel()
    with pytest.raises(OSError) as e:
        f.join()
    assert e.value.errno == errno.ECANCELED
    assert a.is_open
    c = ip.tcp.socket()
    c.connect(ip.address.loopback_v4(), a.local_port)
    s = a.accept()
    assert s.remote_port == c.local_port
    for obj in (a, c, s):
        obj.close()


def test_interrupt_a_parked_accept():
    a = listening()
    f = spawn(a.accept)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught
    # The acceptor still works after the interrupted accept.
    c = ip.tcp.socket()
    c.connect(ip.address.loopback_v4(), a.local_port)
    s = a.accept()
    for obj in (a, c, s):
        obj.close()


def test_operations_on_a_closed_acceptor_raise_ebadf():
    a = listening()
    a.close()
    a.close()  # closing again does nothing (as in Boost.Asio)
    for op in (
        a.accept,
        a.cancel,
        a.release,
        lambda: a.listen(),
        lambda: a.bind("127.0.0.1", 0),
        lambda: a.local_port,
        lambda: a.local_address,
        lambda: a.get_option("reuse_address"),
        lambda: a.set_option("reuse_address", True),
    ):
        with pytest.raises(OSError) as e:
            op()
        assert e.value.errno == errno.EBADF


def test_a_never_opened_acceptor_raises_ebadf():
    a = ip.tcp.acceptor()
    with pytest.raises(OSError) as e:
        a.accept()
    assert e.value.errno == errno.EBADF


@pytest.mark.parametrize("opt", ["reuse_address", "reuse_port"])
def test_bool_options(opt):
    a = ip.tcp.acceptor()
    a.open("v4")
    for value in (True, False, True):
        a.set_option(opt, value)
        assert a.get_option(opt) is value
    a.close()


def test_debug_option_reads_back():
    a = ip.tcp.acceptor()
    a.open("v4")
    # SO_DEBUG may only be turned on with CAP_NET_ADMIN (socket(7)); off is free.
    a.set_option("debug", False)
    assert a.get_option("debug") is False
    a.close()


def test_v6_only_option():
    a = ip.tcp.acceptor()
    a.open("v6")
    a.set_option("v6_only", True)
    assert a.get_option("v6_only") is True
    a.set_option("v6_only", False)
    assert a.get_option("v6_only") is False
    a.close()


def test_v6_only_on_a_v4_acceptor_is_the_kernels_error():
    a = ip.tcp.acceptor()
    a.open("v4")
    with pytest.raises(OSError) as e:
        a.set_option("v6_only", True)
    assert e.value.errno == errno.ENOPROTOOPT
    a.close()


def test_a_dual_stack_acceptor_takes_v4_clients():
    a = ip.tcp.acceptor()
    a.open("v6")
    a.set_option("v6_only", False)
    a.bind(ip.address.any_v6(), 0)
    a.listen()
    c = ip.tcp.socket()
    c.connect(ip.address.loopback_v4(), a.local_port)
    s = a.accept()
    assert s.remote_address == ip.address("::ffff:127.0.0.1")
    assert s.remote_address.to_v4() == ip.address.loopback_v4()
    for obj in (a, c, s):
        obj.close()


def test_enable_connection_aborted_is_engine_state():
    a = ip.tcp.acceptor()
    a.open("v4")
    assert a.get_option("enable_connection_aborted") is False
    a.set_option("enable_connection_aborted", True)
    assert a.get_option("enable_connection_aborted") is True
    with pytest.raises(TypeError):
        a.set_option("enable_connection_aborted", 1)
    a.close()


def test_bad_option_names_and_types():
    a = ip.tcp.acceptor()
    a.open("v4")
    with pytest.raises(ValueError):
        a.set_option("no_such_option", True)
    with pytest.raises(ValueError):
        a.get_option("no_such_option")
    # A socket option, not an acceptor option (manual lists them per type).
    with pytest.raises(ValueError):
        a.set_option("tcp_no_delay", True)
    with pytest.raises(TypeError):
        a.set_option("reuse_address", 1)
    with pytest.raises(TypeError):
        a.set_option("reuse_address", "yes")
    a.close()


def test_reuse_address_lets_a_new_acceptor_bind_a_port_in_time_wait():
    # The server closes first, so its side of the connection lingers in
    # TIME_WAIT on the listening port. Binding that port again needs
    # SO_REUSEADDR on both the old and the new socket (Linux bind conflict rule).
    lo = ip.address.loopback_v4()
    a = ip.tcp.acceptor()
    a.open("v4")
    a.set_option("reuse_address", True)
    a.bind(lo, 0)
    a.listen()
    port = a.local_port
    c = ip.tcp.socket()
    c.connect(lo, port)
    s = a.accept()
    s.close()
    with pytest.raises(EOFError):
        c.read_some(byte_span(1))
    c.close()
    a.close()
    plain = ip.tcp.acceptor()
    plain.open("v4")
    with pytest.raises(OSError) as e:
        plain.bind(lo, port)
    assert e.value.errno == errno.EADDRINUSE
    plain.close()
    b = ip.tcp.acceptor()
    b.open("v4")
    b.set_option("reuse_address", True)
    b.bind(lo, port)
    b.listen()
    assert b.local_port == port
    b.close()


def test_release_gives_up_the_fd_and_assign_takes_it():
    a = listening()
    port = a.local_port
    fd = a.release()
    assert isinstance(fd, file_descriptor)
    assert not a.is_open
    assert str(fd).startswith("/dev/fd/")
    b = ip.tcp.acceptor()
    b.assign("v4", fd)
    with pytest.raises(OSError) as e:
        fd.close()  # consumed by assign()
    assert e.value.errno == errno.EBADF
    assert b.local_port == port
    c = ip.tcp.socket()
    c.connect(ip.address.loopback_v4(), port)
    s = b.accept()
    assert s.remote_port == c.local_port
    for obj in (b, c, s):
        obj.close()


def test_release_cancels_a_parked_accept():
    # Manual: release() makes outstanding accepts finish with operation_aborted
    # and then hands ownership over.
    a = listening()
    port = a.local_port
    f = spawn(a.accept)
    wait_until_idle()
    fd = a.release()
    with pytest.raises(OSError) as e:
        f.join()
    assert e.value.errno == errno.ECANCELED
    b = ip.tcp.acceptor()
    b.assign("v4", fd)
    c = ip.tcp.socket()
    c.connect(ip.address.loopback_v4(), port)
    s = b.accept()
    assert s.remote_port == c.local_port
    for obj in (b, c, s):
        obj.close()


def test_assign_on_an_open_acceptor_raises_ealready():
    a = listening()
    b = listening()
    fd = b.release()
    with pytest.raises(OSError) as e:
        a.assign("v4", fd)
    assert e.value.errno == errno.EALREADY
    fd.close()  # not consumed
    a.close()


def test_assign_needs_a_file_descriptor():
    a = ip.tcp.acceptor()
    with pytest.raises(TypeError):
        a.assign("v4", 3)


def test_assign_makes_the_fd_nonblocking_and_close_on_exec():
    raw = pysocket.socket(pysocket.AF_INET, pysocket.SOCK_STREAM)
    raw.set_inheritable(True)
    raw.bind(("127.0.0.1", 0))
    raw.listen()
    port = raw.getsockname()[1]
    a = ip.tcp.acceptor()
    # User code gets file_descriptors from IO objects; a test may build one.
    a.assign("v4", file_descriptor._adopt(raw.detach()))
    n = a.fileno()
    assert fcntl.fcntl(n, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    assert fcntl.fcntl(n, fcntl.F_GETFL) & os.O_NONBLOCK
    c = ip.tcp.socket()
    c.connect(ip.address.loopback_v4(), port)
    s = a.accept()
    for obj in (a, c, s):
        obj.close()


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.pure
@pytest.mark.parametrize("backend", ["io_uring", "epoll"])
def test_a_connection_accepted_while_the_engine_ends_is_closed(backend):
    # The accept completes (the engine has the new fd), then the VM ends
    # before the accepting fiber resumes: the fiber is unwound and the
    # connection's fd must not stay open in the process.
    import time

    import emilua

    held = []

    def main():
        a = listening()
        held.append(a)
        spawn(a.accept)
        wait_until_idle()  # parked in accept
        c = pysocket.create_connection(("127.0.0.1", a.local_port))
        held.append(c)
        time.sleep(0.05)  # a blocking pause: the accept completes meanwhile
        # The engine reaps the completion and readies the accepting fiber
        # after us: we run first and end the VM before it resumes.
        this_fiber.yield_()
        raise RuntimeError("the VM ends here")

    before = _open_fds()
    with pytest.raises(RuntimeError):
        emilua.run(main, backend=backend)
    for obj in held:
        obj.close()
    assert _open_fds() == before


def test_a_failing_accept_lets_the_other_fibers_run():
    # accept() failing with EMFILE (no fd left under RLIMIT_NOFILE) suspends
    # before it raises: a server loop that retries at once must not starve
    # the other fibers.
    import resource

    a = listening()
    c = pysocket.create_connection(("127.0.0.1", a.local_port))
    progress = []

    def other():
        for i in range(3):
            progress.append(i)
            this_fiber.yield_()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest_free = os.dup(0)
    os.close(lowest_free)
    failures = 0
    worker = spawn(other)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        while len(progress) < 3:
            try:
                s = a.accept()
            except OSError as e:
                assert e.errno == errno.EMFILE
                failures += 1
            else:
                s.close()
                raise AssertionError("accept() got an fd above RLIMIT_NOFILE")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    worker.join()
    assert failures >= 1
    s = a.accept()  # the connection waited in the backlog all along
    s.close()
    c.close()
    a.close()
