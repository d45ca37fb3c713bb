"""Serial ports and pseudoterminals (manual: "serial_port").

A port is a terminal device: ``open()`` puts it in raw mode (8 data bits, no
parity, receiver on, modem lines ignored, no echo, no line editing, no
signals, no output processing), as Boost.Asio's serial_port does, and its
options are the termios(3) settings of the line. Reads and writes go through
the proactor's ``read``/``write`` operations on the O_NONBLOCK fd.

Kernel facts (termios(3), pty(7), tty_ioctl(4)):

- The options read and write the termios of the terminal; on a pseudoterminal
  master they are the slave's settings (one termios for the pair).
- Reading a pseudoterminal master whose slave ends are all closed fails with
  EIO (OSError), the way a hung-up line does.
- tcgetpgrp(3) works on a master for any caller; tcgetpgrp on a slave and
  tcsetpgrp(3) on either end need the terminal to be the caller's
  controlling terminal (ENOTTY otherwise).
"""

from __future__ import annotations

import errno as _errno
import os
import termios
from typing import Any

from emilua import _io
from emilua.file_descriptor import file_descriptor

__all__ = ["ptypair", "serial_port"]

# termios attribute list indices (termios.tcgetattr).
_IFLAG, _OFLAG, _CFLAG, _LFLAG, _ISPEED, _OSPEED, _CC = range(7)

_SPEEDS: dict[int, int] = {}
for _name in dir(termios):
    if _name.startswith("B") and _name[1:].isdigit():
        _SPEEDS[int(_name[1:])] = getattr(termios, _name)
_RATES = {v: k for k, v in _SPEEDS.items()}

_SIZES = {5: termios.CS5, 6: termios.CS6, 7: termios.CS7, 8: termios.CS8}
_SIZE_OF = {v: k for k, v in _SIZES.items()}

_ENOTSUP = _errno.EOPNOTSUPP

# The c_cflag bits the options set.
_LINE_BITS = termios.CSIZE | termios.PARENB | termios.PARODD | termios.CSTOPB | termios.CRTSCTS


def _einval(detail: str) -> OSError:
    return OSError(_errno.EINVAL, f"{os.strerror(_errno.EINVAL)}: {detail}")


class serial_port(_io.IOObject):
    """A serial port (manual: "serial_port").

    ``serial_port()`` makes a closed port; ``serial_port(fd)`` takes
    ownership of a file_descriptor. ``close()`` and ``cancel()`` make parked
    reads and writes raise OSError(ECANCELED), the manual's "operation
    aborted".
    """

    __slots__ = ()

    def __init__(self, fd: file_descriptor | None = None) -> None:
        super().__init__()
        if fd is not None:
            self.assign(fd)

    # ------------------------------------------------------------ lifetime

    def open(self, device: Any) -> None:
        """Open the terminal device *device* (a path) and put it in raw mode.

        Raises OSError(EALREADY) if this port is open, the OSError of open(2)
        (FileNotFoundError...) and ENOTTY if the device is not a terminal.
        """
        path = os.fspath(device)
        if self.is_open:
            raise OSError(_errno.EALREADY, "already open")
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            attrs = termios.tcgetattr(fd)
            attrs[_IFLAG] &= ~(
                termios.IGNBRK
                | termios.BRKINT
                | termios.PARMRK
                | termios.ISTRIP
                | termios.INLCR
                | termios.IGNCR
                | termios.ICRNL
                | termios.IXON
            )
            attrs[_IFLAG] |= termios.IGNPAR
            attrs[_OFLAG] &= ~termios.OPOST
            attrs[_LFLAG] &= ~(
                termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN
            )
            attrs[_CFLAG] &= ~(termios.CSIZE | termios.PARENB)
            attrs[_CFLAG] |= termios.CS8 | termios.CREAD | termios.CLOCAL
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except termios.error as e:
            os.close(fd)
            raise OSError(e.args[0], e.args[1]) from None
        except BaseException:
            os.close(fd)
            raise
        self._adopt_fd(fd)

    def assign(self, fd: file_descriptor) -> None:
        """Take ownership of an open terminal (manual: "assign").

        *fd* is consumed: it is closed when this port closes. The open file
        description is switched to O_NONBLOCK. Its settings are left as they
        are. Raises OSError(EALREADY) if this port is open.
        """
        if not isinstance(fd, file_descriptor):
            raise TypeError("assign() needs a file_descriptor")
        if self.is_open:
            raise OSError(_errno.EALREADY, "already open")
        raw = fd._take()
        try:
            _io.set_nonblocking_cloexec(raw)
        except BaseException:
            os.close(raw)
            raise
        self._adopt_fd(raw)

    # ------------------------------------------------------------------- IO

    def read_some(self, buffer: Any) -> int:
        """Read at least one byte into *buffer*; return the count. Interruption point.

        Raises EOFError on a 0-byte read (a device at its end); an empty
        buffer returns 0 at once.
        """
        h = self._handle()
        if len(buffer) == 0:
            return 0
        n: int = self._p.read(h, buffer, -1)  # type: ignore[union-attr]
        if n == 0:
            raise EOFError("end of stream")
        return n

    def write_some(self, buffer: Any) -> int:
        """Write some of *buffer*; return the count written. Interruption point.

        A ``str`` is written UTF-8 encoded.
        """
        if isinstance(buffer, str):
            buffer = buffer.encode()
        h = self._handle()
        if len(buffer) == 0:
            return 0
        return self._p.write(h, buffer, -1)  # type: ignore[union-attr]

    # ------------------------------------------------------- line control

    def send_break(self) -> None:
        """Send a break (tcsendbreak(3) with duration 0: 0.25 to 0.5 s of zeros)."""
        fd = self.fileno()
        try:
            termios.tcsendbreak(fd, 0)
        except termios.error as e:
            raise OSError(e.args[0], e.args[1]) from None

    def isatty(self) -> bool:
        """Whether the fd refers to a terminal (isatty(3))."""
        return os.isatty(self.fileno())

    def tcgetpgrp(self) -> int:
        """The foreground process group of the terminal (tcgetpgrp(3))."""
        return os.tcgetpgrp(self.fileno())

    def tcsetpgrp(self, pgid: int) -> None:
        """Make *pgid* the terminal's foreground process group (tcsetpgrp(3))."""
        if isinstance(pgid, bool) or not isinstance(pgid, int):
            raise TypeError("tcsetpgrp() takes an int")
        os.tcsetpgrp(self.fileno(), pgid)

    # -------------------------------------------------------------- options

    def _attrs(self) -> list[Any]:
        try:
            return termios.tcgetattr(self.fileno())
        except termios.error as e:
            raise OSError(e.args[0], e.args[1]) from None

    def _set_attrs(self, attrs: list[Any]) -> None:
        fd = self.fileno()
        try:
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
            now = termios.tcgetattr(fd)
        except termios.error as e:
            raise OSError(e.args[0], e.args[1]) from None
        # tcsetattr(3) succeeds when any of the changes was made; a driver
        # may keep its own line settings (the pseudoterminal driver keeps 8
        # data bits and no parity), so a setting that did not take is EINVAL.
        if (now[_CFLAG] ^ attrs[_CFLAG]) & _LINE_BITS:
            raise _einval("the device does not support this line setting")

    @property
    def baud_rate(self) -> int:
        """The line's speed in bits per second (its output speed)."""
        speed: int = self._attrs()[_OSPEED]
        return _RATES.get(speed, speed)

    @baud_rate.setter
    def baud_rate(self, rate: int) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int):
            raise TypeError("baud_rate takes an int")
        try:
            speed = _SPEEDS[rate]
        except KeyError:
            raise _einval(f"unsupported baud rate {rate}") from None
        attrs = self._attrs()
        attrs[_ISPEED] = speed
        attrs[_OSPEED] = speed
        self._set_attrs(attrs)

    @property
    def flow_control(self) -> str | None:
        """The flow control: "hardware" (RTS/CTS), "software" (XON/XOFF) or None."""
        attrs = self._attrs()
        if attrs[_CFLAG] & termios.CRTSCTS:
            return "hardware"
        if attrs[_IFLAG] & (termios.IXON | termios.IXOFF):
            return "software"
        return None

    @flow_control.setter
    def flow_control(self, value: str | None) -> None:
        if value not in (None, "software", "hardware"):
            raise ValueError(f"flow_control is 'software', 'hardware' or None, not {value!r}")
        attrs = self._attrs()
        attrs[_IFLAG] &= ~(termios.IXON | termios.IXOFF)
        attrs[_CFLAG] &= ~termios.CRTSCTS
        if value == "software":
            attrs[_IFLAG] |= termios.IXON | termios.IXOFF
        elif value == "hardware":
            attrs[_CFLAG] |= termios.CRTSCTS
        self._set_attrs(attrs)

    @property
    def parity(self) -> str | None:
        """The parity: "odd", "even" or None."""
        cflag = self._attrs()[_CFLAG]
        if not cflag & termios.PARENB:
            return None
        return "odd" if cflag & termios.PARODD else "even"

    @parity.setter
    def parity(self, value: str | None) -> None:
        if value not in (None, "odd", "even"):
            raise ValueError(f"parity is 'odd', 'even' or None, not {value!r}")
        attrs = self._attrs()
        # As Boost.Asio: check parity on input and strip the parity bit only
        # when the line has parity.
        attrs[_IFLAG] &= ~(termios.INPCK | termios.ISTRIP)
        attrs[_CFLAG] &= ~(termios.PARENB | termios.PARODD)
        if value is not None:
            attrs[_IFLAG] |= termios.INPCK | termios.ISTRIP
            attrs[_CFLAG] |= termios.PARENB
            if value == "odd":
                attrs[_CFLAG] |= termios.PARODD
        self._set_attrs(attrs)

    @property
    def stop_bits(self) -> str:
        """The stop bits: "one" or "two" ("one_point_five" cannot be set on POSIX)."""
        return "two" if self._attrs()[_CFLAG] & termios.CSTOPB else "one"

    @stop_bits.setter
    def stop_bits(self, value: str) -> None:
        if value not in ("one", "one_point_five", "two"):
            raise ValueError(f"stop_bits is 'one', 'one_point_five' or 'two', not {value!r}")
        attrs = self._attrs()
        if value == "one_point_five":
            # termios has no 1.5 stop bits; Boost.Asio reports
            # operation_not_supported here.
            raise OSError(_ENOTSUP, os.strerror(_ENOTSUP))
        if value == "two":
            attrs[_CFLAG] |= termios.CSTOPB
        else:
            attrs[_CFLAG] &= ~termios.CSTOPB
        self._set_attrs(attrs)

    @property
    def character_size(self) -> int:
        """Data bits per character: 5 to 8."""
        return _SIZE_OF[self._attrs()[_CFLAG] & termios.CSIZE]

    @character_size.setter
    def character_size(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("character_size takes an int")
        try:
            size = _SIZES[value]
        except KeyError:
            raise _einval(f"character_size must be 5, 6, 7 or 8, not {value}") from None
        attrs = self._attrs()
        attrs[_CFLAG] = (attrs[_CFLAG] & ~termios.CSIZE) | size
        self._set_attrs(attrs)


def ptypair() -> tuple[serial_port, file_descriptor]:
    """Open a pseudoterminal pair; return (master as a serial_port, slave fd).

    The slave is opened with O_NOCTTY, so it never becomes the caller's
    controlling terminal; pass it to system.spawn()'s ``set_ctty``.
    """
    master, slave = os.openpty()  # glibc opens the slave O_NOCTTY; both close-on-exec
    port = serial_port()
    try:
        _io.set_nonblocking_cloexec(master)
        os.set_inheritable(slave, False)
        port._adopt_fd(master)
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    return port, file_descriptor._adopt(slave)
