"""The filesystem module (manual: every "filesystem.*" page).

``filesystem.path`` and its lexical algorithms make no system call. Every
function that touches the disk parks the calling fiber while the call runs
off the engine thread (``emilua._fs_ops``: in the kernel, as an io_uring op,
where the backend has the call's asynchronous form, on a worker thread
otherwise), so each is an interruption point; ``current_working_directory()``
(getcwd(2)), ``absolute()`` and ``umask()`` touch no disk and return at once.

Semantics follow C++17's std::filesystem on a POSIX host, which the manual
points to. Options tables of the manual are keyword arguments. Errors raise
OSError with the kernel's errno (FileNotFoundError, FileExistsError...) and
the path in the message; bad argument values raise ValueError or TypeError.
"""

from __future__ import annotations

import errno as _errno
import os
import stat as _stat
from typing import Any

from emilua import _fs_ops
from emilua._actor import require_master
from emilua._fs_path import PathLike, native, path
from emilua.time import _SystemTimePoint, _TimePoint

__all__ = [
    "absolute",
    "canonical",
    "cap_get_file",
    "cap_set_file",
    "chmod",
    "clock",
    "copy",
    "copy_file",
    "copy_symlink",
    "create_directories",
    "create_directory",
    "create_directory_symlink",
    "create_hard_link",
    "create_symlink",
    "current_working_directory",
    "directory_entry",
    "directory_iterator",
    "equivalent",
    "file_size",
    "file_status",
    "hard_link_count",
    "is_empty",
    "last_write_time",
    "lchmod",
    "path",
    "proximate",
    "read_symlink",
    "recursive_directory_iterator",
    "relative",
    "remove",
    "remove_all",
    "rename",
    "resize_file",
    "space",
    "space_info",
    "status",
    "symlink_status",
    "temp_directory_path",
    "umask",
    "weakly_canonical",
]

_NOT_FOUND = (_errno.ENOENT, _errno.ENOTDIR)


def _error(code: int, p: str, p2: str | None = None) -> OSError:
    # OSError's constructor picks the subclass (FileNotFoundError...) from the errno.
    if p2 is None:
        return OSError(code, os.strerror(code), p)
    return OSError(code, os.strerror(code), p, None, p2)


def _again(e: OSError) -> OSError:
    """A fresh exception equal to a cached one (raising one object twice
    would chain its tracebacks)."""
    return OSError(e.errno, e.strerror, e.filename)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return value


def _choice(value: Any, name: str, allowed: tuple[str | None, ...]) -> Any:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
    return value


# ---------------------------------------------------------------- clock


class _FileTimePoint(_TimePoint):
    """A filesystem.clock time point, in integer nanoseconds."""

    __slots__ = ()
    _clock = "filesystem.clock"

    def to_system(self) -> _SystemTimePoint:
        """The time.system_clock.time_point of the same instant."""
        return _SystemTimePoint(self._ns)


class clock:
    """The clock of file times (manual: "filesystem.clock").

    The manual leaves its epoch unspecified; here it is the UNIX epoch, the
    one file times are stored against, so ``seconds_since_epoch`` matches
    ``os.stat().st_mtime``.
    """

    time_point = _FileTimePoint

    @staticmethod
    def from_system(tp: _SystemTimePoint) -> _FileTimePoint:
        """The clock.time_point of the same instant as a time.system_clock.time_point."""
        if type(tp) is not _SystemTimePoint:
            raise TypeError("from_system() needs a time.system_clock.time_point")
        return _FileTimePoint(tp._ns)


# ---------------------------------------------------------------- status


_TYPES = {
    _stat.S_IFREG: "regular",
    _stat.S_IFDIR: "directory",
    _stat.S_IFLNK: "symlink",
    _stat.S_IFBLK: "block",
    _stat.S_IFCHR: "character",
    _stat.S_IFIFO: "fifo",
    _stat.S_IFSOCK: "socket",
}


class file_status:
    """What status() returns (manual: "filesystem.status"): ``type``, one of
    "not_found", "regular", "directory", "symlink", "block", "character",
    "fifo", "socket", "unknown"; ``mode``, the permission bits (including
    set-user-ID, set-group-ID and sticky), or "unknown" when the file does
    not exist."""

    __slots__ = ("type", "mode")

    def __init__(self, type: str, mode: int | str) -> None:  # noqa: A002 - the manual's name
        self.type = type
        self.mode = mode

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, file_status):
            return NotImplemented
        return self.type == other.type and self.mode == other.mode

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        mode = self.mode if isinstance(self.mode, str) else f"0o{self.mode:o}"
        return f"file_status(type={self.type!r}, mode={mode})"


_STATUS_NOT_FOUND = ("not_found", "unknown")


def _status_of(st: os.stat_result) -> file_status:
    m = st.st_mode
    return file_status(_TYPES.get(_stat.S_IFMT(m), "unknown"), m & 0o7777)


def _status_or_error(st: os.stat_result | OSError) -> file_status:
    if isinstance(st, OSError):
        if st.errno in _NOT_FOUND:
            return file_status(*_STATUS_NOT_FOUND)
        raise _again(st)
    return _status_of(st)


def _stat_or_none(p: str, follow: bool = True) -> os.stat_result | None:
    try:
        return _fs_ops.stat(p, follow)
    except OSError as e:
        if e.errno in _NOT_FOUND:
            return None
        raise


def status(p: PathLike) -> file_status:
    """The type and permissions of the file *p* resolves to (symlinks
    followed). A missing file is ``type == "not_found"``, not an error;
    other errors raise OSError. Interruption point."""
    st = _stat_or_none(native(p))
    return file_status(*_STATUS_NOT_FOUND) if st is None else _status_of(st)


def symlink_status(p: PathLike) -> file_status:
    """status() of *p* itself: a symlink is reported as "symlink". Interruption point."""
    st = _stat_or_none(native(p), follow=False)
    return file_status(*_STATUS_NOT_FOUND) if st is None else _status_of(st)


def _regular_size(st: os.stat_result, p: str) -> int:
    if _stat.S_ISREG(st.st_mode):
        return st.st_size
    # std::filesystem::file_size: EISDIR for a directory, ENOTSUP for the rest.
    raise _error(_errno.EISDIR if _stat.S_ISDIR(st.st_mode) else _errno.EOPNOTSUPP, p)


def file_size(p: PathLike) -> int:
    """The size in bytes of the regular file *p*. Interruption point.

    Raises IsADirectoryError for a directory and OSError(EOPNOTSUPP) for
    other non-regular files."""
    s = native(p)
    return _regular_size(_fs_ops.stat(s), s)


def hard_link_count(p: PathLike) -> int:
    """The number of hard links to the file *p*. Interruption point."""
    return _fs_ops.stat(native(p)).st_nlink


def last_write_time(p: PathLike, tp: _FileTimePoint | None = None) -> _FileTimePoint | None:
    """Get (one argument) or set (two) the modification time of *p*,
    symlinks followed, as a filesystem.clock.time_point. Interruption point."""
    s = native(p)
    if tp is None:
        return _FileTimePoint(_fs_ops.stat(s).st_mtime_ns)
    if type(tp) is not _FileTimePoint:
        raise TypeError("last_write_time() needs a filesystem.clock.time_point")
    _fs_ops.set_mtime(s, tp._ns)
    return None


def chmod(p: PathLike, mode: int) -> None:
    """Set the permissions of the file *p* resolves to to *mode* & 0o7777.
    Interruption point."""
    _fs_ops.chmod(native(p), _int(mode, "mode") & 0o7777)


def lchmod(p: PathLike, mode: int) -> None:
    """chmod() of *p* itself. Linux keeps no mode on symlinks: a symlink
    raises OSError(EOPNOTSUPP). Interruption point."""
    _fs_ops.chmod(native(p), _int(mode, "mode") & 0o7777, follow=False)


class space_info:
    """What space() returns: ``capacity``, ``free`` and ``available`` (to
    unprivileged users), in bytes."""

    __slots__ = ("capacity", "free", "available")

    def __init__(self, capacity: int, free: int, available: int) -> None:
        self.capacity = capacity
        self.free = free
        self.available = available

    def __repr__(self) -> str:
        return f"space_info(capacity={self.capacity}, free={self.free}, available={self.available})"


def space(p: PathLike) -> space_info:
    """The size and free space of the filesystem *p* is on (statvfs(3)).
    Interruption point."""
    v = _fs_ops.statvfs(native(p))
    return space_info(v.f_blocks * v.f_frsize, v.f_bfree * v.f_frsize, v.f_bavail * v.f_frsize)


# ---------------------------------------------------------------- directory entries


_Path = path  # "path" is also a property of directory_entry

_OTHER, _DIR, _LINK_TO_DIR = 0, 1, 2


def _dir_kind(lst: Any, st: Any) -> int:
    """Whether an entry is a directory, a symlink to one, or neither."""
    if isinstance(lst, OSError):
        return _OTHER
    if _stat.S_ISDIR(lst.st_mode):
        return _DIR
    if isinstance(st, os.stat_result) and _stat.S_ISDIR(st.st_mode):
        return _LINK_TO_DIR
    return _OTHER


class directory_entry:
    """An entry produced by the directory iterators (manual:
    "filesystem.directory_entry"). Cannot be created directly.

    The entry caches its file's attributes, read on the worker thread along
    with the directory itself (lstat(2), and stat(2) for a symlink):
    ``status``, ``symlink_status``, ``file_size``, ``hard_link_count`` and
    ``last_write_time`` answer from that cache without a system call;
    ``refresh()`` reads them again.
    """

    __slots__ = ("_s", "_lst", "_st", "_path", "_dir")
    _s: str
    _dir: int
    _lst: os.stat_result | OSError
    _st: os.stat_result | OSError | None
    _path: _Path | None

    def __init__(self) -> None:
        raise TypeError("directory entries come from directory iterators")

    @classmethod
    def _make(cls, s: str, lst: Any, st: Any) -> directory_entry:
        # Called on the worker thread, for every entry read.
        e = object.__new__(cls)
        e._s = s
        e._lst = lst
        e._st = st
        e._path = None
        e._dir = _dir_kind(lst, st)
        return e

    def _followed(self) -> os.stat_result:
        st = self._lst if self._st is None else self._st
        if isinstance(st, OSError):
            raise _again(st)
        return st

    def _is_dir(self, follow: bool) -> bool:
        d = self._dir
        return d == _DIR or (follow and d == _LINK_TO_DIR)

    def refresh(self) -> None:
        """Read the file's attributes again. Interruption point."""
        self._lst, self._st = _fs_ops.stat_pair(self._s)
        self._dir = _dir_kind(self._lst, self._st)

    @property
    def path(self) -> _Path:
        """The entry's path: the iterated directory's path / the file name."""
        p = self._path
        if p is None:
            p = self._path = path._of(self._s)
        return p

    @property
    def file_size(self) -> int:
        """The size of the regular file (symlinks followed), as file_size()."""
        return _regular_size(self._followed(), self._s)

    @property
    def hard_link_count(self) -> int:
        return self._followed().st_nlink

    @property
    def last_write_time(self) -> _FileTimePoint:
        return _FileTimePoint(self._followed().st_mtime_ns)

    @property
    def status(self) -> file_status:
        """As status(entry.path), from the cache."""
        return _status_or_error(self._lst if self._st is None else self._st)

    @property
    def symlink_status(self) -> file_status:
        """As symlink_status(entry.path), from the cache."""
        return _status_or_error(self._lst)

    def __fspath__(self) -> str:
        return self._s

    def __repr__(self) -> str:
        return f"<directory_entry {self._s!r}>"


def _open_stream(s: str, nofollow: bool = False) -> _fs_ops.DirStream:
    stream = _fs_ops.DirStream(s, directory_entry._make, nofollow)
    try:
        stream.open()
    except BaseException:
        stream.close()
        raise
    return stream


class directory_iterator:
    """The entries of the directory *p*, "." and ".." excepted (manual:
    "filesystem.directory_iterator"). Opening the directory and each fetch
    of a batch of entries are interruption points.

    With ``skip_permission_denied``, a directory that cannot be opened for
    lack of permission (EACCES, EPERM) iterates as empty. Use as
    ``for entry in fs.directory_iterator(p)``; the directory is closed at
    the end, by ``close()``, by ``with``, or when the iterator is collected.
    """

    def __init__(self, p: PathLike, *, skip_permission_denied: bool = False) -> None:
        self._stream: _fs_ops.DirStream | None = None
        try:
            self._stream = _open_stream(native(p))
        except PermissionError:
            if not skip_permission_denied:
                raise

    def __iter__(self) -> directory_iterator:
        return self

    def __next__(self) -> directory_entry:
        stream = self._stream
        if stream is None:
            raise StopIteration
        e = stream.next()
        if e is None:
            self.close()
            raise StopIteration
        return e  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the directory; the iterator ends."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def __enter__(self) -> directory_iterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        stream = getattr(self, "_stream", None)
        if stream is not None:
            stream.close()


class recursive_directory_iterator:
    """The entries of *p* and, recursively, of its subdirectories, each
    with its depth (manual: "filesystem.recursive_directory_iterator").

    The iterator is also the manual's control handle::

        it = fs.recursive_directory_iterator(p)
        for entry, depth in it:
            if entry.path.filename() == fs.path(".git"):
                it.disable_recursion_pending()

    A directory entry is descended into on the next step unless
    ``disable_recursion_pending()`` was called for it; a symlink to a
    directory only with ``follow_directory_symlink``. ``pop()`` leaves the
    current directory: iteration goes on in its parent. With
    ``skip_permission_denied``, a subdirectory (or *p*) that cannot be
    opened for lack of permission is skipped. Interruption points as
    directory_iterator.
    """

    def __init__(
        self,
        p: PathLike,
        *,
        skip_permission_denied: bool = False,
        follow_directory_symlink: bool = False,
    ) -> None:
        self._stack: list[_fs_ops.DirStream] = []
        self._skip = bool(skip_permission_denied)
        self._follow = bool(follow_directory_symlink)
        self._descend: directory_entry | None = None
        self._pending = True
        self._depth = 0
        try:
            self._stack.append(_open_stream(native(p)))
        except PermissionError:
            if not self._skip:
                raise

    def __iter__(self) -> recursive_directory_iterator:
        return self

    def __next__(self) -> tuple[directory_entry, int]:
        stack = self._stack
        below = self._descend
        if below is not None:
            self._descend = None
            if self._pending:
                try:
                    # Without follow_directory_symlink, O_NOFOLLOW: a directory
                    # swapped for a symlink since it was listed is not entered.
                    stack.append(_open_stream(below._s, nofollow=not self._follow))
                except PermissionError:
                    if not self._skip:
                        raise
                except OSError:
                    raise
                except BaseException:
                    # Interrupted: the next step tries this directory again.
                    self._descend = below
                    raise
        while stack:
            top = stack[-1]
            pos = top._pos
            if pos < len(top._ready):  # the common case, inlined: an entry at hand
                top._pos = pos + 1
                e = top._ready[pos]
            else:
                e = top.next()
                if e is None:
                    stack.pop().close()
                    continue
            self._depth = depth = len(stack) - 1
            self._pending = True
            d = e._dir
            if d == _DIR or (d == _LINK_TO_DIR and self._follow):
                self._descend = e
            return e, depth
        raise StopIteration

    @property
    def depth(self) -> int:
        """The depth of the last entry: 0 for the entries of *p* itself."""
        return self._depth

    @property
    def recursion_pending(self) -> bool:
        """Whether the next step will descend into the last entry (when it is a directory)."""
        return self._pending

    def disable_recursion_pending(self) -> None:
        """Do not descend into the last entry returned."""
        self._pending = False

    def pop(self) -> None:
        """Leave the directory of the last entry: the next step continues
        in its parent, and ends the iteration at depth 0."""
        self._descend = None
        if self._stack:
            self._stack.pop().close()
        self._depth = max(len(self._stack) - 1, 0)

    def close(self) -> None:
        """Close every open directory; the iterator ends."""
        self._descend = None
        stack, self._stack = self._stack, []
        for stream in stack:
            stream.close()

    def __enter__(self) -> recursive_directory_iterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        for stream in getattr(self, "_stack", ()):
            stream.close()


# ---------------------------------------------------------------- paths


def current_working_directory(p: PathLike | None = None) -> path | None:
    """Get the working directory of the process (no argument) or set it
    (one argument; master VM only, an interruption point)."""
    if p is None:
        return path._of(os.getcwd())
    s = native(p)
    require_master("filesystem.current_working_directory")
    _fs_ops.chdir(s)
    return None


def absolute(p: PathLike) -> path:
    """*p* made absolute against the working directory, lexically (no file
    is looked at). An empty path raises OSError(EINVAL)."""
    q = p if isinstance(p, path) else path(native(p))
    if q.empty:
        raise _error(_errno.EINVAL, "")
    if q.is_absolute:
        return q
    return path._of(os.getcwd()) / q


def canonical(p: PathLike) -> path:
    """The absolute path of the existing file *p*, with no symlink, ``.``
    or ``..`` element. Interruption point."""
    return path._of(_fs_ops.realpath(native(p)))


def weakly_canonical(p: PathLike) -> path:
    """canonical() of the longest leading part of *p* that exists, followed
    by the rest, in normal form. Interruption point."""
    return path._of(_fs_ops.weakly_canonical(native(p)))


def relative(p: PathLike, base: PathLike | None = None) -> path:
    """weakly_canonical(p) relative to weakly_canonical(base) (the working
    directory by default); empty when there is no such path. Interruption point."""
    b = os.getcwd() if base is None else native(base)
    return weakly_canonical(p).lexically_relative(weakly_canonical(b))


def proximate(p: PathLike, base: PathLike | None = None) -> path:
    """As relative(), but weakly_canonical(p) when there is no relative path.
    Interruption point."""
    b = os.getcwd() if base is None else native(base)
    return weakly_canonical(p).lexically_proximate(weakly_canonical(b))


def temp_directory_path() -> path:
    """The directory for temporary files: $TMPDIR, $TMP, $TEMP or $TEMPDIR,
    else /tmp. Raises NotADirectoryError when it is not a directory.
    Interruption point."""
    for name in ("TMPDIR", "TMP", "TEMP", "TEMPDIR"):
        d = os.environ.get(name)
        if d:
            break
    else:
        d = "/tmp"
    if not _stat.S_ISDIR(_fs_ops.stat(d).st_mode):
        raise _error(_errno.ENOTDIR, d)
    return path._of(d)


def read_symlink(p: PathLike) -> path:
    """The target of the symlink *p*, as stored. Interruption point."""
    return path._of(_fs_ops.readlink(native(p)))


# ---------------------------------------------------------------- creating


def create_directory(p: PathLike, existing_p: PathLike | None = None) -> bool:
    """mkdir(2) *p* with mode 0777 (minus the umask), or with the mode of
    *existing_p*. Returns whether it was created: an existing directory is
    not an error (anything else in the way is). Interruption point."""
    s = native(p)
    mode = 0o777
    if existing_p is not None:
        e = native(existing_p)
        st = _fs_ops.stat(e)
        if not _stat.S_ISDIR(st.st_mode):
            raise _error(_errno.ENOTDIR, e)
        mode = _stat.S_IMODE(st.st_mode)
    try:
        _fs_ops.mkdir(s, mode)
    except FileExistsError:
        st2 = _stat_or_none(s)
        if st2 is not None and _stat.S_ISDIR(st2.st_mode):
            return False
        raise
    return True


def create_directories(p: PathLike) -> bool:
    """create_directory() for *p* and each of its missing parents. Returns
    whether the directory *p* names was created. Interruption point."""
    q = p if isinstance(p, path) else path(native(p))
    if q.empty:
        raise _error(_errno.ENOENT, "")
    if not q.has_filename:  # "a/b/": the directory is "a/b"
        q = q.parent_path()
    st = _stat_or_none(str(q))
    if st is not None:
        if _stat.S_ISDIR(st.st_mode):
            return False
        raise _error(_errno.EEXIST, str(q))
    missing = [q]
    parent = q.parent_path()
    while not parent.empty and parent != q and _stat_or_none(str(parent)) is None:
        missing.append(parent)
        q, parent = parent, parent.parent_path()
    created = False
    for d in reversed(missing):
        created = create_directory(d)
    return created


def create_hard_link(target: PathLike, link: PathLike) -> None:
    """link(2): *link* becomes another name of *target*. Interruption point."""
    _fs_ops.link(native(target), native(link))


def create_symlink(target: PathLike, link: PathLike) -> None:
    """symlink(2): *link* becomes a symlink holding *target* as written.
    Interruption point."""
    _fs_ops.symlink(native(target), native(link))


def create_directory_symlink(target: PathLike, link: PathLike) -> None:
    """create_symlink() for a directory (the same on POSIX). Interruption point."""
    _fs_ops.symlink(native(target), native(link))


def copy_symlink(from_: PathLike, to: PathLike) -> None:
    """Create *to* as a symlink with the target of the symlink *from_*.
    Interruption point."""
    _fs_ops.symlink(_fs_ops.readlink(native(from_)), native(to))


_EXISTING = (None, "skip", "overwrite", "update")


def copy_file(from_: PathLike, to: PathLike, *, existing: str | None = None) -> bool:
    """Copy the regular file *from_* (data and permissions) to *to*.
    Returns whether it copied.

    existing: what to do when *to* exists: None raises FileExistsError,
    "skip" keeps it, "overwrite" replaces it, "update" replaces it when it
    is older than *from_*. *to* being *from_* raises FileExistsError, and a
    non-regular file (either side) OSError(EOPNOTSUPP). Interruption point.
    """
    _choice(existing, "existing", _EXISTING)
    f, t = native(from_), native(to)
    fst = _fs_ops.stat(f)
    tst = _stat_or_none(t)
    if tst is not None:
        if not _stat.S_ISREG(tst.st_mode):
            raise _error(_errno.EOPNOTSUPP, t)
        if (tst.st_dev, tst.st_ino) == (fst.st_dev, fst.st_ino):
            raise _error(_errno.EEXIST, f, t)
        if existing == "skip":
            return False
        if existing == "update":
            if fst.st_mtime_ns <= tst.st_mtime_ns:
                return False
        elif existing != "overwrite":
            raise _error(_errno.EEXIST, t)
    if not _stat.S_ISREG(fst.st_mode):
        raise _error(_errno.EOPNOTSUPP, f)
    _fs_ops.copy_contents(f, t, overwrite=tst is not None)
    return True


def copy(
    from_: PathLike,
    to: PathLike,
    *,
    existing: str | None = None,
    recursive: bool = False,
    symlinks: str | None = None,
    copy: str | None = None,
) -> None:
    """Copy files and directories (manual: "filesystem.copy", after
    std::filesystem::copy).

    A regular file is copied as copy_file() does (into *to* when *to* is a
    directory). A directory's files are copied into *to* (created with the
    directory's mode when missing); its subdirectories only with
    ``recursive=True``. existing: as copy_file(). symlinks: None follows
    symlinks, "copy" recreates them, "skip" ignores them. copy: None copies
    data, "directories_only" the directory tree only, "create_symlinks"
    makes symlinks to the files (a directory then raises IsADirectoryError),
    "create_hard_links" hard links. As in std::filesystem::copy, a directory
    is copied without ``recursive`` only when no option at all is given.
    Interruption point.
    """
    _choice(existing, "existing", _EXISTING)
    _choice(symlinks, "symlinks", (None, "copy", "skip"))
    _choice(copy, "copy", (None, "directories_only", "create_symlinks", "create_hard_links"))
    plain = existing is None and not recursive and symlinks is None and copy is None
    _copy(native(from_), native(to), existing, bool(recursive), symlinks, copy, plain)


def _copy(
    f: str,
    t: str,
    existing: str | None,
    recursive: bool,
    symlinks: str | None,
    kind: str | None,
    plain: bool,
) -> None:
    nofollow_from = symlinks is not None or kind == "create_symlinks"
    nofollow_to = symlinks == "skip" or kind == "create_symlinks"
    fst = _stat_or_none(f, follow=not nofollow_from)
    if fst is None:
        raise _error(_errno.ENOENT, f)
    tst = _stat_or_none(t, follow=not nofollow_to)
    fm = fst.st_mode
    if tst is not None and (tst.st_dev, tst.st_ino) == (fst.st_dev, fst.st_ino):
        raise _error(_errno.EEXIST, f, t)
    for st, name in ((fst, f), (tst, t)):
        if st is not None and _stat.S_IFMT(st.st_mode) not in (
            _stat.S_IFREG,
            _stat.S_IFDIR,
            _stat.S_IFLNK,
        ):
            raise _error(_errno.EOPNOTSUPP, name)
    if _stat.S_ISDIR(fm) and tst is not None and _stat.S_ISREG(tst.st_mode):
        raise _error(_errno.EISDIR, f, t)
    if _stat.S_ISLNK(fm):
        if symlinks == "skip":
            return
        if tst is None and symlinks == "copy":
            copy_symlink(f, t)
            return
        raise _error(_errno.EEXIST if tst is not None else _errno.EOPNOTSUPP, f, t)
    if _stat.S_ISREG(fm):
        if kind == "directories_only":
            return
        if kind == "create_symlinks":
            _fs_ops.symlink(f, t)
        elif kind == "create_hard_links":
            _fs_ops.link(f, t)
        elif tst is not None and _stat.S_ISDIR(tst.st_mode):
            copy_file(f, path._of(t) / path._of(f).filename(), existing=existing)
        else:
            copy_file(f, t, existing=existing)
        return
    if kind == "create_symlinks":
        raise _error(_errno.EISDIR, f)
    if not (recursive or plain):
        return
    if tst is None:
        create_directory(t, f)
    with directory_iterator(f) as entries:
        for entry in entries:
            target = str(path._of(t) / entry.path.filename())
            # plain=False below: without recursive, subdirectories are skipped.
            _copy(entry._s, target, existing, recursive, symlinks, kind, False)


# ---------------------------------------------------------------- removing, renaming


def remove(p: PathLike) -> bool:
    """Remove the file or empty directory *p* (a symlink itself, not its
    target). Returns False when *p* did not exist. Interruption point."""
    s = native(p)
    try:
        _fs_ops.unlink(s)
    except IsADirectoryError:
        try:
            _fs_ops.rmdir(s)
        except FileNotFoundError:
            return False
    except FileNotFoundError:
        return False
    return True


def remove_all(p: PathLike) -> int:
    """Remove *p* and, when it is a directory, everything in it (symlinks
    are removed, never followed). Returns how many files were removed: 0
    when *p* did not exist. Interruption point, between files."""
    s = native(p)
    st = _stat_or_none(s, follow=False)
    if st is None:
        return 0
    if not _stat.S_ISDIR(st.st_mode):
        _fs_ops.unlink(s)
        return 1
    return _remove_tree(s)


def _remove_tree(s: str) -> int:
    # List the whole directory before removing from it: readdir(3) leaves
    # unspecified whether entries removed during the listing shift the rest.
    stream = _open_stream(s, nofollow=True)
    try:
        entries = []
        while (e := stream.next()) is not None:
            entries.append(e)
    finally:
        stream.close()
    n = 0
    for e in entries:
        if e._is_dir(False):
            n += _remove_tree(e._s)
        else:
            try:
                _fs_ops.unlink(e._s)
            except FileNotFoundError:
                continue
            n += 1
    _fs_ops.rmdir(s)
    return n + 1


def rename(old_p: PathLike, new_p: PathLike) -> None:
    """rename(2): move *old_p* to *new_p*, replacing a file (or an empty
    directory, for a directory) there. Interruption point."""
    _fs_ops.rename(native(old_p), native(new_p))


def resize_file(p: PathLike, new_size: int) -> None:
    """truncate(2): cut or zero-extend the regular file *p* to *new_size* bytes.
    Interruption point."""
    _fs_ops.truncate(native(p), _int(new_size, "new_size"))


def equivalent(p1: PathLike, p2: PathLike) -> bool:
    """Whether *p1* and *p2* resolve to the same file (device and inode).
    Raises FileNotFoundError when either does not exist. Interruption point."""
    a, b = native(p1), native(p2)
    s1 = _stat_or_none(a)
    s2 = _stat_or_none(b)
    if s1 is None or s2 is None:
        raise _error(_errno.ENOENT, a if s1 is None else b)
    return (s1.st_dev, s1.st_ino) == (s2.st_dev, s2.st_ino)


def is_empty(p: PathLike) -> bool:
    """Whether *p* is an empty directory or an empty regular file (other
    file types raise as file_size()). Interruption point."""
    s = native(p)
    st = _fs_ops.stat(s)
    if not _stat.S_ISDIR(st.st_mode):
        return _regular_size(st, s) == 0
    stream = _open_stream(s)
    try:
        return stream.next() is None
    finally:
        stream.close()


def umask(mask: int) -> int:
    """Set the file mode creation mask of the process to *mask* & 0o777;
    returns the previous one. Master VM only."""
    m = _int(mask, "mask")
    require_master("filesystem.umask")
    return os.umask(m & 0o777)


# ---------------------------------------------------------------- capabilities


def cap_get_file(p: PathLike) -> Any:
    """The file's capabilities, a system.linux_capabilities (manual:
    "filesystem.cap_get_file", cap_get_file(3)). Raises OSError(ENODATA) when
    the file has none. Interruption point."""
    return _fs_ops.cap_get_file(native(p))


def cap_set_file(p: PathLike, caps: Any) -> None:
    """Set the file's capabilities from a system.linux_capabilities (manual:
    "filesystem.cap_set_file", cap_set_file(3)). Interruption point."""
    from emilua._core import capabilities

    if not isinstance(caps, capabilities.linux_capabilities):
        raise TypeError("caps must be a system.linux_capabilities")
    _fs_ops.cap_set_file(native(p), caps)
