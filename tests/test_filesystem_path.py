# Manual: "filesystem.path". Paths are purely lexical: these tests run once,
# outside any engine. Expected values are those of C++17 std::filesystem::path
# on POSIX (the manual's reference engine wraps it).
import os

import pytest

from emilua.filesystem import path as P

pytestmark = pytest.mark.pure


def elements(s):
    return [str(e) for e in P(s)]


@pytest.mark.parametrize(
    "s, expected",
    [
        ("", []),
        ("/", ["/"]),
        ("//", ["/"]),
        ("foo", ["foo"]),
        ("/foo/bar", ["/", "foo", "bar"]),
        ("/foo/bar/", ["/", "foo", "bar", ""]),
        ("foo//bar", ["foo", "bar"]),
        ("//foo///bar//", ["/", "foo", "bar", ""]),
        ("./..", [".", ".."]),
    ],
)
def test_iteration_yields_root_names_and_a_final_empty_element(s, expected):
    assert elements(s) == expected
    assert [str(e) for e in P(s).iterator()] == expected
    assert all(isinstance(e, P) for e in P(s))


def test_construction_and_conversions():
    assert P().empty and str(P()) == ""
    assert P.new().empty and str(P.new("a/b")) == "a/b"
    assert str(P("a/b")) == "a/b"
    assert repr(P("a/b")) == "path('a/b')"
    assert os.fspath(P("/x")) == "/x"
    assert str(P(P("q"))) == "q"
    assert str(P(b"/bytes")) == "/bytes"
    raw = b"/tmp/\xff\xfe"  # not UTF-8: survives through surrogate escapes
    assert os.fsencode(P(raw)) == raw
    assert P.from_generic("a/b").to_generic() == "a/b"
    assert str(P("a/b").make_preferred()) == "a/b"
    assert P.preferred_separator == "/"
    with pytest.raises(TypeError):
        P(3)
    with pytest.raises(TypeError):
        P.from_generic(b"a")


def test_paths_are_immutable():
    p = P("a/b.txt")
    q = p.replace_extension(".md")
    assert str(p) == "a/b.txt" and str(q) == "a/b.md"
    with pytest.raises(AttributeError):
        p.extra = 1


@pytest.mark.parametrize(
    "s, filename, stem, extension",
    [
        ("/foo/bar.txt", "bar.txt", "bar", ".txt"),
        ("/foo/bar.tar.gz", "bar.tar.gz", "bar.tar", ".gz"),
        ("/foo/.bashrc", ".bashrc", ".bashrc", ""),
        ("/foo/.a.b", ".a.b", ".a", ".b"),
        ("foo.", "foo.", "foo", "."),
        ("/foo/.", ".", ".", ""),
        ("/foo/..", "..", "..", ""),
        ("/foo/", "", "", ""),
        ("/", "", "", ""),
        ("", "", "", ""),
    ],
)
def test_filename_stem_extension(s, filename, stem, extension):
    p = P(s)
    assert str(p.filename()) == filename
    assert str(p.stem()) == stem
    assert str(p.extension()) == extension
    assert p.has_filename == bool(filename)
    assert p.has_stem == bool(stem)
    assert p.has_extension == bool(extension)


@pytest.mark.parametrize(
    "s, parent",
    [
        ("/foo/bar", "/foo"),
        ("/foo/bar/", "/foo/bar"),
        ("/foo", "/"),
        ("/", "/"),
        ("foo", ""),
        ("foo//bar", "foo"),
        ("foo/", "foo"),
        ("", ""),
    ],
)
def test_parent_path(s, parent):
    assert str(P(s).parent_path()) == parent
    assert P(s).has_parent_path == bool(parent)


def test_root_decomposition():
    p = P("//foo//bar")
    assert str(p.root_name()) == "" and not p.has_root_name
    assert str(p.root_directory()) == "/" and p.has_root_directory
    assert str(p.root_path()) == "/" and p.has_root_path
    assert str(p.relative_path()) == "foo//bar" and p.has_relative_path
    q = P("foo/bar")
    assert str(q.root_directory()) == "" and not q.has_root_directory
    assert str(q.root_path()) == "" and not q.has_root_path
    assert str(q.relative_path()) == "foo/bar"
    assert not P("/").has_relative_path
    assert P("/a").is_absolute and not P("/a").is_relative
    assert P("a").is_relative and not P("a").is_absolute
    assert P("").is_relative


@pytest.mark.parametrize(
    "s, removed",
    [("foo/bar", "foo/"), ("foo/", "foo/"), ("/foo", "/"), ("/", "/"), ("foo", "")],
)
def test_remove_filename(s, removed):
    assert str(P(s).remove_filename()) == removed


def test_replace_filename():
    assert str(P("/foo/bar").replace_filename("baz")) == "/foo/baz"
    assert str(P("/").replace_filename("bar")) == "/bar"
    assert str(P("foo").replace_filename(P("x/y"))) == "x/y"


@pytest.mark.parametrize(
    "s, replacement, result",
    [
        ("/foo/bar.jpg", ".png", "/foo/bar.png"),
        ("/foo/bar.jpg", "png", "/foo/bar.png"),
        ("/foo/bar.jpg", ".", "/foo/bar."),
        ("/foo/bar.jpg", "", "/foo/bar"),
        ("/foo/bar.jpg", None, "/foo/bar"),
        ("/foo/bar", ".png", "/foo/bar.png"),
        ("/foo/.", ".png", "/foo/..png"),
        ("/foo/..", ".png", "/foo/...png"),
        ("/foo/", ".png", "/foo/.png"),
    ],
)
def test_replace_extension(s, replacement, result):
    assert str(P(s).replace_extension(replacement)) == result


def test_replace_extension_without_argument_removes_it():
    assert str(P("a/b.c").replace_extension()) == "a/b"


@pytest.mark.parametrize(
    "s, normal",
    [
        ("foo/./bar/..", "foo/"),
        ("foo/.///", "foo/"),
        ("a/b/../../..", ".."),
        ("../a/../..", "../.."),
        ("/..", "/"),
        ("/../a/./b", "/a/b"),
        ("//a//b//", "/a/b/"),
        ("foo/..", "."),
        ("foo/../", "."),
        (".", "."),
        ("./", "."),
        ("a/b/.", "a/b/"),
        ("../.", ".."),
        ("", ""),
    ],
)
def test_lexically_normal(s, normal):
    assert str(P(s).lexically_normal()) == normal


@pytest.mark.parametrize(
    "s, base, rel",
    [
        ("/a/d", "/a/b/c", "../../d"),
        ("/a/b/c", "/a/d", "../b/c"),
        ("a/b/c", "a", "b/c"),
        ("a/b/c", "a/b/c/x/y", "../.."),
        ("a/b/c", "a/b/c", "."),
        ("a/b", "c/d", "../../a/b"),
        ("a/b", "a/b/.", "."),
        ("a/b", "a/b/x/..", "."),
        ("a", "a/../..", ""),
        ("/a", "b", ""),
        ("a", "/b", ""),
    ],
)
def test_lexically_relative(s, base, rel):
    assert str(P(s).lexically_relative(base)) == rel
    assert str(P(s).lexically_relative(P(base))) == rel


def test_lexically_proximate_falls_back_to_the_path():
    assert str(P("/a/b").lexically_proximate("/a")) == "b"
    assert str(P("a/b").lexically_proximate("/c")) == "a/b"


def test_slash_joins_with_one_separator():
    assert P("a") / "b" == P("a/b")
    assert str(P("a/") / "b") == "a/b"
    assert str(P("a") / P("b") / "c") == "a/b/c"
    assert str(P("") / "b") == "b"
    assert str(P("a") / "") == "a/"
    assert str(P("/") / "b") == "/b"
    assert str(P("a") / "/b") == "/b"  # an absolute right side replaces the path
    assert str("x" / P("y")) == "x/y"


def test_plus_concatenates_the_native_strings():
    assert str(P("a") + "b") == "ab"
    assert str(P("dir/file") + ".txt") == "dir/file.txt"
    assert str(P("a") + P("/b")) == "a/b"
    assert str("pre" + P("x")) == "prex"
    with pytest.raises(TypeError):
        P("a") + 1


def test_comparison_is_element_by_element():
    assert P("a//b") == P("a/b")
    assert P("a/b") != P("a/b/")
    assert P("a") < P("b")
    assert P("a") < P("a/b")
    assert P("a/c") > P("a/b/c")
    assert P("a") < P("/a")  # no root directory sorts first
    assert P("a/b") <= P("a//b") and P("a/b") >= P("a//b")
    assert P("a/b").compare("a/c") < 0 and P("a/b").compare("a//b") == 0
    assert P("a") != "a"  # like pathlib: a path equals paths only
    with pytest.raises(TypeError):
        P("a") < "b"  # noqa: B015


def test_equal_paths_hash_equal():
    assert hash(P("a//b/")) == hash(P("a/b/"))
    assert len({P("a/b"), P("a//b"), P("a/b/")}) == 2
