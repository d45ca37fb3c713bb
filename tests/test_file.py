# Manual: "file.open_flag", "file.random_access", "file.stream", "file.read_all_at",
# "file.read_at_least_at", "file.write_all_at", "file.write_at_least_at". Every
# test runs as the main fiber of a fresh engine, once per backend (io_uring,
# epoll). Files live in pytest's tmp_path.
import errno
import os
import stat

import pytest
from helpers import wait_until_idle

from emilua import FiberInterrupted, file, spawn, stream, this_fiber
from emilua.byte_span import append, byte_span
from emilua.file_descriptor import file_descriptor

RW_CREATE = file.open_flag.read_write | file.open_flag.create


def pipe():
    """(read end, write end) as file_descriptor objects, standing for fds
    received from another process (the manual's "Linux namespaces" example)."""
    r, w = os.pipe()
    return file_descriptor._adopt(r), file_descriptor._adopt(w)


def raw_fd(path, flags):
    """An fd opened by someone else, handed over as a file_descriptor."""
    return file_descriptor._adopt(os.open(path, flags | os.O_CLOEXEC, 0o600))


def opened(cls, path, flags=RW_CREATE):
    f = cls()
    f.open(path, flags)
    return f


def read_at(f, offset, n):
    buf = byte_span(n)
    got = f.read_some_at(offset, buf)
    return bytes(buf.slice(0, got))


def read(f, n=64):
    buf = byte_span(n)
    got = f.read_some(buf)
    return bytes(buf.slice(0, got))


def contents(path):
    with open(path, "rb") as fp:
        return fp.read()


def drop_from_page_cache(path):
    """Write back and evict a file's pages, so a read must wait for the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- open_flag


def test_open_flags_are_the_open_2_flags_and_combine():
    f = file.open_flag
    assert f.read_only == os.O_RDONLY
    assert f.write_only == os.O_WRONLY
    assert f.read_write == os.O_RDWR
    assert f.append == os.O_APPEND
    assert f.create == os.O_CREAT
    assert f.exclusive == os.O_EXCL
    assert f.truncate == os.O_TRUNC
    assert f.sync_all_on_write == os.O_SYNC
    combined = f.write_only | f.create | f.truncate
    assert isinstance(combined, file.open_flag)
    assert combined == os.O_WRONLY | os.O_CREAT | os.O_TRUNC


def test_open_without_create_fails_for_a_missing_file(tmp_path):
    f = file.random_access()
    with pytest.raises(FileNotFoundError):
        f.open(tmp_path / "missing", file.open_flag.read_only)
    assert not f.is_open


def test_create_makes_a_file_with_mode_0666_minus_the_umask(tmp_path):
    path = tmp_path / "new"
    old = os.umask(0o022)
    try:
        f = opened(file.stream, path, file.open_flag.write_only | file.open_flag.create)
    finally:
        os.umask(old)
    assert f.is_open and f.size == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    f.close()


def test_create_exclusive_refuses_an_existing_file(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"old")
    f = file.stream()
    with pytest.raises(FileExistsError):
        f.open(path, file.open_flag.write_only | file.open_flag.create | file.open_flag.exclusive)
    assert not f.is_open
    assert contents(path) == b"old"
    f.open(
        tmp_path / "y", file.open_flag.write_only | file.open_flag.create | file.open_flag.exclusive
    )
    assert f.is_open
    f.close()


def test_truncate_empties_the_file(tmp_path):
    path = tmp_path / "t"
    path.write_bytes(b"some old contents")
    f = opened(file.random_access, path, file.open_flag.read_write | file.open_flag.truncate)
    assert f.size == 0
    assert f.write_some_at(0, b"new") == 3
    f.close()
    assert contents(path) == b"new"


def test_append_writes_at_the_end_whatever_the_position(tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b"first\n")
    s = opened(file.stream, path, file.open_flag.read_write | file.open_flag.append)
    assert s.seek(0, "set") == 0
    assert s.write_some(b"second\n") == 7
    s.close()
    # pwrite(2), BUGS: Linux appends on an O_APPEND file whatever the offset.
    r = opened(file.random_access, path, file.open_flag.write_only | file.open_flag.append)
    assert r.write_some_at(0, b"third\n") == 6
    r.close()
    assert contents(path) == b"first\nsecond\nthird\n"


def test_sync_all_on_write_opens_with_o_sync(tmp_path):
    path = tmp_path / "s"
    f = opened(file.random_access, path, RW_CREATE | file.open_flag.sync_all_on_write)
    assert os.get_blocking(f.fileno())
    with open(f"/proc/self/fdinfo/{f.fileno()}") as info:
        flags = int(info.read().split("flags:")[1].split()[0], 8)
    assert flags & os.O_SYNC == os.O_SYNC
    assert flags & os.O_CLOEXEC
    assert f.write_some_at(0, b"durable") == 7
    f.close()
    assert contents(path) == b"durable"


def test_access_mode_is_enforced(tmp_path):
    path = tmp_path / "ro"
    path.write_bytes(b"data")
    ro = opened(file.random_access, path, file.open_flag.read_only)
    with pytest.raises(OSError) as e:
        ro.write_some_at(0, b"x")
    assert e.value.errno == errno.EBADF
    assert read_at(ro, 0, 4) == b"data"
    ro.close()
    wo = opened(file.stream, path, file.open_flag.write_only)
    with pytest.raises(OSError) as e:
        read(wo)
    assert e.value.errno == errno.EBADF
    wo.close()


def test_bad_flags_and_paths_are_refused(tmp_path):
    f = file.stream()
    with pytest.raises(ValueError):
        f.open(tmp_path / "a", os.O_DIRECTORY)
    with pytest.raises(ValueError):
        f.open(tmp_path / "a", file.open_flag.write_only | file.open_flag.read_write)
    with pytest.raises(TypeError):
        f.open(tmp_path / "a", "rw")
    with pytest.raises(TypeError):
        f.open(42, file.open_flag.read_only)
    assert not f.is_open


def test_open_on_an_open_object_fails_with_ealready(tmp_path):
    f = opened(file.random_access, tmp_path / "a")
    with pytest.raises(OSError) as e:
        f.open(tmp_path / "b", RW_CREATE)
    assert e.value.errno == errno.EALREADY
    assert not (tmp_path / "b").exists()
    f.close()


def test_paths_may_be_str_bytes_or_path_like(tmp_path):
    for path in (str(tmp_path / "s"), os.fsencode(tmp_path / "b"), tmp_path / "p"):
        f = opened(file.stream, path)
        assert f.write_some("x") == 1
        f.close()
        assert contents(path) == b"x"


# ------------------------------------------------------------ random_access


def test_write_then_read_back_at_offsets(tmp_path):
    f = opened(file.random_access, tmp_path / "r")
    assert f.write_some_at(0, b"hello") == 5
    assert f.write_some_at(10, append("world")) == 5
    assert f.size == 15
    assert read_at(f, 0, 15) == b"hello\0\0\0\0\0world"  # the gap reads as zeroes
    assert read_at(f, 2, 3) == b"llo"
    assert read_at(f, 12, 3) == b"rld"
    assert f.write_some_at(1, "ÉA") == 3  # str: UTF-8
    assert read_at(f, 0, 5) == "hÉAo".encode()
    f.close()


def test_read_some_at_is_short_at_the_end_of_the_file(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(b"0123456789")
    f = opened(file.random_access, path, file.open_flag.read_only)
    buf = byte_span(8)
    assert f.read_some_at(6, buf) == 4
    assert bytes(buf.slice(0, 4)) == b"6789"
    f.close()


def test_read_some_at_raises_eof_at_and_past_the_end(tmp_path):
    path = tmp_path / "eof"
    path.write_bytes(b"abc")
    f = opened(file.random_access, path, file.open_flag.read_only)
    with pytest.raises(EOFError):
        f.read_some_at(3, byte_span(4))
    with pytest.raises(EOFError):
        f.read_some_at(1000, byte_span(4))
    assert f.read_some_at(3, byte_span(0)) == 0  # an empty buffer is no EOF
    f.close()


def test_negative_offsets_are_einval(tmp_path):
    f = opened(file.random_access, tmp_path / "n")
    for call in (
        lambda: f.read_some_at(-1, byte_span(1)),
        lambda: f.write_some_at(-1, b"x"),
        lambda: file.read_all_at(f, -5, byte_span(1)),
        lambda: file.write_all_at(f, -5, b"x"),
    ):
        with pytest.raises(ValueError) as e:
            call()
        assert isinstance(e.value, OSError) and e.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        f.read_some_at(True, byte_span(1))
    assert f.size == 0
    f.close()


def test_concurrent_reads_at_many_offsets(tmp_path):
    path = tmp_path / "big"
    data = bytes(range(256)) * 64
    path.write_bytes(data)
    f = opened(file.random_access, path, file.open_flag.read_only)

    def reader(i):
        return read_at(f, i * 256, 256)

    fibers = [spawn(reader, i) for i in range(64)]
    assert b"".join(fib.join() for fib in fibers) == data
    f.close()


def test_a_read_the_page_cache_cannot_serve_returns_the_data(tmp_path):
    path = tmp_path / "cold"
    data = os.urandom(1 << 16)
    path.write_bytes(data)
    drop_from_page_cache(path)
    f = opened(file.random_access, path, file.open_flag.read_only)
    buf = byte_span(len(data))
    assert file.read_all_at(f, 0, buf) == len(data)
    assert bytes(buf) == data
    f.close()


def test_other_fibers_run_while_file_operations_wait(tmp_path):
    f = opened(file.random_access, tmp_path / "w")
    ticks = []

    def ticker():
        for _ in range(3):
            ticks.append(len(ticks))
            this_fiber.yield_()

    t = spawn(ticker)
    chunk = b"z" * 4096
    for i in range(32):
        assert f.write_some_at(i * 4096, chunk) == 4096
        this_fiber.yield_()
    t.join()
    assert ticks == [0, 1, 2]
    assert f.size == 32 * 4096
    f.close()


def test_random_access_on_a_pipe_is_espipe():
    r, w = pipe()
    f = file.random_access(r)
    with pytest.raises(OSError) as e:
        f.read_some_at(0, byte_span(4))
    assert e.value.errno == errno.ESPIPE
    with pytest.raises(OSError) as e:
        f.write_some_at(0, b"x")
    assert e.value.errno == errno.ESPIPE
    f.close()
    w.close()


# ------------------------------------------------------------------- stream


def test_stream_reads_and_writes_at_the_file_position(tmp_path):
    s = opened(file.stream, tmp_path / "s")
    assert s.write_some(b"abc") == 3
    assert s.write_some("def") == 3
    assert s.seek(0, "cur") == 6
    assert s.seek(1, "set") == 1
    assert read(s, 2) == b"bc"
    assert s.seek(0, "cur") == 3
    assert s.seek(-2, "end") == 4
    assert read(s) == b"ef"
    with pytest.raises(EOFError):
        s.read_some(byte_span(8))
    assert s.read_some(byte_span(0)) == 0
    assert s.seek(10, "end") == 16  # past the end; a write there leaves a hole
    assert s.write_some(b"!") == 1
    assert s.size == 17
    s.close()
    assert contents(tmp_path / "s") == b"abcdef" + bytes(10) + b"!"


def test_seek_rejects_bad_arguments(tmp_path):
    s = opened(file.stream, tmp_path / "s")
    with pytest.raises(ValueError) as e:
        s.seek(0, "sideways")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        s.seek(-1, "set")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        s.seek("0", "set")
    s.close()


def test_stream_write_all_and_read_all_through_the_stream_module(tmp_path):
    path = tmp_path / "m"
    data = os.urandom(100_000)
    s = opened(file.stream, path)
    assert stream.write_all(s, data) == len(data)
    s.seek(0, "set")
    buf = byte_span(len(data))
    assert stream.read_all(s, buf) == len(data)
    assert bytes(buf) == data
    with pytest.raises(EOFError):
        stream.read_all(s, byte_span(1))
    s.close()


def test_stream_from_a_received_fd_writes_a_module(tmp_path):
    # The "Linux namespaces" Full example: the sandbox opens /app.lua and sends
    # the fd; the host wraps it with file.stream.new(fd) and writes the code.
    path = tmp_path / "app.py"
    guest_code = "from emilua import inbox\nch = inbox.receive()\n"
    module = file.stream(raw_fd(path, os.O_WRONLY | os.O_CREAT))
    assert module.is_open
    assert stream.write_all(module, guest_code) == len(guest_code)
    module.close()
    assert contents(path) == guest_code.encode()


def test_stream_over_a_pipe_passes_data_and_reports_eof():
    r, w = pipe()
    reader = file.stream(r)
    writer = file.stream(w)
    # epoll can only wait for a pipe that does not block.
    assert not os.get_blocking(reader.fileno())
    assert not os.get_blocking(writer.fileno())
    got = spawn(read, reader, 64)
    wait_until_idle()  # the reader waits for the pipe
    assert writer.write_some(b"through the pipe") == 16
    assert got.join() == b"through the pipe"
    assert writer.size == 0
    with pytest.raises(OSError) as e:
        writer.seek(0, "set")
    assert e.value.errno == errno.ESPIPE
    writer.close()
    with pytest.raises(EOFError):
        reader.read_some(byte_span(8))
    reader.close()


def test_a_full_pipe_makes_the_writer_wait():
    r, w = pipe()
    reader = file.stream(r)
    writer = file.stream(w)
    data = os.urandom(1 << 18)  # four times the default pipe capacity
    sent = spawn(stream.write_all, writer, data)
    wait_until_idle()
    buf = byte_span(len(data))
    assert stream.read_all(reader, buf) == len(data)
    assert sent.join() == len(data)
    assert bytes(buf) == data
    writer.close()
    reader.close()


# ------------------------------------------------------ size and resize


def test_size_and_resize(tmp_path):
    f = opened(file.random_access, tmp_path / "z")
    assert f.size == 0
    f.resize(8)
    assert f.size == 8
    assert read_at(f, 0, 8) == bytes(8)  # extended with zeroes
    file.write_all_at(f, 0, b"abcdefgh")
    f.resize(3)
    assert f.size == 3
    assert read_at(f, 0, 8) == b"abc"
    with pytest.raises(OSError) as e:
        f.resize(-1)
    assert e.value.errno == errno.EINVAL
    f.close()


# --------------------------------------------------- composed operations


def test_write_all_at_and_read_all_at(tmp_path):
    f = opened(file.random_access, tmp_path / "c")
    data = os.urandom(300_000)
    assert file.write_all_at(f, 100, data) == len(data)
    assert file.write_all_at(f, 0, "a str") == 5
    buf = byte_span(len(data))
    assert file.read_all_at(f, 100, buf) == len(data)
    assert bytes(buf) == data
    head = bytearray(5)
    assert file.read_all_at(f, 0, head) == 5 and head == b"a str"
    with pytest.raises(EOFError):
        file.read_all_at(f, f.size - 2, byte_span(3))
    assert file.read_all_at(f, 0, byte_span(0)) == 0
    with pytest.raises(TypeError):
        file.read_all_at(f, 0, b"immutable")
    f.close()


def test_read_at_least_at_and_write_at_least_at(tmp_path):
    f = opened(file.random_access, tmp_path / "l")
    assert file.write_at_least_at(f, 0, b"0123456789", 4) >= 4
    file.write_all_at(f, 0, b"0123456789")
    buf = byte_span(10)
    n = file.read_at_least_at(f, 2, buf, 5)
    assert 5 <= n <= 8
    assert bytes(buf.slice(0, n)) == b"23456789"[:n]
    with pytest.raises(EOFError):
        file.read_at_least_at(f, 8, byte_span(4), 3)
    assert file.read_at_least_at(f, 8, byte_span(4), 0) == 0
    for call in (
        lambda: file.read_at_least_at(f, 0, byte_span(4), 5),
        lambda: file.write_at_least_at(f, 0, b"ab", 3),
        lambda: file.read_at_least_at(f, 0, byte_span(4), -1),
    ):
        with pytest.raises(ValueError):
            call()
    f.close()


def test_composed_operations_work_on_any_object_with_the_at_methods():
    class Chunky:
        """Moves at most 3 bytes per call."""

        def __init__(self):
            self.data = bytearray(b"abcdefghij")
            self.calls = 0

        def read_some_at(self, offset, buf):
            self.calls += 1
            chunk = self.data[offset : offset + min(3, len(buf))]
            if not chunk:
                raise EOFError
            buf[: len(chunk)] = chunk
            return len(chunk)

        def write_some_at(self, offset, buf):
            self.calls += 1
            n = min(3, len(buf))
            self.data[offset : offset + n] = bytes(buf[:n])
            return n

    c = Chunky()
    buf = bytearray(8)
    assert file.read_all_at(c, 1, buf) == 8 and buf == b"bcdefghi"
    assert c.calls == 3
    c.calls = 0
    assert file.write_at_least_at(c, 0, b"XYZUV", 4) == 5  # 3 bytes, then the last 2
    assert c.calls == 2
    assert c.data == b"XYZUVfghij"


# ------------------------------------------------------ close and cancel


def test_close_is_idempotent_and_later_operations_fail_with_ebadf(tmp_path):
    f = opened(file.random_access, tmp_path / "c")
    f.close()
    assert not f.is_open
    f.close()
    for call in (
        lambda: f.read_some_at(0, byte_span(1)),
        lambda: f.write_some_at(0, b"x"),
        lambda: f.size,
        lambda: f.resize(1),
        f.cancel,
        f.release,
    ):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EBADF
    s = file.stream()
    assert not s.is_open
    with pytest.raises(OSError) as e:
        s.read_some(byte_span(1))
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        s.seek(0, "set")
    assert e.value.errno == errno.EBADF


def test_a_closed_object_can_be_opened_again(tmp_path):
    f = opened(file.stream, tmp_path / "a")
    f.write_some(b"a")
    f.close()
    f.open(tmp_path / "a", file.open_flag.read_only)
    assert read(f) == b"a"
    f.close()


def test_cancel_makes_a_parked_pipe_read_raise_ecanceled_and_the_stream_stays_usable():
    r, w = pipe()
    reader = file.stream(r)
    writer = file.stream(w)

    def parked():
        with pytest.raises(OSError) as e:
            reader.read_some(byte_span(8))
        return e.value.errno

    f = spawn(parked)
    wait_until_idle()
    reader.cancel()
    assert f.join() == errno.ECANCELED
    assert reader.is_open
    writer.write_some(b"kept")
    assert read(reader) == b"kept"  # the cancelled read took no byte
    writer.close()
    reader.close()


def test_cancel_with_nothing_in_flight_is_harmless(tmp_path):
    f = opened(file.random_access, tmp_path / "c")
    f.cancel()
    assert f.write_some_at(0, b"ok") == 2
    assert read_at(f, 0, 2) == b"ok"
    f.close()


def test_close_wakes_a_parked_pipe_read_with_ecanceled():
    r, w = pipe()
    reader = file.stream(r)

    def parked():
        with pytest.raises(OSError) as e:
            reader.read_some(byte_span(8))
        return e.value.errno

    f = spawn(parked)
    wait_until_idle()
    reader.close()
    assert f.join() == errno.ECANCELED
    assert not reader.is_open
    w.close()


def test_interrupt_a_parked_pipe_read_loses_no_byte():
    r, w = pipe()
    reader = file.stream(r)
    writer = file.stream(w)
    f = spawn(reader.read_some, byte_span(8))
    wait_until_idle()
    f.interrupt()
    f.join()
    assert f.interruption_caught
    writer.write_some(b"kept")
    assert read(reader) == b"kept"
    writer.close()
    reader.close()


def test_a_file_operation_is_an_interruption_point(tmp_path):
    path = tmp_path / "i"
    path.write_bytes(b"data")
    f = opened(file.random_access, path)
    fib = spawn(read_at, f, 0, 4)
    fib.interrupt()  # before it ran: its first file operation raises
    fib.join()
    assert fib.interruption_caught
    fib = spawn(f.write_some_at, 0, b"XXXX")
    fib.interrupt()
    fib.join()
    assert fib.interruption_caught
    assert contents(path) == b"data"
    f.close()


def test_interrupting_a_waiting_file_write_keeps_the_data_consistent(tmp_path, backend):
    path = tmp_path / "iw"
    f = opened(file.random_access, path)
    outcome = []

    def writer():
        try:
            outcome.append(f.write_some_at(0, b"written"))
        except FiberInterrupted:
            outcome.append("interrupted at the write")
            raise
        this_fiber.yield_()  # the pending interruption is raised here
        outcome.append("not interrupted")

    fib = spawn(writer)
    this_fiber.yield_()  # the writer starts its write and waits for it
    fib.interrupt()
    fib.join()
    assert fib.interruption_caught
    if outcome == [7]:
        assert contents(path) == b"written"  # the write completed: it is reported
    else:
        # Only io_uring can cancel a write before it reached the file.
        assert backend == "io_uring" and outcome == ["interrupted at the write"]
        assert contents(path) == b""
    f.close()


def test_close_during_a_file_write_completes_or_cancels_it(tmp_path, backend):
    path = tmp_path / "cw"
    f = opened(file.random_access, path)

    def writer():
        try:
            return f.write_some_at(0, b"written")
        except OSError as e:
            return e.errno

    fib = spawn(writer)
    this_fiber.yield_()  # the writer is in its write
    f.close()
    got = fib.join()
    assert not f.is_open
    if got == 7:
        assert contents(path) == b"written"
    else:
        # Only io_uring can cancel a write before it reached the file.
        assert backend == "io_uring" and got == errno.ECANCELED
        assert contents(path) == b""


def test_release_during_a_file_read_keeps_the_fd_valid(tmp_path):
    path = tmp_path / "rr"
    path.write_bytes(b"0123456789")
    drop_from_page_cache(path)
    f = opened(file.random_access, path, file.open_flag.read_only)

    def reader():
        try:
            return read_at(f, 0, 10)
        except OSError as e:
            return e.errno

    fib = spawn(reader)
    this_fiber.yield_()
    fd = f.release()
    assert fib.join() in (b"0123456789", errno.ECANCELED)
    g = file.random_access(fd)
    assert read_at(g, 0, 10) == b"0123456789"
    g.close()


# ------------------------------------------------------ assign and release


def test_release_hands_the_fd_over_and_assign_takes_it(tmp_path):
    path = tmp_path / "moved"
    a = opened(file.stream, path)
    a.write_some(b"0123456789")
    a.seek(4, "set")
    fd = a.release()
    assert isinstance(fd, file_descriptor)
    assert not a.is_open
    b = file.stream()
    b.assign(fd)
    assert b.is_open
    assert read(b, 3) == b"456"  # the same open file, so the same position
    with pytest.raises(OSError):
        fd.close()  # consumed by assign()
    r = file.random_access(b.release())
    assert read_at(r, 0, 4) == b"0123"
    r.close()


def test_assign_refuses_an_open_object_and_non_descriptors(tmp_path):
    a = opened(file.random_access, tmp_path / "a")
    fd = raw_fd(tmp_path / "b", os.O_RDWR | os.O_CREAT)
    with pytest.raises(OSError) as e:
        a.assign(fd)
    assert e.value.errno == errno.EALREADY
    with pytest.raises(TypeError):
        file.stream().assign(3)
    with pytest.raises(TypeError):
        file.random_access(3)
    a.close()
    a.assign(fd)  # not consumed by the failed assign
    assert a.write_some_at(0, b"b") == 1
    a.close()
    assert contents(tmp_path / "b") == b"b"


def test_released_fd_is_close_on_exec(tmp_path):
    s = opened(file.stream, tmp_path / "e")
    fd = s.release()
    assert not os.get_inheritable(fd._fileno())
    fd.close()
