"""Error categories read from RDF Turtle (manual: "RDF error categories").

The subset of Turtle that such a module needs: ``@prefix``/``PREFIX``
declarations, comments, IRIs, prefixed names, the keyword ``a``, strings (short
and long, with a language tag or a datatype), integers, ``;`` and ``,`` lists and
blank-node property lists ``[ ... ]``. Collections ``( ... )`` and anonymous
subjects are refused with a ``ValueError`` naming the line.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

from emilua._errors import error_category

__all__ = ["category_from_turtle", "load_category"]

_SCHEMA = "https://schema.emilua.org/error_category/0/#"
_MODULE = "about:emilua-module"

_TOKEN_PATTERN = r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<iri><[^<>"{}|^`\\\s]*>)
  | (?P<long>\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\")
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<lang>@[a-zA-Z]+(?:-[a-zA-Z0-9]+)*)
  | (?P<dtype>\^\^)
  | (?P<number>[+-]?\d+(?![\d.]*[eE.]\d))
  | (?P<pname>(?:[A-Za-z][\w-]*)?:(?:[\w-](?:[\w.-]*[\w-])?)?)
  | (?P<kw>\ba\b|PREFIX\b|@prefix\b)
  | (?P<punct>[\[\],;.()])
    """


@functools.cache
def _token() -> re.Pattern[str]:
    # Compiled on first use: importing emilua should not pay for it.
    return re.compile(_TOKEN_PATTERN, re.VERBOSE)


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


class _Literal:
    __slots__ = ("value", "lang")

    def __init__(self, value: Any, lang: str | None = None) -> None:
        self.value = value
        self.lang = lang


class _Node:
    """A blank node: its predicate -> objects."""

    def __init__(self) -> None:
        self.props: dict[str, list[Any]] = {}


def _unescape(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        s = m.group(1)
        if s[0] in "uU":
            return chr(int(s[1:], 16))
        return _ESCAPES[s]

    return re.sub(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[tnrbf\"'\\])", sub, text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        line = 1
        while pos < len(text):
            m = _token().match(text, pos)
            if m is None:
                raise ValueError(
                    f"Turtle: unexpected text at line {line}: {text[pos : pos + 20]!r}"
                )
            kind = m.lastgroup or ""
            if kind != "ws":
                self.tokens.append((kind, m.group(), line))
            line += m.group().count("\n")
            pos = m.end()
        self.i = 0
        self.prefixes: dict[str, str] = {}
        self.triples: list[tuple[Any, str, Any]] = []

    def peek(self) -> tuple[str, str, int]:
        if self.i >= len(self.tokens):
            return ("eof", "", self.tokens[-1][2] if self.tokens else 1)
        return self.tokens[self.i]

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise ValueError(f"Turtle: expected {value!r} at line {tok[2]}, found {tok[1]!r}")
        if tok[0] == "eof":
            raise ValueError("Turtle: unexpected end of input")
        self.i += 1
        return tok

    def iri(self, tok: tuple[str, str, int]) -> str:
        kind, text, line = tok
        if kind == "iri":
            return text[1:-1]
        if kind == "pname":
            prefix, _, local = text.partition(":")
            if prefix not in self.prefixes:
                raise ValueError(f"Turtle: undeclared prefix {prefix!r} at line {line}")
            return self.prefixes[prefix] + local
        if kind == "kw" and text == "a":
            return "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
        raise ValueError(f"Turtle: expected an IRI at line {line}, found {text!r}")

    def parse(self) -> list[tuple[Any, str, Any]]:
        while self.peek()[0] != "eof":
            kind, text, line = self.peek()
            if text in ("@prefix", "PREFIX"):
                self.take()
                name = self.take()
                if name[0] != "pname" or not name[1].endswith(":"):
                    raise ValueError(f"Turtle: bad prefix name at line {name[2]}")
                target = self.take()
                if target[0] != "iri":
                    raise ValueError(f"Turtle: a prefix needs an IRI at line {target[2]}")
                self.prefixes[name[1][:-1]] = target[1][1:-1]
                if text == "@prefix":
                    self.take(".")
                continue
            subject = self.iri(self.take())
            self.predicate_objects(subject, end=".")
            self.take(".")
        return self.triples

    def predicate_objects(self, subject: Any, end: str) -> None:
        while True:
            predicate = self.iri(self.take())
            while True:
                self.triples.append((subject, predicate, self.object()))
                if self.peek()[1] != ",":
                    break
                self.take(",")
            if self.peek()[1] != ";":
                return
            while self.peek()[1] == ";":
                self.take(";")
            if self.peek()[1] == end:
                return

    def object(self) -> Any:
        kind, text, line = self.peek()
        if text == "[":
            self.take("[")
            node = _Node()
            if self.peek()[1] != "]":
                start = len(self.triples)
                self.predicate_objects(node, end="]")
                for s, p, o in self.triples[start:]:
                    if s is node:
                        node.props.setdefault(p, []).append(o)
            self.take("]")
            return node
        if kind in ("string", "long"):
            self.take()
            body = text[3:-3] if kind == "long" else text[1:-1]
            lit = _Literal(_unescape(body))
            if self.peek()[0] == "lang":
                lit.lang = self.take()[1][1:]
            elif self.peek()[0] == "dtype":
                self.take()
                self.iri(self.take())
            return lit
        if kind == "number":
            self.take()
            return _Literal(int(text))
        if text == "(":
            raise ValueError(f"Turtle: collections are not supported (line {line})")
        return self.iri(self.take())


def _single(node: _Node, name: str, kind: type) -> Any:
    values = node.props.get(_SCHEMA + name, [])
    if len(values) != 1 or not isinstance(values[0], _Literal):
        raise ValueError(f"each cat:error needs exactly one cat:{name}")
    value = values[0].value
    if not isinstance(value, kind):
        raise ValueError(f"cat:{name} must be a {kind.__name__}")
    return value


def category_from_turtle(text: str, name: str) -> error_category:
    """Build the category *name* from the Turtle *text* of an error-category module.

    Reads the ``cat:error`` entries of ``<about:emilua-module>`` (``cat:code``,
    ``cat:alias``, ``cat:message``). Of several messages, the one without a
    language tag is used (the first one when all have tags). Raises ``ValueError``
    on text outside the supported subset or entries that do not fit.
    """
    triples = _Parser(text).parse()
    errors: dict[int, tuple[str, str]] = {}
    for subject, predicate, obj in triples:
        if subject != _MODULE or predicate != _SCHEMA + "error":
            continue
        if not isinstance(obj, _Node):
            raise ValueError("cat:error must be a [ ... ] entry")
        code = _single(obj, "code", int)
        alias = _single(obj, "alias", str)
        messages = [m for m in obj.props.get(_SCHEMA + "message", []) if isinstance(m, _Literal)]
        if not messages:
            raise ValueError(f"error {alias} has no cat:message")
        plain = [m for m in messages if m.lang is None]
        message = (plain or messages)[0].value
        if code in errors:
            raise ValueError(f"error code {code} given twice")
        errors[code] = (alias, str(message))
    return error_category(name, errors)


def load_category(path: str | os.PathLike[str]) -> error_category:
    """Read the error-category module at *path* (a ``.ttl`` file).

    The category is named after the file, without its extension.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    name = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return category_from_turtle(text, name)
