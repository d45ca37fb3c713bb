"""Manual: "byte_span". Every claim of the reference page, in Python's terms
(0-based positions, half-open ranges, ValueError for the manual's EINVAL)."""

import copy
import errno
import gc
import pickle
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emilua.byte_span import append, byte_span

# Pure data type: no engine needed, runs once.
pytestmark = pytest.mark.pure

LWS = b" \f\n\r\t\v"


def span_of(data, capacity=None):
    s = byte_span(len(data), len(data) if capacity is None else capacity)
    s.copy(data)
    return s


# ----- new() ----------------------------------------------------------------


def test_new_is_zero_filled_with_capacity_defaulting_to_length():
    s = byte_span(5)
    assert len(s) == 5
    assert s.capacity == 5
    assert bytes(s) == b"\0" * 5


def test_new_with_capacity_hides_the_extra_bytes():
    s = byte_span(2, 10)
    assert len(s) == 2
    assert s.capacity == 10
    assert bytes(s.slice(0, 10)) == b"\0" * 10


def test_new_accepts_keyword_arguments():
    s = byte_span(length=1, capacity=4)
    assert (len(s), s.capacity) == (1, 4)


def test_zero_length_and_zero_capacity_spans_work():
    s = byte_span(0)
    assert len(s) == 0
    assert s.capacity == 0
    assert bytes(s) == b""
    assert str(s) == ""
    assert not s
    assert s.slice() == b""
    assert s.slice(0, 0).capacity == 0
    assert s.copy(b"abc") == 0
    assert memoryview(s).nbytes == 0
    assert s.find(b"") == 0
    assert s.find(b"a") is None
    assert s.rfind(b"") == 0
    assert s.find_first_of(b"a") is None
    assert s.find_last_not_of(b"a") is None
    assert s.trimmed() == b""
    assert s.append() is s
    assert s.append(None) == b""
    grown = s.append(b"xy")
    assert grown == b"xy"


def test_zero_length_with_capacity_grows_by_slicing():
    s = byte_span(0, 3)
    assert s.slice(0, 3) == b"\0\0\0"


@pytest.mark.parametrize("length, capacity", [(-1, None), (-1, 5), (5, 4), (0, -1)])
def test_new_rejects_invalid_sizes_with_einval(length, capacity):
    with pytest.raises(ValueError, match="EINVAL"):
        byte_span(length, capacity)


@pytest.mark.parametrize("args", [("3",), (3.0,), (None,), (b"abc",), (3, "4"), (3, 4.0)])
def test_new_rejects_non_integers(args):
    with pytest.raises(TypeError):
        byte_span(*args)


def test_new_reports_an_impossible_allocation_as_memory_error():
    with pytest.raises(MemoryError):
        byte_span(0, 2**62)


def test_a_span_cannot_be_reinitialised():
    s = byte_span(4)
    with pytest.raises(TypeError):
        s.__init__(8)
    assert len(s) == 4


def test_a_bare_new_span_is_a_valid_empty_span():
    s = byte_span.__new__(byte_span)
    assert len(s) == 0
    assert s.append(b"ab") == b"ab"
    s.__init__(2)
    assert s == b"\0\0"


def test_byte_span_cannot_be_subclassed():
    with pytest.raises(TypeError):
        type("sub", (byte_span,), {})


# ----- slice() --------------------------------------------------------------


def test_slice_defaults_to_the_whole_span():
    s = span_of(b"hello", capacity=8)
    t = s.slice()
    assert t == b"hello"
    assert t.capacity == 8


def test_slice_shares_memory_in_both_directions():
    s = span_of(b"hello world")
    t = s.slice(6, 11)
    assert t == b"world"
    t[0] = ord("W")
    assert s == b"hello World"
    s[10] = ord("D")
    assert t == b"WorlD"


def test_slice_capacity_counts_from_the_new_start():
    s = byte_span(4, 10)
    assert s.slice(3).capacity == 7
    assert s.slice(3, 3).capacity == 7
    assert s.slice(10, 10).capacity == 0


def test_slice_can_grow_a_span_back_to_its_capacity():
    s = span_of(b"abcdef")
    short = s.slice(0, 2)
    assert short == b"ab"
    assert short.capacity == 6
    regrown = short.slice(0, short.capacity)
    assert regrown == b"abcdef"
    # The middle of a span too: its capacity runs to the block's end.
    assert s.slice(2, 3).slice(0, 4) == b"cdef"


def test_slice_accepts_none_for_defaults():
    s = span_of(b"abc", capacity=5)
    assert s.slice(None, None) == b"abc"
    assert s.slice(1, None) == b"bc"
    assert s.slice(None, 5) == b"abc\0\0"


@pytest.mark.parametrize(
    "start, end",
    [
        (-1, 2),  # start below the first index
        (0, 6),  # running beyond the capacity
        (0, -1),  # negative end
        (-3, -1),  # negative indexes are not Python-style here
        (3, 2),  # end before start
        (6, 6),  # start beyond the capacity
        (2**70, 2**70),  # absurd values are a range error, not an overflow
        (0, -(2**70)),
    ],
)
def test_slice_rejects_invalid_ranges_with_einval(start, end):
    s = span_of(b"abc", capacity=5)
    with pytest.raises(ValueError, match="EINVAL"):
        s.slice(start, end)


def test_einval_is_both_an_os_error_and_a_value_error():
    with pytest.raises(OSError) as info:
        byte_span(3).slice(0, 4)
    assert info.value.errno == errno.EINVAL
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("start, end", [("1", 2), (0, 2.0), (b"", None)])
def test_slice_rejects_non_integer_positions(start, end):
    with pytest.raises(TypeError):
        byte_span(3).slice(start, end)


def test_slice_keeps_the_memory_alive_after_the_original_is_gone():
    s = span_of(b"abcdef")
    t = s.slice(2, 4)
    del s
    gc.collect()
    assert t == b"cd"
    assert t.slice(0, 4) == b"cdef"


# ----- copy() ---------------------------------------------------------------


@pytest.mark.parametrize(
    "src",
    [b"xyz", bytearray(b"xyz"), memoryview(b"xyz"), "xyz", span_of(b"xyz")],
    ids=["bytes", "bytearray", "memoryview", "str", "byte_span"],
)
def test_copy_accepts_every_bytes_source(src):
    s = byte_span(5)
    assert s.copy(src) == 3
    assert s == b"xyz\0\0"


def test_copy_from_a_longer_source_stops_at_self_length():
    s = byte_span(2, 10)
    assert s.copy(b"abcdef") == 2
    assert s == b"ab"
    assert s.slice(0, 10) == b"ab" + b"\0" * 8


def test_copy_from_a_shorter_source_leaves_the_rest():
    s = span_of(b"......")
    assert s.copy(span_of(b"ab")) == 2
    assert s == b"ab...."


def test_copy_with_overlap_towards_the_end():
    s = span_of(b"abcdefgh")
    assert s.slice(2, 8).copy(s.slice(0, 6)) == 6
    assert s == b"ababcdef"


def test_copy_with_overlap_towards_the_start():
    s = span_of(b"abcdefgh")
    assert s.slice(0, 6).copy(s.slice(2, 8)) == 6
    assert s == b"cdefghgh"


def test_copy_from_itself_is_a_no_op():
    s = span_of(b"abc")
    assert s.copy(s) == 3
    assert s == b"abc"


def test_copy_from_a_memoryview_of_the_same_block():
    s = span_of(b"abcdef")
    assert s.slice(1).copy(memoryview(s)[:4]) == 4
    assert s == b"aabcdf"


def test_copy_encodes_str_as_utf8():
    s = byte_span(4)
    assert s.copy("é€") == 4
    assert bytes(s) == "é€".encode()[:4]


@pytest.mark.parametrize("src", [None, 3, 1.5, [1, 2], object()])
def test_copy_rejects_other_types(src):
    with pytest.raises(TypeError, match="src"):
        byte_span(3).copy(src)


# ----- append() -------------------------------------------------------------


def test_append_in_place_while_capacity_allows():
    s = span_of(b"ab", capacity=8)
    t = s.append(b"cd", "ef")
    assert t == b"abcdef"
    assert t.capacity == 8
    assert s == b"ab"  # self is a fixed view; the bytes went past its end
    assert s.slice(0, 6) == b"abcdef"
    t[0] = ord("A")
    assert s[0] == ord("A")  # one block


def test_append_filling_the_capacity_exactly_stays_in_place():
    s = span_of(b"ab", capacity=4)
    t = s.append(b"cd")
    assert t.capacity == 4
    t[3] = ord("D")
    assert s.slice(0, 4) == b"abcD"


def test_append_beyond_capacity_moves_to_a_new_block():
    s = span_of(b"ab", capacity=3)
    t = s.append(b"cd")
    assert t == b"abcd"
    assert t.capacity >= 4
    t[0] = ord("X")
    assert s == b"ab"
    assert s.slice(0, 3) == b"ab\0"  # nothing written in the old block


def test_append_growth_is_at_least_geometric():
    s = byte_span(0, 16)
    t = s.append(b"x" * 17)
    assert t.capacity >= 32


def test_repeated_appends_amortise():
    s = byte_span(0)
    grown = set()
    for i in range(1000):
        s = s.append(bytes([i % 256]))
        grown.add(s.capacity)
    assert len(s) == 1000
    assert bytes(s) == bytes(i % 256 for i in range(1000))
    assert len(grown) < 20


def test_two_appends_to_one_span_share_the_tail_like_go():
    s = byte_span(0, 4)
    a = s.append(b"x")
    b = s.append(b"y")
    assert a == b"y"
    assert b == b"y"


def test_append_accepts_mixed_sources_and_ignores_none():
    s = span_of(b"<", capacity=2)
    t = s.append(None, b"a", None, "é", bytearray(b"b"), memoryview(b"c"), span_of(b"d"), None)
    assert bytes(t) == "<aébcd".encode()


def test_append_without_arguments_returns_self():
    s = byte_span(3)
    assert s.append() is s


def test_append_of_itself_doubles_the_content():
    s = span_of(b"ab", capacity=8)
    assert s.append(s, s) == b"ababab"
    t = span_of(b"ab")
    assert t.append(t, t) == b"ababab"


def test_append_reads_every_argument_before_writing_in_place():
    s = span_of(b"abcd", capacity=8)
    head = s.slice(0, 1)
    tail = s.slice(2, 4)  # inside the region the append overwrites
    t = head.append(b"XY", tail)
    assert t == b"aXYcd"


def test_append_handles_many_arguments():
    parts = [bytes([65 + i % 26]) for i in range(100)]
    assert append(*parts) == b"".join(parts)
    assert byte_span(0, 200).append(*parts) == b"".join(parts)


def test_append_rejects_other_types_and_leaves_self_alone():
    s = span_of(b"ab", capacity=8)
    with pytest.raises(TypeError):
        s.append(b"cd", 5)
    assert s.slice(0, 4) == b"ab\0\0"


def test_free_append_creates_a_new_span_from_scratch():
    base = span_of(b"ab", capacity=8)
    t = append(base, b"cd", "e")
    assert t == b"abcde"
    assert t.capacity == 5
    t[0] = ord("X")
    assert base.slice(0, 8) == b"ab" + b"\0" * 6


def test_free_append_with_nil_first_like_the_manual_loop():
    # Manual, websocket example: text = byte_span.append(text, buf:slice(...)).
    text = None
    buf = byte_span(16)
    for chunk in (b"hello ", b"world"):
        n = buf.copy(chunk)
        text = append(text, buf.slice(0, n))
    assert text == b"hello world"


def test_free_append_builds_the_manual_uidmap_line():
    assert append("0", str(1000), "1\n") == b"010001\n"


def test_free_append_without_content_is_empty():
    for t in (append(), append(None), append(b"", "", None)):
        assert len(t) == 0
        assert t.capacity == 0


# ----- items ----------------------------------------------------------------


def test_items_are_octet_values():
    s = span_of(b"AB\xff")
    assert [s[0], s[1], s[2]] == [65, 66, 255]
    s[1] = 0
    assert s == b"A\0\xff"


def test_negative_item_indices_count_from_the_end():
    s = span_of(b"abc")
    assert s[-1] == ord("c")
    assert s[-3] == ord("a")
    s[-1] = ord("z")
    assert s == b"abz"


@pytest.mark.parametrize("i", [3, -4, 2**70, -(2**70)])
def test_item_index_out_of_range(i):
    s = span_of(b"abc", capacity=10)  # capacity does not extend item access
    with pytest.raises(IndexError):
        s[i]
    with pytest.raises(IndexError):
        s[i] = 1


def test_item_access_on_an_empty_span_raises_index_error():
    with pytest.raises(IndexError):
        byte_span(0)[0]


@pytest.mark.parametrize("value", [-1, 256, 2**70])
def test_item_value_outside_an_octet(value):
    s = byte_span(1)
    with pytest.raises(ValueError):
        s[0] = value
    assert s[0] == 0


@pytest.mark.parametrize("value", [b"a", "a", 1.0, None])
def test_item_value_must_be_an_integer(value):
    with pytest.raises(TypeError):
        byte_span(1)[0] = value


@pytest.mark.parametrize("key", ["0", 0.0, None])
def test_item_key_must_be_an_integer_or_slice(key):
    s = byte_span(1)
    with pytest.raises(TypeError):
        s[key]
    with pytest.raises(TypeError):
        s[key] = 1


def test_items_cannot_be_deleted():
    s = byte_span(3)
    with pytest.raises(TypeError):
        del s[0]
    with pytest.raises(TypeError):
        del s[0:1]


def test_iteration_yields_octet_values():
    assert list(span_of(b"\x00\x7f\xff")) == [0, 127, 255]
    assert list(reversed(span_of(b"ab"))) == [98, 97]


def test_contains_octets_and_substrings():
    s = span_of(b"hello")
    assert ord("e") in s
    assert 0 not in s
    assert b"ll" in s
    assert "lo" in s
    assert b"" in s
    assert b"lol" not in s
    with pytest.raises(ValueError):
        256 in s  # noqa: B015


# ----- subscript slices -----------------------------------------------------


def test_subscript_slices_follow_python_rules_and_share_memory():
    s = span_of(b"abcdef", capacity=10)
    t = s[1:-1]
    assert t == b"bcde"
    assert t.capacity == 9
    t[0] = ord("B")
    assert s == b"aBcdef"
    assert s[-2:] == b"ef"
    assert s[:100] == b"aBcdef"  # clipped to len(), as for bytes
    assert s[4:2] == b""
    assert s[:] == s


def test_subscript_slices_must_be_contiguous():
    with pytest.raises(ValueError):
        byte_span(4)[::2]
    with pytest.raises(ValueError):
        byte_span(4)[::-1]


def test_subscript_slice_assignment_copies_in_place():
    s = span_of(b"abcdef")
    s[1:3] = b"XY"
    assert s == b"aXYdef"
    s[-2:] = "zz"
    assert s == b"aXYdzz"
    s[0:4] = s[2:6]  # overlapping
    assert s == b"Ydzzzz"


def test_subscript_slice_assignment_cannot_resize():
    s = span_of(b"abc")
    with pytest.raises(ValueError):
        s[0:1] = b"xy"
    assert s == b"abc"


# ----- conversions and comparison -------------------------------------------


def test_bytes_and_str_of_a_span():
    s = span_of("héllo".encode())
    assert bytes(s) == "héllo".encode()
    assert str(s) == "héllo"


def test_str_round_trips_undecodable_octets():
    raw = b"\xff\xfe ok \x80"
    s = span_of(raw)
    text = str(s)
    assert append(text) == raw
    t = byte_span(len(raw))
    t.copy(text)
    assert t == raw


def test_str_arguments_with_lone_surrogates_are_rejected():
    with pytest.raises(UnicodeEncodeError):
        append("\ud800")


def test_repr_shows_length_capacity_and_a_prefix():
    assert repr(span_of(b"hi", capacity=4)) == "<byte_span len=2 capacity=4 b'hi'>"
    long = repr(byte_span(1000))
    assert long.startswith("<byte_span len=1000 capacity=1000 b'\\x00")
    assert long.endswith("...>")
    assert len(long) < 400


def test_equality_compares_contents():
    a = span_of(b"abc", capacity=10)
    assert a == span_of(b"abc")
    assert a == b"abc"
    assert b"abc" == a
    assert a == bytearray(b"abc")
    assert a == memoryview(b"abc")
    assert memoryview(b"abc") == a
    assert a == "abc"
    assert "abc" == a
    assert a != b"abcd"
    assert a != b"abd"
    assert a != span_of(b"ab")
    assert not (a != b"abc")
    assert append("é") == "é"
    assert byte_span(0) == b""


def test_equality_with_unrelated_types_is_false():
    a = span_of(b"abc")
    assert a != 3
    assert a != None  # noqa: E711
    assert a != [97, 98, 99]


def test_spans_are_not_hashable():
    with pytest.raises(TypeError):
        hash(byte_span(1))


def test_spans_cannot_be_pickled_or_copied_implicitly():
    with pytest.raises(TypeError, match="bytes"):
        copy.copy(byte_span(1))
    with pytest.raises(TypeError):
        pickle.dumps(byte_span(1))


# ----- buffer protocol ------------------------------------------------------


def test_memoryview_is_a_writable_view_of_the_current_length():
    s = span_of(b"abc", capacity=8)
    m = memoryview(s)
    assert not m.readonly
    assert (m.format, m.itemsize, m.ndim, m.shape, m.strides) == ("B", 1, 1, (3,), (1,))
    assert m.c_contiguous
    m[1] = ord("X")
    m[2:3] = b"Y"
    assert s == b"aXY"
    assert m.tobytes() == b"aXY"


def test_exported_buffers_keep_the_memory_alive():
    s = span_of(b"abc")
    m = memoryview(s)
    del s
    gc.collect()
    assert m.tobytes() == b"abc"
    m[0] = ord("z")
    assert m.tobytes() == b"zbc"
    m.release()


def test_exported_buffers_do_not_block_appends():
    s = span_of(b"ab", capacity=2)
    with memoryview(s) as m:
        t = s.append(b"cd")
        m[0] = ord("A")
    assert t == b"abcd"
    assert s == b"Ab"


def test_recv_into_a_span_and_a_slice():
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"hello world")
        buf = byte_span(64)
        n = b.recv_into(buf)
        assert buf.slice(0, n) == b"hello world"
        a.sendall(b"XYZ")
        window = buf.slice(6, 9)
        assert b.recv_into(window) == 3
        assert buf.slice(0, n) == b"hello XYZld"
        b.sendall(buf.slice(0, n))
        assert a.recv(64) == b"hello XYZld"


def test_span_works_with_readinto_and_struct():
    import io
    import struct

    s = byte_span(4)
    assert io.BytesIO(b"\x01\x02\x03\x04").readinto(s) == 4
    assert struct.unpack_from(">I", s) == (0x01020304,)
    struct.pack_into("<H", s, 1, 0xABCD)
    assert s == b"\x01\xcd\xab\x04"


def test_argument_buffers_are_released_on_every_path():
    # A bytearray cannot resize while a buffer export is alive, so a leaked
    # export shows up as BufferError.
    arg = bytearray(b"ab")
    s = span_of(b"xxab  ", capacity=8)
    s.copy(arg)
    s.append(arg, memoryview(arg))
    append(None, arg)
    s.starts_with(arg), s.ends_with(arg), s.find(arg), s.rfind(arg)
    s.find_first_of(arg), s.find_last_of(arg), s.find_first_not_of(arg)
    s.find_last_not_of(arg), s.trimmed(arg), s == arg, arg in s
    s[0:2] = arg
    with pytest.raises(TypeError):
        s.append(arg, arg, 3)  # fails after two arguments were acquired
    with pytest.raises(ValueError):
        s[0:1] = arg
    arg.extend(b"resizable")


def test_bytes_like_consumers_accept_spans():
    s = span_of(b"a,b")
    assert b"x" + s == b"xa,b"
    assert bytearray(s) == b"a,b"
    assert s.slice(0, 0) == b""
    assert b"".join([s, s]) == b"a,ba,b"


# ----- string algorithms ----------------------------------------------------


def test_starts_with_and_ends_with():
    s = span_of(b"hello world", capacity=20)
    assert s.starts_with(b"hello")
    assert s.starts_with("")
    assert s.starts_with(span_of(b"hello world"))
    assert not s.starts_with(b"hello world!")
    assert not s.starts_with(b"world")
    assert s.ends_with("world")
    assert s.ends_with(b"")
    assert not s.ends_with(b"hello")
    assert not s.ends_with(b"!hello world")
    assert byte_span(0).starts_with(b"")
    assert not byte_span(0).ends_with(b"x")


def test_find_returns_zero_based_indices_or_none():
    s = span_of(b"abcabc")
    assert s.find(b"bc") == 1
    assert s.find("bc", 2) == 4
    assert s.find(b"bc", 5) is None
    assert s.find(b"x") is None
    assert s.find(b"abcabcd") is None
    assert s.find(b"", 6) == 6
    assert s.find(span_of(b"ca")) == 2


def test_rfind_matches_must_end_by_end():
    s = span_of(b"abcabc")
    assert s.rfind(b"bc") == 4
    assert s.rfind(b"bc", 5) == 1
    assert s.rfind(b"bc", 6) == 4
    assert s.rfind(b"a", 1) == 0
    assert s.rfind(b"a", 0) is None
    assert s.rfind(b"", 3) == 3
    assert s.rfind(b"x") is None


def test_find_of_family():
    s = span_of(b"  key = value;  ")
    assert s.find_first_of(b"=;") == 6
    assert s.find_first_of("=;", 7) == 13
    assert s.find_last_of(b"=;") == 13
    assert s.find_last_of(b"=;", 13) == 6
    assert s.find_first_not_of(b" ") == 2
    assert s.find_first_not_of(b" ", 5) == 6
    assert s.find_last_not_of(b" ") == 13
    assert s.find_last_not_of(b" ;", 14) == 12
    assert s.find_first_of(b"") is None
    assert s.find_last_of(b"") is None
    assert s.find_first_not_of(b"") == 0
    assert s.find_last_not_of(b"") == 15
    assert s.find_first_of(b"x") is None
    assert s.find_first_not_of(b" =;keyvalu") is None


def test_find_positions_at_the_edges():
    s = span_of(b"abc", capacity=10)
    assert s.find_first_of(b"abc", 3) is None
    assert s.find_first_not_of(b"", 3) is None
    assert s.find_last_of(b"abc", 0) is None
    assert s.find_last_not_of(b"", 0) is None


@pytest.mark.parametrize(
    "method, position",
    [
        ("find", -1),
        ("find", 4),
        ("rfind", -1),
        ("rfind", 4),
        ("find_first_of", -1),
        ("find_first_of", 4),
        ("find_first_not_of", 4),
        ("find_last_of", -1),
        ("find_last_of", 4),
        ("find_last_not_of", 4),
        ("find", 2**70),
        ("rfind", -(2**70)),
    ],
)
def test_find_positions_outside_the_span_are_einval(method, position):
    s = span_of(b"abc", capacity=10)  # capacity does not extend the search
    with pytest.raises(ValueError, match="EINVAL"):
        getattr(s, method)(b"a", position)


@pytest.mark.parametrize(
    "method",
    [
        "starts_with",
        "ends_with",
        "find",
        "rfind",
        "find_first_of",
        "find_last_of",
        "find_first_not_of",
        "find_last_not_of",
        "trimmed",
    ],
)
def test_string_algorithms_reject_other_types(method):
    with pytest.raises(TypeError):
        getattr(span_of(b"abc"), method)(97)


def test_string_algorithms_treat_str_as_utf8_octets():
    s = span_of("aé".encode())
    assert s.find("é") == 1
    assert s.find_first_of("é") == 1  # either of the two octets of é
    assert s.find_last_of("é") == 2
    assert s.ends_with("é")


def test_trimmed_uses_linear_white_space_by_default():
    s = span_of(b" \t\r\n\f\vhello world \r\n", capacity=30)
    t = s.trimmed()
    assert t == b"hello world"
    assert t.capacity == 30 - 6
    t[0] = ord("H")
    assert s[6] == ord("H")


def test_trimmed_with_custom_set():
    s = span_of(b"xxhixyx")
    assert s.trimmed(b"xy") == b"hi"
    assert s.trimmed("x") == b"hixy"
    assert s.trimmed(b"") == s
    assert s.trimmed(None) == s


def test_trimmed_of_only_white_space_is_empty():
    s = span_of(b" \t \n", capacity=6)
    t = s.trimmed()
    assert len(t) == 0
    assert t.capacity == 2
    assert byte_span(0).trimmed() == b""


# ----- properties against Python's bytes ------------------------------------


def over(alphabet, max_size):
    # Few distinct octets, so that searches hit as often as they miss.
    return st.lists(st.sampled_from(alphabet), max_size=max_size).map(bytes)


octets = over(b"`abc", 24)
needles = over(b"`abc", 4)
sets = over(b"`abcd", 4)


def none_for_missing(i):
    return None if i < 0 else i


@given(octets, needles, st.data())
def test_find_agrees_with_bytes(data, needle, draw):
    start = draw.draw(st.integers(0, len(data)))
    assert span_of(data).find(needle, start) == none_for_missing(data.find(needle, start))


@given(octets, needles, st.data())
def test_rfind_agrees_with_bytes(data, needle, draw):
    end = draw.draw(st.integers(0, len(data)))
    assert span_of(data).rfind(needle, end) == none_for_missing(data.rfind(needle, 0, end))


def first_index(data, start, pred):
    return next((i for i in range(start, len(data)) if pred(data[i])), None)


def last_index(data, end, pred):
    return next((i for i in reversed(range(end)) if pred(data[i])), None)


@given(octets, sets, st.data())
def test_find_of_family_agrees_with_a_reference(data, chars, draw):
    s = span_of(data)
    start = draw.draw(st.integers(0, len(data)))
    end = draw.draw(st.integers(0, len(data)))
    assert s.find_first_of(chars, start) == first_index(data, start, lambda c: c in chars)
    assert s.find_first_not_of(chars, start) == first_index(data, start, lambda c: c not in chars)
    assert s.find_last_of(chars, end) == last_index(data, end, lambda c: c in chars)
    assert s.find_last_not_of(chars, end) == last_index(data, end, lambda c: c not in chars)


@given(octets, sets)
def test_trimmed_agrees_with_bytes_strip(data, chars):
    assert bytes(span_of(data).trimmed(chars)) == data.strip(chars)


@given(over(LWS + b"ab", 32))
def test_default_trimmed_agrees_with_bytes_strip(data):
    assert bytes(span_of(data).trimmed()) == data.strip(LWS)


@given(octets, needles)
def test_starts_and_ends_with_agree_with_bytes(data, affix):
    s = span_of(data)
    assert s.starts_with(affix) == data.startswith(affix)
    assert s.ends_with(affix) == data.endswith(affix)


@given(st.binary(max_size=16), st.integers(0, 16), st.integers(0, 16))
def test_copy_within_one_block_agrees_with_a_snapshot(data, src_start, dst_start):
    size = len(data)
    src_start = min(src_start, size)
    dst_start = min(dst_start, size)
    s = span_of(data)
    expected = bytearray(data)
    src = data[src_start:]
    n = min(size - dst_start, len(src))
    expected[dst_start : dst_start + n] = src[:n]
    assert s.slice(dst_start).copy(s.slice(src_start)) == n
    assert bytes(s) == bytes(expected)


@given(st.lists(st.one_of(st.none(), st.binary(max_size=8)), max_size=6), st.integers(0, 8))
def test_append_agrees_with_concatenation(parts, spare):
    base = span_of(b"base", capacity=4 + spare)
    expected = b"base" + b"".join(p for p in parts if p is not None)
    assert base.append(*parts) == expected
    assert append(*parts) == expected[4:]
