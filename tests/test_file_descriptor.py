# Manual: "file_descriptor". A plain owned fd: no engine needed.
import errno
import fcntl
import gc
import os

import pytest

from emilua import system
from emilua.file_descriptor import file_descriptor

pytestmark = pytest.mark.pure


def number(fd: file_descriptor) -> int:
    return int(str(fd).removeprefix("/dev/fd/"))


def pipe_fds() -> tuple[int, file_descriptor]:
    r, w = os.pipe()
    return r, file_descriptor._adopt(w)


def test_wraps_an_int_and_takes_ownership_of_it():
    r, w = os.pipe()
    fd = file_descriptor(w)
    assert number(fd) == w  # the same number: wrapped, not duplicated
    os.write(number(fd), b"owned")
    fd.close()  # the object closes it; the caller no longer may
    with pytest.raises(OSError) as e:
        os.fstat(w)
    assert e.value.errno == errno.EBADF
    assert os.read(r, 16) == b"owned"
    assert os.read(r, 16) == b""
    os.close(r)


@pytest.mark.parametrize("bad", [None, "3", 1.0, b"\x03"])
def test_wrapping_a_non_int_raises_type_error(bad):
    with pytest.raises(TypeError):
        file_descriptor(bad)
    with pytest.raises(TypeError):
        file_descriptor()


@pytest.mark.parametrize("bad", [-1, 2**31, 2**64])
def test_wrapping_a_number_that_is_no_open_fd_raises_ebadf(bad):
    with pytest.raises(OSError) as e:
        file_descriptor(bad)
    assert e.value.errno == errno.EBADF


def test_wrapping_a_closed_fd_raises_ebadf():
    r, w = os.pipe()
    os.close(w)
    with pytest.raises(OSError) as e:
        file_descriptor(w)
    assert e.value.errno == errno.EBADF
    os.close(r)


def test_str_is_the_dev_fd_path():
    r, fd = pipe_fds()
    n = number(fd)
    assert str(fd) == f"/dev/fd/{n}" == repr(fd)
    assert os.readlink(str(fd)) == os.readlink(f"/proc/self/fd/{r}")
    fd.close()
    assert str(fd) == "file_descriptor(closed)"
    os.close(r)


def test_close_closes_once():
    r, fd = pipe_fds()
    n = number(fd)
    fd.close()
    with pytest.raises(OSError) as e:
        os.fstat(n)
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        fd.close()
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        fd.dup()
    assert e.value.errno == errno.EBADF
    os.close(r)


def test_dup_shares_the_open_file_description():
    r, fd = pipe_fds()
    d = fd.dup()
    assert number(d) != number(fd)
    # File status flags belong to the open file description: both see them.
    flags = fcntl.fcntl(number(fd), fcntl.F_GETFL)
    fcntl.fcntl(number(fd), fcntl.F_SETFL, flags | os.O_NONBLOCK)
    assert fcntl.fcntl(number(d), fcntl.F_GETFL) & os.O_NONBLOCK
    # fd flags do not: the duplicate is close-on-exec on its own.
    assert fcntl.fcntl(number(d), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    os.write(number(d), b"via dup")
    fd.close()
    assert os.read(r, 16) == b"via dup"
    d.close()
    assert os.read(r, 16) == b""  # every writer closed
    os.close(r)


def test_the_garbage_collector_closes_it():
    r, fd = pipe_fds()
    n = number(fd)
    del fd
    gc.collect()
    with pytest.raises(OSError) as e:
        os.fstat(n)
    assert e.value.errno == errno.EBADF
    assert os.read(r, 1) == b""
    os.close(r)


def test_standard_stream_dups():
    for std in (system.in_, system.out, system.err):
        fd = std.dup()
        assert isinstance(fd, file_descriptor)
        assert number(fd) > 2
        fd.close()


def test_capabilities_of_a_pipe_are_refused():
    # File capabilities live in an xattr a pipe cannot have (tests of real
    # files: test_linux_capabilities.py).
    r, fd = pipe_fds()
    with pytest.raises(OSError):
        fd.cap_get()
    with pytest.raises(TypeError):
        fd.cap_set(None)
    fd.close()
    with pytest.raises(OSError):
        fd.cap_get()
    os.close(r)
