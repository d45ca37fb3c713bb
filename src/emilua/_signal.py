"""system.signal (manual: "system.signal", "system.signal.raise",
"system.signal.set", "system.signal.ignore", "system.signal.default").

Signals reach signal sets through one signalfd(2) per process, open while
a set is. Its mask is the union of the signals some set holds; a signal
is blocked (pthread_sigmask) in the thread that adds it first and unblocked
in the thread that removes it last, so while a set holds it, it stays pending
for the signalfd instead of running its disposition (Python's SIGINT handler
included: it comes back once no set holds SIGINT).

Reading the signalfd dequeues a signal for the whole process, so whichever
fiber reads it hands one notification to every set that holds the signal
(the manual's "multiple registration"), under one lock. A waiting fiber
parks on its own duplicate of the signalfd through the proactor; when a
reader hands a notification to a set another fiber is parked on, it cancels
that fiber's poll (directly in the same engine, through ``post()`` from
another thread) and the waiter picks it up. Notifications live in the set
until a wait() takes them, so an interrupted wait loses none.

signalfd(2) reads the signals pending for the process and for the reading
thread: a signal a thread sends to itself with raise(3) is seen by that
thread only, so ``raise_`` sends to the process (kill(2)), as the manual
words it.
"""

from __future__ import annotations

import builtins
import errno as _errno
import os
import signal as _signal
import struct
import threading
import weakref
from typing import Any

from emilua._actor import require_master
from emilua._core import signals as _core
from emilua._fiber import _proactor

__all__ = ["default", "ignore", "raise_", "set"]

SIGABRT = _signal.SIGABRT
SIGFPE = _signal.SIGFPE
SIGILL = _signal.SIGILL
SIGINT = _signal.SIGINT
SIGSEGV = _signal.SIGSEGV
SIGTERM = _signal.SIGTERM
SIGALRM = _signal.SIGALRM
SIGBUS = _signal.SIGBUS
SIGCHLD = _signal.SIGCHLD
SIGCONT = _signal.SIGCONT
SIGHUP = _signal.SIGHUP
SIGIO = _signal.SIGIO
SIGKILL = _signal.SIGKILL
SIGPIPE = _signal.SIGPIPE
SIGPROF = _signal.SIGPROF
SIGQUIT = _signal.SIGQUIT
SIGSTOP = _signal.SIGSTOP
SIGSYS = _signal.SIGSYS
SIGTRAP = _signal.SIGTRAP
SIGTSTP = _signal.SIGTSTP
SIGTTIN = _signal.SIGTTIN
SIGTTOU = _signal.SIGTTOU
SIGURG = _signal.SIGURG
SIGUSR1 = _signal.SIGUSR1
SIGUSR2 = _signal.SIGUSR2
SIGVTALRM = _signal.SIGVTALRM
SIGWINCH = _signal.SIGWINCH
SIGXCPU = _signal.SIGXCPU
SIGXFSZ = _signal.SIGXFSZ

_INFO = _core.SIGNALFD_SIGINFO_SIZE
_NSIG = int(_signal.NSIG)

# Process-wide state, guarded by _lock. An RLock: a set's __del__ may run
# (garbage collection) while this thread holds it.
_lock = threading.RLock()
_fd = -1  # the signalfd, open while some set is
_holders: dict[int, int] = {}  # signal -> how many sets hold it
_sets: weakref.WeakSet[Any] = weakref.WeakSet()  # of the set class below


def _signum(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a signal is an int, not {type(value).__name__}")
    if not 0 < value < _NSIG:
        raise OSError(_errno.EINVAL, f"not a signal number: {value}")
    return int(value)


def _catchable(signo: int) -> None:
    if signo in (SIGKILL, SIGSTOP):
        raise OSError(_errno.EINVAL, "SIGKILL and SIGSTOP cannot be caught")


def _drain() -> None:
    """Read every signal the signalfd has and queue it on the sets holding
    it. Caller holds _lock."""
    while True:
        try:
            data = os.read(_fd, _INFO * 16)
        except BlockingIOError:
            return
        for off in range(0, len(data), _INFO):
            (signo,) = struct.unpack_from("I", data, off)
            for s in list(_sets):
                if signo in s._signals:
                    s._pending[signo] = s._pending.get(signo, 0) + 1
                    s._wake_waiters()


def _update_mask() -> None:
    _core.signalfd(_fd, _holders)


def _hold(signo: int) -> None:
    """A set now holds *signo*. Caller holds _lock."""
    n = _holders.get(signo, 0)
    _holders[signo] = n + 1
    if n == 0:
        _signal.pthread_sigmask(_signal.SIG_BLOCK, {signo})
        _update_mask()


def _release(signo: int) -> None:
    """A set no longer holds *signo*. Caller holds _lock."""
    n = _holders[signo] - 1
    if n:
        _holders[signo] = n
        return
    del _holders[signo]
    _update_mask()
    # Whatever is still pending was meant for sets that are gone: consume it
    # before unblocking, so it does not run the disposition late.
    while _signal.sigtimedwait({signo}, 0) is not None:
        pass
    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {signo})


class _Waiter:
    __slots__ = ("h", "p", "parked")

    def __init__(self, p: Any, h: Any) -> None:
        self.p = p
        self.h = h
        self.parked = False


def _cancel_poll(h: Any) -> None:
    if not h.closed:
        h.cancel()


class set:  # noqa: N801, A001 - the manual's name
    """A set of signals to wait for (manual: "system.signal.set").

    ``set(sig1, sig2, ...)``: only the master VM may create one. When a held
    signal occurs, one notification is queued on every set holding it; wait()
    dequeues them one at a time, lowest signal number first.
    """

    __slots__ = ("_cancels", "_closed", "_pending", "_signals", "_waiters", "__weakref__")

    def __init__(self, *signals: int) -> None:
        global _fd
        nums = [_signum(s) for s in signals]
        require_master("system.signal.set")
        self._signals: builtins.set[int] = builtins.set()
        self._pending: dict[int, int] = {}
        self._waiters: list[_Waiter] = []
        self._cancels = 0
        self._closed = False
        for s in nums:
            _catchable(s)
        with _lock:
            if _fd < 0:
                _fd = _core.signalfd(-1, ())
            _sets.add(self)
            try:
                for s in nums:
                    self._add(s)
            except BaseException:
                self._closed = True
                self._clear()
                _forget(self)
                raise

    def _add(self, signo: int) -> None:
        if signo in self._signals:
            return
        _catchable(signo)
        _hold(signo)
        self._signals.add(signo)

    def _check_open(self) -> None:
        if self._closed:
            raise OSError(_errno.EBADF, os.strerror(_errno.EBADF))

    def add(self, signal: int) -> None:
        """Add *signal* to the set. Master VM only."""
        signo = _signum(signal)
        require_master("system.signal.set.add")
        self._check_open()
        with _lock:
            self._add(signo)

    def remove(self, signal: int) -> None:
        """Remove *signal*; its queued notifications are discarded."""
        signo = _signum(signal)
        self._check_open()
        with _lock:
            if signo not in self._signals:
                return
            _drain()  # what arrived so far still goes to the other sets
            self._signals.discard(signo)
            self._pending.pop(signo, None)
            _release(signo)

    def clear(self) -> None:
        """Remove every signal from the set."""
        self._check_open()
        with _lock:
            self._clear()

    def _clear(self) -> None:
        if self._signals:
            _drain()
        for signo in sorted(self._signals):
            _release(signo)
        self._signals.clear()
        self._pending.clear()

    def cancel(self) -> None:
        """Every wait() in progress on the set raises OSError(ECANCELED)
        (the manual's operation_aborted)."""
        self._check_open()
        with _lock:
            self._cancels += 1
            self._wake_waiters()

    def close(self) -> None:
        """Cancel the waits, remove every signal and make the set unusable."""
        self._check_open()
        self.cancel()
        with _lock:
            self._clear()
            self._closed = True
            _forget(self)

    def _wake_waiters(self) -> None:
        """Make the parked waiters look again. Caller holds _lock."""
        p = _proactor_or_none()
        for w in self._waiters:
            if not w.parked:
                continue
            if w.p is p:
                _cancel_poll(w.h)
            else:
                w.p.post(lambda h=w.h: _cancel_poll(h))

    def _take(self) -> int:
        if not self._pending:
            return 0
        signo = min(self._pending)
        n = self._pending[signo] - 1
        if n:
            self._pending[signo] = n
        else:
            del self._pending[signo]
        return signo

    def wait(self) -> int:
        """Wait for a signal of the set and return its number. Interruption
        point. Raises OSError(ECANCELED) if the set is cancelled meanwhile."""
        self._check_open()
        p = _proactor()
        cancels = self._cancels
        w: _Waiter | None = None
        try:
            while True:
                with _lock:
                    if self._cancels != cancels:
                        raise OSError(_errno.ECANCELED, os.strerror(_errno.ECANCELED))
                    _drain()
                    signo = self._take()
                    if signo:
                        return signo
                    if w is None:
                        w = _Waiter(p, p.handle(os.dup(_fd)))
                        self._waiters.append(w)
                    w.parked = True
                try:
                    p.poll(w.h)
                except OSError as e:
                    if e.errno != _errno.ECANCELED:
                        raise
                finally:
                    w.parked = False
        finally:
            if w is not None:
                with _lock:
                    self._waiters.remove(w)
                w.h.close()

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        try:
            with _lock:
                self._closed = True
                self._clear()
                _forget(self)
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<system.signal.set {sorted(self._signals)}>"


def _forget(s: set) -> None:
    """*s* is closed: the signalfd goes with the last set. Caller holds _lock."""
    global _fd
    _sets.discard(s)
    if _fd >= 0 and not any(not x._closed for x in _sets):
        os.close(_fd)
        _fd = -1


def _proactor_or_none() -> Any:
    from emilua._core.proactor import current

    return current()


def raise_(signal: int) -> None:
    """Send *signal* to the calling process (manual: "system.signal.raise")."""
    os.kill(os.getpid(), _signum(signal))


def _set_disposition(signo: int, ignore: bool) -> None:
    if threading.current_thread() is threading.main_thread():
        # Through the signal module, so that signal.getsignal() stays true.
        _signal.signal(signo, _signal.SIG_IGN if ignore else _signal.SIG_DFL)
    else:
        _core.set_disposition(signo, ignore)


def ignore(signal: int) -> None:
    """Ignore *signal* (manual: "system.signal.ignore"). Master VM only."""
    signo = _signum(signal)
    require_master("system.signal.ignore")
    _set_disposition(signo, True)


def default(signal: int) -> None:
    """Give *signal* its default disposition (manual: "system.signal.default").

    Master VM only. Raises OSError(EBUSY) while a signal set holds it.
    """
    signo = _signum(signal)
    require_master("system.signal.default")
    with _lock:
        if signo in _holders:
            raise OSError(_errno.EBUSY, "a system.signal.set holds this signal")
        _set_disposition(signo, False)
