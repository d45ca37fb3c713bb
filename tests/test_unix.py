# Manual: "unix.datagram_socket", "unix.message_flag", "unix.stream_acceptor",
# "unix.stream_socket", "unix.seqpacket_acceptor", "unix.seqpacket_socket",
# and the "Linux namespaces" chapter's use of seqpacket pairs. Every engine
# test runs as the main fiber of a fresh engine, once per backend.
import errno
import fcntl
import os
import socket as pysocket
import subprocess
import sys
import textwrap

import pytest
from helpers import wait_until_idle

from emilua import _supervisor, file, inbox, spawn, spawn_vm, stream, unix
from emilua.byte_span import byte_span
from emilua.file_descriptor import file_descriptor

# Sandboxes are forked by the supervisor; started before any test, its control
# socket is not an fd a test leaked.
_supervisor.start()

PAIRED = {
    "stream": unix.stream_socket,
    "seqpacket": unix.seqpacket_socket,
    "datagram": unix.datagram_socket,
}


def pipe() -> tuple[file_descriptor, file_descriptor]:
    """A pipe as two file_descriptor values (read end, write end)."""
    r, w = os.pipe()
    return file_descriptor._adopt(r), file_descriptor._adopt(w)


def raw(fd: file_descriptor) -> int:
    return fd._fileno()


def same_file(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def is_cloexec(fd: file_descriptor) -> bool:
    return bool(fcntl.fcntl(raw(fd), fcntl.F_GETFD) & fcntl.FD_CLOEXEC)


def is_nonblocking(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK)


def receive_fn(sock):
    """The receive call of a socket class (stream sockets call it read_some)."""
    return sock.read_some if isinstance(sock, unix.stream_socket) else sock.receive


def send_fn(sock):
    return sock.write_some if isinstance(sock, unix.stream_socket) else sock.send


def received(sock, n: int = 64) -> bytes:
    buf = byte_span(n)
    got = receive_fn(sock)(buf)
    return bytes(buf.slice(0, got))


def received_file(f, n: int) -> bytes:
    buf = byte_span(n)
    stream.read_all(f, buf)
    return bytes(buf)


def close_all(*objs):
    for obj in objs:
        if obj.is_open:
            obj.close()


def listening(cls, path):
    a = cls()
    a.open()
    a.bind(path)
    a.listen()
    return a


def connected(acceptor_cls, socket_cls, path):
    """(acceptor, client, accepted server side) over a filesystem path."""
    a = listening(acceptor_cls, path)
    accepted = spawn(a.accept)
    c = socket_cls()
    c.connect(path)
    return a, c, accepted.join()


def fill(sock) -> int:
    """Fill a stream socket's buffers without parking; return the bytes queued."""
    s = pysocket.socket(fileno=os.dup(sock.fileno()))
    total = 0
    try:
        while True:
            total += s.send(b"f" * 4096, pysocket.MSG_DONTWAIT)
    except BlockingIOError:
        return total
    finally:
        s.close()


def drain(sock, total: int) -> None:
    buf = byte_span(65536)
    while total > 0:
        total -= sock.read_some(buf.slice(0, min(total, 65536)))


# ------------------------------------------------------------ message_flag


@pytest.mark.pure
def test_message_flag_peek_is_msg_peek():
    assert unix.message_flag.peek == pysocket.MSG_PEEK
    assert [f.name for f in unix.message_flag] == ["peek"]


@pytest.mark.parametrize("kind", ["seqpacket", "datagram"])
def test_peek_leaves_the_message_queued(kind):
    a, b = PAIRED[kind].pair()
    a.send(b"once")
    buf = byte_span(16)
    assert b.receive(buf, unix.message_flag.peek) == 4
    assert b.receive(buf) == 4
    assert bytes(buf.slice(0, 4)) == b"once"
    assert b.io_control("bytes_readable") == 0
    close_all(a, b)


# ------------------------------------------------------- stream_socket


def test_stream_pair_exchanges_both_ways():
    a, b = unix.stream_socket.pair()
    assert isinstance(a, unix.stream_socket) and isinstance(b, unix.stream_socket)
    assert a.is_open and b.is_open
    assert a.local_path is None and a.remote_path is None
    assert a.write_some(b"hello") == 5
    assert received(b) == b"hello"
    assert b.write_some("répondre") == len("répondre".encode())
    assert received(a) == "répondre".encode()
    close_all(a, b)


def test_manual_example_write_all_to_a_pair():
    a, b = unix.stream_socket.pair()
    reader = spawn(received, b, 1024)
    assert stream.write_all(a, "Hello World") == 11
    assert reader.join() == b"Hello World"
    close_all(a, b)


def test_acceptor_and_socket_over_a_filesystem_path(tmp_path):
    path = str(tmp_path / "s.sock")
    a = unix.stream_acceptor()
    assert not a.is_open
    a.open()
    a.bind(path)
    a.listen()
    assert a.local_path == path
    assert os.path.exists(path)
    accepted = spawn(a.accept)
    c = unix.stream_socket()
    assert not c.is_open
    c.connect(path)  # opens the socket
    s = accepted.join()
    assert isinstance(s, unix.stream_socket)
    assert c.remote_path == path and c.local_path is None
    assert s.local_path == path and s.remote_path is None
    c.write_some(b"ping")
    assert received(s) == b"ping"
    s.write_some(b"pong")
    assert received(c) == b"pong"
    close_all(a, c, s)
    assert not a.is_open


def test_a_bound_client_shows_its_path_to_the_server(tmp_path):
    a = listening(unix.stream_acceptor, tmp_path / "srv")  # os.PathLike works too
    accepted = spawn(a.accept)
    c = unix.stream_socket()
    c.open()
    c.bind(os.fsencode(tmp_path / "cli"))
    c.connect(tmp_path / "srv")
    s = accepted.join()
    assert s.remote_path == str(tmp_path / "cli")
    assert c.local_path == str(tmp_path / "cli")
    close_all(a, c, s)


def test_abstract_names_create_no_file(tmp_path):
    name = f"\0emilua-test-{os.getpid()}-{id(tmp_path)}"
    a = listening(unix.stream_acceptor, name)
    assert a.local_path == name
    accepted = spawn(a.accept)
    c = unix.stream_socket()
    c.connect(name.encode())
    s = accepted.join()
    assert c.remote_path == name
    c.write_some(b"x")
    assert received(s) == b"x"
    close_all(a, c, s)
    # The name went away with its socket: a new one can take it.
    again = listening(unix.stream_acceptor, name)
    again.close()


def test_connect_errors_are_the_kernels(tmp_path):
    c = unix.stream_socket()
    with pytest.raises(FileNotFoundError):
        c.connect(tmp_path / "nothing")
    # Bound but not listening.
    d = unix.stream_socket()
    d.open()
    d.bind(tmp_path / "deaf")
    with pytest.raises(ConnectionRefusedError):
        c.connect(tmp_path / "deaf")
    close_all(c, d)


def test_paths_are_checked_before_the_kernel_sees_them():
    c = unix.stream_socket()
    with pytest.raises(OSError) as e:
        c.connect("/" + "x" * 107)  # 108 bytes leave no room for the NUL
    assert e.value.errno == errno.ENAMETOOLONG
    with pytest.raises(ValueError):
        c.connect("/tmp/a\0b")
    with pytest.raises(TypeError):
        c.connect(42)
    assert not c.is_open


def test_read_some_raises_eof_at_the_end_of_the_stream():
    a, b = unix.stream_socket.pair()
    a.write_some(b"last")
    a.shutdown("send")
    assert received(b) == b"last"
    with pytest.raises(EOFError):
        b.read_some(byte_span(8))
    assert b.read_some(byte_span(0)) == 0  # an empty buffer never waits
    with pytest.raises(ValueError):
        a.shutdown("sideways")
    close_all(a, b)


def test_peer_closed_gives_eof_then_epipe():
    a, b = unix.stream_socket.pair()
    b.close()
    with pytest.raises(EOFError):
        a.read_some(byte_span(8))
    with pytest.raises(BrokenPipeError):
        a.write_some(b"anyone?")
    a.close()


def test_peer_closed_with_unread_data_gives_econnreset():
    a, b = unix.stream_socket.pair()
    a.write_some(b"never read")
    b.close()
    with pytest.raises(ConnectionResetError):
        a.read_some(byte_span(8))
    a.close()


def test_cancel_a_parked_read_then_the_socket_still_works():
    a, b = unix.stream_socket.pair()

    def reader():
        with pytest.raises(OSError) as e:
            b.read_some(byte_span(8))
        return e.value.errno

    f = spawn(reader)
    wait_until_idle()
    b.cancel()
    assert f.join() == errno.ECANCELED
    a.write_some(b"still")
    assert received(b) == b"still"  # no byte was swallowed
    close_all(a, b)


def test_interrupt_a_parked_read():
    a, b = unix.stream_socket.pair()
    f = spawn(b.read_some, byte_span(8))
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught
    a.write_some(b"z")
    assert received(b) == b"z"
    close_all(a, b)


def test_stream_disconnect_is_refused_by_the_kernel():
    a, b = unix.stream_socket.pair()
    with pytest.raises(OSError) as e:
        a.disconnect()
    assert e.value.errno == errno.EINVAL
    close_all(a, b)


def test_stream_socket_options():
    a, b = unix.stream_socket.pair()
    a.set_option("send_buffer_size", 65536)
    assert a.get_option("send_buffer_size") >= 65536  # Linux doubles it (socket(7))
    a.set_option("receive_buffer_size", 65536)
    assert a.get_option("receive_buffer_size") >= 65536
    a.set_option("receive_low_watermark", 4)
    assert a.get_option("receive_low_watermark") == 4
    assert a.get_option("send_low_watermark") == 1
    with pytest.raises(OSError) as e:
        a.set_option("send_low_watermark", 2)  # socket(7): not changeable on Linux
    assert e.value.errno == errno.ENOPROTOOPT
    a.set_option("debug", False)
    assert a.get_option("debug") is False
    for bad in ("tcp_no_delay", "reuse_address", "nonsense"):
        with pytest.raises(ValueError):
            a.get_option(bad)
        with pytest.raises(ValueError):
            a.set_option(bad, True)
    with pytest.raises(TypeError):
        a.set_option("send_buffer_size", "big")
    close_all(a, b)


def test_bytes_readable():
    a, b = unix.stream_socket.pair()
    assert b.io_control("bytes_readable") == 0
    a.write_some(b"12345")
    assert b.io_control("bytes_readable") == 5
    with pytest.raises(ValueError):
        b.io_control("bytes readable please")
    close_all(a, b)


# --------------------------------------------------- lifetime, all classes


@pytest.mark.parametrize("kind", list(PAIRED))
def test_release_returns_a_blocking_fd_and_new_fd_adopts_it(kind):
    cls = PAIRED[kind]
    a, b = cls.pair()
    fd = b.release()
    assert isinstance(fd, file_descriptor)
    assert not b.is_open
    assert not is_nonblocking(raw(fd))  # what a program handed the fd expects
    assert is_cloexec(fd)
    moved = cls(fd)  # manual: new(fd)
    assert moved.is_open
    assert is_nonblocking(moved.fileno())
    with pytest.raises(OSError) as e:
        fd.close()  # consumed by the new object
    assert e.value.errno == errno.EBADF
    send_fn(a)(b"moved")
    assert received(moved) == b"moved"
    close_all(a, moved)


@pytest.mark.parametrize("kind", list(PAIRED))
def test_assign_takes_a_released_socket(kind):
    cls = PAIRED[kind]
    a, b = cls.pair()
    fd = b.release()
    with pytest.raises(OSError) as e:
        a.assign(fd)
    assert e.value.errno == errno.EALREADY
    with pytest.raises(TypeError):
        cls().assign(0)
    other = cls()
    other.assign(fd)
    send_fn(other)(b"back")
    assert received(a) == b"back"
    close_all(a, other)


@pytest.mark.parametrize(
    "cls",
    [
        unix.stream_socket,
        unix.seqpacket_socket,
        unix.datagram_socket,
        unix.stream_acceptor,
        unix.seqpacket_acceptor,
    ],
)
def test_open_close_and_operations_on_a_closed_object(cls):
    obj = cls()
    assert not obj.is_open
    for op in (obj.cancel, obj.release, lambda: obj.local_path, lambda: obj.bind("/x")):
        with pytest.raises(OSError) as e:
            op()
        assert e.value.errno == errno.EBADF
    obj.open()
    assert obj.is_open
    with pytest.raises(OSError) as e:
        obj.open()
    assert e.value.errno == errno.EALREADY
    assert obj.local_path is None
    obj.close()
    obj.close()  # closing twice does nothing
    assert not obj.is_open


def test_release_cancels_a_parked_receive():
    a, b = unix.seqpacket_socket.pair()

    def reader():
        with pytest.raises(OSError) as e:
            b.receive(byte_span(8))
        return e.value.errno

    f = spawn(reader)
    wait_until_idle()
    fd = b.release()
    assert f.join() == errno.ECANCELED
    moved = unix.seqpacket_socket(fd)
    a.send(b"after")
    assert received(moved) == b"after"
    close_all(a, moved)


# Every way a receive can be parked: the proactor's recv, its recvmsg, and the
# readiness loop of the calls that return the sender's path.
PARKED_RECEIVES = {
    "stream read_some": (unix.stream_socket, lambda s: s.read_some(byte_span(8))),
    "stream receive_with_fds": (
        unix.stream_socket,
        lambda s: s.receive_with_fds(byte_span(8), 2),
    ),
    "seqpacket receive": (unix.seqpacket_socket, lambda s: s.receive(byte_span(8))),
    "seqpacket receive_with_fds": (
        unix.seqpacket_socket,
        lambda s: s.receive_with_fds(byte_span(8), 2),
    ),
    "datagram receive": (unix.datagram_socket, lambda s: s.receive(byte_span(8))),
    "datagram receive_from": (unix.datagram_socket, lambda s: s.receive_from(byte_span(8))),
    "datagram receive_with_fds": (
        unix.datagram_socket,
        lambda s: s.receive_with_fds(byte_span(8), 2),
    ),
    "datagram receive_from_with_fds": (
        unix.datagram_socket,
        lambda s: s.receive_from_with_fds(byte_span(8), 2),
    ),
}


@pytest.mark.parametrize("how", ["close", "cancel"])
@pytest.mark.parametrize("case", list(PARKED_RECEIVES))
def test_close_or_cancel_wakes_a_parked_receive_with_ecanceled(case, how):
    cls, call = PARKED_RECEIVES[case]
    a, b = cls.pair()

    def reader():
        with pytest.raises(OSError) as e:
            call(b)
        return e.value.errno

    f = spawn(reader)
    wait_until_idle()
    assert f.joinable
    getattr(b, how)()
    assert f.join() == errno.ECANCELED
    close_all(a, b)


@pytest.mark.parametrize("case", list(PARKED_RECEIVES))
def test_interrupt_wakes_a_parked_receive(case):
    cls, call = PARKED_RECEIVES[case]
    a, b = cls.pair()
    f = spawn(call, b)
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught
    close_all(a, b)


# ------------------------------------------------------------- fd passing


@pytest.mark.parametrize("kind", list(PAIRED))
def test_pass_a_pipe_end_the_receiver_writes_the_sender_reads(kind):
    a, b = PAIRED[kind].pair()
    r, w = pipe()
    assert a.send_with_fds(b"w", [w]) == 1
    buf = byte_span(8)
    n, fds = b.receive_with_fds(buf, 1)
    assert n == 1 and bytes(buf.slice(0, 1)) == b"w"
    assert len(fds) == 1 and isinstance(fds[0], file_descriptor)
    got = fds[0]
    assert is_cloexec(got)  # MSG_CMSG_CLOEXEC
    assert raw(got) != raw(w) and same_file(raw(got), raw(w))
    out = file.stream(got)  # the receiver writes...
    assert stream.write_all(out, "written by the receiver") == 23
    reader = file.stream(r)  # ...and the sender reads
    assert received_file(reader, 23) == b"written by the receiver"
    # The sender's fd was lent, not given away.
    os.write(raw(w), b"!")
    assert received_file(reader, 1) == b"!"
    out.close()
    w.close()
    with pytest.raises(EOFError):  # no write end is left
        reader.read_some(byte_span(8))
    close_all(a, b, reader)


@pytest.mark.parametrize("kind", list(PAIRED))
def test_several_fds_in_one_message_arrive_in_order(kind):
    a, b = PAIRED[kind].pair()
    r, w = pipe()
    x, y = unix.stream_socket.pair()
    sock_fd = y.release()
    sent = [w, r, sock_fd]
    a.send_with_fds("three", sent)
    buf = byte_span(16)
    n, fds = b.receive_with_fds(buf, 8)
    assert n == 5 and len(fds) == 3
    for mine, theirs in zip(sent, fds, strict=True):
        assert same_file(raw(mine), raw(theirs))
        assert is_cloexec(theirs)
    # The received socket is a real endpoint: adopt it and talk through it.
    y2 = unix.stream_socket(fds[2])
    x.write_some(b"via fd")
    assert received(y2) == b"via fd"
    for fd in (r, w, sock_fd, fds[0], fds[1]):
        fd.close()
    close_all(a, b, x, y2)


@pytest.mark.parametrize("kind", list(PAIRED))
def test_exactly_maxfds_fds_are_all_returned(kind):
    a, b = PAIRED[kind].pair()
    r, w = pipe()
    a.send_with_fds(b"1", [w])
    n, fds = b.receive_with_fds(byte_span(4), 1)
    assert len(fds) == 1
    fds[0].close()
    a.send_with_fds(b"3", [w, r, w.dup()])  # three distinct objects
    n, three = b.receive_with_fds(byte_span(4), 3)
    assert len(three) == 3
    for fd in three:
        fd.close()
    r.close()
    w.close()
    close_all(a, b)


def test_a_file_descriptor_listed_twice_is_sent_once():
    a, b = unix.seqpacket_socket.pair()
    r, w = pipe()
    a.send_with_fds(b"x", [w, w])
    n, fds = b.receive_with_fds(byte_span(4), 4)
    assert len(fds) == 1
    for fd in (r, w, fds[0]):
        fd.close()
    close_all(a, b)


TRUNCATING_RECEIVES = {
    "stream": (unix.stream_socket, lambda s, buf, m: s.receive_with_fds(buf, m)),
    "seqpacket": (unix.seqpacket_socket, lambda s, buf, m: s.receive_with_fds(buf, m)),
    "datagram": (unix.datagram_socket, lambda s, buf, m: s.receive_with_fds(buf, m)),
    "datagram from": (
        unix.datagram_socket,
        lambda s, buf, m: (lambda n, _path, fds: (n, fds))(*s.receive_from_with_fds(buf, m)),
    ),
}


@pytest.mark.parametrize("maxfds", [1, 2])
@pytest.mark.parametrize("case", list(TRUNCATING_RECEIVES))
def test_more_fds_than_maxfds_closes_every_fd_that_arrived(case, maxfds):
    cls, call = TRUNCATING_RECEIVES[case]
    a, b = cls.pair()
    r, w = pipe()
    copies = [w] + [w.dup() for _ in range(maxfds + 1)]  # maxfds + 2 fds
    before = len(os.listdir("/proc/self/fd"))
    a.send_with_fds(b"data", copies)
    buf = byte_span(8)
    n, fds = call(b, buf, maxfds)
    assert n == 4 and bytes(buf.slice(0, 4)) == b"data"  # the data still arrives
    assert fds == []
    assert len(os.listdir("/proc/self/fd")) == before  # none kept
    # Once the sender closes its copies no write end is left anywhere: the
    # receiver kept none of the ones the kernel installed.
    for fd in copies:
        fd.close()
    assert os.read(raw(r), 8) == b""
    r.close()
    close_all(a, b)


def test_a_zero_byte_seqpacket_message_is_eof_and_its_fds_are_closed():
    a, b = unix.seqpacket_socket.pair()
    r, w = pipe()
    assert a.send_with_fds(b"", [w]) == 0
    with pytest.raises(EOFError):
        b.receive_with_fds(byte_span(8), 1)
    w.close()
    assert os.read(raw(r), 8) == b""  # the fd that came with it was closed
    r.close()
    close_all(a, b)


def test_receive_with_fds_raises_eof_at_the_end_of_a_stream():
    a, b = unix.stream_socket.pair()
    a.close()
    with pytest.raises(EOFError):
        b.receive_with_fds(byte_span(8), 1)
    assert b.receive_with_fds(byte_span(0), 1) == (0, [])
    b.close()


def test_zero_byte_datagram_with_fds_is_not_eof():
    a, b = unix.datagram_socket.pair()
    r, w = pipe()
    a.send_with_fds(b"", [w])
    n, fds = b.receive_with_fds(byte_span(8), 1)
    assert n == 0 and len(fds) == 1
    for fd in (r, w, fds[0]):
        fd.close()
    close_all(a, b)


def test_maxfds_and_fds_arguments_are_checked():
    a, b = unix.stream_socket.pair()
    for bad in (0, -1):
        with pytest.raises(ValueError):
            b.receive_with_fds(byte_span(4), bad)
    with pytest.raises(TypeError):
        b.receive_with_fds(byte_span(4), "1")
    r, w = pipe()
    with pytest.raises(TypeError):
        a.send_with_fds(b"x", [raw(w)])
    with pytest.raises(TypeError):
        a.send_with_fds(b"x", w)
    with pytest.raises(TypeError):
        a.send_with_fds(b"x", [w, "not an fd"])
    dead = w.dup()
    dead.close()
    with pytest.raises(OSError) as e:
        a.send_with_fds(b"x", [w, dead])
    assert e.value.errno == errno.EBADF
    os.write(raw(w), b"mine")  # a failed send gives back what it took
    assert os.read(raw(r), 8) == b"mine"
    r.close()
    w.close()
    assert b.io_control("bytes_readable") == 0  # nothing was sent
    close_all(a, b)


def test_an_fd_being_sent_reads_as_closed_until_the_send_completes():
    a, b = unix.stream_socket.pair()
    a.set_option("send_buffer_size", 4096)
    b.set_option("receive_buffer_size", 4096)
    queued = fill(a)
    r, w = pipe()
    sender = spawn(a.send_with_fds, b"fd", [w])
    wait_until_idle()
    assert sender.joinable  # parked: the socket is full
    with pytest.raises(OSError) as e:
        w.close()  # its number must stay valid until the kernel took it
    assert e.value.errno == errno.EBADF
    drain(b, queued)
    assert sender.join() == 2
    buf = byte_span(4)
    n, fds = b.receive_with_fds(buf, 1)
    assert bytes(buf.slice(0, n)) == b"fd" and len(fds) == 1
    os.write(raw(fds[0]), b"ok")
    assert os.read(raw(r), 4) == b"ok"
    for fd in (r, w, fds[0]):  # w is usable and closable again
        fd.close()
    close_all(a, b)


def test_close_while_send_with_fds_is_parked_gives_the_fds_back():
    a, b = unix.stream_socket.pair()
    a.set_option("send_buffer_size", 4096)
    b.set_option("receive_buffer_size", 4096)
    fill(a)
    r, w = pipe()

    def sender():
        with pytest.raises(OSError) as e:
            a.send_with_fds(b"fd", [w])
        return e.value.errno

    f = spawn(sender)
    wait_until_idle()
    a.close()
    assert f.join() == errno.ECANCELED
    os.write(raw(w), b"mine")
    assert os.read(raw(r), 8) == b"mine"
    for fd in (r, w):
        fd.close()
    b.close()


# --------------------------------------------------------- datagram_socket


def test_manual_example_bind_and_receive(tmp_path):
    path = str(tmp_path / "dgram.socket")
    sock = unix.datagram_socket()
    sock.open()
    sock.bind(path)
    assert sock.local_path == path
    sender = unix.datagram_socket()
    sender.open()
    assert sender.send_to(b"hello", path) == 5
    buf = byte_span(1024)
    nread = sock.receive(buf)
    assert bytes(buf.slice(0, nread)) == b"hello"
    close_all(sock, sender)


def test_send_to_and_receive_from_with_paths(tmp_path):
    p1, p2 = str(tmp_path / "one"), str(tmp_path / "two")
    one, two = unix.datagram_socket(), unix.datagram_socket()
    for s, p in ((one, p1), (two, p2)):
        s.open()
        s.bind(p)
    one.send_to("ping", p2)
    buf = byte_span(16)
    n, sender = two.receive_from(buf)
    assert (bytes(buf.slice(0, n)), sender) == (b"ping", p1)
    two.send_to(b"pong", sender)
    n, sender = one.receive_from(buf)
    assert (bytes(buf.slice(0, n)), sender) == (b"pong", p2)
    close_all(one, two)


def test_receive_from_a_parked_fiber_and_an_unnamed_sender(tmp_path):
    path = tmp_path / "rx"
    rx = unix.datagram_socket()
    rx.open()
    rx.bind(path)
    receiver = spawn(lambda: rx.receive_from(byte_span(16)))
    wait_until_idle()
    assert receiver.joinable
    tx = unix.datagram_socket()
    tx.open()  # never bound: the receiver sees no path
    tx.send_to(b"anon", path)
    assert receiver.join() == (4, None)
    close_all(rx, tx)


def test_send_to_with_fds_and_receive_from_with_fds(tmp_path):
    path_a, path_b = str(tmp_path / "a"), str(tmp_path / "b")
    a, b = unix.datagram_socket(), unix.datagram_socket()
    a.open()
    a.bind(path_a)
    b.open()
    b.bind(path_b)
    r, w = pipe()
    assert a.send_to_with_fds(b"fds", path_b, [w, r]) == 3
    buf = byte_span(8)
    n, sender, fds = b.receive_from_with_fds(buf, 2)
    assert (n, sender, len(fds)) == (3, path_a, 2)
    assert all(is_cloexec(fd) for fd in fds)
    assert same_file(raw(fds[0]), raw(w)) and same_file(raw(fds[1]), raw(r))
    os.write(raw(fds[0]), b"back")
    assert os.read(raw(r), 8) == b"back"
    # Without fds the same calls carry data only.
    a.send_to_with_fds(b"none", path_b, [])
    n, sender, fds2 = b.receive_from_with_fds(buf, 1)
    assert (n, sender, fds2) == (4, path_a, [])
    for fd in (r, w, *fds):
        fd.close()
    close_all(a, b)


def test_datagram_connect_disconnect_and_send(tmp_path):
    path = tmp_path / "peer"
    peer = unix.datagram_socket()
    peer.open()
    peer.bind(path)
    s = unix.datagram_socket()
    with pytest.raises(OSError) as e:
        s.send(b"x")
    assert e.value.errno == errno.EBADF
    s.connect(path)  # opens the socket
    assert s.remote_path == str(path)
    assert s.send(b"to the default destination") == 26
    assert received(peer) == b"to the default destination"
    s.disconnect()
    with pytest.raises(OSError) as e:
        s.send(b"x")
    assert e.value.errno == errno.ENOTCONN
    with pytest.raises(OSError) as e:
        _ = s.remote_path
    assert e.value.errno == errno.ENOTCONN
    close_all(peer, s)


def test_datagram_boundaries_and_zero_byte_datagrams():
    a, b = unix.datagram_socket.pair()
    a.send(b"one")
    a.send(b"")
    a.send(b"three")
    buf = byte_span(2)
    assert b.receive(buf) == 2  # cut to the buffer; the rest is discarded
    assert b.receive(byte_span(8)) == 0  # a 0-byte datagram, not the end
    assert received(b) == b"three"
    close_all(a, b)


def test_datagram_errors_are_the_kernels(tmp_path):
    a, b = unix.datagram_socket.pair()
    b.close()
    with pytest.raises(ConnectionRefusedError):
        a.send(b"gone")
    lone = unix.datagram_socket()
    lone.open()
    with pytest.raises(FileNotFoundError):
        lone.send_to(b"x", tmp_path / "missing")
    r, w = pipe()
    with pytest.raises(FileNotFoundError):
        lone.send_to_with_fds(b"x", tmp_path / "missing", [w])
    w.close()  # given back after the failure
    r.close()
    close_all(a, lone)


def fill_datagram_queue(path) -> int:
    """Queue 1-byte datagrams at *path* until its queue is full; return the count."""
    s = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_DGRAM)
    s.setblocking(False)
    n = 0
    try:
        while True:
            s.sendto(b"q", os.fsencode(path))
            n += 1
    except BlockingIOError:
        return n
    finally:
        s.close()


@pytest.mark.parametrize("connected", [False, True])
def test_a_send_to_a_full_queue_waits_for_room(tmp_path, connected):
    path = tmp_path / "full"
    rx = unix.datagram_socket()
    rx.open()
    rx.bind(path)
    tx = unix.datagram_socket()
    if connected:
        tx.connect(path)
    else:
        tx.open()
    queued = fill_datagram_queue(path)
    assert queued > 0
    sender = spawn(tx.send, b"late") if connected else spawn(tx.send_to, b"late", path)
    wait_until_idle()
    assert sender.joinable  # the queue is full
    for _ in range(queued):
        assert received(rx) == b"q"
    assert sender.join() == 4
    assert received(rx) == b"late"
    close_all(rx, tx)


@pytest.mark.parametrize("how", ["close", "cancel"])
def test_close_or_cancel_wakes_a_send_to_waiting_for_room(tmp_path, how):
    path = tmp_path / "full"
    rx = unix.datagram_socket()
    rx.open()
    rx.bind(path)
    tx = unix.datagram_socket()
    tx.open()
    fill_datagram_queue(path)
    r, w = pipe()

    def sender():
        with pytest.raises(OSError) as e:
            tx.send_to_with_fds(b"late", path, [w])
        return e.value.errno

    f = spawn(sender)
    wait_until_idle()
    assert f.joinable
    getattr(tx, how)()
    assert f.join() == errno.ECANCELED
    w.close()  # given back
    r.close()
    close_all(rx, tx)


def test_autobind_with_an_empty_path():
    s = unix.datagram_socket()
    s.open()
    s.bind("")
    name = s.local_path
    assert name is not None and name.startswith("\0") and len(name) == 6
    t = unix.datagram_socket()
    t.open()
    t.send_to(b"to an autobound name", name)
    assert received(s) == b"to an autobound name"
    close_all(s, t)


@pytest.mark.parametrize("kind", ["datagram", "seqpacket"])
def test_datagram_and_seqpacket_options(kind):
    a, b = PAIRED[kind].pair()
    a.set_option("send_buffer_size", 32768)
    assert a.get_option("send_buffer_size") >= 32768
    a.set_option("receive_buffer_size", 32768)
    assert a.get_option("receive_buffer_size") >= 32768
    a.set_option("debug", False)
    assert a.get_option("debug") is False
    for bad in ("receive_low_watermark", "linger"):
        with pytest.raises(ValueError):
            a.get_option(bad)
    a.send(b"123")
    assert b.io_control("bytes_readable") == 3
    close_all(a, b)


def test_datagram_shutdown_receive():
    a, b = unix.datagram_socket.pair()
    b.shutdown("both")
    with pytest.raises(BrokenPipeError):
        b.send(b"x")
    close_all(a, b)


# ------------------------------------------------------- seqpacket_socket


def test_seqpacket_pair_keeps_message_boundaries():
    a, b = unix.seqpacket_socket.pair()
    assert isinstance(a, unix.seqpacket_socket)
    a.send(b"first")
    a.send(b"second message")
    assert received(b) == b"first"
    buf = byte_span(6)
    assert b.receive(buf) == 6  # cut to the buffer
    assert bytes(buf) == b"second"
    a.send(b"third")
    assert received(b) == b"third"  # " message" was discarded
    assert b.receive(byte_span(0)) == 0  # no message consumed
    a.send(b"kept")
    assert received(b) == b"kept"
    close_all(a, b)


def test_seqpacket_zero_byte_message_reads_as_eof():
    # Manual, "A note on 0-sized packets": Emilua reports EOF on a 0-byte read.
    a, b = unix.seqpacket_socket.pair()
    assert a.send(b"") == 0
    with pytest.raises(EOFError):
        b.receive(byte_span(8))
    a.send(b"more")  # the connection itself is still there
    assert received(b) == b"more"
    close_all(a, b)


def test_seqpacket_peer_closed():
    a, b = unix.seqpacket_socket.pair()
    b.close()
    with pytest.raises(EOFError):
        a.receive(byte_span(8))
    with pytest.raises(BrokenPipeError):
        a.send(b"x")
    r, w = pipe()
    with pytest.raises(BrokenPipeError):
        a.send_with_fds(b"x", [w])
    r.close()
    w.close()
    a.close()


def test_seqpacket_peer_closed_with_unread_message_gives_econnreset():
    a, b = unix.seqpacket_socket.pair()
    a.send(b"unread")
    b.close()
    with pytest.raises(ConnectionResetError):
        a.receive(byte_span(8))
    a.close()


def test_seqpacket_shutdown_receive_ends_the_connection_for_the_reader():
    a, b = unix.seqpacket_socket.pair()

    def reader():
        with pytest.raises(EOFError):
            b.receive(byte_span(8))

    f = spawn(reader)
    wait_until_idle()
    assert f.joinable  # parked in receive()
    b.shutdown("receive")
    f.join()  # woken with a 0-byte read: EOF
    close_all(a, b)


def test_seqpacket_acceptor(tmp_path):
    path = str(tmp_path / "seq")
    a = unix.seqpacket_acceptor()
    a.open()
    a.set_option("enable_connection_aborted", True)
    assert a.get_option("enable_connection_aborted") is True
    assert a.get_option("debug") is False
    with pytest.raises(ValueError):
        a.get_option("send_buffer_size")
    with pytest.raises(TypeError):
        a.set_option("enable_connection_aborted", 1)
    a.bind(path)
    a.listen(4)
    assert a.local_path == path
    accepted = spawn(a.accept)
    c = unix.seqpacket_socket()
    c.connect(path)
    s = accepted.join()
    assert isinstance(s, unix.seqpacket_socket)
    c.send(b"one")
    c.send(b"two")
    assert received(s) == b"one"
    assert received(s) == b"two"
    close_all(a, c, s)


@pytest.mark.parametrize("cls", [unix.stream_acceptor, unix.seqpacket_acceptor])
@pytest.mark.parametrize("how", ["close", "cancel"])
def test_close_or_cancel_wakes_a_parked_accept(tmp_path, cls, how):
    a = listening(cls, tmp_path / "acc")

    def acceptor():
        with pytest.raises(OSError) as e:
            a.accept()
        return e.value.errno

    f = spawn(acceptor)
    wait_until_idle()
    getattr(a, how)()
    assert f.join() == errno.ECANCELED
    close_all(a)


def test_acceptor_new_fd_and_release(tmp_path):
    a = listening(unix.stream_acceptor, tmp_path / "l")
    fd = a.release()
    assert not is_nonblocking(raw(fd))
    b = unix.stream_acceptor(fd)
    assert b.local_path == str(tmp_path / "l")
    accepted = spawn(b.accept)
    c = unix.stream_socket()
    c.connect(tmp_path / "l")
    s = accepted.join()
    close_all(b, c, s)


# ------------------------------------------------- the "Linux namespaces" use

GUEST = textwrap.dedent(
    """
    import os, socket, sys
    fdarg = int(sys.argv[1])
    sock = socket.socket(fileno=fdarg)
    assert sock.getblocking()
    fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o600)
    socket.send_fds(sock, [b"."], [fd])  # like the init.script's send_with_fd
    os.close(fd)
    sock.recv(1)  # sync point: C.read(fdarg, 1)
    """
)


def test_seqpacket_pair_hands_a_released_end_to_another_process(tmp_path):
    # Manual, "Linux namespaces" (Full example): the host keeps one end of a
    # seqpacket pair, releases the other to the guest, receives an fd the
    # guest opened, writes through it, then closes its end as the sync point.
    shost, sguest = unix.seqpacket_socket.pair()
    sguest = sguest.release()
    target = tmp_path / "app.py"
    n = raw(sguest)
    guest = subprocess.Popen(
        [sys.executable, "-c", GUEST, str(n), str(target)], pass_fds=[n], close_fds=True
    )
    sguest.close()
    ignored_buf = byte_span(1)
    module = shost.receive_with_fds(ignored_buf, 1)[1][0]
    module = file.stream(module)
    stream.write_all(module, "print('hi')\n")
    module.close()
    shost.close()  # the guest's sync read returns
    assert guest.wait(timeout=10) == 0
    assert target.read_bytes() == b"print('hi')\n"


INIT_SCRIPT = """
userns, _ = C.open('/proc/self/ns/user', C.O_RDONLY)
send_with_fd(fdarg, '.', userns)
netns, _ = C.open('/proc/self/ns/net', C.O_RDONLY)
send_with_fd(fdarg, '.', netns)
C.read(fdarg, 1)  # sync point: until the host closes its end
"""


def test_manual_namespace_handshake_over_a_seqpacket_pair(tmp_path):
    # Manual, "Linux namespaces", "The init.script": the race-free way to get
    # the new actor's namespace fds.
    module = tmp_path / "guest.py"
    module.write_text("from emilua import inbox\ninbox.receive()['dest'].send('up')\n")
    shost, sguest = unix.seqpacket_socket.pair()
    sguest = sguest.release()
    ch = spawn_vm(
        str(module),
        linux_namespaces={
            "new_user": True,
            "new_net": True,
            "init": {"script": INIT_SCRIPT, "fd": sguest},
        },
    )
    sguest.close()
    ignored_buf = byte_span(1)
    userns = shost.receive_with_fds(ignored_buf, 1)[1][0]
    netns = shost.receive_with_fds(ignored_buf, 1)[1][0]
    assert is_cloexec(userns) and is_cloexec(netns)
    assert os.readlink(f"/proc/self/fd/{raw(netns)}") != os.readlink("/proc/self/ns/net")
    assert os.readlink(f"/proc/self/fd/{raw(userns)}") != os.readlink("/proc/self/ns/user")
    userns.close()
    netns.close()
    shost.close()  # the init.script's C.read() returns: the actor starts
    ch.send({"dest": inbox})
    assert inbox.receive() == "up"
    ch.close()


ACTOR = """
from emilua import inbox
from emilua.byte_span import byte_span

reply_to, sock = inbox.receive()
buf = byte_span(16)
n, fds = sock.receive_with_fds(buf, 1)
fds[0].close()
sock.send(bytes(buf.slice(0, n)).upper())
reply_to.send((type(sock).__name__, len(fds)))
sock.close()
"""


def test_a_socket_moves_to_another_actor(tmp_path):
    module = tmp_path / "mover.py"
    module.write_text(ACTOR)
    a, b = unix.seqpacket_socket.pair()
    ch = spawn_vm(str(module))
    ch.send((inbox, b))
    assert not b.is_open  # the sender's object is unusable from now on
    r, w = pipe()
    a.send_with_fds(b"ping", [w])
    assert received(a) == b"PING"
    assert inbox.receive() == ("seqpacket_socket", 1)
    with pytest.raises(EOFError):
        a.receive(byte_span(4))  # the actor closed the moved socket
    for obj in (r, w, a):
        obj.close()
