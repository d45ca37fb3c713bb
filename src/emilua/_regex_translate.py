"""Translation of the manual's regex grammars into Python ``re`` syntax.

The reference engine hands patterns to C++ ``std::regex`` (ECMAScript, POSIX basic
and POSIX extended grammars, classic locale). Python's ``re`` speaks a Perl
dialect, so each pattern is rewritten token by token into an equivalent ``re``
pattern; what has no equivalent raises ``re.error`` naming the position.
See docs/regex.md for the rules and for what cannot be honoured.
"""

from __future__ import annotations

import re

__all__ = ["translate"]

# POSIX character classes ([[:name:]]), classic locale.
_POSIX_CLASSES: dict[str, str] = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "0-9a-zA-Z",
    "upper": "A-Z",
    "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
    "punct": "!-/:-@\\[-`{-~",
    "print": " -~",
    "graph": "!-~",
    "cntrl": "\\x00-\\x1f\\x7f",
    "xdigit": "0-9A-Fa-f",
    "w": "0-9a-zA-Z_",
    "d": "0-9",
    "s": " \\t\\n\\r\\f\\v",
}

# Escapes that ECMAScript gives a meaning and Python spells the same way.
_ECMA_SAME = set("dDwWsSbBfnrtv")


def _class_char(c: str) -> str:
    """*c* as a literal inside a Python character class."""
    if c in "\\]^-[&~|":
        return "\\" + c
    if c == "\n":
        return "\\n"
    return c


def _literal(c: str) -> str:
    """*c* as a literal outside a character class."""
    return re.escape(c)


def _hex(code: int, for_bytes: bool, pattern: str, pos: int) -> str:
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if for_bytes:
        raise re.error("a code point above 0xFF cannot match bytes", pattern, pos)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def translate(pattern: str, grammar: str, for_bytes: bool) -> str:
    """The ``re`` pattern equivalent to *pattern* in *grammar*."""
    if grammar == "ecma":
        return _Ecma(pattern, for_bytes).run()
    if grammar == "extended":
        return _Posix(pattern, for_bytes, basic=False).run()
    if grammar == "basic":
        return _Posix(pattern, for_bytes, basic=True).run()
    raise ValueError(f"unknown grammar {grammar!r} (expected 'basic', 'extended' or 'ecma')")


class _Ecma:
    """ECMAScript (the dialect of C++ std::regex) to Python."""

    def __init__(self, pattern: str, for_bytes: bool) -> None:
        self.p = pattern
        self.i = 0
        self.for_bytes = for_bytes
        self.out: list[str] = []

    def error(self, msg: str, pos: int | None = None) -> re.error:
        return re.error(msg, self.p, self.i if pos is None else pos)

    def run(self) -> str:
        p = self.p
        n = len(p)
        while self.i < n:
            c = p[self.i]
            if c == "\\":
                self.out.append(self.escape(in_class=False))
                continue
            if c == "[":
                self.out.append(self.char_class())
                continue
            if c == ".":
                # ECMAScript: '.' matches anything but a line terminator.
                self.out.append("[^\\n\\r]" if self.for_bytes else "[^\\n\\r\\u2028\\u2029]")
            elif c == "$":
                self.out.append("\\Z")  # end of input only (Python's $ also matches before \n)
            elif c == "(" and p.startswith("(?", self.i):
                ext = p[self.i + 2 : self.i + 3]
                if ext not in (":", "=", "!"):
                    raise self.error("ECMAScript groups are (?:, (?= and (?! only")
                self.out.append(p[self.i : self.i + 3])
                self.i += 3
                continue
            else:
                self.out.append(c)
            self.i += 1
        return "".join(self.out)

    def escape(self, in_class: bool) -> str:
        p = self.p
        start = self.i
        if self.i + 1 >= len(p):
            raise self.error("pattern ends with a backslash")
        c = p[self.i + 1]
        self.i += 2
        if c in _ECMA_SAME:
            if c == "b" and in_class:
                return "\\x08"
            return "\\" + c
        if c == "c":
            if self.i < len(p) and p[self.i].isascii() and p[self.i].isalpha():
                self.i += 1
                return f"\\x{ord(p[self.i - 1]) % 32:02x}"
            raise self.error("\\c needs a letter", start)
        if c == "x":
            digits = p[self.i : self.i + 2]
            if len(digits) != 2 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise self.error("\\x needs two hex digits", start)
            self.i += 2
            return "\\x" + digits
        if c == "u":
            digits = p[self.i : self.i + 4]
            if len(digits) != 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise self.error("\\u needs four hex digits", start)
            self.i += 4
            return _hex(int(digits, 16), self.for_bytes, p, start)
        if c == "0":
            if self.i < len(p) and p[self.i].isdigit():
                raise self.error("octal escapes are not ECMAScript", start)
            return "\\x00"
        if c.isdigit():
            if in_class:
                raise self.error("a back-reference cannot be inside a class", start)
            j = self.i
            while j < len(p) and p[j].isdigit():
                j += 1
            number = p[self.i - 1 : j]
            self.i = j
            return f"(?:\\{number})"
        if c.isascii() and c.isalnum():
            raise self.error(f"\\{c} is not an ECMAScript escape", start)
        return _class_char(c) if in_class else _literal(c)

    def char_class(self) -> str:
        p = self.p
        start = self.i
        self.i += 1
        negate = p.startswith("^", self.i)
        if negate:
            self.i += 1
        parts: list[str] = []
        while True:
            if self.i >= len(p):
                raise self.error("unterminated character class", start)
            c = p[self.i]
            if c == "]":
                self.i += 1
                break
            if c == "\\":
                parts.append(self.escape(in_class=True))
            elif c == "-":
                # A '-' doubled, first or last is a literal; between two atoms, a range.
                prev_literal = not parts or parts[-1] == "-"
                next_end = p.startswith("]", self.i + 1)
                parts.append("\\-" if prev_literal or next_end else "-")
                self.i += 1
            else:
                parts.append(_class_char(c))
                self.i += 1
        if not parts:
            # ECMAScript: [] matches nothing, [^] matches any character.
            return "[\\s\\S]" if negate else "(?!)"
        return "[" + ("^" if negate else "") + "".join(parts) + "]"


class _Posix:
    """POSIX basic (BRE) and extended (ERE) regular expressions to Python."""

    def __init__(self, pattern: str, for_bytes: bool, basic: bool) -> None:
        self.p = pattern
        self.i = 0
        self.for_bytes = for_bytes
        self.basic = basic
        self.out: list[str] = []
        self.groups = 0
        self.open_groups = 0

    def error(self, msg: str, pos: int | None = None) -> re.error:
        return re.error(msg, self.p, self.i if pos is None else pos)

    def run(self) -> str:
        p = self.p
        n = len(p)
        # True where a repetition operator has nothing to repeat (start of the
        # pattern, of a group, of an alternative, or after a '^' anchor).
        at_start = True
        while self.i < n:
            c = p[self.i]
            pos = self.i
            if c == "\\":
                if self.i + 1 >= n:
                    raise self.error("pattern ends with a backslash")
                d = p[self.i + 1]
                self.i += 2
                if self.basic and d == "(":
                    self.groups += 1
                    self.open_groups += 1
                    self.out.append("(")
                    at_start = True
                    continue
                if self.basic and d == ")":
                    self.close_group(pos)
                    at_start = False
                    continue
                if self.basic and d == "{":
                    if at_start:
                        raise self.error("nothing to repeat", pos)
                    self.interval(pos, closing="\\}")
                    continue
                if self.basic and d.isdigit() and d != "0":
                    if int(d) > self.groups:
                        raise self.error(f"invalid back-reference \\{d}", pos)
                    self.out.append(f"(?:\\{d})")
                    at_start = False
                    continue
                if d in ".[\\*^$" or (not self.basic and d in "()|+?{}"):
                    self.out.append(_literal(d))
                    at_start = False
                    continue
                raise self.error(f"\\{d} is undefined in POSIX regular expressions", pos)
            if c == "[":
                self.out.append(self.bracket())
                at_start = False
                continue
            self.i += 1
            if c == ".":
                self.out.append(".")  # compiled with DOTALL: any character
                at_start = False
            elif c == "*":
                if at_start:
                    if not self.basic:
                        raise self.error("nothing to repeat", pos)
                    self.out.append("\\*")  # BRE: a leading '*' is a literal
                    at_start = False
                else:
                    self.out.append("*")
            elif c == "^":
                if self.basic and not at_start:
                    self.out.append("\\^")  # BRE: an anchor only at the start
                else:
                    self.out.append("^")
                    at_start = True
            elif c == "$":
                if self.basic and not self.at_end():
                    self.out.append("\\$")  # BRE: an anchor only at the end
                else:
                    self.out.append("\\Z")
                at_start = False
            elif not self.basic and c in "+?":
                if at_start:
                    raise self.error("nothing to repeat", pos)
                self.out.append(c)
            elif not self.basic and c == "{":
                if at_start:
                    raise self.error("nothing to repeat", pos)
                self.interval(pos, closing="}")
            elif not self.basic and c == "(":
                self.groups += 1
                self.open_groups += 1
                self.out.append("(")
                at_start = True
            elif not self.basic and c == ")":
                self.close_group(pos)
                at_start = False
            elif not self.basic and c == "|":
                self.out.append("|")
                at_start = True
            else:
                self.out.append(_literal(c))
                at_start = False
        if self.open_groups:
            raise self.error("unbalanced parenthesis", n)
        return "".join(self.out)

    def at_end(self) -> bool:
        rest = self.p[self.i :]
        return rest == "" or rest.startswith("\\)")

    def close_group(self, pos: int) -> None:
        if not self.open_groups:
            if self.basic:
                raise self.error("unbalanced \\)", pos)
            self.out.append("\\)")  # ERE: an unmatched ')' is a literal
            return
        self.open_groups -= 1
        self.out.append(")")

    def interval(self, pos: int, closing: str) -> None:
        p = self.p
        end = p.find(closing, self.i)
        if end < 0:
            raise self.error("unterminated interval", pos)
        body = p[self.i : end]
        m = re.fullmatch(r"(\d+)(,(\d*))?", body)
        if m is None:
            raise self.error("invalid interval", pos)
        low = int(m.group(1))
        high = m.group(3)
        if high and int(high) < low:
            raise self.error("invalid interval: max below min", pos)
        if low > 0xFFFF or (high and int(high) > 0xFFFF):
            raise self.error("interval bound too large", pos)
        self.out.append("{" + body + "}")
        self.i = end + len(closing)

    def bracket(self) -> str:
        p = self.p
        start = self.i
        self.i += 1
        negate = p.startswith("^", self.i)
        if negate:
            self.i += 1
        items: list[str] = []
        first = True
        while True:
            if self.i >= len(p):
                raise self.error("unterminated bracket expression", start)
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[" and p[self.i + 1 : self.i + 2] in (":", "=", "."):
                kind = p[self.i + 1]
                close = p.find(kind + "]", self.i + 2)
                if close < 0:
                    raise self.error(f"unterminated [{kind}", self.i)
                name = p[self.i + 2 : close]
                if kind == ":":
                    if name not in _POSIX_CLASSES or len(name) == 1:
                        raise self.error(f"unknown character class [:{name}:]", self.i)
                    items.append(_POSIX_CLASSES[name])
                elif len(name) == 1:
                    items.append(_class_char(name))
                else:
                    raise self.error(
                        f"collating element [{kind}{name}{kind}] is not supported", self.i
                    )
                self.i = close + 2
                continue
            # A range a-z; a '-' first or last is a literal.
            if (
                self.i + 2 < len(p)
                and p[self.i + 1] == "-"
                and p[self.i + 2] != "]"
                and p[self.i + 2 : self.i + 4] not in ("[:", "[=", "[.")
            ):
                low, high = c, p[self.i + 2]
                if ord(high) < ord(low):
                    raise self.error(f"invalid range {low}-{high}", self.i)
                items.append(_class_char(low) + "-" + _class_char(high))
                self.i += 3
                continue
            items.append(_class_char(c))
            self.i += 1
        return "[" + ("^" if negate else "") + "".join(items) + "]"
