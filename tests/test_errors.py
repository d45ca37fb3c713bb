"""Manual: "Errors", "generic_error", "asio_error"."""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

import pytest

from emilua import asio_error, generic_error
from emilua._errors import (
    CategoryError,
    error_category,
    generic_category,
    system_category,
    togeneric,
)
from emilua._errors_ttl import category_from_turtle, load_category

pytestmark = pytest.mark.pure


@pytest.mark.parametrize("name", sorted(generic_error.NAMES))
def test_every_generic_error_of_the_manual_is_an_oserror_with_its_errno(name: str) -> None:
    err = generic_error.__getattr__(name)
    code = getattr(errno, name)
    assert isinstance(err, OSError)
    assert isinstance(err, CategoryError)
    assert err.errno == code
    assert err.code == code
    assert err.category is generic_category
    assert err.strerror == os.strerror(code)


def test_generic_error_picks_the_standard_oserror_subclass() -> None:
    assert isinstance(generic_error.EEXIST, FileExistsError)
    assert isinstance(generic_error.ENOENT, FileNotFoundError)
    assert isinstance(generic_error.EAGAIN, BlockingIOError)
    assert isinstance(generic_error.EPIPE, BrokenPipeError)
    assert type(generic_error.EINVAL).__mro__[2] is OSError


def test_each_access_builds_a_new_error_that_carries_extra_members() -> None:
    a = generic_error.EINVAL
    b = generic_error.EINVAL
    assert a is not b
    a.arg = 1
    assert not hasattr(b, "arg")
    with pytest.raises(OSError) as info:
        raise a
    assert info.value.errno == errno.EINVAL
    assert info.value.arg == 1  # type: ignore[attr-defined]


def test_equality_compares_code_and_category_only() -> None:
    a = generic_error.EINVAL
    a.arg = 1
    b = generic_error.EINVAL
    b.arg = 2
    assert a == b
    assert hash(a) == hash(b)
    assert a != generic_error.ENOENT
    assert a != 22
    # Same number, other category: not equal.
    assert system_category.error(errno.EINVAL) != a
    assert system_category.error(errno.EINVAL) == asio_error.basic.invalid_argument


def test_an_oserror_from_the_kernel_is_of_the_system_category() -> None:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError) as info:
        os.close(r)
    kernel_error = info.value
    assert asio_error.basic.bad_descriptor == kernel_error
    assert generic_error.EBADF != kernel_error
    assert togeneric(kernel_error) == generic_error.EBADF


def test_togeneric_maps_system_errors_and_keeps_others() -> None:
    sys_err = asio_error.basic.connection_refused
    generic = sys_err.togeneric()
    assert generic == generic_error.ECONNREFUSED
    assert generic.category is generic_category
    assert isinstance(generic, ConnectionRefusedError)
    g = generic_error.ENOENT
    assert g.togeneric() == g
    eof = asio_error.misc.eof
    assert eof.togeneric() is eof
    assert togeneric(eof) is eof
    plain = ValueError("x")
    assert togeneric(plain) is plain


def test_categories_have_names_messages_and_identity_equality() -> None:
    assert str(system_category) == "system"
    assert str(generic_category) == "generic"
    assert system_category.name == "system"
    assert system_category.message(errno.ENOENT) == os.strerror(errno.ENOENT)
    assert generic_category != system_category
    assert generic_category == generic_category
    with pytest.raises(TypeError):
        system_category.message("2")  # type: ignore[arg-type]


def test_unknown_generic_error_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        generic_error.ENOTANERROR  # noqa: B018
    # ELOOP is the manual's EL00P.
    assert generic_error.ELOOP.errno == errno.ELOOP


@pytest.mark.parametrize("name", sorted(asio_error._BASIC))
def test_asio_basic_errors_are_system_errno_values(name: str) -> None:
    err = getattr(asio_error.basic, name)
    assert isinstance(err, OSError)
    assert err.category is system_category
    assert err.errno == asio_error._BASIC[name]
    assert str(err.category) == "system"


def test_asio_basic_names_match_the_errno_of_the_host() -> None:
    assert asio_error.basic.operation_aborted.errno == errno.ECANCELED
    assert asio_error.basic.no_descriptors.errno == errno.EMFILE
    assert asio_error.basic.shut_down.errno == errno.ESHUTDOWN
    assert asio_error.basic.would_block.errno == errno.EWOULDBLOCK
    assert isinstance(asio_error.basic.timed_out, TimeoutError)


def test_asio_netdb_errors() -> None:
    names = ["host_not_found", "host_not_found_try_again", "no_recovery", "no_data"]
    for code, name in enumerate(names, start=1):
        err = getattr(asio_error.netdb, name)
        assert isinstance(err, socket.herror)
        assert err.code == code
        assert str(err.category) == "asio.netdb"
        assert err.strerror == err.category.message(code)
    assert asio_error.netdb.host_not_found.strerror == "Host not found (authoritative)"


def test_asio_addrinfo_errors_carry_the_eai_codes() -> None:
    err = asio_error.addrinfo.service_not_found
    assert isinstance(err, socket.gaierror)
    assert err.errno == socket.EAI_SERVICE
    assert str(err.category) == "asio.addrinfo"
    assert asio_error.addrinfo.socket_type_not_supported.errno == socket.EAI_SOCKTYPE
    assert asio_error.addrinfo.service_not_found.strerror == "Service not found"


def test_asio_misc_eof_is_an_eoferror() -> None:
    with pytest.raises(EOFError) as info:
        raise asio_error.misc.eof
    err = info.value
    assert isinstance(err, CategoryError)
    assert err.code == 2
    assert str(err.category) == "asio.misc"
    assert str(err) == "End of file"
    assert err == asio_error.misc.eof
    assert err != asio_error.misc.not_found


def test_asio_misc_other_errors() -> None:
    for code, name in enumerate(["already_open", "eof", "not_found", "fd_set_failure"], 1):
        err = getattr(asio_error.misc, name)
        assert err.code == code
        assert str(err) == err.category.message(code)
    assert type(asio_error.misc.not_found) is CategoryError
    with pytest.raises(AttributeError):
        asio_error.misc.nothing  # noqa: B018
    with pytest.raises(AttributeError):
        asio_error.basic.eof  # noqa: B018


def _easter_eggs() -> error_category:
    return error_category(
        "easter_eggs",
        {
            1: ("ED", "?"),
            2: ("EGREGIOUS", "You really blew it this time"),
            3: ("EIEIO", "Computer bought the farm"),
            4: ("EGRATUITOUS", "Gratuitous error"),
        },
        generic={2: errno.EINVAL},
    )


def test_user_defined_category_builds_errors_by_alias_and_by_number() -> None:
    cat = _easter_eggs()
    err = cat.EGREGIOUS
    err.context = "Lorem ipsum"
    assert err.code == 2
    assert err.category is cat
    assert str(err) == "You really blew it this time"
    assert err == cat[2]
    assert cat.EGREGIOUS is not cat.EGREGIOUS
    assert str(cat) == "easter_eggs"
    assert cat.message(4) == "Gratuitous error"
    assert "999" in cat.message(999)
    with pytest.raises(CategoryError) as info:
        raise cat.EIEIO
    assert info.value.code == 3
    with pytest.raises(KeyError):
        cat[999]
    with pytest.raises(AttributeError):
        cat.ENOPE  # noqa: B018
    assert "EGREGIOUS" in dir(cat)


def test_user_defined_category_generic_mapping() -> None:
    cat = _easter_eggs()
    assert cat.EGREGIOUS.togeneric() == generic_error.EINVAL
    ed = cat.ED
    assert ed.togeneric() is ed


def test_two_categories_of_the_same_name_are_different() -> None:
    a = _easter_eggs()
    b = _easter_eggs()
    assert a != b
    assert a.ED != b.ED


@pytest.mark.parametrize(
    ("args", "kwargs", "exc"),
    [
        (("",), {}, TypeError),
        ((3,), {}, TypeError),
        (("x", {"1": ("A", "a")}), {}, TypeError),
        (("x", {1: ("A", 2)}), {}, TypeError),
        (("x", {1: ("not an id", "a")}), {}, ValueError),
        (("x", {1: ("A", "a"), 2: ("A", "b")}), {}, ValueError),
        (("x", {1: ("A", "a")}), {"generic": {5: 22}}, ValueError),
    ],
)
def test_bad_category_definitions_are_refused(
    args: tuple[object, ...], kwargs: dict[str, object], exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        error_category(*args, **kwargs)  # type: ignore[arg-type]


# -- RDF error categories ------------------------------------------------------------

EASTER_EGGS_TTL = """\
# Easter egg codes from the GNU C Library manual.
@prefix cat: <https://schema.emilua.org/error_category/0/#>.
<about:emilua-module>
    a <https://schema.emilua.org/error_category/0/>;
    cat:error [
        cat:code 1;
        cat:alias "ED";
        # The experienced user will know what is wrong.
        cat:message "?"
    ], [
        cat:code 2;
        cat:alias "EGREGIOUS";
        # You did what?
        cat:message "You really blew it this time",
            "Você realmente se superou dessa vez"@pt-BR
    ], [
        cat:code 3;
        cat:alias "EIEIO";
        cat:message "Computer bought \\"the\\" farm"
    ], [
        cat:code 4;
        cat:alias "EGRATUITOUS";
        cat:message \"\"\"Gratuitous error\"\"\"
    ].
"""


def test_category_from_a_turtle_module(tmp_path: Any) -> None:
    path = tmp_path / "my_error_category.ttl"
    path.write_text(EASTER_EGGS_TTL, encoding="utf-8")
    cat = load_category(path)
    assert str(cat) == "my_error_category"
    err = cat.EGREGIOUS
    assert err.code == 2
    assert str(err) == "You really blew it this time"
    assert cat[1] == cat.ED
    assert cat.message(1) == "?"
    assert cat.message(3) == 'Computer bought "the" farm'
    assert cat.message(4) == "Gratuitous error"
    with pytest.raises(CategoryError):
        raise cat.EIEIO


def test_turtle_with_sparql_prefix_and_only_tagged_messages() -> None:
    text = """PREFIX c: <https://schema.emilua.org/error_category/0/#>
    <about:emilua-module> c:error [ c:code 7 ; c:alias "E7" ; c:message "sete"@pt ] .
    <about:other> c:error [ c:code 8 ; c:alias "E8" ; c:message "x" ] .
    """
    cat = category_from_turtle(text, "t")
    assert cat.message(7) == "sete"
    with pytest.raises(AttributeError):
        cat.E8  # noqa: B018


@pytest.mark.parametrize(
    "text",
    [
        "<about:emilua-module> x:error [ ] .",  # undeclared prefix
        "@prefix c: <https://schema.emilua.org/error_category/0/#>.\n"
        '<about:emilua-module> c:error [ c:alias "A"; c:message "m" ].',  # no code
        "@prefix c: <https://schema.emilua.org/error_category/0/#>.\n"
        '<about:emilua-module> c:error [ c:code "1"; c:alias "A"; c:message "m" ].',
        "@prefix c: <https://schema.emilua.org/error_category/0/#>.\n"
        '<about:emilua-module> c:error [ c:code 1; c:alias "A" ].',  # no message
        "@prefix c: <https://schema.emilua.org/error_category/0/#>.\n"
        "<about:emilua-module> c:error ( 1 2 ).",
        "<about:emilua-module> <x> 'single quotes' .",
        "<about:emilua-module> <x> [",
    ],
)
def test_bad_turtle_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        category_from_turtle(text, "bad")


def test_the_package_exports_the_error_api() -> None:
    import emilua

    assert emilua.generic_error is generic_error
    assert emilua.asio_error is asio_error
    assert emilua.CategoryError is CategoryError
    assert emilua.error_category is error_category
    assert emilua.togeneric is togeneric
    assert emilua.load_category is load_category
    assert emilua.system_category is system_category
    assert emilua.generic_category is generic_category


def test_errors_of_the_package_categories_pickle_and_copy() -> None:
    import copy
    import pickle

    from emilua import json

    try:
        json.decode("[1")
    except ValueError as e:
        lexer_error = e
    errors = [
        generic_error.EEXIST,
        asio_error.basic.timed_out,
        asio_error.misc.eof,
        asio_error.misc.not_found,
        asio_error.netdb.no_data,
        asio_error.addrinfo.service_not_found,
        lexer_error,
    ]
    for err in errors:
        err.arg = 5  # type: ignore[attr-defined]
        for clone in (pickle.loads(pickle.dumps(err)), copy.deepcopy(err), copy.copy(err)):
            assert type(clone) is type(err)
            assert clone == err
            assert clone.category is err.category  # type: ignore[attr-defined]
            assert clone.arg == 5  # type: ignore[attr-defined]
            assert str(clone) == str(err)


def test_a_user_category_copies_as_itself_but_does_not_pickle() -> None:
    import copy
    import pickle

    cat = _easter_eggs()
    assert copy.deepcopy(cat) is cat
    assert copy.deepcopy(cat.ED) == cat.ED
    with pytest.raises(TypeError):
        pickle.dumps(cat.ED)
