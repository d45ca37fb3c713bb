"""Manual: "Tests": generation-based fuzzing of the message codec.

One generator makes well-formed messages and checks that all of them are
accepted and round-trip. Another turns a well-formed message into a bad one
(truncation, extension, byte flips, forged tags, descriptor counts, kernel
truncation flags) and checks that decoding rejects it with MessageError, or,
when the mutation happens to spell another valid message, that the decoder
accepted exactly the canonical encoding of what it returned. Every example
must leave the descriptor table as it found it.
"""

import math
import os
import socket
import struct

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from emilua._core import codec

# Pure data and socket calls: no engine, no fibers.
pytestmark = pytest.mark.pure

MAX_MEMBERS = codec.MAX_MEMBERS
MESSAGE_SIZE = codec.MESSAGE_SIZE
STRBUF_SIZE = codec.STRBUF_SIZE
ActorAddress = codec.ActorAddress
FileDescriptor = codec.FileDescriptor
MessageError = codec.MessageError

FUZZ = settings(
    max_examples=400,
    deadline=None,
    database=None,  # keep the source tree free of example databases
    suppress_health_check=[HealthCheck.too_slow],
)

FD = "<fd>"  # placeholders: descriptors are made per example, not generated
ADDR = "<addr>"


class Marker:
    def __init__(self, kind):
        self.kind = kind

    def __repr__(self):
        return self.kind


def utf8_len(s):
    return len(s.encode())


short_text = st.text(max_size=24)
long_text = st.one_of(
    st.text(st.characters(codec="ascii"), min_size=200, max_size=255),
    st.text(max_size=63),  # at most 252 bytes, any plane
)
numbers = st.one_of(
    st.floats(),  # includes nan, inf, -inf, -0.0, subnormals
    st.integers(-(2**53), 2**53),
)
descriptors = st.sampled_from([Marker(FD), Marker(ADDR)])


def leaves(text):
    return st.one_of(st.booleans(), numbers, text, descriptors)


def strbuf_need(spec):
    if isinstance(spec, dict):
        return sum(1 + utf8_len(k) + strbuf_need(v) for k, v in spec.items())
    return 1 + utf8_len(spec) if isinstance(spec, str) else 0


@st.composite
def nearly_full(draw):
    """A dict whose strings end within a few bytes of the end of strbuf, so
    that a length byte can point exactly one byte past it."""
    ascii = st.characters(codec="ascii")
    tail = draw(st.sampled_from([None, Marker(FD), 1.5, True]))
    key_len = draw(st.integers(96, 255))
    # The tail entry, if any, adds an empty key: one length byte.
    value_len = STRBUF_SIZE - (1 + key_len) - 1 - (tail is not None) - draw(st.integers(0, 3))
    key = draw(st.text(ascii, min_size=key_len, max_size=key_len))
    spec = {key: draw(st.text(ascii, min_size=value_len, max_size=value_len))}
    if tail is not None:
        spec[""] = tail
    return spec


specs = st.one_of(
    nearly_full(),
    leaves(long_text),
    st.dictionaries(st.text(max_size=8), leaves(short_text), min_size=1, max_size=MAX_MEMBERS),
    # Few long entries: exercises the strbuf bounds near the limit.
    st.dictionaries(long_text, leaves(long_text), min_size=1, max_size=3),
).filter(lambda spec: strbuf_need(spec) <= STRBUF_SIZE)


@pytest.fixture(scope="module")
def endpoints():
    """A pipe's write end and a SOCK_SEQPACKET socket to duplicate as leaves,
    and a SOCK_SEQPACKET pair to carry messages."""
    r, w = os.pipe()
    addr, addr_peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    tx, rx = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    rx.setblocking(False)
    yield w, addr.fileno(), tx, rx
    for s in (addr, addr_peer, tx, rx):
        s.close()
    os.close(r)
    os.close(w)


def materialise(spec, endpoints):
    w, addr, _, _ = endpoints

    def leaf(x):
        if isinstance(x, Marker):
            return FileDescriptor(os.dup(w)) if x.kind == FD else ActorAddress(os.dup(addr))
        return x

    if isinstance(spec, dict):
        return {k: leaf(v) for k, v in spec.items()}
    return leaf(spec)


def boxes(value):
    items = value.values() if isinstance(value, dict) else [value]
    return [x for x in items if isinstance(x, (FileDescriptor, ActorAddress))]


def close_all(value):
    if value is not None:
        for box in boxes(value):
            box.close()


def normal(value):
    """A comparable form: numbers by their canonical bits, descriptors by kind."""

    def leaf(x):
        if isinstance(x, bool) or isinstance(x, str):
            return x
        if isinstance(x, (int, float)):
            return ("number", "nan" if math.isnan(x) else struct.pack("=d", float(x)))
        assert not x.closed
        return type(x).__name__

    if isinstance(value, dict):
        return ("dict", [(k, leaf(v)) for k, v in value.items()])
    return leaf(value)


def open_fds():
    return set(os.listdir("/proc/self/fd"))


def drain(rx):
    while True:
        try:
            close_all(codec.recv_message(rx))
        except BlockingIOError:
            return
        except (MessageError, EOFError):
            pass


@FUZZ
@given(spec=specs, via_socket=st.booleans())
def test_generated_message_is_accepted_and_round_trips(endpoints, spec, via_socket):
    _, _, tx, rx = endpoints
    drain(rx)
    before = open_fds()
    value = materialise(spec, endpoints)
    got = None
    try:
        data, fds = codec.encode(value)
        assert len(data) == MESSAGE_SIZE
        assert len(fds) == len(boxes(value))
        if via_socket:
            codec.send_message(tx, value)
            got = codec.recv_message(rx)
        else:
            got = codec.decode(data, [os.dup(fd) for fd in fds])
        assert normal(got) == normal(value)
        # Canonical: what was accepted is exactly what the value encodes to.
        assert codec.encode(got)[0] == data
    finally:
        close_all(value)
        close_all(got)
    assert open_fds() == before


@st.composite
def mutations(draw):
    kind = draw(
        st.sampled_from(
            [
                "truncate",
                "extend",
                "flip",
                "retag",
                "overrun",
                "more_fds",
                "fewer_fds",
                "flags",
                "empty",
            ]
        )
    )
    if kind == "truncate":
        return kind, draw(st.integers(0, MESSAGE_SIZE - 1))
    if kind == "extend":
        return kind, draw(st.binary(min_size=1, max_size=600))
    if kind == "flip":
        return kind, draw(
            st.lists(
                st.tuples(st.integers(0, MESSAGE_SIZE - 1), st.integers(1, 255)),
                min_size=1,
                max_size=8,
            )
        )
    if kind == "retag":
        mantissa = draw(
            st.one_of(
                st.integers(0, 16),
                st.integers(0, 2**52 - 1),
                st.integers(2**51, 2**51 + 16),  # quiet NaNs with small payloads
            )
        )
        sign = draw(st.sampled_from([0, 1 << 63]))
        word = draw(
            st.one_of(st.just(sign | 0x7FF0000000000000 | mantissa), st.integers(0, 2**64 - 1))
        )
        return kind, (draw(st.integers(0, MAX_MEMBERS - 1)), word)
    if kind == "overrun":
        # Which string, counted from the last: only late ones can overrun.
        return kind, (draw(st.integers(0, 2)), draw(st.integers(1, 2)))
    if kind == "more_fds":
        return kind, draw(st.integers(1, MAX_MEMBERS + 4))
    if kind == "fewer_fds":
        return kind, draw(st.integers(1, MAX_MEMBERS))
    if kind == "flags":
        return kind, draw(st.sampled_from([socket.MSG_TRUNC, socket.MSG_CTRUNC]))
    return kind, None


def length_bytes(data):
    """Offsets in strbuf of the length bytes of a well-formed message, walking
    it as the format says: per member, the key (dicts), then a string value."""
    members = struct.unpack_from(f"={MAX_MEMBERS}Q", data)
    strbuf = data[8 * MAX_MEMBERS :]
    nil, string = 0x7FF0000000000006, 0x7FF0000000000003
    is_dict = members[0] != nil
    values = members if is_dict else members[1:2]
    offsets, pos = [], 0
    for word in values:
        if word == nil:
            break
        for present in (is_dict, word == string):
            if present:
                offsets.append(pos)
                pos += 1 + strbuf[pos]
    return offsets


def mutate(data, nfds, mutation):
    """Returns (bytes, descriptor count, msg_flags, must_reject)."""
    kind, arg = mutation
    if kind == "truncate":
        return data[:arg], nfds, 0, True
    if kind == "extend":
        return data + arg, nfds, 0, True
    if kind == "empty":
        return b"", nfds, 0, True
    if kind == "flip":
        buf = bytearray(data)
        for pos, mask in arg:
            buf[pos] ^= mask
        return bytes(buf), nfds, 0, False
    if kind == "retag":
        index, word = arg
        buf = bytearray(data)
        struct.pack_into("=Q", buf, 8 * index, word)
        return bytes(buf), nfds, 0, False
    if kind == "overrun":
        # Make one string announce more bytes than strbuf has left after it:
        # exactly one or two too many, to pin the bounds check to the byte.
        which, extra = arg
        offsets = length_bytes(data)
        assume(offsets)
        at = offsets[-1 - which % len(offsets)]
        room = STRBUF_SIZE - (at + 1)
        assume(room + extra <= 255)
        buf = bytearray(data)
        buf[8 * MAX_MEMBERS + at] = room + extra
        return bytes(buf), nfds, 0, True
    if kind == "more_fds":
        return data, nfds + arg, 0, True
    if kind == "fewer_fds":
        assume(nfds > 0)
        return data, max(0, nfds - arg), 0, True
    return data, nfds, arg, True  # flags


@FUZZ
@given(spec=specs, mutation=mutations(), via_socket=st.booleans())
def test_mutated_message_is_rejected(endpoints, spec, mutation, via_socket):
    w, _, tx, rx = endpoints
    drain(rx)
    before = open_fds()
    value = materialise(spec, endpoints)
    got = None
    try:
        data, fds = codec.encode(value)
        bad, nfds, flags, must_reject = mutate(data, len(fds), mutation)
        # A zero-length datagram is end of stream, not a message (tested in
        # test_codec.py); over a socket only decode_received() can see one.
        assume(bad or not via_socket)
        # What arrives with the message: the original descriptors, then extras.
        sent = [os.dup(fds[i]) if i < len(fds) else os.dup(w) for i in range(nfds)]
        try:
            if via_socket and flags == 0:
                anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{nfds}i", *sent))]
                tx.sendmsg([bad], anc if sent else [])
                for fd in sent:  # the kernel holds its own references now
                    os.close(fd)
                got = codec.recv_message(rx)
            else:
                got = codec.decode_received(bad, len(bad), flags, sent)
        except MessageError:
            event(f"{mutation[0]}: rejected")
        else:
            event(f"{mutation[0]}: accepted")
            assert not must_reject, f"accepted {mutation[0]} mutation"
            # A flip that spells another valid message is fine only if it is
            # that message's canonical encoding.
            assert codec.encode(got)[0] == bad
            assert len(boxes(got)) == nfds
    finally:
        close_all(value)
        close_all(got)
    assert open_fds() == before


@settings(FUZZ, max_examples=200)
@given(spec=nearly_full(), which=st.integers(0, 2), extra=st.integers(1, 2))
def test_string_overrunning_strbuf_by_a_byte_is_rejected(endpoints, spec, which, extra):
    # The general mutator rarely meets a full strbuf; this pins the bounds
    # check to the byte on messages built to end right at its edge.
    before = open_fds()
    value = materialise(spec, endpoints)
    try:
        data, fds = codec.encode(value)
        bad, nfds, _, _ = mutate(data, len(fds), ("overrun", (which, extra)))
        with pytest.raises(MessageError, match="past the end of strbuf"):
            codec.decode(bad, [os.dup(fd) for fd in fds])
    finally:
        close_all(value)
    assert open_fds() == before


@FUZZ
@given(data=st.binary(max_size=MESSAGE_SIZE + 16), nfds=st.integers(0, MAX_MEMBERS + 2))
def test_random_bytes_never_crash_or_leak(endpoints, data, nfds):
    w = endpoints[0]
    before = open_fds()
    got = None
    try:
        got = codec.decode(data, [os.dup(w) for _ in range(nfds)])
    except MessageError:
        pass
    else:
        assert codec.encode(got)[0] == data
    finally:
        close_all(got)
    assert open_fds() == before


words = st.one_of(
    st.sampled_from([0x7FF0000000000000 | k for k in range(1, 7)]),
    st.floats().map(lambda x: struct.unpack("=Q", struct.pack("=d", x))[0]),
    st.integers(0, 2**64 - 1),
)


@FUZZ
@given(
    members=st.lists(words, min_size=1, max_size=MAX_MEMBERS),
    strbuf=st.binary(max_size=STRBUF_SIZE),
    nfds=st.integers(0, 4),
)
def test_structured_garbage_never_crashes_or_leaks(endpoints, members, strbuf, nfds):
    # Random bytes rarely spell tags or leave the unused parts zeroed; these
    # do, so the decoder's deeper paths (strings, keys, descriptor counts)
    # see garbage too.
    w = endpoints[0]
    members = members + [0] * (MAX_MEMBERS - len(members))
    data = struct.pack(f"={MAX_MEMBERS}Q", *members) + strbuf.ljust(STRBUF_SIZE, b"\0")
    before = open_fds()
    got = None
    try:
        got = codec.decode(data, [os.dup(w) for _ in range(nfds)])
    except MessageError as exc:
        event(f"rejected: {str(exc).split(':')[0][:40]}")
    else:
        event("accepted")
        assert codec.encode(got)[0] == data
    finally:
        close_all(got)
    assert open_fds() == before
