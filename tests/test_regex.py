"""Manual: "regex"; split and patsplit follow GAWK's FS and FPAT rules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emilua import regex as rx
from emilua.byte_span import byte_span
from emilua.regex import match, patsplit, regex, search, split

pytestmark = pytest.mark.pure


def ecma(p: str, **kw: Any) -> regex:
    return regex(p, "ecma", **kw)


def ere(p: str, **kw: Any) -> regex:
    return regex(p, "extended", **kw)


def bre(p: str, **kw: Any) -> regex:
    return regex(p, "basic", **kw)


def span_of(data: bytes) -> byte_span:
    s = byte_span(len(data))
    s[:] = data
    return s


# -- construction ----------------------------------------------------------------


def test_options_are_kept() -> None:
    r = regex("a(b)", "ecma", ignore_case=True, nosubs=False, optimize=True)
    assert (r.pattern, r.grammar, r.ignore_case, r.nosubs, r.optimize) == (
        "a(b)",
        "ecma",
        True,
        False,
        True,
    )
    assert r.mark_count == 1
    assert regex("a(b)", "ecma", nosubs=True).mark_count == 0


def test_bad_options() -> None:
    with pytest.raises(ValueError):
        regex("a", "perl")
    with pytest.raises(TypeError):
        regex(b"a", "ecma")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        regex("a", None)  # type: ignore[arg-type]
    for opt in ("ignore_case", "nosubs", "optimize"):
        with pytest.raises(TypeError):
            regex("a", "ecma", **{opt: 1})
    with pytest.raises(re.error):
        regex("(", "ecma")


def test_compiled_patterns_are_cached() -> None:
    a = regex("x+y", "extended")
    b = regex("x+y", "extended")
    assert a._text_re is b._text_re
    match(a, b"xy")
    match(b, b"xy")
    assert a._bytes_re is b._bytes_re is not None


def test_functions_check_their_arguments() -> None:
    with pytest.raises(TypeError):
        match("a", "a")  # type: ignore[arg-type]
    for f in (match, search, split, patsplit):
        with pytest.raises(TypeError):
            f(ecma("a"), 1)


# -- match ------------------------------------------------------------------------


def test_match_is_anchored_on_the_whole_subject() -> None:
    subject = "abc"
    assert match(ecma("abc"), subject) is subject
    assert match(ecma("ab"), "abc") is None
    assert match(ecma("bc"), "abc") is None


def test_match_returns_captures() -> None:
    assert match(ecma(r"(\d+)-(\d+)"), "12-34") == ("12", "34")
    assert match(ecma("(a)(b)?c"), "ac") == ("a", None)
    assert match(ecma("(a)"), "a") == ("a",)
    assert match(ecma("(a)(b)", nosubs=True), "ab") == "ab"


def test_match_on_bytes_and_byte_span() -> None:
    assert match(ecma("(a)b"), b"ab") == (b"a",)
    span = span_of(b"key=value")
    key, value = match(ecma("(\\w+)=(\\w+)"), span)
    assert isinstance(key, byte_span) and bytes(key) == b"key"
    span[0] = ord("K")
    assert bytes(key) == b"Key"  # a view sharing the span's memory
    assert bytes(value) == b"value"


# -- search ------------------------------------------------------------------------


def test_search_result() -> None:
    res = search(ecma("b(c)(x)?"), "abcd")
    assert res.empty is False
    assert len(res) == 3
    assert res[0] == (1, 3)
    assert res[0].start == 1 and res[0].end_ == 3 and res[0].end == 3
    assert res[1] == (2, 3)
    assert res[2] is None
    assert "abcd"[res[0].start : res[0].end_] == "bc"


def test_search_without_a_match() -> None:
    res = search(ecma("(z)"), "abc")
    assert res.empty is True
    assert res[0] is None and res[1] is None
    with pytest.raises(IndexError):
        res[2]


def test_search_empty_match_and_byte_span() -> None:
    res = search(ecma("x*"), "abc")
    assert not res.empty and res[0] == (0, 0)
    assert search(ecma("c"), span_of(b"abc"))[0] == (2, 3)


# -- ECMAScript grammar -------------------------------------------------------------


def test_ecma_dot_excludes_line_terminators() -> None:
    r = ecma("a.c")
    assert match(r, "abc")
    for sep in ("\n", "\r", "\u2028"):
        assert match(r, f"a{sep}c") is None
    assert match(r, b"a\rc") is None


def test_ecma_dollar_is_the_end_of_input_only() -> None:
    assert search(ecma("a$"), "a\n").empty
    assert not search(ecma("a$"), "ba").empty


def test_ecma_classes_are_ascii() -> None:
    assert match(ecma(r"\d+"), "123")
    assert match(ecma(r"\d"), "\u0663") is None  # ARABIC-INDIC DIGIT THREE
    assert match(ecma(r"\w+"), "a_1")
    assert match(ecma(r"\w"), "é") is None


def test_ecma_escapes() -> None:
    assert match(ecma(r"\cJ"), "\n")
    assert match(ecma(r"\x41\u0042"), "AB")
    assert match(ecma(r"\0"), "\x00")
    assert match(ecma(r"[\b]"), "\x08")
    assert match(ecma(r"\/\.\*"), "/.*")
    assert match(ecma(r"a\tb"), "a\tb")
    with pytest.raises(re.error):
        ecma(r"\A")
    with pytest.raises(re.error):
        ecma(r"\q")
    with pytest.raises(re.error):
        ecma("a\\")
    with pytest.raises(re.error):
        ecma(r"\x4")
    with pytest.raises(re.error):
        ecma(r"\c1")
    with pytest.raises(re.error):
        match(ecma(r"\u0100"), b"x")  # no such byte


def test_ecma_empty_classes() -> None:
    assert search(ecma("a[]"), "a]").empty
    assert match(ecma("a[^]"), "a\n")


def test_ecma_groups_and_back_references() -> None:
    assert match(ecma(r"(a+)b\1"), "aabaa") == ("aa",)
    with pytest.raises(re.error):
        ecma(r"(a)\10")  # ECMAScript reads every digit: group 10
    assert match(ecma("(?:ab)+"), "abab") == "abab"
    assert not search(ecma("a(?=b)"), "ab").empty
    assert search(ecma("a(?!b)"), "ab").empty
    for pattern in ("(?P<n>a)", "(?<=a)b", "(?i)a", "(?#c)"):
        with pytest.raises(re.error):
            ecma(pattern)


def test_ecma_class_metacharacters_are_literal() -> None:
    r = ecma("[a|&~[]+")
    assert match(r, "a|&~[")
    assert match(ecma("[a-c-]+"), "ab-c")


def test_ignore_case() -> None:
    assert match(ecma("abc", ignore_case=True), "AbC")
    assert match(ere("[a-c]+", ignore_case=True), "ABC")
    assert match(ecma("abc"), "ABC") is None


# -- POSIX extended ------------------------------------------------------------------


def test_ere_operators() -> None:
    assert match(ere("(ab|cd)+e?"), "abcd") == ("cd",)
    assert match(ere("a{2,3}"), "aaa")
    assert match(ere("a{2}"), "aaa") is None
    assert match(ere("x+"), "xxx")


def test_ere_brackets() -> None:
    assert match(ere("[[:alpha:]][[:digit:]]+[[:space:]]"), "a12 ")
    assert match(ere("[[:upper:][:punct:]]+"), "A!B?")
    assert match(ere("[]a]+"), "]a]")
    assert match(ere("[^]a]"), "b")
    assert match(ere(r"[\]+"), "\\\\")  # a backslash is a literal in brackets
    assert match(ere("[[=e=]]"), "e")
    assert match(ere("[[.-.]a]+"), "-a")
    assert match(ere("[a-]+"), "a-")
    assert match(ere("[.]"), "x") is None


def test_ere_dot_matches_newline() -> None:
    assert match(ere("a.c"), "a\nc")


def test_ere_dollar_and_caret_are_anchors() -> None:
    assert search(ere("a$"), "a\n").empty
    assert search(ere("b^"), "b^").empty
    assert not search(ere("^a"), "ab").empty


def test_ere_escapes_and_errors() -> None:
    assert match(ere(r"\(\)\|\+\?\{\.\*\\"), "()|+?{.*\\")
    assert match(ere("a)"), "a)")  # an unmatched ')' is a literal
    for bad in (r"\1", r"\d", "*a", "a|*b", "(+a)", "a{x}", "a{3,1}", "(a", "[a", "[[:nope:]]"):
        with pytest.raises(re.error):
            ere(bad)
    with pytest.raises(re.error):
        ere("[[.space.]]")


def test_posix_alternation_is_leftmost_first_here() -> None:
    # POSIX asks for the leftmost-longest match ("ab"); Python's engine takes the
    # first alternative that matches. docs/regex.md lists this divergence.
    assert search(ere("a|ab"), "ab")[0] == (0, 1)
    # A whole-subject match still finds the alternative that fits.
    assert match(ere("a|ab"), "ab")


# -- POSIX basic -------------------------------------------------------------------------


def test_bre_operators() -> None:
    assert match(bre(r"\(ab\)*c"), "ababc") == ("ab",)
    assert match(bre(r"a\{2,\}"), "aaaa")
    assert match(bre(r"\(a\)\1"), "aa") == ("a",)
    assert match(bre(r"\(a\)\10"), "aa0") == ("a",)


def test_bre_ordinary_characters() -> None:
    assert match(bre("a+?|(){}"), "a+?|(){}")
    assert match(bre("*a"), "*a")
    assert match(bre(r"\(*a\)"), "*a") == ("*a",)
    assert match(bre("^*a"), "*a")
    assert match(bre("a^b$c"), "a^b$c")
    assert not search(bre("^ab$"), "ab").empty
    assert match(bre(r"\(a$\)"), "a") == ("a",)


def test_bre_errors() -> None:
    for bad in (r"\2\(a\)", r"\)", r"\(a", r"\{1\}", r"a\{1", r"\+", r"\d"):
        with pytest.raises(re.error):
            bre(bad)


# -- split (GAWK FS) -----------------------------------------------------------------------


def test_split_single_space_is_runs_of_blanks() -> None:
    r = ecma(" ")
    assert split(r, "  a b\t\tc \n d  ") == ["a", "b", "c", "d"]
    assert split(r, "   ") == []
    assert split(r, "abc") == ["abc"]
    fields, seps = split(r, " a  b ", with_separators=True)
    assert fields == ["a", "b"]
    assert seps == [" ", "  ", " "]


def test_split_single_character_is_literal() -> None:
    assert split(ecma(","), ",a,,b,") == ["", "a", "", "b", ""]
    assert split(ecma("|"), "a|b|c") == ["a", "b", "c"]
    assert split(ere("."), "a.b") == ["a", "b"]
    assert split(ere("^"), "a^b") == ["a", "b"]
    assert split(bre("*"), "*") == ["", ""]
    assert split(ecma("x", ignore_case=True), "aXbxc") == ["a", "b", "c"]
    assert split(ecma("x"), "aXbxc") == ["aXb", "c"]


def test_split_regex_separators() -> None:
    assert split(ere(":+"), ":a::b:") == ["", "a", "b", ""]
    assert split(ere("[(,)]"), "(a,b,c,d)") == ["", "a", "b", "c", "d", ""]
    assert split(ecma(", *"), "a, b,c") == ["a", "b", "c"]
    assert split(ecma("--"), "a") == ["a"]


def test_split_bracketed_space_is_a_plain_regex() -> None:
    # GAWK: FS = "[ ]" splits on every single space, unlike FS = " ".
    assert split(ecma("[ ]"), " a  b ") == ["", "a", "", "b", ""]
    assert split(ecma("\t"), "a\t\tb") == ["a", "", "b"]


def test_split_never_splits_on_an_empty_match() -> None:
    assert split(ecma("x*"), "abc") == ["abc"]
    assert split(ecma("b*"), "abbc") == ["a", "c"]
    assert split(ecma("b*"), "abbcb") == ["a", "c", ""]


def test_split_empty_pattern_gives_characters() -> None:
    assert split(ecma(""), "abc") == ["a", "b", "c"]


@pytest.mark.parametrize("pattern", [" ", ",", "", ":+", "x*"])
def test_split_empty_subject_has_no_fields(pattern: str) -> None:
    assert split(ecma(pattern), "") == []
    assert split(ecma(pattern), "", with_separators=True) == ([], [""])


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [(" ", "  a b  "), (",", ",a,,b,"), (":+", "::a:b::"), ("b*", "abbcb"), ("", "xyz")],
)
def test_split_separators_rebuild_the_subject(pattern: str, subject: str) -> None:
    fields, seps = split(ecma(pattern), subject, with_separators=True)
    assert len(seps) == len(fields) + 1
    rebuilt = seps[0] + "".join(f + s for f, s in zip(fields, seps[1:], strict=True))
    assert rebuilt == subject


def test_split_bytes_and_byte_span() -> None:
    assert split(ecma(","), b"a,b") == [b"a", b"b"]
    assert split(ecma(" "), b" a b ") == [b"a", b"b"]
    parts = split(ecma(":+"), span_of(b"ab::cd"))
    assert all(isinstance(p, byte_span) for p in parts)
    assert [bytes(p) for p in parts] == [b"ab", b"cd"]


# -- patsplit (GAWK FPAT) -------------------------------------------------------------------


def test_patsplit_returns_the_occurrences() -> None:
    assert patsplit(ecma("[0-9]+"), "a1bb22c333") == ["1", "22", "333"]
    assert patsplit(ecma("z"), "abc") == []
    assert patsplit(ecma("z"), "abc", with_separators=True) == ([], ["abc"])


def test_patsplit_separators() -> None:
    fields, seps = patsplit(ecma("aa+"), "bbbaaacccdddaaaaaqqqqa", with_separators=True)
    assert fields == ["aaa", "aaaaa"]
    assert seps == ["bbb", "cccddd", "qqqqa"]


def test_patsplit_csv_fields_may_be_empty() -> None:
    # GAWK's FPAT for CSV; in ECMAScript the quoted alternative goes first.
    r = ecma('("[^"]+")|([^,]*)')
    fields, seps = patsplit(r, 'Robbins,,"1234 A Pretty Place, NE",MyTown,', with_separators=True)
    assert fields == ["Robbins", "", '"1234 A Pretty Place, NE"', "MyTown", ""]
    assert seps == ["", ",", ",", ",", ",", ""]


def test_patsplit_empty_match_after_a_field_is_skipped() -> None:
    assert patsplit(ecma("[^,]*"), "a,,b") == ["a", "", "b"]
    assert patsplit(ecma("x*"), "ab", with_separators=True) == (["", "", ""], ["", "a", "b", ""])
    assert patsplit(ecma("b*"), "abb") == ["", "bb"]


def test_patsplit_empty_subject() -> None:
    assert patsplit(ecma("x*"), "") == []
    assert patsplit(ecma("x*"), "", with_separators=True) == ([], [""])


def test_patsplit_byte_span() -> None:
    fields, seps = patsplit(ecma("[a-z]+"), span_of(b"12ab3cd"), with_separators=True)
    assert [bytes(f) for f in fields] == [b"ab", b"cd"]
    assert [bytes(s) for s in seps] == [b"12", b"3", b""]
    assert all(isinstance(f, byte_span) for f in fields + seps)


def test_module_exports() -> None:
    assert set(rx.__all__) >= {"regex", "match", "search", "split", "patsplit"}


# -- robustness -------------------------------------------------------------------------

_PIECES = list("ab-^$.*+?|(){}[]\\:=,0129dwsbcxu ") + ["[:alpha:]", "\\(", "\\)", "{1,2}"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=8).map("".join),
    st.sampled_from(["basic", "extended", "ecma"]),
    st.text(alphabet="ab-(){}[]\\ \n", max_size=6),
)
def test_any_pattern_compiles_or_raises_re_error(pattern: str, grammar: str, subject: str) -> None:
    try:
        r = regex(pattern, grammar)
    except re.error:
        return
    for s in (subject, subject.encode()):
        match(r, s)
        search(r, s)
        fields, seps = split(r, s, with_separators=True)
        assert len(seps) == len(fields) + 1
        fields, seps = patsplit(r, s, with_separators=True)
        assert len(seps) == len(fields) + 1
