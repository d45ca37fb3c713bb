"""Regular expressions with the manual's grammars and GAWK-style splitting.

Manual: "regex". A :class:`regex` is compiled once (and the translation of a
pattern is cached across objects); the free functions :func:`match`,
:func:`search`, :func:`split` and :func:`patsplit` take a regex and a subject, which
is a ``str``, a bytes-like object or a ``byte_span``. Parts of a ``byte_span``
subject come back as ``byte_span`` views sharing its memory; parts of other
bytes-like subjects as ``bytes``. See docs/regex.md.
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

from emilua._core.byte_span import byte_span
from emilua._regex_translate import translate

__all__ = ["match", "match_range", "patsplit", "regex", "search", "search_result", "split"]

GRAMMARS = ("basic", "extended", "ecma")


@functools.lru_cache(maxsize=512)
def _compile(pattern: str, grammar: str, ignore_case: bool, for_bytes: bool) -> re.Pattern[Any]:
    text = translate(pattern, grammar, for_bytes)
    # The reference engine runs in the classic locale: \w, \d, \s and case
    # folding are ASCII. POSIX '.' matches every character, newline included.
    flags = re.ASCII
    if grammar != "ecma":
        flags |= re.DOTALL
    if ignore_case:
        flags |= re.IGNORECASE
    if for_bytes:
        return re.compile(text.encode("utf-8"), flags)
    return re.compile(text, flags)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


class regex:
    """A compiled regular expression (manual: ``regex.new``).

    *pattern* (``str``) in *grammar*: ``"basic"`` (POSIX BRE), ``"extended"``
    (POSIX ERE) or ``"ecma"`` (ECMAScript, as C++ ``std::regex``). *ignore_case*
    folds ASCII case; with *nosubs* groups capture nothing (``match`` then returns
    the whole match and ``search`` only entry 0); *optimize* is accepted and has
    no effect (patterns are always compiled once, ahead of use).

    Raises ``re.error`` for a pattern that is not valid in its grammar,
    ``ValueError`` for an unknown grammar, ``TypeError`` for options of the wrong
    type.
    """

    __slots__ = (
        "_pattern",
        "_grammar",
        "_ignore_case",
        "_nosubs",
        "_optimize",
        "_text_re",
        "_bytes_re",
        "_mark_count",
    )

    def __init__(
        self,
        pattern: str,
        grammar: str,
        *,
        ignore_case: bool = False,
        nosubs: bool = False,
        optimize: bool = False,
    ) -> None:
        if not isinstance(pattern, str):
            raise TypeError(f"pattern must be a str, not {type(pattern).__name__}")
        if not isinstance(grammar, str):
            raise TypeError(f"grammar must be a str, not {type(grammar).__name__}")
        if grammar not in GRAMMARS:
            raise ValueError(f"unknown grammar {grammar!r} (expected one of {GRAMMARS})")
        self._pattern = pattern
        self._grammar = grammar
        self._ignore_case = _check_bool("ignore_case", ignore_case)
        self._nosubs = _check_bool("nosubs", nosubs)
        self._optimize = _check_bool("optimize", optimize)
        self._text_re = _compile(pattern, grammar, ignore_case, False)
        self._bytes_re: re.Pattern[bytes] | None = None
        self._mark_count = 0 if nosubs else self._text_re.groups

    pattern = property(lambda self: self._pattern, doc="The pattern, as given.")
    grammar = property(lambda self: self._grammar, doc="The grammar, as given.")
    ignore_case = property(lambda self: self._ignore_case, doc="Whether case is ignored.")
    nosubs = property(lambda self: self._nosubs, doc="Whether groups capture nothing.")
    optimize = property(lambda self: self._optimize, doc="The optimize option, as given.")

    @property
    def mark_count(self) -> int:
        """The number of capturing groups (0 with *nosubs*)."""
        return self._mark_count

    def _for(self, subject: str | memoryview) -> re.Pattern[Any]:
        if isinstance(subject, str):
            return self._text_re
        if self._bytes_re is None:
            self._bytes_re = _compile(self._pattern, self._grammar, self._ignore_case, True)
        return self._bytes_re

    def __repr__(self) -> str:
        return f"regex({self._pattern!r}, {self._grammar!r})"


class _Subject:
    """A subject to match: the text ``re`` scans and how to cut parts of it."""

    __slots__ = ("original", "text", "is_span")

    def __init__(self, subject: object) -> None:
        self.original: Any = subject
        self.is_span = False
        if isinstance(subject, str):
            self.text: Any = subject
            return
        try:
            self.text = memoryview(subject)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"the subject is a str, a bytes-like object or a byte_span, "
                f"not {type(subject).__name__}"
            ) from None
        self.is_span = isinstance(subject, byte_span)
        if self.text.ndim != 1 or self.text.itemsize != 1:
            self.text = self.text.cast("B")

    def part(self, start: int, end: int) -> Any:
        if isinstance(self.text, str):
            return self.text[start:end]
        if self.is_span:
            return self.original[start:end]
        return bytes(self.text[start:end])

    def __len__(self) -> int:
        return len(self.text)


def _check_regex(re_: object) -> regex:
    if not isinstance(re_, regex):
        raise TypeError(f"expected a regex, not {type(re_).__name__}")
    return re_


def match(re_: regex, subject: Any) -> Any:
    """Match *re_* against the whole *subject* (manual: ``match``).

    Returns ``None`` when it does not match. Otherwise, with no capturing group
    (or *nosubs*), the subject itself; with groups, a tuple of their captures
    (``None`` for a group that took no part in the match).
    """
    rx = _check_regex(re_)
    subj = _Subject(subject)
    m = rx._for(subj.text).fullmatch(subj.text)
    if m is None:
        return None
    if rx._mark_count == 0:
        return subject
    spans = [m.span(i) for i in range(1, rx._mark_count + 1)]
    return tuple(None if a < 0 else subj.part(a, b) for a, b in spans)


class match_range(NamedTuple):
    """Where a group matched: ``subject[start:end_]``.

    ``start`` is 0-based and ``end_`` exclusive, so ``end_`` has the same value as
    the manual's 1-based inclusive ``end_``. ``end`` is an alias of ``end_``.
    """

    start: int
    end_: int

    @property
    def end(self) -> int:
        return self.end_


class search_result:
    """The result of :func:`search` (manual: the table ``search`` returns).

    ``empty`` tells whether there was no match. ``result[0]`` is the range of the
    whole match and ``result[i]`` that of group *i*, a :class:`match_range`, or
    ``None`` when the group (or, for an empty result, anything) did not match.
    ``len(result)`` is the number of groups plus one.
    """

    __slots__ = ("empty", "_ranges")

    def __init__(self, empty: bool, ranges: list[match_range | None]) -> None:
        self.empty = empty
        self._ranges = ranges

    def __getitem__(self, i: int) -> match_range | None:
        return self._ranges[i]

    def __len__(self) -> int:
        return len(self._ranges)

    def __repr__(self) -> str:
        return f"search_result(empty={self.empty}, {self._ranges!r})"


def search(re_: regex, subject: Any) -> search_result:
    """Find the first place where *re_* matches in *subject* (manual: ``search``)."""
    rx = _check_regex(re_)
    subj = _Subject(subject)
    m = rx._for(subj.text).search(subj.text)
    count = rx._mark_count + 1
    if m is None:
        return search_result(True, [None] * count)
    ranges: list[match_range | None] = []
    for i in range(count):
        a, b = m.span(i)
        ranges.append(None if a < 0 else match_range(a, b))
    return search_result(False, ranges)


_BLANKS = re.compile(r"[^ \t\n]+")
_BLANKS_B = re.compile(rb"[^ \t\n]+")


def split(re_: regex, subject: Any, *, with_separators: bool = False) -> Any:
    """Split *subject* by the occurrences of *re_* (manual: ``split``).

    Follows GAWK's field splitting (``FS``), decided by the pattern's text:

    - ``" "`` (one space): fields are separated by runs of blanks (space, tab,
      newline); leading and trailing blanks are ignored.
    - any other single character: that character, literally, even where it is a
      regex operator (``"|"``, ``"."``); each occurrence separates two fields, so
      adjacent ones delimit an empty field, as does one at either end.
    - ``""``: every character is a field.
    - anything else: a regular expression in the regex's grammar. A match at the
      start or end gives an empty first or last field; a match of the empty
      string separates nothing.

    An empty subject has no fields. Returns the list of fields or, with
    *with_separators*, ``(fields, separators)`` where ``separators`` has one more
    entry than ``fields``: the text before the first field, between each two, and
    after the last, so that interleaving them rebuilds the subject.
    """
    rx = _check_regex(re_)
    _check_bool("with_separators", with_separators)
    subj = _Subject(subject)
    n = len(subj)
    cuts: list[tuple[int, int]] = []  # field boundaries
    pattern = rx._pattern
    if n == 0:
        pass
    elif pattern == " ":
        blanks = _BLANKS if isinstance(subj.text, str) else _BLANKS_B
        cuts = [m.span() for m in blanks.finditer(subj.text)]
    elif pattern == "":
        cuts = [(i, i + 1) for i in range(n)]
    else:
        if len(pattern) == 1:
            sep = _literal_separator(pattern, rx._ignore_case, not isinstance(subj.text, str))
        else:
            sep = rx._for(subj.text)
        cuts = _split_fields(sep, subj.text, n)
    return _finish(subj, cuts, with_separators)


@functools.lru_cache(maxsize=64)
def _literal_separator(char: str, ignore_case: bool, for_bytes: bool) -> re.Pattern[Any]:
    flags = re.ASCII | (re.IGNORECASE if ignore_case else 0)
    lit = re.escape(char)
    return re.compile(lit.encode("utf-8") if for_bytes else lit, flags)


def _split_fields(sep: re.Pattern[Any], text: Any, n: int) -> list[tuple[int, int]]:
    cuts: list[tuple[int, int]] = []
    field = 0  # start of the current field
    scan = 0  # where the next search starts
    while scan < n:
        m = sep.search(text, scan)
        if m is None:
            break
        a, b = m.span()
        if a == b:
            # GAWK: a separator never matches the empty string; step past it.
            scan = a + 1
            continue
        cuts.append((field, a))
        field = scan = b
    cuts.append((field, n))
    return cuts


def patsplit(re_: regex, subject: Any, *, with_separators: bool = False) -> Any:
    """Return the occurrences of *re_* in *subject* (manual: ``patsplit``).

    Follows GAWK's ``patsplit()``/``FPAT``: each match is a field, the text
    between matches separates them. A match of the empty string is an (empty)
    field, except right after a non-empty field, where it is skipped. An empty
    subject has no fields. Returns the list of fields or, with
    *with_separators*, ``(fields, separators)`` as :func:`split` does.
    """
    rx = _check_regex(re_)
    _check_bool("with_separators", with_separators)
    subj = _Subject(subject)
    text = subj.text
    n = len(subj)
    pat = rx._for(text)
    cuts: list[tuple[int, int]] = []
    pos = 0
    after_non_empty = False
    while n and pos <= n:
        m = pat.search(text, pos)
        if m is None:
            break
        a, b = m.span()
        if a < b:
            cuts.append((a, b))
            pos = b
            after_non_empty = True
            if pos == n:
                break
        elif after_non_empty and a == pos:
            # The empty match that touches the end of a non-empty field is no field.
            pos += 1
            after_non_empty = False
        else:
            cuts.append((a, a))
            pos = a + 1
            after_non_empty = False
    return _finish(subj, cuts, with_separators)


def _finish(subj: _Subject, cuts: list[tuple[int, int]], with_separators: bool) -> Any:
    fields = [subj.part(a, b) for a, b in cuts]
    if not with_separators:
        return fields
    seps = []
    prev = 0
    for a, b in cuts:
        seps.append(subj.part(prev, a))
        prev = b
    seps.append(subj.part(prev, len(subj)))
    return fields, seps
