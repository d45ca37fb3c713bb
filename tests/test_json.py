"""Manual: "json", "json.writer"."""

from __future__ import annotations

import json as stdlib_json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emilua import json
from emilua._errors import CategoryError
from emilua.byte_span import byte_span

pytestmark = pytest.mark.pure


# -- Manual examples -------------------------------------------------------------


def test_encode_examples_of_the_manual() -> None:
    assert json.encode(["foo", {"bar": ["baz", json.null, 1, 2]}]) == (
        '["foo",{"bar":["baz",null,1,2]}]'
    )
    assert json.encode("\\") == '"\\\\"'
    assert json.encode({"c": 0, "b": 0, "a": 0}) == '{"c":0,"b":0,"a":0}'
    assert json.encode(None) == "null"
    assert json.encode({"what": None, "hello": "world", "animals": ["cow", "coelho"]}) == (
        '{"what":null,"hello":"world","animals":["cow","coelho"]}'
    )
    assert json.encode([]) == "[]"
    assert json.encode('hey "pretty"') == '"hey \\"pretty\\""'


def test_decode_examples_of_the_manual() -> None:
    obj = json.decode('["foo", {"bar":["baz", null, 1.0, 2]}]')
    assert obj == ["foo", {"bar": ["baz", None, 1.0, 2]}]
    assert json.decode('"\\"foo\\\\bar"') == '"foo\\bar'
    raw = '{"items":[],"properties":{}}'
    assert json.decode(json.encode(json.decode(raw))) == {"items": [], "properties": {}}
    assert json.encode(json.decode(raw)) == raw


# -- null, arrays ------------------------------------------------------------------


def test_null_is_none_both_ways() -> None:
    assert json.null is None
    assert json.decode("null") is json.null
    assert json.decode("[null]")[0] is json.null
    assert json.encode(json.null) == "null"
    assert json.encode({"a": json.null}) == '{"a":null}'


def test_is_array() -> None:
    assert json.is_array(json.decode('["test", 4, false]'))
    assert not json.is_array(json.decode('{"a": 1}'))
    assert not json.is_array("abc")
    assert not json.is_array(None)
    assert json.is_array(())


def test_into_array() -> None:
    fresh = json.into_array()
    assert fresh == [] and json.is_array(fresh)
    assert json.encode(json.into_array()) == "[]"
    items = [1, 2]
    assert json.into_array(items) is items
    assert json.into_array((1, 2)) == [1, 2]
    with pytest.raises(TypeError):
        json.into_array({})  # type: ignore[arg-type]


# -- encode conversions ------------------------------------------------------------


def test_keys_that_are_not_strings_are_skipped() -> None:
    assert json.encode({1: "a", "b": 2, None: 3, (1,): 4}) == '{"b":2}'
    assert json.encode({5: 1}) == "{}"


def test_leaf_values() -> None:
    assert json.encode(True) == "true"
    assert json.encode(False) == "false"
    assert json.encode(1.0) == "1.0"
    assert json.encode(-0.5) == "-0.5"
    assert json.encode(10**30) == str(10**30)
    assert json.encode("é\n\x00") == '"é\\n\\u0000"'
    assert json.encode((1, [2])) == "[1,[2]]"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1, math.inf]])
def test_nan_and_infinity_cannot_be_encoded(value: Any) -> None:
    with pytest.raises(ValueError) as info:
        json.encode(value)
    err = info.value
    assert isinstance(err, CategoryError)
    assert err.category is json.dom_ecat
    assert err.code == json.RESULT_OUT_OF_RANGE


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", object(), {"a": [1, {2}]}])
def test_values_without_a_json_mapping_raise_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        json.encode(value)


def test_reference_cycles_raise_cycle_exists() -> None:
    a: list[Any] = []
    a.append(a)
    d: dict[str, Any] = {}
    d["self"] = [d]
    for value in (a, d):
        with pytest.raises(ValueError) as info:
            json.encode(value)
        assert info.value.category is json.dom_ecat  # type: ignore[attr-defined]
        assert info.value.code == json.CYCLE_EXISTS  # type: ignore[attr-defined]


def test_a_shared_subobject_that_is_no_cycle_is_encoded_twice() -> None:
    shared = {"x": 1}
    assert json.encode([shared, shared]) == '[{"x":1},{"x":1}]'


def test_indent() -> None:
    assert json.encode({"a": [1, {}], "b": []}, indent=2) == (
        '{\n  "a": [\n    1,\n    {}\n  ],\n  "b": []\n}'
    )
    assert json.encode([1], indent="\t") == "[\n\t1\n]"
    assert json.encode([1], indent=None) == "[1]"
    with pytest.raises(TypeError):
        json.encode([1], indent=1.5)  # type: ignore[arg-type]


# -- __tojson__ ----------------------------------------------------------------------


class Point:
    """The manual's __tojson example: a number and a subobject."""

    def __init__(self, foo: int, bar: Any) -> None:
        self.foo = foo
        self.bar = bar

    def __tojson__(self, state: json.EncodeState) -> None:
        writer = state.writer
        writer.begin_object()
        writer.value("foo")
        writer.value(self.foo)
        writer.value("bar")
        json.encode(self.bar, state=state)
        writer.end_object()


def test_tojson_hook_writes_its_level() -> None:
    p = Point(1, [Point(2, None), {"k": "v"}])
    assert json.encode(p) == '{"foo":1,"bar":[{"foo":2,"bar":null},{"k":"v"}]}'
    assert json.encode({"p": Point(3, [])}, indent=1) == (
        '{\n "p": {\n  "foo": 3,\n  "bar": []\n }\n}'
    )


def test_tojson_state_fields() -> None:
    seen: list[Any] = []

    class Probe:
        def __tojson__(self, state: json.EncodeState) -> None:
            seen.append((state.indent, id(self) in state.visited, state.writer.level))
            state.writer.value("probe")

    assert json.encode([[Probe()]], indent="  ") == '[\n  [\n    "probe"\n  ]\n]'
    assert seen == [("  ", True, 2)]


def test_encode_with_state_returns_nothing_and_writes_into_the_writer() -> None:
    results: list[Any] = []

    class Wrapper:
        def __tojson__(self, state: json.EncodeState) -> None:
            results.append(json.encode({"a": 1}, state=state))

    assert json.encode(Wrapper()) == '{"a":1}'
    assert results == [None]
    with pytest.raises(TypeError):
        json.encode(1, state={"writer": json.writer()})  # type: ignore[arg-type]


def test_a_cycle_through_a_tojson_hook_is_detected() -> None:
    p = Point(1, None)
    p.bar = [p]
    with pytest.raises(ValueError) as info:
        json.encode(p)
    assert info.value.code == json.CYCLE_EXISTS  # type: ignore[attr-defined]


def test_hook_on_a_dict_subclass_wins() -> None:
    class Tagged(dict[str, int]):
        def __tojson__(self, state: json.EncodeState) -> None:
            state.writer.value("tagged")

    assert json.encode([Tagged(a=1)]) == '["tagged"]'


# -- decode ----------------------------------------------------------------------------


def test_decode_types() -> None:
    assert json.decode("1") == 1 and type(json.decode("1")) is int
    assert type(json.decode("1.5")) is float
    assert json.decode("true") is True
    assert json.decode('{"a": 1, "a": 2}') == {"a": 2}
    assert json.decode(" \n[ ] ") == []
    assert json.decode('"\\ud83d\\ude00"') == "\U0001f600"


def test_decode_bytes_like_and_byte_span() -> None:
    assert json.decode(b'{"a": [1]}') == {"a": [1]}
    assert json.decode(bytearray(b"[2]")) == [2]
    text = b'["caf\xc3\xa9"]'
    span = byte_span(len(text))
    span[:] = text
    assert json.decode(span) == ["café"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", 1),
        ("[1,", 1),
        ("[1 2]", 4),
        ('{"a" 1}', 3),
        ("{1: 2}", 2),
        ('"abc', 5),
        ('"a\x01"', 6),
        ('"\\q"', 7),
        ('"\\u12"', 8),
        ("[1] x", 9),
        ("NaN", 12),
        ("[-Infinity]", 12),
        ("tru", 1),
        ("'a'", 1),
        ("\ufeff[]", 11),
    ],
)
def test_malformed_text_raises_a_lexer_error(text: str, code: int) -> None:
    with pytest.raises(stdlib_json.JSONDecodeError) as info:
        json.decode(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, CategoryError)
    assert err.category is json.lexer_ecat
    assert err.code == code
    assert 0 <= err.pos <= len(text)


def test_a_trailing_comma_is_a_lexer_error() -> None:
    for text in ("[1,]", '{"a": 1,}'):
        with pytest.raises(ValueError) as info:
            json.decode(text)
        assert info.value.category is json.lexer_ecat  # type: ignore[attr-defined]
        # The stdlib reports it as a missing value or, from 3.13, by name.
        assert info.value.code in (1, 2, 10)  # type: ignore[attr-defined]


def test_invalid_utf8_is_a_lexer_error() -> None:
    with pytest.raises(ValueError) as info:
        json.decode(b'["\xff"]')
    assert info.value.category is json.lexer_ecat  # type: ignore[attr-defined]
    assert info.value.code == 13  # type: ignore[attr-defined]
    assert info.value.pos == 2  # type: ignore[attr-defined]


def test_numbers_out_of_range_are_dom_errors() -> None:
    for text in ("1e400", "[-1e999]", "1" * 5000):
        with pytest.raises(ValueError) as info:
            json.decode(text)
        assert info.value.category is json.dom_ecat  # type: ignore[attr-defined]
        assert info.value.code == json.RESULT_OUT_OF_RANGE  # type: ignore[attr-defined]


def test_deep_nesting_is_a_dom_error_not_a_crash() -> None:
    for text in ("[" * 200_000, "[" * 200_000 + "]" * 200_000, '{"a":' * 100_000):
        with pytest.raises(ValueError) as info:
            json.decode(text)
        assert info.value.code == json.TOO_MANY_LEVELS  # type: ignore[attr-defined]
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(ValueError) as info:
        json.encode(nested)
    assert info.value.code == json.TOO_MANY_LEVELS  # type: ignore[attr-defined]
    # Moderate nesting works both ways.
    assert json.decode(json.encode([[[[[[1]]]]]])) == [[[[[[1]]]]]]


def test_decode_refuses_other_types() -> None:
    for value in (1, None, ["[]"]):
        with pytest.raises(TypeError):
            json.decode(value)


def test_categories() -> None:
    assert str(json.lexer_ecat) == "json.lexer"
    assert str(json.dom_ecat) == "json.dom"
    assert json.dom_ecat.cycle_exists.code == json.CYCLE_EXISTS
    assert json.dom_ecat.too_many_levels.code == json.TOO_MANY_LEVELS
    assert json.dom_ecat.array_too_long.code == json.ARRAY_TOO_LONG
    assert json.dom_ecat.result_out_of_range.code == json.RESULT_OUT_OF_RANGE
    assert json.lexer_ecat.message(1) == "Expecting value"
    assert json.dom_ecat != json.lexer_ecat


# -- writer ------------------------------------------------------------------------------


def test_writer_inserts_separators() -> None:
    w = json.writer()
    assert w.level == 0
    w.begin_object()
    assert w.level == 1
    w.value("a")
    w.begin_array()
    assert w.level == 2
    w.value(1)
    w.value(2.5)
    w.value(True)
    w.value(None)
    w.value("s")
    w.end_array()
    w.value("b")
    w.literal('{"raw": 1}')
    w.end_object()
    assert w.level == 0
    assert w.generate() == '{"a":[1,2.5,true,null,"s"],"b":{"raw": 1}}'


def test_writer_single_leaf() -> None:
    w = json.writer()
    w.value("x")
    assert w.generate() == '"x"'


def test_writer_generate_consumes_it() -> None:
    w = json.writer()
    w.value(1)
    assert w.generate() == "1"
    for call in (w.generate, lambda: w.value(1), w.begin_array, w.end_array):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize(
    "steps",
    [
        ["begin_object", ("value", 1)],  # a key that is not a string
        ["begin_object", "begin_array"],  # a container as a key
        ["end_object"],
        ["begin_array", "end_object"],
        ["begin_object", ("value", "k"), "end_object"],  # a key with no value
        [("value", 1), ("value", 2)],  # two top-level values
        ["begin_array", "generate"],  # container still open
        ["generate"],  # nothing written
    ],
)
def test_writer_misuse_raises_value_error(steps: list[Any]) -> None:
    w = json.writer()
    with pytest.raises(ValueError):
        for step in steps:
            if isinstance(step, tuple):
                getattr(w, step[0])(step[1])
            else:
                getattr(w, step)()


def test_writer_bad_leaf_types() -> None:
    w = json.writer()
    with pytest.raises(TypeError):
        w.value([1])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        w.literal(b"1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        w.value(math.nan)


def test_writer_with_indent() -> None:
    w = json.writer(indent="  ")
    w.begin_array()
    w.value(1)
    w.begin_object()
    w.end_object()
    w.end_array()
    assert w.generate() == "[\n  1,\n  {}\n]"


# -- round trips -------------------------------------------------------------------------

_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_round_trip_and_agreement_with_the_stdlib(value: Any) -> None:
    text = json.encode(value)
    assert text == stdlib_json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert json.decode(text) == value
    assert json.decode(text.encode("utf-8")) == value
    assert json.decode(json.encode(value, indent=2)) == value
    # A hooked object sends the whole value down the general (writer) path,
    # which must agree with the C encoder's fast path.
    assert json.encode([value, _Null()]) == "[" + text + ",null]"


class _Null:
    def __tojson__(self, state: json.EncodeState) -> None:
        state.writer.value(None)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=64), st.text(alphabet='[]{}",:0123456789.eE+-tfnrul\\ ')))
def test_any_input_decodes_or_raises_a_category_value_error(raw: bytes | str) -> None:
    try:
        json.decode(raw)
    except ValueError as e:
        assert isinstance(e, CategoryError)
        assert e.category in (json.lexer_ecat, json.dom_ecat)


def test_large_malformed_input_fails_fast() -> None:
    for text in ('"' + "a" * 1_000_000, "[" + "1," * 200_000, '{"a":' + " " * 1_000_000):
        with pytest.raises(ValueError):
            json.decode(text)
