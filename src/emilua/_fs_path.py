"""filesystem.path (manual: "filesystem.path"): lexical path algorithms.

Nothing here makes a system call. The algorithms are those of C++17's
std::filesystem::path on a POSIX host, which the reference engine wraps:

- the root name is always empty; a path that starts with one or more
  slashes has the root directory ``/``;
- iteration yields the root directory, then each file name (runs of
  separators count as one), then an empty element when the path ends with a
  separator;
- comparison is element by element, so ``a//b`` equals ``a/b`` but not ``a/b/``.

Path strings are Python ``str``; names that are not valid UTF-8 travel
through ``os.fsdecode``'s surrogate escapes, so every name round-trips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, ClassVar, Union

__all__ = ["path", "PathLike", "native"]

_SEP = "/"


def _components(s: str) -> list[tuple[str, int]]:
    """The elements of *s* with the offset at which each starts."""
    out: list[tuple[str, int]] = []
    n = len(s)
    i = 0
    if s.startswith(_SEP):
        out.append((_SEP, 0))
        i = 1
        while i < n and s[i] == _SEP:
            i += 1
    while i < n:
        j = s.find(_SEP, i)
        if j < 0:
            out.append((s[i:], i))
            break
        out.append((s[i:j], i))
        while j < n and s[j] == _SEP:
            j += 1
        if j == n:
            out.append(("", n))  # a trailing separator: the empty element
            break
        i = j
    return out


def _relative_start(s: str) -> int:
    """Offset of the relative path: past the root directory's separators."""
    i = 0
    while i < len(s) and s[i] == _SEP:
        i += 1
    return i


class path:
    """An immutable file system path (manual: "filesystem.path").

    ``path()`` is the empty path; ``path(s)`` takes a native string (``str``,
    ``bytes`` or any ``os.PathLike``). Operators: ``/`` joins with a
    separator (manual ``__div``), ``+`` concatenates the native strings
    (``__concat``), ``==``, ``<``, ``<=`` (and ``>``, ``>=``) compare
    element by element, ``str()`` gives the native string, ``iter()`` the
    elements. Paths hash consistently with ``==`` and work with every
    function of ``os`` (``os.fspath``).
    """

    __slots__ = ("_s",)

    preferred_separator: ClassVar[str] = _SEP

    def __init__(self, source: PathLike | None = None) -> None:
        if source is None:
            self._s = ""
        elif isinstance(source, str):
            self._s = source
        elif isinstance(source, path):
            self._s = source._s
        elif isinstance(source, bytes | os.PathLike):
            self._s = os.fsdecode(source)
        else:
            raise TypeError(f"a path needs a string or a path, not {type(source).__name__}")

    @classmethod
    def _of(cls, s: str) -> path:
        p = cls.__new__(cls)
        p._s = s
        return p

    @classmethod
    def new(cls, source: PathLike | None = None) -> path:
        """The manual's ``path.new()``: same as calling the type."""
        return cls(source)

    @classmethod
    def from_generic(cls, source: str) -> path:
        """A path from the generic format (on POSIX the same as the native one)."""
        if not isinstance(source, str):
            raise TypeError(f"from_generic() needs a str, not {type(source).__name__}")
        return cls._of(source)

    def to_generic(self) -> str:
        """The path in the generic format."""
        return self._s

    # ---------------------------------------------------------- conversions

    def __str__(self) -> str:
        return self._s

    def __fspath__(self) -> str:
        return self._s

    def __repr__(self) -> str:
        return f"path({self._s!r})"

    def iterator(self) -> Iterator[path]:
        """The elements: root directory, file names, then an empty element
        when the path ends with a separator."""
        return (path._of(c) for c, _ in _components(self._s))

    def __iter__(self) -> Iterator[path]:
        return self.iterator()

    # ---------------------------------------------------------- decomposition

    def root_name(self) -> path:
        """The root name: always empty on POSIX."""
        return path._of("")

    def root_directory(self) -> path:
        """``/`` when the path has a root directory, else the empty path."""
        return path._of(_SEP if self._s.startswith(_SEP) else "")

    def root_path(self) -> path:
        """root_name() / root_directory()."""
        return self.root_directory()

    def relative_path(self) -> path:
        """The path past its root path."""
        return path._of(self._s[_relative_start(self._s) :])

    def parent_path(self) -> path:
        """The path to the parent: the path up to the end of the
        next-to-last element (itself when there is no relative path)."""
        s = self._s
        if _relative_start(s) == len(s):
            return path._of(s)
        comps = _components(s)
        if len(comps) < 2:
            return path._of("")
        name, start = comps[-2]
        return path._of(s[: start + len(name)])

    def _filename(self) -> str:
        s = self._s
        start = _relative_start(s)
        if start == len(s) or s.endswith(_SEP):
            return ""
        return s[s.rfind(_SEP) + 1 :]

    def filename(self) -> path:
        """The last file name; empty when the path ends with a separator."""
        return path._of(self._filename())

    @staticmethod
    def _split_ext(name: str) -> tuple[str, str]:
        if name in (".", ".."):
            return name, ""
        dot = name.rfind(".")
        if dot <= 0:  # none, or a leading dot only (".profile")
            return name, ""
        return name[:dot], name[dot:]

    def stem(self) -> path:
        """The file name without its extension."""
        return path._of(self._split_ext(self._filename())[0])

    def extension(self) -> path:
        """The file name's extension, dot included (``.tar`` of ``a.tar``)."""
        return path._of(self._split_ext(self._filename())[1])

    # ---------------------------------------------------------- modifiers

    def make_preferred(self) -> path:
        """The path with each separator turned into the preferred one (a copy on POSIX)."""
        return path._of(self._s)

    def remove_filename(self) -> path:
        """The path without its file name (``a/b`` gives ``a/``)."""
        name = self._filename()
        return path._of(self._s[: len(self._s) - len(name)])

    def replace_filename(self, replacement: PathLike) -> path:
        """The path with its file name replaced."""
        return self.remove_filename() / replacement

    def replace_extension(self, replacement: PathLike | None = None) -> path:
        """The path with its extension replaced, or removed when
        *replacement* is None or empty. A dot is added when missing."""
        ext = self._split_ext(self._filename())[1]
        s = self._s[: len(self._s) - len(ext)]
        if replacement is not None:
            r = native(replacement)
            if r and not r.startswith("."):
                s += "."
            s += r
        return path._of(s)

    # ---------------------------------------------------------- lexical algorithms

    def lexically_normal(self) -> path:
        """The path in normal form: single separators, no ``.`` element,
        ``name/..`` pairs removed, ``..`` after the root removed, ``.`` when
        nothing is left."""
        s = self._s
        if not s:
            return path._of("")
        root = _SEP if s.startswith(_SEP) else ""
        names: list[str] = []
        trailing = False  # whether the result ends with a separator
        comps = _components(s)
        for idx, (name, _) in enumerate(comps):
            if root and idx == 0:
                continue
            followed = idx + 1 < len(comps)  # a separator comes next
            if name == "":
                continue
            if name == ".":
                trailing = True
            elif name == "..":
                if names and names[-1] != "..":
                    names.pop()
                    trailing = True
                elif root and not names:
                    trailing = True
                else:
                    names.append("..")
                    trailing = followed
            else:
                names.append(name)
                trailing = followed
        if names and names[-1] == "..":
            trailing = False
        out = root + _SEP.join(names)
        if trailing and names:
            out += _SEP
        return path._of(out or ".")

    def lexically_relative(self, base: PathLike) -> path:
        """The path made relative to *base*, lexically; empty when it cannot be."""
        b = base if isinstance(base, path) else path(base)
        if self.is_absolute != b.is_absolute:
            return path._of("")
        if not self.has_root_directory and b.has_root_directory:
            return path._of("")
        mine = [c for c, _ in _components(self._s)]
        theirs = [c for c, _ in _components(b._s)]
        i = 0
        while i < len(mine) and i < len(theirs) and mine[i] == theirs[i]:
            i += 1
        if i == len(mine) and i == len(theirs):
            return path._of(".")
        n = 0
        for name in theirs[i:]:
            if name == "..":
                n -= 1
            elif name not in ("", "."):
                n += 1
        if n < 0:
            return path._of("")
        if n == 0 and (i == len(mine) or mine[i] == ""):
            return path._of(".")
        out = path._of("")
        for _ in range(n):
            out = out / ".."
        for name in mine[i:]:
            out = out / name
        return out

    def lexically_proximate(self, base: PathLike) -> path:
        """lexically_relative(base) when it is not empty, else the path itself."""
        r = self.lexically_relative(base)
        return r if r._s else path._of(self._s)

    # ---------------------------------------------------------- properties

    @property
    def empty(self) -> bool:
        return not self._s

    @property
    def has_root_path(self) -> bool:
        return self._s.startswith(_SEP)

    @property
    def has_root_name(self) -> bool:
        return False

    @property
    def has_root_directory(self) -> bool:
        return self._s.startswith(_SEP)

    @property
    def has_relative_path(self) -> bool:
        return _relative_start(self._s) < len(self._s)

    @property
    def has_parent_path(self) -> bool:
        return not self.parent_path().empty

    @property
    def has_filename(self) -> bool:
        return bool(self._filename())

    @property
    def has_stem(self) -> bool:
        return bool(self._split_ext(self._filename())[0])

    @property
    def has_extension(self) -> bool:
        return bool(self._split_ext(self._filename())[1])

    @property
    def is_absolute(self) -> bool:
        return self._s.startswith(_SEP)

    @property
    def is_relative(self) -> bool:
        return not self._s.startswith(_SEP)

    # ---------------------------------------------------------- operators

    def __truediv__(self, other: PathLike) -> path:
        o = native(other)
        if o.startswith(_SEP):  # an absolute right-hand side replaces the path
            return path._of(o)
        s = self._s
        if s and not s.endswith(_SEP):
            s += _SEP
        return path._of(s + o)

    def __rtruediv__(self, other: PathLike) -> path:
        return path(other) / self

    def __add__(self, other: PathLike) -> path:
        try:
            o = native(other)
        except TypeError:
            return NotImplemented
        return path._of(self._s + o)

    def __radd__(self, other: PathLike) -> path:
        try:
            o = native(other)
        except TypeError:
            return NotImplemented
        return path._of(o + self._s)

    def _key(self) -> tuple[bool, list[str]]:
        rooted = self._s.startswith(_SEP)
        comps = [c for c, _ in _components(self._s)]
        return rooted, comps[1:] if rooted else comps

    def compare(self, other: PathLike) -> int:
        """Negative, zero or positive as the path sorts before, equal to or after *other*."""
        a = self._key()
        b = (other if isinstance(other, path) else path(other))._key()
        return (a > b) - (a < b)

    @staticmethod
    def _other(other: Any) -> path | None:
        # Like pathlib, a path compares with paths only: a path equal to a
        # str would need the str's hash.
        return other if isinstance(other, path) else None

    def __eq__(self, other: object) -> bool:
        o = self._other(other)
        if o is None:
            return NotImplemented
        return self._s == o._s or self._key() == o._key()

    def __lt__(self, other: PathLike) -> bool:
        o = self._other(other)
        if o is None:
            return NotImplemented
        return self._key() < o._key()

    def __le__(self, other: PathLike) -> bool:
        o = self._other(other)
        if o is None:
            return NotImplemented
        return self._key() <= o._key()

    def __gt__(self, other: PathLike) -> bool:
        o = self._other(other)
        if o is None:
            return NotImplemented
        return self._key() > o._key()

    def __ge__(self, other: PathLike) -> bool:
        o = self._other(other)
        if o is None:
            return NotImplemented
        return self._key() >= o._key()

    def __hash__(self) -> int:
        rooted, names = self._key()
        return hash((rooted, tuple(names)))


PathLike = Union[path, str, "os.PathLike[str]"]


def native(p: Any) -> str:
    """The native string of a path argument (path, str, bytes or os.PathLike)."""
    if isinstance(p, path):
        return p._s
    if isinstance(p, str):
        return p
    if isinstance(p, bytes | os.PathLike):
        return os.fsdecode(p)
    raise TypeError(f"expected a filesystem.path or a string, not {type(p).__name__}")
