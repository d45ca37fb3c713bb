"""Random arguments to the byte_span and codec APIs: exceptions, never a crash.

Hypothesis draws a method and arguments of any type (None, ints of any size
and sign, str, bytes, spans, containers, slices); every outcome but a Python
exception is a failure. Each result that is a span is checked for the
invariants of the type (manual: "byte_span").
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emilua._core import codec
from emilua.byte_span import append, byte_span

pytestmark = pytest.mark.pure

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ints = st.one_of(
    st.integers(-10, 40),
    st.integers(),
    st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**64)]),
)


@st.composite
def spans(draw):
    n = draw(st.integers(0, 24))
    span = byte_span(n, n + draw(st.integers(0, 8)))
    span.copy(draw(st.binary(min_size=n, max_size=n)))
    start = draw(st.integers(0, n))
    return span[start:]


values = st.recursive(
    st.one_of(
        st.none(),
        ints,
        st.booleans(),
        st.floats(),
        st.text(max_size=8),
        st.binary(max_size=8),
        spans(),
        st.builds(slice, ints | st.none(), ints | st.none(), ints | st.none()),
        st.builds(bytearray, st.binary(max_size=4)),
        st.builds(memoryview, st.binary(max_size=4)),
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=4,
)

SPAN_METHODS = [
    *("slice", "copy", "append", "starts_with", "ends_with", "find", "rfind"),
    *("find_first_of", "find_first_not_of", "find_last_of", "find_last_not_of"),
    *("trimmed", "__getitem__", "__setitem__", "__delitem__", "__contains__"),
    *("__bytes__", "__len__", "__eq__", "__lt__", "__init__", "__iter__"),
]


def check_span(s):
    if isinstance(s, byte_span):
        assert 0 <= len(s) <= s.capacity
        assert len(bytes(s)) == len(s) == len(memoryview(s))


@FUZZ
@given(spans(), st.sampled_from(SPAN_METHODS), st.lists(values, max_size=4))
def test_byte_span_methods_with_random_arguments(span, method, args):
    try:
        out = getattr(span, method)(*args)
        if method == "__iter__":
            out = list(out)
    except Exception:
        return
    check_span(span)
    check_span(out)


@FUZZ
@given(st.lists(values, max_size=4))
def test_byte_span_constructor_and_append_with_random_arguments(args):
    for f in (byte_span, append):
        try:
            out = f(*args)
        except Exception:
            continue
        check_span(out)


def open_fds():
    return set(os.listdir("/proc/self/fd"))


@FUZZ
@given(values, values, st.integers(-(2**40), 2**40) | ints, st.integers(-(2**31), 2**31 - 1))
def test_codec_entry_points_with_random_arguments(a, b, n, flags):
    before = open_fds()
    # No real descriptor numbers are given: these calls take ownership of
    # the fds they receive, so only numbers far above any open fd are used.
    fds = [n] if isinstance(n, int) and n > 2**20 else []
    for call in (
        lambda: codec.encode(a),
        lambda: codec.decode(a),
        lambda: codec.decode(a, fds),
        lambda: codec.decode_received(a, n, flags, fds),
        lambda: codec.decode_received(b, n, 0, []),
        lambda: codec.FileDescriptor(n if n > 2**20 else -1),
    ):
        try:
            call()
        except Exception:
            pass
    assert open_fds() <= before


@FUZZ
@given(st.binary(max_size=codec.MESSAGE_SIZE + 8), ints, st.integers(0, 2**31 - 1))
def test_decode_received_with_random_bytes_and_counts(data, n, flags):
    try:
        codec.decode_received(bytearray(data), n, flags, [])
    except (ValueError, OverflowError, TypeError):
        pass
