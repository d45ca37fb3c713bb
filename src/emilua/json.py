"""JSON text to Python values and back.

Manual: "json" and "json.writer". Decoding runs the standard library's C scanner
(``json`` accelerator) with hooks that enforce the manual's limits; encoding walks
the value through a :class:`writer`, escaping strings with the standard library's
C escaper, so that the ``__tojson__`` hook and the manual's rules (keys that are not
strings are skipped, reference cycles are errors) hold. See docs/json.md.
"""

from __future__ import annotations

import json as _json
import math
from collections.abc import Callable
from json import encoder as _encoder
from typing import Any

from emilua._errors import CategoryError, _register, _TableCategory, error_category

__all__ = [
    "EncodeState",
    "decode",
    "dom_ecat",
    "encode",
    "into_array",
    "is_array",
    "lexer_ecat",
    "null",
    "writer",
]

#: JSON null. Python's ``None`` already is a value a list or dict can hold, so the
#: manual's dedicated object is ``None`` itself: ``decode("null") is null``.
null: None = None

# The standard library's decoder names its errors by message only; each message
# gets a code here (0 for a message this table does not know).
_LEXER_ERRORS: dict[int, tuple[str, str]] = {
    0: ("unknown", "Invalid JSON text"),
    1: ("expected_value", "Expecting value"),
    2: ("expected_key", "Expecting property name enclosed in double quotes"),
    3: ("expected_colon", "Expecting ':' delimiter"),
    4: ("expected_comma", "Expecting ',' delimiter"),
    5: ("unterminated_string", "Unterminated string starting at"),
    6: ("invalid_control_character", "Invalid control character at"),
    7: ("invalid_escape", "Invalid \\escape"),
    8: ("invalid_unicode_escape", "Invalid \\uXXXX escape"),
    9: ("extra_data", "Extra data"),
    10: ("trailing_comma", "Illegal trailing comma before end of"),
    11: ("unexpected_bom", "Unexpected UTF-8 BOM (decode using utf-8-sig)"),
    12: ("invalid_literal", "NaN and Infinity are not JSON"),
    13: ("invalid_encoding", "JSON text is not valid UTF-8"),
}


def _lexer_args(code: int, msg: str) -> tuple[Any, ...]:
    return (msg, "", 0)


#: Errors in the JSON text itself (category ``json.lexer``). They are also
#: ``json.JSONDecodeError`` (a ``ValueError``) with ``msg``, ``doc``, ``pos``,
#: ``lineno`` and ``colno``.
lexer_ecat: error_category = _TableCategory(
    "json.lexer", _LEXER_ERRORS, _json.JSONDecodeError, _lexer_args
)

RESULT_OUT_OF_RANGE = 1
TOO_MANY_LEVELS = 2
ARRAY_TOO_LONG = 3
CYCLE_EXISTS = 4

#: Errors converting between JSON and Python values (category ``json.dom``): the
#: text may be valid JSON. They are also ``ValueError``.
dom_ecat: error_category = _TableCategory(
    "json.dom",
    {
        RESULT_OUT_OF_RANGE: ("result_out_of_range", "Number out of range"),
        TOO_MANY_LEVELS: ("too_many_levels", "Too many levels of nested containers"),
        ARRAY_TOO_LONG: ("array_too_long", "Array too long"),
        CYCLE_EXISTS: ("cycle_exists", "Reference cycle in the value to encode"),
    },
    ValueError,
)

_register(lexer_ecat, __name__)
_register(dom_ecat, __name__)


def _lexer_error(code: int, doc: str, pos: int, msg: str | None = None) -> CategoryError:
    return lexer_ecat.error(code, msg or lexer_ecat.message(code), doc, pos)


def _lexer_code(msg: str) -> int:
    for code, (_, text) in _LEXER_ERRORS.items():
        if code and msg.startswith(text):
            return code
    return 0


class _BadConstant(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _reject_constant(name: str) -> Any:
    # The stdlib scanner accepts NaN, Infinity and -Infinity; RFC 8259 does not.
    raise _BadConstant(name)


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise dom_ecat.error(RESULT_OUT_OF_RANGE, f"number out of range: {text[:40]}")
    return value


_DECODER = _json.JSONDecoder(parse_float=_parse_float, parse_constant=_reject_constant)


def decode(raw_json: str | bytes | bytearray | memoryview | Any) -> Any:
    """Deserialize *raw_json* to a Python value (manual: ``decode``).

    *raw_json* is a ``str`` or any bytes-like object (a ``byte_span`` too) holding
    UTF-8. Objects become ``dict`` (a repeated key keeps its last value), arrays
    ``list``, ``null`` becomes ``None``, integers ``int`` and other numbers ``float``.

    Raises a ``json.lexer`` error (a ``json.JSONDecodeError``) for text that is not
    JSON, and a ``json.dom`` error (a ``ValueError``) for a number out of range or
    nesting deeper than the interpreter's recursion limit allows. ``TypeError`` for
    an argument of another type.
    """
    if isinstance(raw_json, str):
        doc = raw_json
    else:
        try:
            data = memoryview(raw_json)
        except TypeError:
            raise TypeError(
                f"decode() takes str or a bytes-like object, not {type(raw_json).__name__}"
            ) from None
        try:
            doc = str(data, "utf-8")
        except UnicodeDecodeError as e:
            msg = f"JSON text is not valid UTF-8 (byte {e.start})"
            raise _lexer_error(13, "", e.start, msg) from None
    if doc.startswith("\ufeff"):
        raise _lexer_error(11, doc, 0)
    try:
        return _DECODER.decode(doc)
    except CategoryError:
        raise
    except _json.JSONDecodeError as e:
        raise _lexer_error(_lexer_code(e.msg), e.doc, e.pos, e.msg) from None
    except _BadConstant as e:
        pos = max(doc.find(e.name), 0)
        raise _lexer_error(12, doc, pos, f"{e.name} is not JSON") from None
    except RecursionError:
        raise dom_ecat.error(TOO_MANY_LEVELS) from None
    except ValueError as e:
        # int() refuses more digits than sys.get_int_max_str_digits().
        raise dom_ecat.error(RESULT_OUT_OF_RANGE, f"number out of range: {e}") from None


# The C escaper of the json accelerator (the pure-Python one where it is missing).
_escape: Callable[[str], str] = (
    getattr(_encoder, "c_encode_basestring", None) or _encoder.py_encode_basestring
)


def _format_leaf(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return _escape(v)
    if isinstance(v, int):
        return int.__repr__(v)
    if isinstance(v, float):
        if math.isfinite(v):
            return float.__repr__(v)
        raise dom_ecat.error(RESULT_OUT_OF_RANGE, f"{v!r} has no JSON representation")
    raise TypeError(f"a JSON leaf value is bool, int, float, str or None, not {type(v).__name__}")


class writer:
    """The JSON incremental generator (manual: ``json.writer``).

    Tracks the open containers and inserts separators between values. Inside an
    object, values alternate between keys (strings) and values. With *indent*
    (an addition) each item goes on its own line, indented by *indent* repeated
    ``level`` times.

    Misuse (a key that is not a string, an ``end_*`` that does not match, a second
    top-level value, any call after ``generate()``) raises ``ValueError``.
    """

    __slots__ = ("_parts", "_stack", "_top_done", "_consumed", "_indent")

    def __init__(self, indent: str | int | None = None) -> None:
        self._parts: list[str] = []
        # One entry per open container: [is_object, items written]. Inside an
        # object a key and its value each count as one item.
        self._stack: list[list[Any]] = []
        self._top_done = False
        self._consumed = False
        self._indent = _indent_string(indent)

    @property
    def level(self) -> int:
        """The current level of nested containers (manual: ``level``)."""
        return len(self._stack)

    def _newline(self, level: int) -> None:
        if self._indent is not None:
            self._parts.append("\n" + self._indent * level)

    def _before(self, key_ok: bool) -> None:
        if self._consumed:
            raise ValueError("json.writer used after generate()")
        stack = self._stack
        if not stack:
            if self._top_done:
                raise ValueError("json.writer holds one top-level value only")
            return
        frame = stack[-1]
        if frame[0]:
            if frame[1] % 2:
                return  # the value after a key: the ':' is already written
            if not key_ok:
                raise ValueError("an object key must be a string")
        if frame[1]:
            self._parts.append(",")
        self._newline(len(stack))

    def _after(self) -> None:
        stack = self._stack
        if not stack:
            self._top_done = True
            return
        frame = stack[-1]
        if frame[0] and frame[1] % 2 == 0:
            self._parts.append(":" if self._indent is None else ": ")
        frame[1] += 1

    def value(self, v: bool | int | float | str | None) -> None:
        """Write the leaf value *v* (bool, int, float, str or ``null``)."""
        text = _format_leaf(v)
        self._before(isinstance(v, str))
        self._parts.append(text)
        self._after()

    def literal(self, raw: str) -> None:
        """Write *raw* as one value (or key), without formatting or checking it."""
        if not isinstance(raw, str):
            raise TypeError(f"literal() takes str, not {type(raw).__name__}")
        self._before(True)
        self._parts.append(raw)
        self._after()

    def begin_object(self) -> None:
        """Write the begin-object token."""
        self._before(False)
        self._parts.append("{")
        self._stack.append([True, 0])

    def end_object(self) -> None:
        """Write the end-object token."""
        self._end(True, "}")

    def begin_array(self) -> None:
        """Write the begin-array token."""
        self._before(False)
        self._parts.append("[")
        self._stack.append([False, 0])

    def end_array(self) -> None:
        """Write the end-array token."""
        self._end(False, "]")

    def _end(self, is_object: bool, token: str) -> None:
        if self._consumed:
            raise ValueError("json.writer used after generate()")
        kind = "object" if is_object else "array"
        if not self._stack or self._stack[-1][0] is not is_object:
            raise ValueError(f"end_{kind}() without a matching begin_{kind}()")
        frame = self._stack[-1]
        if is_object and frame[1] % 2:
            raise ValueError("end_object() after a key with no value")
        self._stack.pop()
        if frame[1]:
            self._newline(len(self._stack))
        self._parts.append(token)
        self._after()

    def generate(self) -> str:
        """Return the JSON text and consume the writer (manual: ``generate``)."""
        if self._consumed:
            raise ValueError("json.writer used after generate()")
        if self._stack:
            raise ValueError(f"{len(self._stack)} container(s) still open")
        if not self._top_done:
            raise ValueError("nothing was written")
        self._consumed = True
        text = "".join(self._parts)
        self._parts = []
        return text


def _indent_string(indent: str | int | None) -> str | None:
    if indent is None or isinstance(indent, str):
        return indent
    if isinstance(indent, int) and not isinstance(indent, bool) and indent >= 0:
        return " " * indent
    raise TypeError("indent is a str, a count of spaces, or None")


class EncodeState:
    """What a ``__tojson__`` hook receives (manual: ``__tojson``'s *state*).

    ``writer``: the :class:`writer` to write into. ``visited``: the ``id()`` of every
    container and hooked object being encoded on the path from the top value (a
    hook that walks subobjects itself adds ``id(obj)`` before descending and
    removes it after, raising a ``cycle_exists`` error on a repeat; calling
    ``encode(obj, state=state)`` does all that). ``indent``: the indentation
    string or ``None``; the writer already applies it.
    """

    __slots__ = ("writer", "visited", "indent")

    def __init__(self, writer: writer, visited: set[int], indent: str | None) -> None:
        self.writer = writer
        self.visited = visited
        self.indent = indent


def encode(value: Any, *, indent: str | int | None = None, state: EncodeState | None = None) -> Any:
    """Serialize *value* to a JSON formatted string (manual: ``encode``).

    ``dict`` is an object (keys that are not ``str`` are skipped, order kept),
    ``list`` and ``tuple`` are arrays, ``None`` is null. An object whose type has a
    ``__tojson__(self, state)`` method writes itself through ``state.writer``.
    *indent* (a string, or a count of spaces) pretty-prints; ``None`` is compact.

    With *state* (from inside a ``__tojson__`` hook) the value is written into
    ``state.writer`` and ``None`` is returned; *indent* is then ignored.

    Raises a ``json.dom`` error (a ``ValueError``) for a reference cycle, a NaN
    or infinity, or nesting deeper than the recursion limit allows; ``TypeError``
    for a value of a type JSON has no mapping for.
    """
    if state is not None:
        if not isinstance(state, EncodeState):
            raise TypeError("state must be the EncodeState given to __tojson__")
        _encode_into(value, state)
        return None
    indent_str = _indent_string(indent)
    if indent_str is None:
        text = _encode_plain(value)
        if text is not None:
            return text
    out = writer(indent_str)
    _encode_into(value, EncodeState(out, set(), indent_str))
    return out.generate()


_LEAF_TYPES = frozenset({str, int, float, bool, type(None)})
_c_make_encoder: Callable[..., Any] | None = getattr(_encoder, "c_make_encoder", None)


def _is_plain(v: Any) -> bool:
    """Whether the stdlib's C encoder gives exactly what encode() must.

    That holds for exact dicts with only str keys, lists, tuples and leaves of the
    exact built-in types (no subclass, so no ``__tojson__``). A reference cycle
    recurses until RecursionError, which the caller takes as "not plain".
    """
    t = type(v)
    if t is dict:
        for key, item in v.items():
            if type(key) is not str:
                return False
            ti = type(item)
            if ti is dict or ti is list or ti is tuple:
                if not _is_plain(item):
                    return False
            elif ti not in _LEAF_TYPES:
                return False
        return True
    if t is list or t is tuple:
        for item in v:
            ti = type(item)
            if ti is dict or ti is list or ti is tuple:
                if not _is_plain(item):
                    return False
            elif ti not in _LEAF_TYPES:
                return False
        return True
    return t in _LEAF_TYPES


def _refuse(o: Any) -> Any:
    raise TypeError("not plain")


def _encode_plain(value: Any) -> str | None:
    """The compact encoding through the C encoder, or None to take the general path.

    The general path also produces every error (NaN, cycles, depth) with its
    category, so any failure here just hands over to it.
    """
    if _c_make_encoder is None:
        return None
    try:
        if not _is_plain(value):
            return None
        chunks = _c_make_encoder(None, _refuse, _escape, None, ":", ",", False, False, False)(
            value, 0
        )
        return "".join(chunks)
    except (ValueError, TypeError, RecursionError):
        return None


def _encode_into(value: Any, state: EncodeState) -> None:
    try:
        _write(value, state, state.writer, state.visited)
    except RecursionError:
        raise dom_ecat.error(TOO_MANY_LEVELS) from None


def _write(v: Any, state: EncodeState, w: writer, visited: set[int]) -> None:
    t = type(v)
    if t is str or t is int or t is float or t is bool or v is None:
        w.value(v)
        return
    hook = getattr(t, "__tojson__", None)
    if hook is not None:
        _enter(v, visited)
        try:
            hook(v, state)
        finally:
            visited.discard(id(v))
        return
    if isinstance(v, dict):
        _enter(v, visited)
        try:
            w.begin_object()
            for key, item in v.items():
                if isinstance(key, str):
                    w.value(key)
                    _write(item, state, w, visited)
            w.end_object()
        finally:
            visited.discard(id(v))
        return
    if isinstance(v, (list, tuple)):
        _enter(v, visited)
        try:
            w.begin_array()
            for item in v:
                _write(item, state, w, visited)
            w.end_array()
        finally:
            visited.discard(id(v))
        return
    w.value(v)  # str/int/float subclasses, or a TypeError naming the type


def _enter(v: Any, visited: set[int]) -> None:
    key = id(v)
    if key in visited:
        raise dom_ecat.error(CYCLE_EXISTS)
    visited.add(key)


def is_array(json: Any) -> bool:
    """Whether *json* is a JSON array on the Python side: a ``list`` or ``tuple``.

    Manual: ``is_array``. ``decode`` gives every JSON array as a ``list``.
    """
    return isinstance(json, (list, tuple))


def into_array(json: list[Any] | tuple[Any, ...] | None = None) -> list[Any]:
    """Mark *json* as a JSON array (manual: ``into_array``).

    A ``list`` is one already and is returned as it is; a ``tuple`` gives a new
    list; no argument gives a new empty list. A ``dict`` raises ``TypeError``:
    Python keeps objects and arrays apart, so there is nothing to retag.
    """
    if json is None:
        return []
    if isinstance(json, list):
        return json
    if isinstance(json, tuple):
        return list(json)
    raise TypeError(f"into_array() takes a list or tuple, not {type(json).__name__}")
