"""Error categories and the exceptions built from them.

Manual: "Errors". An error of the manual is a pair (code, category); here it is an
exception carrying the two as attributes, ``code`` and ``category``. Errors whose
category speaks errno (``system``, ``generic``) are ``OSError`` instances of the
standard subclass for that errno (``FileNotFoundError`` for ENOENT, ...), with
``errno`` untouched; other categories pick the Python exception that fits (end of
file is an ``EOFError``, a resolver error a ``socket.gaierror``) or plain
:class:`CategoryError`.

Two errors compare equal when their codes and categories are equal; any other
attribute (the manual's "extra members", like ``arg``) is ignored. A bare
``OSError`` raised by the kernel layer counts as the ``system`` category.
"""

from __future__ import annotations

import errno as _errno
import importlib
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "CategoryError",
    "error_category",
    "generic_category",
    "system_category",
    "togeneric",
]


class CategoryError(Exception):
    """Base of every exception built from an error category.

    Attributes: ``code`` (int) and ``category`` (:class:`error_category`). Any
    other attribute may be set freely (the manual's ``my_error.arg = 1``) and
    takes no part in comparisons.
    """

    code: int
    category: error_category

    def __eq__(self, other: object) -> bool:
        key = _key_of(other)
        if key is None:
            return NotImplemented
        return (self.code, self.category) == key

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash((self.code, self.category.name))

    def __reduce__(self) -> tuple[Any, ...]:
        # The class is made at run time; rebuild the error through its category.
        base = super().__reduce__()  # the Python base's own constructor arguments
        state = {k: v for k, v in self.__dict__.items() if k not in ("code", "category")}
        return (_rebuild, (self.category, self.code, base[1], state))

    def togeneric(self) -> BaseException:
        """Return the default error condition of this error (manual: ``togeneric``).

        A new error of the ``generic`` category where the code maps onto a POSIX
        errno, this very error otherwise.
        """
        mapped = self.category.default_errno(self.code)
        if mapped is None:
            return self
        return generic_category.error(mapped)


def _rebuild(
    category: error_category, code: int, args: tuple[Any, ...], state: dict[str, Any]
) -> CategoryError:
    exc = _mixed(category.exception_type(code))(*args)
    exc.__dict__.update(state)
    exc.code = code
    exc.category = category
    return exc


def _key_of(value: object) -> tuple[int, error_category] | None:
    if isinstance(value, CategoryError):
        return (value.code, value.category)
    if isinstance(value, OSError) and value.errno is not None:
        return (value.errno, system_category)
    return None


_MIXED: dict[type[BaseException], type[CategoryError]] = {}


def _mixed(base: type[BaseException]) -> type[CategoryError]:
    """The class deriving from both CategoryError and *base* (one per base)."""
    if issubclass(base, CategoryError):
        return base
    cls = _MIXED.get(base)
    if cls is None:
        cls = type(base.__name__, (CategoryError, base), {"__module__": __name__})
        _MIXED[base] = cls
    return cls


def _errno_base(code: int) -> type[BaseException]:
    # OSError(code, msg) picks the standard subclass for code (PEP 3151).
    return type(OSError(code, ""))


class error_category:
    """An error domain: a name, a message for each code, and its codes' names.

    Manual: "The error category". ``str(cat)`` is the category's name; two
    categories are equal only when they are the same object. ``cat.ALIAS`` and
    ``cat[code]`` build a new error of this category on each access, ready to be
    raised (manual: "RDF error categories").

    *errors* maps each code to ``(alias, message)``; *generic* optionally maps
    codes to a POSIX errno, which ``togeneric()`` then uses.
    """

    def __init__(
        self,
        name: str,
        errors: Mapping[int, tuple[str, str]] | None = None,
        *,
        generic: Mapping[int, int] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("an error category needs a non-empty str name")
        self._name = name
        self._messages: dict[int, str] = {}
        self._aliases: dict[str, int] = {}
        for code, entry in (errors or {}).items():
            if not isinstance(code, int) or isinstance(code, bool):
                raise TypeError(f"error code must be an int, not {type(code).__name__}")
            alias, message = entry
            if not isinstance(alias, str) or not isinstance(message, str):
                raise TypeError("each error is (alias: str, message: str)")
            if not alias.isidentifier() or alias.startswith("_"):
                raise ValueError(f"alias {alias!r} is not a public identifier")
            if alias in self._aliases:
                raise ValueError(f"alias {alias!r} given twice")
            self._messages[code] = message
            self._aliases[alias] = code
        self._generic: dict[int, int] = {}
        for code, posix in (generic or {}).items():
            if code not in self._messages:
                raise ValueError(f"generic mapping for unknown code {code}")
            self._generic[code] = int(posix)

    @property
    def name(self) -> str:
        """The category's name (also what ``str()`` returns)."""
        return self._name

    def __str__(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<error_category {self._name!r}>"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __copy__(self) -> error_category:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> error_category:
        return self  # a category is compared by identity: copies stay the same one

    def __reduce__(self) -> str | tuple[Any, ...]:
        if _BUILTIN.get(self._name) is self:
            return (_builtin_category, (_HOMES[self._name], self._name))
        raise TypeError(f"error category {self._name!r} cannot be pickled")

    def message(self, code: int) -> str:
        """The explanatory message for *code* (manual: ``message``)."""
        if not isinstance(code, int) or isinstance(code, bool):
            raise TypeError(f"code must be an int, not {type(code).__name__}")
        try:
            return self._messages[code]
        except KeyError:
            return f"Unknown error {code} ({self._name})"

    def default_errno(self, code: int) -> int | None:
        """The POSIX errno *code* maps onto, or None (used by ``togeneric``)."""
        return self._generic.get(code)

    def exception_type(self, code: int) -> type[BaseException]:
        """The Python exception class whose instances carry *code* of this category."""
        return CategoryError

    def error(self, code: int, *args: Any) -> CategoryError:
        """A new exception for *code*; *args* go to the Python exception's constructor."""
        if not isinstance(code, int) or isinstance(code, bool):
            raise TypeError(f"code must be an int, not {type(code).__name__}")
        cls = _mixed(self.exception_type(code))
        exc = cls(*self._args_for(code, args))
        exc.code = code
        exc.category = self
        return exc

    def _args_for(self, code: int, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return args or (self.message(code),)

    def __getattr__(self, alias: str) -> CategoryError:
        if alias.startswith("_"):
            raise AttributeError(alias)
        try:
            code = self._aliases[alias]
        except KeyError:
            raise AttributeError(f"category {self._name!r} has no error {alias!r}") from None
        return self.error(code)

    def __getitem__(self, code: int) -> CategoryError:
        if code not in self._messages:
            raise KeyError(code)
        return self.error(code)

    def __dir__(self) -> Iterable[str]:
        return [*super().__dir__(), *self._aliases]


class _ErrnoCategory(error_category):
    """A category whose codes are errno values: its errors are OSErrors."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._aliases = {
            n: getattr(_errno, n) for n in dir(_errno) if n.startswith("E") and n.isupper()
        }

    def message(self, code: int) -> str:
        """``strerror(code)`` (manual: the same as strerror(3p) on POSIX)."""
        if not isinstance(code, int) or isinstance(code, bool):
            raise TypeError(f"code must be an int, not {type(code).__name__}")
        return os.strerror(code)

    def default_errno(self, code: int) -> int | None:
        # Linux reports POSIX errno values: every system code is its own condition.
        return code

    def exception_type(self, code: int) -> type[BaseException]:
        return _errno_base(code)

    def _args_for(self, code: int, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (code, self.message(code), *args)

    def __getitem__(self, code: int) -> CategoryError:
        return self.error(code)


#: Errors read from errno (manual: the "system" category).
system_category: error_category = _ErrnoCategory("system")
#: POSIX errors, compared portably (manual: the "generic" category).
generic_category: error_category = _ErrnoCategory("generic")


#: The categories this package defines, by name (pickles refer to them so),
#: and the module that defines each one.
_BUILTIN: dict[str, error_category] = {}
_HOMES: dict[str, str] = {}


def _builtin_category(home: str, name: str) -> error_category:
    # A pickle names the defining module, as pickle does for a global:
    # importing it registers the category. The modules that define
    # categories (asio_error, json) sit above this one.
    importlib.import_module(home)
    return _BUILTIN[name]


def _register(category: error_category, home: str) -> error_category:
    _BUILTIN[category.name] = category
    _HOMES[category.name] = home
    return category


_register(system_category, __name__)
_register(generic_category, __name__)


class _TableCategory(error_category):
    """A fixed category whose errors are of one Python exception type."""

    def __init__(
        self,
        name: str,
        errors: Mapping[int, tuple[str, str]],
        base: type[BaseException] | Callable[[int], type[BaseException]],
        args: Callable[[int, str], tuple[Any, ...]] | None = None,
    ) -> None:
        super().__init__(name, errors)
        self._base = base
        self._make_args = args

    def exception_type(self, code: int) -> type[BaseException]:
        if isinstance(self._base, type):
            return self._base
        return self._base(code)

    def _args_for(self, code: int, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if args:
            return args
        if self._make_args is not None:
            return self._make_args(code, self.message(code))
        return (self.message(code),)


def togeneric(exc: BaseException) -> BaseException:
    """The default error condition of any error (manual: ``togeneric``).

    Accepts a :class:`CategoryError` or any ``OSError`` (taken as the ``system``
    category); anything else is returned as it is.
    """
    if isinstance(exc, CategoryError):
        return exc.togeneric()
    if isinstance(exc, OSError) and exc.errno is not None:
        return generic_category.error(exc.errno)
    return exc
