# Manual: "serial_port" (with ptypair). No hardware: every test goes through a
# pseudoterminal pair. Each test runs as the main fiber of a fresh engine,
# once per backend.
import contextlib
import errno
import fcntl
import os
import subprocess
import sys
import termios

import pytest
from helpers import wait_until_idle

from emilua import FiberInterrupted, serial_port, spawn, stream
from emilua.byte_span import byte_span
from emilua.file_descriptor import file_descriptor

SerialPort = serial_port.serial_port


def read_bytes(port, n=64):
    buf = byte_span(n)
    got = port.read_some(buf)
    return bytes(buf.slice(0, got))


@contextlib.contextmanager
def pty_line():
    """(master, slave): the master from ptypair(), the slave opened by path
    with serial_port.open() (raw mode)."""
    master, slave_fd = serial_port.ptypair()
    path = os.ttyname(slave_fd._fileno())
    slave = SerialPort()
    slave.open(path)
    slave_fd.close()
    try:
        yield master, slave
    finally:
        slave.close()
        master.close()


def test_ptypair_returns_a_port_and_a_noctty_slave():
    master, slave = serial_port.ptypair()
    assert isinstance(master, SerialPort) and master.is_open
    assert isinstance(slave, file_descriptor)
    assert master.isatty()
    assert os.isatty(slave._fileno())
    assert fcntl.fcntl(master.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
    assert fcntl.fcntl(slave._fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    # O_NOCTTY: the slave is not this process's controlling terminal.
    with pytest.raises(OSError) as e:
        os.tcgetpgrp(slave._fileno())
    assert e.value.errno == errno.ENOTTY
    slave.close()
    master.close()


def test_open_sets_raw_mode_and_data_flows_both_ways():
    with pty_line() as (master, slave):
        attrs = termios.tcgetattr(slave.fileno())
        assert not attrs[3] & (termios.ICANON | termios.ECHO | termios.ISIG)
        assert not attrs[1] & termios.OPOST
        assert attrs[2] & termios.CS8 == termios.CS8
        assert master.write_some(b"ping\r\n") == 6
        assert read_bytes(slave) == b"ping\r\n"  # no line editing, no CR mapping
        assert slave.write_some("pong\n") == 5
        assert read_bytes(master) == b"pong\n"  # no output processing


def test_open_errors():
    port = SerialPort()
    with pytest.raises(FileNotFoundError):
        port.open("/dev/does-not-exist")
    with pytest.raises(OSError) as e:
        port.open("/dev/null")
    assert e.value.errno == errno.ENOTTY
    assert not port.is_open
    with pty_line() as (master, slave):
        with pytest.raises(OSError) as e:
            slave.open(os.ttyname(slave.fileno()))
        assert e.value.errno == errno.EALREADY


def test_closed_port():
    port = SerialPort()
    assert not port.is_open
    with pytest.raises(OSError) as e:
        port.read_some(byte_span(4))
    assert e.value.errno == errno.EBADF
    with pytest.raises(OSError) as e:
        _ = port.baud_rate
    assert e.value.errno == errno.EBADF
    port.close()


def test_read_parks_until_data_arrives():
    with pty_line() as (master, slave):
        f = spawn(read_bytes, slave)
        wait_until_idle()
        assert f.joinable
        master.write_some(b"late")
        assert f.join() == b"late"


def test_stream_helpers_work_on_a_port():
    with pty_line() as (master, slave):
        payload = bytes(range(256)) * 64
        writer = spawn(stream.write_all, master, payload)
        buf = byte_span(len(payload))
        assert stream.read_all(slave, buf) == len(payload)
        assert writer.join() == len(payload)
        assert bytes(buf) == payload


def test_master_read_after_the_slave_hangs_up_raises_eio():
    master, slave = serial_port.ptypair()
    slave.close()
    with pytest.raises(OSError) as e:
        master.read_some(byte_span(8))
    assert e.value.errno == errno.EIO
    master.close()


@pytest.mark.parametrize("rate", [9600, 19200, 115200, 4000000])
def test_baud_rate(rate):
    with pty_line() as (master, slave):
        slave.baud_rate = rate
        assert slave.baud_rate == rate
        assert master.baud_rate == rate  # one termios for the pair
        speeds = termios.tcgetattr(slave.fileno())[4:6]
        assert speeds == [getattr(termios, f"B{rate}")] * 2


def test_baud_rate_refuses_a_rate_termios_lacks():
    with pty_line() as (master, slave):
        with pytest.raises(OSError) as e:
            slave.baud_rate = 12345
        assert e.value.errno == errno.EINVAL
        with pytest.raises(TypeError):
            slave.baud_rate = "fast"


# The pseudoterminal driver keeps 8 data bits and no parity whatever is
# asked (measured on Linux 6.18): the port reports a setting that did not
# take as EINVAL and the line keeps its settings.


def test_character_size():
    with pty_line() as (master, slave):
        assert slave.character_size == 8
        slave.character_size = 8
        assert slave.character_size == 8
        cflag = termios.tcgetattr(slave.fileno())[2]
        assert cflag & termios.CSIZE == termios.CS8


@pytest.mark.parametrize("size", [5, 6, 7])
def test_character_size_a_pty_cannot_take(size):
    with pty_line() as (master, slave):
        with pytest.raises(OSError) as e:
            slave.character_size = size
        assert e.value.errno == errno.EINVAL
        assert slave.character_size == 8
        master.write_some(b"\xff")
        assert read_bytes(slave) == b"\xff"  # still 8 bits


def test_character_size_refuses_other_values():
    with pty_line() as (master, slave):
        with pytest.raises(OSError) as e:
            slave.character_size = 9
        assert e.value.errno == errno.EINVAL


def test_flow_control():
    with pty_line() as (master, slave):
        assert slave.flow_control is None
        slave.flow_control = "software"
        assert slave.flow_control == "software"
        attrs = termios.tcgetattr(slave.fileno())
        assert attrs[0] & termios.IXON and attrs[0] & termios.IXOFF
        assert not attrs[2] & termios.CRTSCTS
        slave.flow_control = "hardware"
        assert slave.flow_control == "hardware"
        attrs = termios.tcgetattr(slave.fileno())
        assert attrs[2] & termios.CRTSCTS
        assert not attrs[0] & (termios.IXON | termios.IXOFF)
        slave.flow_control = None
        assert slave.flow_control is None
        with pytest.raises(ValueError):
            slave.flow_control = "carrier pigeon"


def test_parity():
    with pty_line() as (master, slave):
        assert slave.parity is None
        slave.parity = None
        assert slave.parity is None
        assert not termios.tcgetattr(slave.fileno())[2] & termios.PARENB
        for value in ("odd", "even"):
            with pytest.raises(OSError) as e:
                slave.parity = value  # a pty has no parity
            assert e.value.errno == errno.EINVAL
            assert slave.parity is None
        with pytest.raises(ValueError):
            slave.parity = "mark"


def test_stop_bits():
    with pty_line() as (master, slave):
        assert slave.stop_bits == "one"
        slave.stop_bits = "two"
        assert slave.stop_bits == "two"
        assert termios.tcgetattr(slave.fileno())[2] & termios.CSTOPB
        slave.stop_bits = "one"
        assert slave.stop_bits == "one"
        with pytest.raises(OSError) as e:
            slave.stop_bits = "one_point_five"  # termios has none (Boost.Asio: not supported)
        assert e.value.errno == errno.EOPNOTSUPP
        assert slave.stop_bits == "one"
        with pytest.raises(ValueError):
            slave.stop_bits = "three"


def test_send_break():
    with pty_line() as (master, slave):
        slave.send_break()
        master.send_break()


def test_isatty():
    with pty_line() as (master, slave):
        assert master.isatty() and slave.isatty()
    r, w = os.pipe()
    os.close(w)
    port = SerialPort(file_descriptor._adopt(r))
    assert not port.isatty()
    port.close()


def test_tcgetpgrp_on_a_terminal_that_is_not_ours():
    with pty_line() as (master, slave):
        assert master.tcgetpgrp() == 0  # the master may ask; no session owns the slave
        with pytest.raises(OSError) as e:
            slave.tcgetpgrp()
        assert e.value.errno == errno.ENOTTY
        with pytest.raises(OSError) as e:
            slave.tcsetpgrp(os.getpgrp())
        assert e.value.errno == errno.ENOTTY


_CTTY_PROGRAM = """
import os, sys
from emilua import run, serial_port
path = sys.argv[2]
os.setsid()
ctty = os.open(path, os.O_RDWR)  # a session leader's first terminal becomes its own
def main():
    port = serial_port.serial_port()
    port.open(path)
    assert port.tcgetpgrp() == os.getpgrp()
    port.tcsetpgrp(os.getpgrp())
    assert port.tcgetpgrp() == os.getpgrp()
    try:
        port.tcsetpgrp(2**22 + 12345)  # no such process group
    except OSError as e:
        print(e.errno in (1, 3))
    port.close()
run(main, backend=sys.argv[1])
os.close(ctty)
"""


def test_tcsetpgrp_on_a_controlling_terminal(_engine_backend):
    master, slave = serial_port.ptypair()
    path = os.ttyname(slave._fileno())
    out = subprocess.run(
        [sys.executable, "-c", _CTTY_PROGRAM, _engine_backend, path],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout == "True\n"
    slave.close()
    master.close()


def test_close_wakes_a_parked_reader_with_ecanceled():
    with pty_line() as (master, slave):

        def reader():
            with pytest.raises(OSError) as e:
                slave.read_some(byte_span(8))
            return e.value.errno

        f = spawn(reader)
        wait_until_idle()
        slave.close()
        assert f.join() == errno.ECANCELED


def test_cancel_keeps_the_port_open():
    with pty_line() as (master, slave):

        def reader():
            with pytest.raises(OSError) as e:
                slave.read_some(byte_span(8))
            return e.value.errno

        f = spawn(reader)
        wait_until_idle()
        slave.cancel()
        assert f.join() == errno.ECANCELED
        master.write_some(b"still")
        assert read_bytes(slave) == b"still"


def test_interrupting_a_parked_read():
    with pty_line() as (master, slave):

        def reader():
            with pytest.raises(FiberInterrupted):
                slave.read_some(byte_span(8))

        f = spawn(reader)
        wait_until_idle()
        f.interrupt()
        f.join()
        master.write_some(b"after")
        assert read_bytes(slave) == b"after"


def test_release_and_assign():
    with pty_line() as (master, slave):
        fd = master.release()
        assert not master.is_open
        again = SerialPort()
        again.assign(fd)
        again.write_some(b"x")
        assert read_bytes(slave) == b"x"
        master = again
        master.close()
