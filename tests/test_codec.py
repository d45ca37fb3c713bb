"""Manual: "Message serialization" (and "Tests"): the bounded container message.

One test per class of good input, one per accidental bad send, the layout of
the wire struct, and the rejection of malformed messages. Every test checks
that the process ends with the descriptors it started with.
"""

import fcntl
import gc
import math
import os
import pickle
import socket
import struct
import threading

import pytest

from emilua._core import codec

# Pure data and socket calls: no engine, no fibers.
pytestmark = pytest.mark.pure

MAX_MEMBERS = codec.MAX_MEMBERS
MESSAGE_SIZE = codec.MESSAGE_SIZE
STRBUF_SIZE = codec.STRBUF_SIZE
ActorAddress = codec.ActorAddress
FileDescriptor = codec.FileDescriptor
Kind = codec.Kind
MessageError = codec.MessageError

EXPONENT = 0x7FF0000000000000
CANONICAL_NAN = 0x7FF8000000000000
MEMBERS_SIZE = 8 * MAX_MEMBERS


def tag(kind):
    return EXPONENT | kind


def members_of(data):
    return list(struct.unpack_from(f"={MAX_MEMBERS}Q", data))


def strbuf_of(data):
    return bytes(data[MEMBERS_SIZE:])


def pack(members, strbuf=b""):
    """A raw message: the members (padded with zeros) then strbuf."""
    members = list(members) + [0] * (MAX_MEMBERS - len(members))
    return struct.pack(f"={MAX_MEMBERS}Q", *members) + strbuf.ljust(STRBUF_SIZE, b"\0")


def double_bits(x):
    return struct.unpack("=Q", struct.pack("=d", x))[0]


def float_from_bits(bits):
    return struct.unpack("=d", struct.pack("=Q", bits))[0]


def lp(s):
    """A length-prefixed strbuf entry."""
    raw = s.encode() if isinstance(s, str) else s
    return bytes([len(raw)]) + raw


def is_open(fd):
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        return False
    return True


def open_fds():
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_fd_leak():
    # Garbage left by earlier tests may close descriptors while this one runs.
    gc.collect()
    before = open_fds()
    yield
    if open_fds() != before:
        gc.collect()  # a traceback cycle may still hold a descriptor box
    assert open_fds() == before


@pytest.fixture
def seqpacket():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        yield a, b


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        if is_open(fd):
            os.close(fd)


def roundtrip(value):
    data, fds = codec.encode(value)
    assert len(data) == MESSAGE_SIZE
    # decode() takes ownership of what it is given: hand it duplicates, as
    # SCM_RIGHTS would.
    return codec.decode(data, [os.dup(fd) for fd in fds])


# --- the wire struct ---------------------------------------------------------


def test_constants_are_emilua_defaults():
    assert MAX_MEMBERS == 20
    assert MESSAGE_SIZE == 512
    assert STRBUF_SIZE == MESSAGE_SIZE - 8 * MAX_MEMBERS == 352
    assert codec.MAX_STRING_SIZE == 255
    assert [int(k) for k in Kind] == [1, 2, 3, 4, 5, 6]
    assert Kind.nil == 6 and Kind.string == 3


def test_struct_has_no_padding():
    layout = codec._layout()
    assert layout["sizeof"] == MESSAGE_SIZE
    assert layout["sizeof_member"] == 8
    assert layout["member_offsets"] == [8 * i for i in range(MAX_MEMBERS)]
    assert layout["strbuf_offset"] == 8 * MAX_MEMBERS
    assert layout["strbuf_size"] == STRBUF_SIZE
    assert layout["strbuf_offset"] + layout["strbuf_size"] == layout["sizeof"]


def test_single_value_is_stored_in_members_1_after_nil():
    data, fds = codec.encode(2.5)
    assert fds == []
    m = members_of(data)
    assert m[0] == tag(Kind.nil)
    assert m[1] == double_bits(2.5)
    assert m[2:] == [0] * (MAX_MEMBERS - 2)
    assert strbuf_of(data) == b"\0" * STRBUF_SIZE


def test_string_is_length_prefixed_in_strbuf():
    data, _ = codec.encode("héllo")
    assert members_of(data)[:2] == [tag(Kind.nil), tag(Kind.string)]
    assert strbuf_of(data) == lp("héllo").ljust(STRBUF_SIZE, b"\0")


def test_dict_members_are_values_and_keys_precede_string_values_in_strbuf():
    data, _ = codec.encode({"a": 1, "bb": "xyz", "c": False})
    m = members_of(data)
    assert m[:4] == [double_bits(1.0), tag(Kind.string), tag(Kind.boolean_false), tag(Kind.nil)]
    assert m[4:] == [0] * (MAX_MEMBERS - 4)
    assert strbuf_of(data) == (lp("a") + lp("bb") + lp("xyz") + lp("c")).ljust(STRBUF_SIZE, b"\0")


def test_full_dict_has_no_sentinel():
    value = {f"k{i}": i for i in range(MAX_MEMBERS)}
    data, _ = codec.encode(value)
    assert members_of(data) == [double_bits(float(i)) for i in range(MAX_MEMBERS)]
    assert roundtrip(value) == value


def test_dict_one_short_of_full_ends_with_sentinel():
    value = {f"k{i}": True for i in range(MAX_MEMBERS - 1)}
    data, _ = codec.encode(value)
    assert members_of(data)[-1] == tag(Kind.nil)
    assert roundtrip(value) == value


def test_unused_bytes_are_zeroed():
    # encode() builds every message in the same stack struct: without the
    # memset, this small message would carry the big one's bytes along.
    big = {f"key{i:02}": "v" * 10 for i in range(MAX_MEMBERS)}
    codec.encode(big)
    data, _ = codec.encode({"k": 1})
    assert members_of(data)[2:] == [0] * (MAX_MEMBERS - 2)
    assert strbuf_of(data)[2:] == b"\0" * (STRBUF_SIZE - 2)
    data, _ = codec.encode(True)
    assert data == pack([tag(Kind.nil), tag(Kind.boolean_true)])


# --- good inputs -------------------------------------------------------------

LEAVES = [
    True,
    False,
    0.0,
    -2.5,
    1e308,
    5e-324,
    float("inf"),
    float("-inf"),
    "",
    "a",
    "x" * 255,
    "\u20ac" * 85,  # 255 bytes of 3-byte characters
    "\U0001f600" * 63,  # 252 bytes of 4-byte characters
]


@pytest.mark.parametrize("value", LEAVES, ids=repr)
def test_leaf_alone_round_trips(value):
    got = roundtrip(value)
    assert type(got) is type(value)
    assert got == value


@pytest.mark.parametrize("value", LEAVES, ids=repr)
def test_leaf_in_dict_round_trips(value):
    got = roundtrip({"before": 1, "leaf": value, "after": "z"})
    assert got == {"before": 1.0, "leaf": value, "after": "z"}
    assert type(got["leaf"]) is type(value)


def test_nan_round_trips_as_float():
    assert math.isnan(roundtrip(float("nan")))
    assert math.isnan(roundtrip({"n": float("nan")})["n"])


def test_negative_zero_keeps_its_sign():
    assert math.copysign(1.0, roundtrip(-0.0)) == -1.0


@pytest.mark.parametrize(
    "bits",
    [
        0x7FF8000000000ABC,  # quiet NaN with a payload
        0xFFF8000000000000,  # negative quiet NaN
        0x7FF0000000000003,  # signalling NaN spelling the string tag
        0x7FF0000000000006,  # ... and nil
        0xFFF0000000000001,
    ],
    ids=hex,
)
def test_user_nan_is_canonicalised(bits):
    nan = float_from_bits(bits)
    # CPython keeps NaN payload bits through struct: this is why the encoder
    # has to canonicalise instead of copying the double.
    assert double_bits(nan) == bits
    data, _ = codec.encode(nan)
    assert members_of(data)[1] == CANONICAL_NAN
    data, _ = codec.encode({"k": nan})
    assert members_of(data)[0] == CANONICAL_NAN
    assert math.isnan(codec.decode(data)["k"])


@pytest.mark.parametrize("n", [0, 1, -1, 2**53, -(2**53), 2**60, 2**1023, -(2**62) * 3])
def test_int_exactly_representable_is_sent_as_double(n):
    got = roundtrip(n)
    assert type(got) is float
    assert got == n


def test_bool_is_not_an_int():
    assert members_of(codec.encode(True)[0])[1] == tag(Kind.boolean_true)
    assert members_of(codec.encode(False)[0])[1] == tag(Kind.boolean_false)
    assert roundtrip({"t": True, "one": 1}) == {"t": True, "one": 1.0}
    assert type(roundtrip({"t": True})["t"]) is bool


def test_subclasses_of_leaf_types_are_accepted():
    import enum

    class Colour(enum.IntEnum):
        red = 3

    class Name(str):
        pass

    class Weight(float):
        pass

    assert roundtrip(Colour.red) == 3.0
    assert roundtrip(Name("x")) == "x"
    assert roundtrip(Weight(1.5)) == 1.5
    assert roundtrip({Name("key"): Name("v")}) == {"key": "v"}


def test_every_leaf_kind_in_one_dict(pipe, seqpacket):
    r, w = pipe
    a, _ = seqpacket
    value = {
        "t": True,
        "f": False,
        "n": 3.5,
        "s": "text",
        "fd": FileDescriptor(os.dup(w)),
        "addr": ActorAddress(os.dup(a.fileno())),
    }
    got = roundtrip(value)
    assert list(got) == list(value)  # member order is dict order
    assert {k: got[k] for k in "tfns"} == {"t": True, "f": False, "n": 3.5, "s": "text"}
    assert type(got["fd"]) is FileDescriptor
    assert type(got["addr"]) is ActorAddress
    for k in ("fd", "addr"):
        got[k].close()
        value[k].close()


def test_dict_keys_may_be_empty_or_255_bytes():
    value = {"": 1, "k" * 255: 2}
    assert roundtrip(value) == value


def test_strings_may_fill_strbuf_exactly():
    # key: 1 + 255 bytes, value: 1 + 95 bytes = 352 = STRBUF_SIZE
    value = {"k" * 255: "v" * 95}
    data, _ = codec.encode(value)
    assert strbuf_of(data)[-1:] == b"v"
    assert roundtrip(value) == value


def test_encode_returns_descriptors_in_member_order(pipe):
    r, w = pipe
    with FileDescriptor(os.dup(r)) as fr, FileDescriptor(os.dup(w)) as fw:
        data, fds = codec.encode({"x": 1, "w": fw, "s": "s", "r": fr})
        assert fds == [fw.fileno(), fr.fileno()]
        assert members_of(data)[:4] == [
            double_bits(1.0),
            tag(Kind.file_descriptor),
            tag(Kind.string),
            tag(Kind.file_descriptor),
        ]
        assert not fw.closed  # encode() borrows; the leaves still own them


def test_single_fd_leaf(pipe):
    r, w = pipe
    with FileDescriptor(os.dup(w)) as f:
        data, fds = codec.encode(f)
        assert members_of(data)[:2] == [tag(Kind.nil), tag(Kind.file_descriptor)]
        assert fds == [f.fileno()]
        got = codec.decode(data, [os.dup(fds[0])])
    with got:
        assert type(got) is FileDescriptor
        os.write(got.fileno(), b"!")
    assert os.read(r, 1) == b"!"


# --- accidental bad sends ----------------------------------------------------


class Opaque:
    pass


@pytest.mark.parametrize(
    "value, exc",
    [
        (None, TypeError),
        ({}, ValueError),
        ({"a": {}}, TypeError),
        ({"a": {"b": 1}}, TypeError),
        ({"a": [1]}, TypeError),
        ([1], TypeError),
        ((1,), TypeError),
        ({1, 2}, TypeError),
        (b"bytes", TypeError),
        (bytearray(b"x"), TypeError),
        (memoryview(b"x"), TypeError),
        ({"a": b"x"}, TypeError),
        ({"a": None}, TypeError),
        (Opaque(), TypeError),
        ({"a": Opaque()}, TypeError),
        (1j, TypeError),
        ("x" * 256, ValueError),
        ("\u20ac" * 86, ValueError),  # 258 bytes in UTF-8
        ({"k" * 256: 1}, ValueError),
        ({"a": "v" * 256}, ValueError),
        ({1: 1}, TypeError),
        ({None: 1}, TypeError),
        ({b"k": 1}, TypeError),
        ({("a",): 1}, TypeError),
        ({f"k{i}": i for i in range(MAX_MEMBERS + 1)}, ValueError),
        ({"k" * 255: "v" * 96}, ValueError),  # 353 bytes of strbuf
        ({f"{i:02}" + "k" * 20: "v" * 20 for i in range(10)}, ValueError),
        (2**53 + 1, ValueError),
        (-(2**53) - 1, ValueError),
        (10**400, ValueError),
        ("\ud800", ValueError),  # a lone surrogate has no UTF-8 form
        ({"\udfff": 1}, ValueError),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_invalid_send_raises(value, exc):
    with pytest.raises(exc):
        codec.encode(value)


def test_closed_descriptor_cannot_be_sent(pipe):
    f = FileDescriptor(os.dup(pipe[1]))
    f.close()
    with pytest.raises(ValueError, match="closed"):
        codec.encode(f)
    with pytest.raises(ValueError, match="closed"):
        codec.encode({"f": f})


def test_invalid_send_sends_nothing(seqpacket):
    a, b = seqpacket
    b.setblocking(False)
    for bad in (None, {}, {"a": [1]}, "x" * 256):
        with pytest.raises((TypeError, ValueError)):
            codec.send_message(a, bad)
    with pytest.raises(BlockingIOError):
        codec.recv_message(b)


def test_dict_subclass_with_lying_items_is_bounded():
    class Lying(dict):
        def items(self):
            return [(f"k{i}", i) for i in range(MAX_MEMBERS + 5)]

    with pytest.raises(ValueError):
        codec.encode(Lying(a=1))

    class Empty(dict):
        def items(self):
            return []

    with pytest.raises(ValueError):
        codec.encode(Empty(a=1))


# --- malformed messages ------------------------------------------------------

GOOD = pack([tag(Kind.nil), double_bits(1.0)])


def reject(data, fds=(), nbytes=None, flags=0):
    """Decode must raise MessageError and close every given descriptor."""
    fds = list(fds)
    with pytest.raises(MessageError):
        if nbytes is None and flags == 0:
            codec.decode(data, fds)
        else:
            codec.decode_received(data, len(data) if nbytes is None else nbytes, flags, fds)
    for fd in fds:
        assert not is_open(fd)


def dups(n, fd):
    return [os.dup(fd) for _ in range(n)]


def test_good_baseline_decodes():
    assert codec.decode(GOOD) == 1.0


@pytest.mark.parametrize("size", [0, 1, 8, 15, 16, MEMBERS_SIZE, MESSAGE_SIZE - 1])
def test_truncated_message_is_rejected(size):
    reject(GOOD[:size])


@pytest.mark.parametrize("extra", [1, 8, 100, 4096])
def test_oversized_message_is_rejected(extra):
    reject(GOOD + b"\0" * extra)


def test_received_byte_count_rules_over_buffer_size():
    buf = bytearray(GOOD) + bytearray(100)
    assert codec.decode_received(buf, MESSAGE_SIZE, 0, []) == 1.0
    reject(buf, nbytes=MESSAGE_SIZE - 1)
    reject(buf, nbytes=0)
    with pytest.raises(ValueError):
        codec.decode_received(GOOD, MESSAGE_SIZE + 1, 0, [])


@pytest.mark.parametrize("nbytes", [-1, -2, -(2**40)])
def test_negative_received_byte_count_is_rejected_and_closes_the_fds(nbytes, pipe):
    # A failed recvmsg(2) returns -1: there is no message to decode, not a
    # whole buffer's worth of one.
    fds = dups(2, pipe[1])
    with pytest.raises(ValueError, match="negative"):
        codec.decode_received(GOOD, nbytes, 0, fds)
    for fd in fds:
        assert not is_open(fd)


@pytest.mark.parametrize("flag", [socket.MSG_TRUNC, socket.MSG_CTRUNC])
def test_truncation_flags_are_rejected(flag, pipe):
    reject(GOOD, nbytes=MESSAGE_SIZE, flags=flag)
    data, _ = codec.encode(FileDescriptor(os.dup(pipe[1])))
    reject(data, dups(1, pipe[1]), nbytes=MESSAGE_SIZE, flags=flag)


@pytest.mark.parametrize(
    "bits",
    [
        tag(0x7),
        tag(0x8),
        tag(0xFFFFFFFFFFFFF),
        tag(0x7FFFFFFFFFFFF),  # largest signalling mantissa
        0xFFF0000000000001,  # a tag with the sign bit set
        0x7FF8000000000001,  # quiet NaN with a payload
        0xFFF8000000000000,  # negative quiet NaN
        0x7FF4000000000000,  # signalling NaN, tag bits clear
    ],
    ids=hex,
)
def test_unknown_tag_or_noncanonical_nan_is_rejected(bits):
    reject(pack([tag(Kind.nil), bits]))
    reject(pack([bits, tag(Kind.nil)], lp("k")))
    reject(pack([double_bits(1.0), bits, tag(Kind.nil)], lp("a") + lp("b")))


def test_infinity_is_a_number_not_a_tag():
    assert codec.decode(pack([tag(Kind.nil), EXPONENT])) == math.inf


def test_single_value_nil_is_rejected():
    reject(pack([tag(Kind.nil), tag(Kind.nil)]))


def test_first_member_nil_means_single_value_not_empty_dict():
    # An all-nil-then-zero message is "the value 0.0", never an empty dict.
    assert codec.decode(pack([tag(Kind.nil)])) == 0.0


def test_garbage_after_the_value_is_rejected():
    reject(pack([tag(Kind.nil), double_bits(1.0), 1]))
    reject(pack([tag(Kind.nil), double_bits(1.0), 0, 0, 0, tag(Kind.nil)]))
    reject(pack([tag(Kind.nil), double_bits(1.0)], b"\0" * 100 + b"\1"))
    reject(pack([tag(Kind.nil), tag(Kind.string)], lp("ab") + b"c"))


def test_garbage_after_the_dict_sentinel_is_rejected():
    reject(pack([double_bits(1.0), tag(Kind.nil), double_bits(2.0)], lp("a")))
    reject(pack([double_bits(1.0), tag(Kind.nil)], lp("a") + b"\xff"))


def test_string_running_past_strbuf_is_rejected():
    # key 255 bytes at 0..255, value announces 255 bytes from 257: past 352.
    raw = lp("k" * 255) + bytes([255]) + b"v" * 95
    assert len(raw) == STRBUF_SIZE
    reject(pack([tag(Kind.string), tag(Kind.nil)], raw))
    # One byte too long: the bound is exact.
    raw = lp("k" * 255) + bytes([96]) + b"v" * 95
    reject(pack([tag(Kind.string), tag(Kind.nil)], raw))
    reject(pack([tag(Kind.nil), tag(Kind.string)], bytes([255]) + b"x" * 351)[:-1] + b"\0")
    # A 95-byte value ends exactly at the end of strbuf, and is accepted.
    raw = lp("k" * 255) + lp("v" * 95)
    assert codec.decode(pack([tag(Kind.string), tag(Kind.nil)], raw)) == {"k" * 255: "v" * 95}


def test_length_byte_past_strbuf_is_rejected():
    # Two keys consume all of strbuf; the third member's key would start at
    # STRBUF_SIZE.
    raw = lp("a" * 255) + lp("b" * 95)
    assert len(raw) == STRBUF_SIZE
    reject(pack([double_bits(1.0), double_bits(2.0), double_bits(3.0), tag(Kind.nil)], raw))
    # One byte earlier, the last byte of strbuf is the length of an empty key.
    raw = lp("a" * 255) + lp("b" * 94)
    data = pack([double_bits(1.0), double_bits(2.0), double_bits(3.0), tag(Kind.nil)], raw)
    assert codec.decode(data) == {"a" * 255: 1.0, "b" * 94: 2.0, "": 3.0}


def test_duplicate_keys_are_rejected():
    reject(pack([double_bits(1.0), double_bits(2.0), tag(Kind.nil)], lp("k") + lp("k")))


def test_all_zero_message_is_a_dict_of_duplicate_empty_keys():
    reject(bytes(MESSAGE_SIZE))


@pytest.mark.parametrize("raw", [b"\xff", b"\xc3", b"\xed\xa0\x80", b"a\x80"])
def test_invalid_utf8_is_rejected(raw):
    reject(pack([tag(Kind.nil), tag(Kind.string)], lp(raw)))
    reject(pack([double_bits(1.0), tag(Kind.nil)], lp(raw)))
    reject(pack([tag(Kind.string), tag(Kind.nil)], lp("k") + lp(raw)))


def test_invalid_utf8_closes_descriptors(pipe):
    data = pack(
        [tag(Kind.file_descriptor), tag(Kind.string), tag(Kind.nil)],
        lp("f") + lp("s") + lp(b"\xff"),
    )
    reject(data, dups(1, pipe[1]))


def test_more_descriptors_than_referenced_are_rejected(pipe):
    data, _ = codec.encode({"f": FileDescriptor(os.dup(pipe[1])), "n": 1})
    reject(data, dups(2, pipe[1]))


def test_fewer_descriptors_than_referenced_are_rejected(pipe):
    data, _ = codec.encode(
        {"f": FileDescriptor(os.dup(pipe[1])), "g": FileDescriptor(os.dup(pipe[1]))}
    )
    reject(data, dups(1, pipe[1]))
    reject(data, [])


def test_descriptors_where_none_are_expected_are_rejected(pipe):
    reject(GOOD, dups(1, pipe[1]))
    reject(codec.encode({"a": "b"})[0], dups(3, pipe[1]))


def test_more_descriptors_than_members_are_rejected(pipe):
    data, _ = codec.encode({f"f{i}": FileDescriptor(os.dup(pipe[1])) for i in range(MAX_MEMBERS)})
    reject(data, dups(MAX_MEMBERS + 1, pipe[1]))


def test_actor_address_must_be_a_seqpacket_unix_socket(pipe):
    data, _ = codec.encode(ActorAddress(os.dup(pipe[1])))
    reject(data, dups(1, pipe[1]))
    s, t = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with s, t:
        reject(data, [os.dup(s.fileno())])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        reject(data, [os.dup(u.fileno())])


def test_received_descriptors_are_owned_even_on_bad_arguments(pipe):
    fd = os.dup(pipe[1])
    with pytest.raises(ValueError):
        codec.decode(GOOD, [fd, "not a descriptor"])
    assert not is_open(fd)
    fd = os.dup(pipe[1])
    with pytest.raises(TypeError):
        codec.decode("not a buffer", [fd])
    assert not is_open(fd)


def test_rejection_of_a_later_member_closes_earlier_descriptors(pipe):
    # The descriptor member is fine; the duplicate key comes after it.
    data = pack(
        [tag(Kind.file_descriptor), double_bits(1.0), double_bits(2.0), tag(Kind.nil)],
        lp("f") + lp("k") + lp("k"),
    )
    reject(data, dups(1, pipe[1]))


# --- descriptor boxes --------------------------------------------------------


def test_file_descriptor_owns_and_closes(pipe):
    fd = os.dup(pipe[1])
    f = FileDescriptor(fd)
    assert f.fileno() == fd and not f.closed
    assert repr(f) == f"<FileDescriptor fd={fd}>"
    f.close()
    assert f.closed and not is_open(fd)
    assert repr(f) == "<FileDescriptor closed>"
    f.close()  # idempotent
    with pytest.raises(ValueError):
        f.fileno()


def test_file_descriptor_closes_when_collected(pipe):
    fd = os.dup(pipe[1])
    f = FileDescriptor(fd)
    del f
    assert not is_open(fd)


def test_file_descriptor_context_manager_and_detach(pipe):
    fd = os.dup(pipe[1])
    with FileDescriptor(fd) as f:
        assert f.fileno() == fd
    assert not is_open(fd)
    fd = os.dup(pipe[1])
    f = FileDescriptor(fd)
    assert f.detach() == fd
    assert f.closed
    del f
    assert is_open(fd)
    os.close(fd)


def test_file_descriptor_rejects_bad_numbers_and_pickling(pipe):
    with pytest.raises(ValueError):
        FileDescriptor(-1)
    with pytest.raises(TypeError):
        FileDescriptor("3")
    with ActorAddress(os.dup(pipe[1])) as a:
        with pytest.raises(TypeError):
            pickle.dumps(a)
        with pytest.raises(ValueError):
            a.__init__(0)  # re-initialising must not drop the owned descriptor


def test_new_without_init_owns_nothing():
    # A box that never ran __init__ must not close fd 0 when collected.
    f = FileDescriptor.__new__(FileDescriptor)
    assert f.closed
    del f
    assert is_open(0)


# --- over a real SOCK_SEQPACKET socket ---------------------------------------


def test_buffered_message_with_pipe_end_round_trips(seqpacket, pipe):
    a, b = seqpacket
    r, w = pipe
    with FileDescriptor(os.dup(w)) as mine:
        codec.send_message(a, {"out": mine, "greeting": "hi"})
        assert not mine.closed  # SCM_RIGHTS duplicates; the sender keeps its own
    got = codec.recv_message(b)
    assert got["greeting"] == "hi"
    with got["out"] as out:
        assert fcntl.fcntl(out.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        os.write(out.fileno(), b"through the socket")
    assert os.read(r, 100) == b"through the socket"


def test_immediate_delivery_to_a_blocked_receiver(seqpacket, pipe):
    # recv_message() releases the GIL while it blocks, so the send happens
    # while the receiver waits in recvmsg.
    a, b = seqpacket
    r, w = pipe
    got = []
    receiver = threading.Thread(target=lambda: got.append(codec.recv_message(b.fileno())))
    receiver.start()
    with FileDescriptor(os.dup(w)) as f:
        codec.send_message(a.fileno(), f)
    receiver.join(10)
    assert not receiver.is_alive()
    with got[0] as out:
        os.write(out.fileno(), b"x")
    assert os.read(r, 1) == b"x"


def test_actor_address_round_trips_and_is_usable(seqpacket):
    a, b = seqpacket
    inbox_r, inbox_w = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with inbox_r:
        # The manual's scheme: a fresh pair per address; only the sending end
        # travels, and we keep no copy of it.
        codec.send_message(a, {"reply_to": ActorAddress(inbox_w.detach())})
        got = codec.recv_message(b)
        with got["reply_to"] as addr:
            codec.send_message(addr, "pong")
        assert codec.recv_message(inbox_r) == "pong"
        # Every copy of the sending end is gone: the inbox sees end of stream.
        with pytest.raises(EOFError):
            codec.recv_message(inbox_r)


def test_twenty_descriptors_in_one_message(seqpacket, pipe):
    a, b = seqpacket
    r, w = pipe
    boxes = {f"w{i}": FileDescriptor(os.dup(w)) for i in range(MAX_MEMBERS)}
    codec.send_message(a, boxes)
    for f in boxes.values():
        f.close()
    got = codec.recv_message(b)
    assert list(got) == list(boxes)
    for i, f in enumerate(got.values()):
        os.write(f.fileno(), bytes([i]))
        f.close()
    assert os.read(r, 100) == bytes(range(MAX_MEMBERS))


def test_decode_received_from_python_recvmsg(seqpacket, pipe):
    a, b = seqpacket
    with FileDescriptor(os.dup(pipe[1])) as f:
        codec.send_message(a, {"f": f, "n": 7})
    data, anc, flags, _ = b.recvmsg(MESSAGE_SIZE, codec.CONTROL_SIZE, socket.MSG_CMSG_CLOEXEC)
    fds = []
    for level, kind, payload in anc:
        assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
        fds += struct.unpack(f"{len(payload) // 4}i", payload)
    got = codec.decode_received(data, len(data), flags, fds)
    assert got["n"] == 7.0
    got["f"].close()


def raw_send(sock, data, fds=()):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else []
    sock.sendmsg([data], anc)


def test_malformed_datagram_is_rejected_and_its_descriptors_closed(seqpacket, pipe):
    a, b = seqpacket
    raw_send(a, GOOD, [pipe[1]] * 3)
    with pytest.raises(MessageError):
        codec.recv_message(b)
    raw_send(a, GOOD[:100], [pipe[1]])
    with pytest.raises(MessageError):
        codec.recv_message(b)


def test_oversized_datagram_is_rejected(seqpacket, pipe):
    a, b = seqpacket
    raw_send(a, GOOD + b"\0" * 88, [pipe[1]])
    with pytest.raises(MessageError, match="MSG_TRUNC"):
        codec.recv_message(b)


def test_too_many_descriptors_for_the_control_buffer_are_rejected(seqpacket, pipe):
    a, b = seqpacket
    data, _ = codec.encode(FileDescriptor(os.dup(pipe[1])))
    raw_send(a, data, [pipe[1]] * (MAX_MEMBERS + 5))
    with pytest.raises(MessageError, match="MSG_CTRUNC"):
        codec.recv_message(b)


def test_zero_length_datagram_reads_as_end_of_stream(seqpacket, pipe):
    a, b = seqpacket
    raw_send(a, b"")
    with pytest.raises(EOFError):
        codec.recv_message(b)
    raw_send(a, b"", [pipe[1]])  # a bad peer may attach descriptors to it
    with pytest.raises(EOFError):
        codec.recv_message(b)


def test_closed_peer_reads_as_end_of_stream():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with b:
        codec.send_message(a, "last")
        a.close()
        assert codec.recv_message(b) == "last"
        with pytest.raises(EOFError):
            codec.recv_message(b)


def test_send_to_closed_peer_raises_broken_pipe_without_sigpipe():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a:
        b.close()
        with pytest.raises(BrokenPipeError):
            codec.send_message(a, 1)


def test_nonblocking_socket_raises_blocking_io_error(seqpacket):
    a, b = seqpacket
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        codec.recv_message(b)
    a.setblocking(False)
    with pytest.raises(BlockingIOError):
        for _ in range(100_000):
            codec.send_message(a, "fill the socket buffer")
    n = 0
    with pytest.raises(BlockingIOError):
        while True:
            assert codec.recv_message(b) == "fill the socket buffer"
            n += 1
    assert n > 0


def test_socket_helpers_reject_bad_sockets(pipe):
    with pytest.raises(OSError):
        codec.send_message(pipe[1], 1)  # ENOTSOCK
    with pytest.raises(OSError):
        codec.recv_message(pipe[0])
    with pytest.raises(TypeError):
        codec.send_message("not a socket", 1)


# --- recv_messages: the batch a receive() drains ------------------------------


def test_recv_messages_takes_what_is_queued_in_order(seqpacket):
    a, b = seqpacket
    b.setblocking(False)
    for i in range(5):
        codec.send_message(a, {"i": i, "s": str(i) * i})
    got = codec.recv_messages(b)
    assert got == [{"i": float(i), "s": str(i) * i} for i in range(5)]
    with pytest.raises(BlockingIOError):
        codec.recv_messages(b)


def test_recv_messages_never_waits_even_on_a_blocking_socket(seqpacket):
    a, b = seqpacket
    assert b.getblocking()
    with pytest.raises(BlockingIOError):
        codec.recv_messages(b)


@pytest.mark.parametrize("limit", [1, 3, 32])
def test_recv_messages_takes_at_most_limit_and_leaves_the_rest(seqpacket, limit):
    a, b = seqpacket
    for i in range(40):
        codec.send_message(a, i)
    got = []
    while len(got) < 40:
        batch = codec.recv_messages(b, limit)
        assert 1 <= len(batch) <= limit
        got += batch
    assert got == [float(i) for i in range(40)]


def test_recv_messages_caps_the_limit_at_32(seqpacket):
    a, b = seqpacket
    for i in range(40):
        codec.send_message(a, i)
    assert len(codec.recv_messages(b, 1000)) == 32
    assert len(codec.recv_messages(b, 1000)) == 8
    with pytest.raises(ValueError):
        codec.recv_messages(b, 0)


def test_recv_messages_hands_each_message_its_own_descriptors(seqpacket, pipe):
    a, b = seqpacket
    r, w = pipe
    with FileDescriptor(os.dup(w)) as mine:
        for i in range(3):
            codec.send_message(a, {"n": i, "fd": mine})
    got = codec.recv_messages(b)
    assert [m["n"] for m in got] == [0.0, 1.0, 2.0]
    for m in got:
        with m["fd"] as fd:
            os.write(fd.fileno(), b"x")
    assert os.read(r, 10) == b"xxx"


def test_a_malformed_message_ends_the_batch_and_drops_what_follows(seqpacket, pipe):
    a, b = seqpacket
    codec.send_message(a, "good")
    a.send(b"\xff" * MESSAGE_SIZE)  # an unknown tag in members[0]
    with FileDescriptor(os.dup(pipe[1])) as mine:
        codec.send_message(a, {"fd": mine})  # received by the same call, dropped
    got = codec.recv_messages(b)
    assert got[0] == "good"
    assert isinstance(got[1], MessageError)
    assert len(got) == 2
    # The dropped message's descriptor was closed: only ours held the pipe.
    os.close(pipe[1])
    assert os.read(pipe[0], 1) == b""


def test_a_zero_length_datagram_ends_the_batch_as_eof(seqpacket):
    a, b = seqpacket
    codec.send_message(a, 1)
    a.send(b"")
    got = codec.recv_messages(b)
    assert got[0] == 1.0
    assert isinstance(got[1], EOFError)
    assert len(got) == 2


def test_recv_messages_reports_eof_when_the_peer_is_gone(seqpacket):
    a, b = seqpacket
    codec.send_message(a, True)
    a.close()
    got = codec.recv_messages(b)
    assert got[0] is True
    assert isinstance(got[-1], EOFError)


def test_a_descriptor_stays_open_after_a_send_and_its_sender_closes_it(seqpacket):
    # As for a file_descriptor sent to an actor: the message carries a
    # duplicate, the sender's box stays open and is the sender's to close.
    a, b = seqpacket
    r, w = os.pipe2(os.O_CLOEXEC)
    box = FileDescriptor(w)
    try:
        codec.send_message(a, {"fd": box})
        assert not box.closed
        got = codec.recv_message(b)["fd"]
        assert isinstance(got, FileDescriptor) and got.fileno() != box.fileno()
        os.write(box.fileno(), b"x")
        os.write(got.fileno(), b"y")
        got.close()
        box.close()
        assert os.read(r, 16) == b"xy"
        assert os.read(r, 16) == b""  # every copy of the write end is closed
    finally:
        os.close(r)
