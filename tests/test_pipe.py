# Manual: "pipe.read_stream", "pipe.write_stream", "pipe.pair". Every test
# runs as the main fiber of a fresh engine, once per backend.
import errno
import fcntl
import os
import signal
import subprocess
import sys

import pytest
from helpers import wait_until_idle

from emilua import FiberInterrupted, pipe, spawn, stream
from emilua.byte_span import byte_span
from emilua.file_descriptor import file_descriptor


def read_bytes(r, n=64):
    buf = byte_span(n)
    got = r.read_some(buf)
    return bytes(buf.slice(0, got))


def test_pair_gives_connected_ends():
    r, w = pipe.pair()
    assert isinstance(r, pipe.read_stream) and isinstance(w, pipe.write_stream)
    assert r.is_open and w.is_open
    for end in (r, w):
        flags = fcntl.fcntl(end.fileno(), fcntl.F_GETFL)
        assert flags & os.O_NONBLOCK
        assert fcntl.fcntl(end.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    assert w.write_some(b"hello") == 5
    assert read_bytes(r) == b"hello"
    assert w.write_some("héllo") == len("héllo".encode())
    assert read_bytes(r) == "héllo".encode()
    r.close()
    w.close()
    assert not r.is_open and not w.is_open


def test_default_constructed_ends_are_closed():
    r, w = pipe.read_stream(), pipe.write_stream()
    assert not r.is_open and not w.is_open
    with pytest.raises(OSError) as e:
        r.read_some(byte_span(4))
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        w.write_some(b"x")
    assert e.value.errno == errno.EBADF
    r.close()  # closing a closed end does nothing


def test_read_parks_until_data_arrives():
    r, w = pipe.pair()
    f = spawn(read_bytes, r)
    wait_until_idle()
    assert f.joinable
    w.write_some(b"late")
    assert f.join() == b"late"
    r.close()
    w.close()


def test_eof_once_every_write_end_is_closed():
    r, w = pipe.pair()
    w.write_some(b"last")
    w.close()
    assert read_bytes(r) == b"last"
    with pytest.raises(EOFError):
        r.read_some(byte_span(8))
    r.close()


def test_parked_reader_gets_eof_when_the_writer_closes():
    r, w = pipe.pair()

    def reader():
        with pytest.raises(EOFError):
            r.read_some(byte_span(8))

    f = spawn(reader)
    wait_until_idle()
    w.close()
    f.join()
    r.close()


def test_write_to_a_closed_reader_raises_broken_pipe():
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    r, w = pipe.pair()
    r.close()
    with pytest.raises(BrokenPipeError) as e:
        w.write_some(b"nobody")
    assert e.value.errno == errno.EPIPE
    w.close()


def test_parked_writer_gets_broken_pipe_when_the_reader_closes():
    r, w = pipe.pair()
    fcntl.fcntl(w.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    chunk = b"z" * 65536

    def writer():
        with pytest.raises(BrokenPipeError):
            while True:
                w.write_some(chunk)

    f = spawn(writer)
    wait_until_idle()
    assert f.joinable
    r.close()
    f.join()
    w.close()


_SIGPIPE_PROGRAM = """
import signal, sys
from emilua import pipe, run
def main():
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    r, w = pipe.pair()
    r.close()
    try:
        w.write_some(b"x")
    except BrokenPipeError:
        print("EPIPE")
    w.close()
run(main, backend=sys.argv[1])
"""


def test_the_emilua_command_survives_a_broken_pipe(_engine_backend):
    # A fresh interpreter, the way a program starts: SIGPIPE is ignored and
    # the write reports EPIPE.
    out = subprocess.run(
        [sys.executable, "-c", _SIGPIPE_PROGRAM, _engine_backend],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout == "EPIPE\n"


def test_close_wakes_a_parked_reader_with_ecanceled():
    r, w = pipe.pair()

    def reader():
        with pytest.raises(OSError) as e:
            r.read_some(byte_span(8))
        return e.value.errno

    fibers = [spawn(reader)]
    wait_until_idle()
    r.close()
    assert [f.join() for f in fibers] == [errno.ECANCELED]
    w.close()


def test_close_wakes_a_parked_writer_with_ecanceled():
    r, w = pipe.pair()
    fcntl.fcntl(w.fileno(), fcntl.F_SETPIPE_SZ, 4096)

    def writer():
        with pytest.raises(OSError) as e:
            while True:
                w.write_some(b"y" * 65536)
        return e.value.errno

    f = spawn(writer)
    wait_until_idle()
    w.close()
    assert f.join() == errno.ECANCELED
    r.close()


def test_cancel_wakes_the_reader_and_keeps_the_pipe():
    r, w = pipe.pair()

    def reader():
        with pytest.raises(OSError) as e:
            r.read_some(byte_span(8))
        return e.value.errno

    f = spawn(reader)
    wait_until_idle()
    r.cancel()
    assert f.join() == errno.ECANCELED
    assert r.is_open
    w.write_some(b"kept")
    assert read_bytes(r) == b"kept"  # no byte was swallowed
    r.close()
    w.close()


def test_cancel_wakes_the_writer_and_keeps_the_pipe():
    r, w = pipe.pair()
    fcntl.fcntl(w.fileno(), fcntl.F_SETPIPE_SZ, 4096)

    def writer():
        with pytest.raises(OSError) as e:
            while True:
                w.write_some(b"c" * 65536)
        return e.value.errno

    f = spawn(writer)
    wait_until_idle()
    w.cancel()
    assert f.join() == errno.ECANCELED
    assert w.is_open
    buf = byte_span(65536)
    while r.read_some(buf) == len(buf):
        pass  # drain what was written before the cancel
    assert w.write_some(b"more") == 4
    r.close()
    w.close()


def test_interrupting_a_parked_read():
    r, w = pipe.pair()

    def reader():
        with pytest.raises(FiberInterrupted):
            r.read_some(byte_span(8))

    f = spawn(reader)
    wait_until_idle()
    f.interrupt()
    f.join()
    w.write_some(b"after")
    assert read_bytes(r) == b"after"
    r.close()
    w.close()


def test_release_and_assign_move_an_end():
    r, w = pipe.pair()
    fd = w.release()
    assert isinstance(fd, file_descriptor)
    assert not w.is_open
    w2 = pipe.write_stream(fd)
    assert w2.is_open
    w2.write_some(b"moved")
    assert read_bytes(r) == b"moved"
    rfd = r.release()
    r2 = pipe.read_stream()
    r2.assign(rfd)
    w2.write_some(b"again")
    assert read_bytes(r2) == b"again"
    spare = file_descriptor._adopt(os.dup(r2.fileno()))
    with pytest.raises(OSError) as e:
        r2.assign(spare)
    assert e.value.errno == errno.EALREADY
    spare.close()
    r2.close()
    w2.close()


def test_release_cancels_a_parked_read():
    r, w = pipe.pair()

    def reader():
        with pytest.raises(OSError) as e:
            r.read_some(byte_span(8))
        return e.value.errno

    f = spawn(reader)
    wait_until_idle()
    fd = r.release()
    assert f.join() == errno.ECANCELED
    fd.close()
    w.close()


def test_assign_a_raw_os_pipe_makes_it_nonblocking():
    rfd, wfd = os.pipe()
    r = pipe.read_stream(file_descriptor._adopt(rfd))
    w = pipe.write_stream(file_descriptor._adopt(wfd))
    assert fcntl.fcntl(r.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
    f = spawn(read_bytes, r)
    wait_until_idle()
    w.write_some(b"raw")
    assert f.join() == b"raw"
    r.close()
    w.close()


def test_assign_refuses_a_regular_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    fd = file_descriptor._adopt(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    with pytest.raises(OSError) as e:
        pipe.read_stream(fd)
    assert e.value.errno == errno.EINVAL


def test_empty_buffers_return_zero():
    r, w = pipe.pair()
    assert r.read_some(byte_span(0)) == 0
    assert w.write_some(b"") == 0
    r.close()
    w.close()


def test_stream_helpers_move_a_large_payload():
    r, w = pipe.pair()
    payload = os.urandom(1 << 20)
    writer = spawn(stream.write_all, w, payload)
    buf = byte_span(len(payload))
    assert stream.read_all(r, buf) == len(payload)
    assert writer.join() == len(payload)
    assert bytes(buf) == payload
    w.close()
    r.close()


def test_scanner_reads_lines_from_a_pipe():
    r, w = pipe.pair()
    w.write_some(b"one\ntwo\n")
    w.close()
    sc = stream.scanner(r, record_separator="\n")
    assert bytes(sc.get_line()) == b"one"
    assert bytes(sc.get_line()) == b"two"
    with pytest.raises(EOFError):
        sc.get_line()
    r.close()
