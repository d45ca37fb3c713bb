"""The disk side of emilua.filesystem: one function per operation.

Every call that touches the disk goes through one function here. Those with
an asynchronous form in the kernel (stat/lstat as statx, the directory
stream's open as openat, unlink/rmdir as unlinkat, rename, mkdir, link,
symlink) ask the engine's proactor first (``Proactor.statx``, ``openat``...);
it answers None when its backend has no such form (epoll, or a kernel
without the io_uring opcode), and the call then goes through ``_run()``
like every other one: to the engine's worker threads
(``emilua._offload.run_blocking``). Either way the calling fiber parks, the
engine thread keeps running other fibers, and the result comes back to it.

A call is an interruption point: a fiber interrupted before the call raises
FiberInterrupted without starting it. One interrupted while a worker runs
its call raises at once, and the worker's late result is dropped; the
functions are written so that such a result owns nothing: they close what
they open before returning, and a directory stream (``DirStream``) keeps
its descriptor in the stream object, never in a return value, so the
stream's owner closes it whatever happened to the call. One interrupted
while the kernel runs its call gets the call's result when the call had
completed (an interrupted mkdir that made the directory returns; the
interruption is raised at the next interruption point), and FiberInterrupted
when the cancel stopped it first; an fd opened for a fiber that unwound is
closed by the proactor.

Directory streams read entries in batches (``BATCH`` entries per trip to a
worker), each entry with its lstat(2) (and, for a symlink, stat(2)) result
taken on the worker, relative to the directory's descriptor (fstatat(2)).
"""

from __future__ import annotations

import errno
import os
import stat as _stat
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from emilua._fiber import _proactor
from emilua._offload import run_blocking

__all__ = [
    "BATCH",
    "DirStream",
    "chdir",
    "chmod",
    "copy_contents",
    "link",
    "mkdir",
    "readlink",
    "realpath",
    "rename",
    "rmdir",
    "set_mtime",
    "stat",
    "stat_pair",
    "statvfs",
    "symlink",
    "truncate",
    "unlink",
    "weakly_canonical",
]

# Entries fetched per trip to a worker. The worker holds the interpreter
# lock for most of a batch, and the walking fiber runs through a batch
# without parking: 256 entries keep each well under a millisecond, while a
# trip (about 25 µs of CPU) costs 0.1 µs per entry (bench/fs_walk.py).
BATCH = 256

# The worker hands the CPU back every 4 entries (sched_yield(2)). A thread
# that runs Python between short system calls takes the interpreter lock
# back before a waiting thread wakes up, and CPython's lock gives it to the
# waiter only after the switch interval (5 ms): the engine thread, woken by
# a timer, would wait that long. Measured with a worker looping on stat(2)
# while a fiber ticks every 1 ms: the tick's p99 lateness went from 4 ms to
# 0.6 ms with a yield every 4 calls (on a 2-core machine shared with other
# work, whose own scheduling delays remain).
_YIELD_MASK = 3

_T = TypeVar("_T")


def _run(fn: Callable[..., _T], *args: Any) -> _T:
    """The one place where a disk operation leaves the engine thread.

    An interrupted fiber starts no operation: run_blocking raises first."""
    return run_blocking(fn, *args)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- single calls


def stat(p: str, follow: bool = True) -> os.stat_result:
    """stat(2), or lstat(2) when *follow* is false."""
    r = _proactor().statx(p, follow)
    if r is None:
        return _run(os.stat if follow else os.lstat, p)
    return r


def _stat_pair(p: str) -> tuple[os.stat_result | OSError, os.stat_result | OSError | None]:
    try:
        lst: os.stat_result | OSError = os.lstat(p)
    except OSError as e:
        return e, None
    st: os.stat_result | OSError | None = None
    if isinstance(lst, os.stat_result) and _stat.S_ISLNK(lst.st_mode):
        try:
            st = os.stat(p)
        except OSError as e:
            st = e
    return lst, st


def stat_pair(p: str) -> tuple[os.stat_result | OSError, os.stat_result | OSError | None]:
    """(lstat result or error, stat result or error, or None when the
    file is not a symlink): what a directory entry caches."""
    eng = _proactor()
    try:
        lst = eng.statx(p, False)
    except OSError as e:
        return e, None
    if lst is None:
        return _run(_stat_pair, p)
    st: os.stat_result | OSError | None = None
    if _stat.S_ISLNK(lst.st_mode):
        try:
            st = eng.statx(p, True)
        except OSError as e:
            st = e
    return lst, st


def mkdir(p: str, mode: int) -> None:
    if _proactor().mkdirat(p, mode) is None:
        _run(os.mkdir, p, mode)


def unlink(p: str) -> None:
    if _proactor().unlinkat(p) is None:
        _run(os.unlink, p)


def rmdir(p: str) -> None:
    if _proactor().unlinkat(p, True) is None:
        _run(os.rmdir, p)


def rename(old: str, new: str) -> None:
    if _proactor().renameat(old, new) is None:
        _run(os.rename, old, new)


def link(target: str, new: str) -> None:
    """link(2): a symlink *target* is linked itself, not followed."""
    if _proactor().linkat(target, new) is None:
        _run(os.link, target, new)


def symlink(target: str, new: str) -> None:
    if _proactor().symlinkat(target, new) is None:
        _run(os.symlink, target, new)


def readlink(p: str) -> str:
    return str(_run(os.readlink, p))


def truncate(p: str, size: int) -> None:
    _run(os.truncate, p, size)


def statvfs(p: str) -> os.statvfs_result:
    return _run(os.statvfs, p)


def chdir(p: str) -> None:
    _run(os.chdir, p)


def _chmod(p: str, mode: int, follow: bool) -> None:
    if follow:
        os.chmod(p, mode)
        return
    # Linux has no lchmod(2) and fchmodat(2) ignores AT_SYMLINK_NOFOLLOW:
    # open the file itself (O_PATH), refuse a symlink as glibc's lchmod
    # does, and change the mode through the descriptor.
    fd = os.open(p, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if _stat.S_ISLNK(os.fstat(fd).st_mode):
            raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP), p)
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


def chmod(p: str, mode: int, follow: bool = True) -> None:
    _run(_chmod, p, mode, follow)


def _set_mtime(p: str, ns: int) -> None:
    # utimensat(2) with UTIME_OMIT for the access time is not reachable from
    # Python: keep the access time the file has.
    os.utime(p, ns=(os.stat(p).st_atime_ns, ns))


def set_mtime(p: str, ns: int) -> None:
    """Set the modification time (symlinks followed), keeping the access time."""
    _run(_set_mtime, p, ns)


def realpath(p: str) -> str:
    """The canonical absolute path of an existing file."""
    return _run(_realpath, p)


def _realpath(p: str) -> str:
    return str(os.path.realpath(p, strict=True))


def _weakly_canonical(p: str) -> str:
    from emilua._fs_path import path

    whole = path(p)
    elems = list(whole)
    head = path()
    i = 0
    # The longest leading run of elements that exists is made canonical;
    # the rest is appended as written, then the result normalised.
    while i < len(elems):
        probe = head / elems[i]
        try:
            os.stat(str(probe))
        except (FileNotFoundError, NotADirectoryError):
            break
        head = probe
        i += 1
    result = path(os.path.realpath(str(head), strict=True)) if not head.empty else head
    for e in elems[i:]:
        result = result / e
    if any(str(e) in (".", "..") for e in elems[i:]):
        result = result.lexically_normal()
    return str(result)


def weakly_canonical(p: str) -> str:
    return _run(_weakly_canonical, p)


def _copy_contents(src: str, dst: str, overwrite: bool) -> None:
    fin = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fin)
        if not _stat.S_ISREG(st.st_mode):
            raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP), src)
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        flags |= os.O_TRUNC if overwrite else os.O_EXCL
        mode = _stat.S_IMODE(st.st_mode)
        fout = os.open(dst, flags, mode)
        try:
            os.fchmod(fout, mode)  # an overwritten file takes the source's mode too
            _copy_fd(fin, fout, st.st_size)
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _copy_fd(fin: int, fout: int, size_hint: int) -> None:
    chunk = max(size_hint, 1 << 20)
    try:
        # copy_file_range(2): in the kernel, reflinked where the filesystem can.
        while os.copy_file_range(fin, fout, chunk):
            pass
        return
    except OSError as e:
        # EXDEV before Linux 5.3, EINVAL/EOPNOTSUPP on special filesystems:
        # sendfile(2) below copies from where copy_file_range stopped.
        if e.errno not in (errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
    offset = os.lseek(fin, 0, os.SEEK_CUR)
    while True:
        n = os.sendfile(fout, fin, offset, chunk)
        if n == 0:
            return
        offset += n


def copy_contents(src: str, dst: str, overwrite: bool) -> None:
    """Copy a regular file's data and mode to *dst*, created (O_EXCL) unless
    *overwrite*, in which case an existing *dst* is truncated first."""
    _run(_copy_contents, src, dst, overwrite)


# ---------------------------------------------------------------- directories


class DirStream:
    """An open directory read in batches on worker threads.

    The worker side (``_open``, ``_fill``) and the engine side (``open``,
    ``next``, ``close``) share the state below under ``_lock``. The
    directory's descriptor and scandir iterator live here only: ``close()``
    on the engine thread releases them at once, or, while workers are using
    them (``_busy`` counts them), leaves it to the last one out. Workers read
    the directory in turn (``_read_lock``): a fetch left running by an
    interrupted fiber finishes before the next one reads.

    Entries are built on the worker by ``make(path_string, lstat, stat)``.
    """

    __slots__ = (
        "_prefix",
        "_dir",
        "_make",
        "_nofollow",
        "_lock",
        "_read_lock",
        "_busy",
        "_closed",
        "_done",
        "_fd",
        "_it",
        "_buf",
        "_ready",
        "_pos",
        "_error",
    )

    def __init__(self, directory: str, make: Callable[..., Any], nofollow: bool = False) -> None:
        self._dir = directory
        self._prefix = directory if directory.endswith("/") or not directory else directory + "/"
        self._make = make
        self._nofollow = nofollow
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._busy = 0
        self._closed = False
        self._done = False
        self._fd = -1
        self._it: Any = None
        self._buf: list[Any] = []
        self._ready: list[Any] = []
        self._pos = 0
        self._error: OSError | None = None

    # -- worker side

    def _begin(self) -> bool:
        with self._lock:
            if self._closed or self._done:
                return False
            self._busy += 1
            return True

    def _end(self) -> None:
        """Leave the stream; the last worker out releases a finished stream."""
        with self._lock:
            self._busy -= 1
            release = (self._closed or self._done) and not self._busy
        if release:
            self._release()

    def _open(self) -> None:
        if not self._begin():
            return
        with self._read_lock:
            try:
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
                if self._nofollow:
                    flags |= os.O_NOFOLLOW
                fd = os.open(self._dir, flags)
                try:
                    it = os.scandir(fd)
                except BaseException:
                    os.close(fd)
                    raise
                with self._lock:
                    self._fd, self._it = fd, it
            finally:
                self._end()

    def _fill(self, n: int) -> None:
        if not self._begin():
            return
        # A fetch abandoned by an interrupted fiber may still be running
        # when the next one starts: they take turns on the directory, and
        # each leaves (_end) before the next reads, so that the one that
        # meets the end of the directory is the last out and releases it
        # before its result reaches the engine.
        with self._read_lock:
            try:
                self._read(n)
            finally:
                self._end()

    def _read(self, n: int) -> None:
        with self._lock:
            if self._closed or self._done:
                return
            it = self._it
        got: list[Any] = []
        done = False
        error: OSError | None = None
        make = self._make
        prefix = self._prefix
        sched_yield = os.sched_yield
        try:
            for i in range(n):
                if not i & _YIELD_MASK:
                    sched_yield()
                e = next(it, None)
                if e is None:
                    done = True
                    break
                try:
                    lst: Any = e.stat(follow_symlinks=False)
                except OSError as x:
                    lst = x
                st: Any = None
                if not isinstance(lst, OSError) and _stat.S_ISLNK(lst.st_mode):
                    try:
                        st = e.stat()
                    except OSError as x:
                        st = x
                got.append(make(prefix + e.name, lst, st))
        except OSError as x:
            if x.filename is None:
                x = OSError(x.errno, x.strerror, self._dir)
            error = x
            done = True
        finally:
            with self._lock:
                self._buf.extend(got)
                if error is not None:
                    self._error = error
                if done:
                    self._done = True

    def _release(self) -> None:
        with self._lock:
            it, fd = self._it, self._fd
            self._it, self._fd = None, -1
        if it is not None:
            it.close()
        if fd >= 0:
            os.close(fd)

    # -- engine side

    def open(self) -> None:
        """Open the directory. Interruption point; the caller closes the
        stream whatever happens."""
        flags = os.O_RDONLY | os.O_DIRECTORY
        if self._nofollow:
            flags |= os.O_NOFOLLOW
        fd = _proactor().openat(self._dir, flags)
        if fd is None:
            _run(self._open)
            return
        # The fd is ours from here on: no interruption point until the
        # stream holds it. fdopendir(3) only checks the descriptor (fstat,
        # fcntl): the entries are read by the workers.
        try:
            it = os.scandir(fd)
        except BaseException:
            os.close(fd)
            raise
        with self._lock:
            keep = not (self._closed or self._done) and self._fd < 0
            if keep:
                self._fd, self._it = fd, it
        if not keep:
            it.close()
            os.close(fd)

    def next(self) -> Any:
        """The next entry, or None at the end. Interruption point when the
        stream has no entry at hand: no entry is lost by an interrupted
        fetch (the worker leaves its batch in the stream)."""
        while True:
            pos = self._pos
            if pos < len(self._ready):
                self._pos = pos + 1
                return self._ready[pos]
            with self._lock:
                self._ready, self._buf = self._buf, []
                self._pos = 0
                if self._ready:
                    continue
                error, self._error = self._error, None
                done = self._done or self._closed
            if error is not None:
                raise error
            if done:
                return None
            _run(self._fill, BATCH)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._ready, self._buf = [], []
            busy = self._busy > 0
        if not busy:
            self._release()


# ---------------------------------------------------------------- capabilities


def _with_file(path: str, fn: Callable[[int], _T]) -> _T:
    # cap_get_file(3)/cap_set_file(3) are (f)getxattr/(f)setxattr on
    # "security.capability"; through an fd the file cannot change under us.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        return fn(fd)
    finally:
        os.close(fd)


def cap_get_file(path: str) -> Any:
    """The capabilities of the file at *path* (cap_get_fd(3))."""
    from emilua._core import capabilities

    return _run(_with_file, path, capabilities.cap_get_fd_)


def cap_set_file(path: str, caps: Any) -> None:
    """Set the capabilities of the file at *path* (cap_set_fd(3))."""
    _run(_with_file, path, caps.set_fd)
