# Manual: "ip.address", "ip.tostring", "ip.toendpoint", "ip.host_name",
# "ip.address_info_flag", "ip.message_flag". Pure functions: no engine needed.
import copy
import errno
import pickle
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emilua.ip._address import (
    address,
    address_info_flag,
    host_name,
    message_flag,
    toendpoint,
    tostring,
)

# Pure data type: no engine needed, runs once.
pytestmark = pytest.mark.pure

LO_INDEX = socket.if_nametoindex("lo")
UNUSED_INDEX = max(index for index, _ in socket.if_nameindex()) + 1000

V6_ONLY_PROPERTIES = [
    "is_link_local",
    "is_multicast_global",
    "is_multicast_link_local",
    "is_multicast_node_local",
    "is_multicast_org_local",
    "is_multicast_site_local",
    "is_site_local",
    "is_v4_mapped",
    "scope_id",
]


def assert_einval(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    # The manual's generic EINVAL, seen from Python as both OSError and ValueError.
    assert isinstance(excinfo.value, OSError)
    assert isinstance(excinfo.value, ValueError)
    assert excinfo.value.errno == errno.EINVAL


# Constructors


def test_default_constructor_is_the_unspecified_v4_address():
    a = address()
    assert a.is_v4 and not a.is_v6
    assert a.is_unspecified
    assert str(a) == "0.0.0.0"
    assert a == address(None) == address.any_v4()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1.2.3.4", "1.2.3.4"),
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_parses_v4_dotted_decimal(text, expected):
    a = address(text)
    assert a.is_v4
    assert str(a) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("::", "::"),
        ("::1", "::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"),
        ("fe80::1", "fe80::1"),
        ("ff02::1", "ff02::1"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::ffff:102:304", "::ffff:1.2.3.4"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ],
)
def test_parses_v6_hexadecimal_notation(text, expected):
    a = address(text)
    assert a.is_v6 and not a.is_v4
    assert str(a) == expected
    assert a.scope_id == 0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "256.0.0.1",
        "01.2.3.4",
        "0x1.2.3.4",
        " 1.2.3.4",
        "1.2.3.4 ",
        "1.2.3.4%1",
        "1.2.3.4:80",
        "::1::",
        "::g",
        "1:2:3:4:5:6:7:8:9",
        "[::1]",
        "::1 ",
        "fe80::1%",
        "fe80::1%no-such-interface",
        "fe80::1%3x",
        "fe80::1%4294967296",
        "fe80::1%-1",
        "example.com",
        "localhost",
        "1.2.3.4\0",
        "\ud800",
    ],
)
def test_bad_text_raises_einval(text):
    with pytest.raises(ValueError) as excinfo:
        address(text)
    assert_einval(excinfo)


@pytest.mark.parametrize("arg", [b"1.2.3.4", 16909060, 1.0, ["1.2.3.4"]])
def test_non_string_argument_raises_type_error(arg):
    with pytest.raises(TypeError):
        address(arg)


def test_an_address_is_not_a_constructor_argument():
    with pytest.raises(TypeError):
        address(address("1.2.3.4"))  # type: ignore[arg-type]


def test_v6_zone_as_a_number_is_the_scope_id():
    a = address("fe80::1%7")
    assert a.scope_id == 7
    assert address("2001:db8::1%4294967295").scope_id == 4294967295


def test_v6_zone_as_an_interface_name_is_its_index():
    assert address("fe80::1%lo").scope_id == LO_INDEX
    assert address("ff02::1%lo").scope_id == LO_INDEX


def test_factories_give_the_well_known_addresses():
    assert str(address.any_v4()) == "0.0.0.0"
    assert str(address.any_v6()) == "::"
    assert str(address.loopback_v4()) == "127.0.0.1"
    assert str(address.loopback_v6()) == "::1"
    assert str(address.broadcast_v4()) == "255.255.255.255"
    assert address.any_v4().is_v4 and address.loopback_v4().is_v4
    assert address.broadcast_v4().is_v4
    assert address.any_v6().is_v6 and address.loopback_v6().is_v6


# Functions (v4) and (v6)


def test_to_v6_makes_the_v4_mapped_address():
    mapped = address("192.0.2.1").to_v6()
    assert mapped.is_v6
    assert mapped.is_v4_mapped
    assert str(mapped) == "::ffff:192.0.2.1"
    assert mapped == address("::ffff:192.0.2.1")


def test_to_v4_unwraps_a_v4_mapped_address():
    a = address("::ffff:10.1.2.3").to_v4()
    assert a.is_v4
    assert a == address("10.1.2.3")


def test_to_v4_drops_the_scope_id():
    assert address("::ffff:10.1.2.3%9").to_v4() == address("10.1.2.3")


@pytest.mark.parametrize("text", ["1.2.3.4", "0.0.0.0", "255.255.255.255"])
def test_v4_to_v6_to_v4_round_trips(text):
    a = address(text)
    assert a.to_v6().to_v4() == a


def test_to_v6_on_a_v6_address_raises_einval():
    with pytest.raises(ValueError) as excinfo:
        address("::1").to_v6()
    assert_einval(excinfo)


@pytest.mark.parametrize("text", ["1.2.3.4", "::1", "::", "::1.2.3.4", "2001:db8::1"])
def test_to_v4_on_anything_but_v4_mapped_raises_einval(text):
    with pytest.raises(ValueError) as excinfo:
        address(text).to_v4()
    assert_einval(excinfo)


# Properties


@pytest.mark.parametrize(
    "text, loopback, multicast, unspecified",
    [
        ("127.0.0.1", True, False, False),
        ("127.255.255.254", True, False, False),
        ("126.0.0.1", False, False, False),
        ("224.0.0.1", False, True, False),
        ("239.255.255.255", False, True, False),
        ("223.255.255.255", False, False, False),
        ("240.0.0.0", False, False, False),
        ("0.0.0.0", False, False, True),
        ("0.0.0.1", False, False, False),
        ("255.255.255.255", False, False, False),
        ("::1", True, False, False),
        ("::2", False, False, False),
        ("::ffff:127.0.0.1", False, False, False),
        ("ff00::", False, True, False),
        ("ff02::1", False, True, False),
        ("fe80::1", False, False, False),
        ("::", False, False, True),
        ("::%3", False, False, True),
        ("::ffff:0.0.0.0", False, False, False),
    ],
)
def test_version_independent_properties(text, loopback, multicast, unspecified):
    a = address(text)
    assert a.is_loopback is loopback
    assert a.is_multicast is multicast
    assert a.is_unspecified is unspecified


@pytest.mark.parametrize(
    "text, link_local, site_local, v4_mapped",
    [
        ("fe80::1", True, False, False),
        ("febf:ffff::1", True, False, False),
        ("fe7f::1", False, False, False),
        ("fec0::1", False, True, False),
        ("feff::1", False, True, False),
        ("::ffff:1.2.3.4", False, False, True),
        ("::ffff:0.0.0.0", False, False, True),
        ("::1.2.3.4", False, False, False),
        ("0:0:0:0:1:ffff:102:304", False, False, False),
        ("2001:db8::1", False, False, False),
        ("::1", False, False, False),
    ],
)
def test_v6_unicast_properties(text, link_local, site_local, v4_mapped):
    a = address(text)
    assert a.is_link_local is link_local
    assert a.is_site_local is site_local
    assert a.is_v4_mapped is v4_mapped


@pytest.mark.parametrize(
    "text, scope",
    [
        ("ff01::1", "node_local"),
        ("ff02::1", "link_local"),
        ("ff05::1", "site_local"),
        ("ff08::1", "org_local"),
        ("ff0e::1", "global"),
        ("ff12::1", "link_local"),  # the flags nibble does not change the scope
        ("ff03::1", None),
        ("ff0f::1", None),
        ("fe0e::1", None),  # scope nibble of a non-multicast address means nothing
        ("2001:db8::1", None),
    ],
)
def test_v6_multicast_scope_properties(text, scope):
    a = address(text)
    for name in ("node_local", "link_local", "site_local", "org_local", "global"):
        assert getattr(a, f"is_multicast_{name}") is (name == scope), name


@pytest.mark.parametrize("name", V6_ONLY_PROPERTIES)
def test_v6_properties_raise_einval_on_a_v4_address(name):
    with pytest.raises(ValueError) as excinfo:
        getattr(address("224.0.0.1"), name)
    assert_einval(excinfo)


def test_scope_id_is_read_write():
    a = address("fe80::1%3")
    a.scope_id = 4
    assert a.scope_id == 4
    assert a == address("fe80::1%4")
    a.scope_id = 0
    assert str(a) == "fe80::1"


def test_assigning_scope_id_keeps_the_hash():
    a = address("fe80::1")
    seen = {a}
    a.scope_id = 7
    assert a in seen


@pytest.mark.parametrize("scope_id", [-1, 2**32])
def test_assigning_scope_id_out_of_range_raises_einval(scope_id):
    a = address("fe80::1%2")
    with pytest.raises(ValueError) as excinfo:
        a.scope_id = scope_id
    assert_einval(excinfo)
    assert a.scope_id == 2


def test_assigning_scope_id_rejects_a_non_integer():
    with pytest.raises(TypeError):
        address("fe80::1").scope_id = "5"  # type: ignore[assignment]


def test_assigning_scope_id_on_a_v4_address_raises_einval():
    a = address("1.2.3.4")
    with pytest.raises(ValueError) as excinfo:
        a.scope_id = 1
    assert_einval(excinfo)


def test_copies_do_not_share_the_scope_id():
    a = address("fe80::1%1")
    b = copy.copy(a)
    c = copy.deepcopy(a)
    a.scope_id = 9
    assert b.scope_id == 1 and c.scope_id == 1


def test_with_scope_id_makes_a_copy_with_the_new_scope_id():
    a = address("fe80::1")
    b = a.with_scope_id(5)
    assert b.scope_id == 5
    assert a.scope_id == 0
    assert b == address("fe80::1%5")
    assert b.with_scope_id(0) == a


@pytest.mark.parametrize("scope_id", [-1, 2**32])
def test_with_scope_id_out_of_range_raises_einval(scope_id):
    with pytest.raises(ValueError) as excinfo:
        address("fe80::1").with_scope_id(scope_id)
    assert_einval(excinfo)


def test_with_scope_id_rejects_a_non_integer():
    with pytest.raises(TypeError):
        address("fe80::1").with_scope_id("5")  # type: ignore[arg-type]


def test_with_scope_id_on_a_v4_address_raises_einval():
    with pytest.raises(ValueError) as excinfo:
        address("1.2.3.4").with_scope_id(1)
    assert_einval(excinfo)


def test_addresses_are_read_only_but_for_scope_id():
    a = address("1.2.3.4")
    with pytest.raises(AttributeError):
        a._packed = b"\0\0\0\0"
    with pytest.raises(AttributeError):
        a.anything = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del a._packed
    with pytest.raises(AttributeError):
        a.is_v4 = False  # type: ignore[misc]
    assert str(a) == "1.2.3.4"


# __tostring


def test_str_of_a_link_local_scope_names_the_interface():
    assert str(address("fe80::1%" + str(LO_INDEX))) == "fe80::1%lo"
    assert str(address("ff02::1%lo")) == "ff02::1%lo"


def test_str_of_a_scope_without_interface_is_the_number():
    assert str(address(f"fe80::1%{UNUSED_INDEX}")) == f"fe80::1%{UNUSED_INDEX}"


def test_str_of_a_non_link_local_scope_is_the_number():
    assert str(address(f"2001:db8::1%{LO_INDEX}")) == f"2001:db8::1%{LO_INDEX}"
    assert str(address("2001:db8::1%lo")) == f"2001:db8::1%{LO_INDEX}"


def test_repr_shows_the_text_form():
    assert repr(address("::1")) == "ip.address('::1')"


# __eq, __lt, __le


def test_equal_addresses_are_equal_and_hash_alike():
    assert address("1.2.3.4") == address("1.2.3.4")
    assert address("::1") == address("0:0:0:0:0:0:0:1")
    assert hash(address("::1")) == hash(address("0::1"))
    assert len({address("10.0.0.1"), address("10.0.0.1"), address("10.0.0.2")}) == 2


def test_a_v4_address_differs_from_its_v4_mapped_form():
    assert address("1.2.3.4") != address("::ffff:1.2.3.4")


def test_scope_id_takes_part_in_equality():
    assert address("fe80::1%1") != address("fe80::1%2")
    assert address("fe80::1%1") != address("fe80::1")
    assert address("fe80::1%1") == address("fe80::1").with_scope_id(1)


def test_comparison_with_other_types():
    a = address("1.2.3.4")
    assert a != "1.2.3.4"
    assert not (a == 16909060)
    with pytest.raises(TypeError):
        a < "1.2.3.4"  # noqa: B015
    with pytest.raises(TypeError):
        a <= 1  # noqa: B015


def test_every_v4_address_sorts_before_every_v6_address():
    assert address("255.255.255.255") < address("::")
    assert address("0.0.0.0") < address("::")
    assert not (address("::") < address("255.255.255.255"))
    assert address("::") > address("255.255.255.255")


def test_addresses_of_a_version_sort_by_their_bytes():
    assert address("1.2.3.4") < address("1.2.3.5")
    assert address("9.0.0.0") < address("10.0.0.0")  # numeric, not textual, order
    assert address("::ffff") < address("::1:0")
    assert address("2001:db8::1") < address("fe80::")


def test_v6_addresses_with_equal_bytes_sort_by_scope_id():
    assert address("fe80::1%1") < address("fe80::1%2")
    assert address("fe80::1") < address("fe80::1%1")
    assert address("fe80::1%9") < address("fe80::2")


def test_le_and_ge():
    a, b = address("1.2.3.4"), address("1.2.3.5")
    assert a <= a and a <= b and not (b <= a)
    assert a >= a and b >= a and not (a >= b)


def test_sorting_a_mixed_list():
    texts = ["::1", "10.0.0.1", "fe80::1%2", "9.0.0.1", "fe80::1%1", "::"]
    expected = ["9.0.0.1", "10.0.0.1", "::", "::1", "fe80::1%1", "fe80::1%2"]
    assert sorted(map(address, texts)) == [address(t) for t in expected]


# Copying


def test_pickle_round_trips():
    for a in [address("1.2.3.4"), address("fe80::1%7"), address("::ffff:1.2.3.4")]:
        b = pickle.loads(pickle.dumps(a))
        assert b == a and type(b) is address
        assert b._scope_id == a._scope_id


def test_copies_are_new_equal_objects():
    a = address("fe80::1%7")
    assert copy.copy(a) is not a and copy.copy(a) == a
    assert copy.deepcopy(a) is not a and copy.deepcopy(a) == a


# ip.tostring


@pytest.mark.parametrize(
    "text, port, expected",
    [
        ("1.2.3.4", 80, "1.2.3.4:80"),
        ("0.0.0.0", 0, "0.0.0.0:0"),
        ("255.255.255.255", 65535, "255.255.255.255:65535"),
        ("::1", 80, "[::1]:80"),
        ("::ffff:1.2.3.4", 443, "[::ffff:1.2.3.4]:443"),
        ("2001:db8::1%5", 8080, "[2001:db8::1%5]:8080"),
        ("fe80::1%lo", 1, "[fe80::1%lo]:1"),
    ],
)
def test_tostring_with_a_port(text, port, expected):
    assert tostring(address(text), port) == expected


@pytest.mark.parametrize("text", ["1.2.3.4", "::1", "fe80::1%lo"])
def test_tostring_without_a_port_is_str(text):
    a = address(text)
    assert tostring(a) == str(a)
    assert tostring(a, None) == str(a)


@pytest.mark.parametrize("port", [-1, 65536, 2**64])
def test_tostring_with_a_port_out_of_range_raises_einval(port):
    with pytest.raises(ValueError) as excinfo:
        tostring(address("1.2.3.4"), port)
    assert_einval(excinfo)


@pytest.mark.parametrize("port", ["80", 80.0])
def test_tostring_with_a_non_integer_port_raises_type_error(port):
    with pytest.raises(TypeError):
        tostring(address("1.2.3.4"), port)


def test_tostring_needs_an_address():
    with pytest.raises(TypeError):
        tostring("1.2.3.4", 80)  # type: ignore[arg-type]


# ip.toendpoint


@pytest.mark.parametrize(
    "text, addr, port",
    [
        ("1.2.3.4:80", "1.2.3.4", 80),
        ("0.0.0.0:0", "0.0.0.0", 0),
        ("255.255.255.255:65535", "255.255.255.255", 65535),
        ("127.0.0.1:0080", "127.0.0.1", 80),
        ("[::1]:80", "::1", 80),
        ("[::]:0", "::", 0),
        ("[::ffff:1.2.3.4]:443", "::ffff:1.2.3.4", 443),
        ("[fe80::1%lo]:22", "fe80::1%lo", 22),
        ("[fe80::1%3]:22", "fe80::1%3", 22),
    ],
)
def test_toendpoint_splits_address_and_port(text, addr, port):
    a, p = toendpoint(text)
    assert a == address(addr)
    assert p == port
    assert type(p) is int


@pytest.mark.parametrize(
    "text",
    [
        "",
        ":80",
        "1.2.3.4",
        "1.2.3.4:",
        "1.2.3.4:65536",
        "1.2.3.4:-1",
        "1.2.3.4:+80",
        "1.2.3.4: 80",
        "1.2.3.4:80 ",
        "1.2.3.4:0x50",
        "1.2.3.4:8O",
        "1.2.3.4:\u0668\u0660",  # ARABIC-INDIC DIGIT EIGHT, ZERO: not ASCII digits
        "1.2.3.4:80:80",
        "example.com:80",
        "::1:80",
        "::1",
        "[::1]",
        "[::1]:",
        "[::1]80",
        "[::1:80",
        "[[::1]]:80",
        "[1.2.3.4]:80",
        "[::1]:65536",
        "[fe80::1%no-such-interface]:80",
    ],
)
def test_toendpoint_bad_text_raises_einval(text):
    with pytest.raises(ValueError) as excinfo:
        toendpoint(text)
    assert_einval(excinfo)


def test_toendpoint_needs_a_string():
    with pytest.raises(TypeError):
        toendpoint(b"1.2.3.4:80")  # type: ignore[arg-type]


v4_addresses = st.binary(min_size=4, max_size=4).map(address._from_packed)
v6_addresses = st.builds(
    address._from_packed,
    st.binary(min_size=16, max_size=16),
    st.one_of(st.just(0), st.integers(min_value=0, max_value=2**32 - 1)),
)
addresses = st.one_of(v4_addresses, v6_addresses)
ports = st.integers(min_value=0, max_value=65535)


@given(addresses)
def test_str_round_trips(a):
    assert address(str(a)) == a


@given(addresses, ports)
def test_tostring_toendpoint_round_trips(a, port):
    assert toendpoint(tostring(a, port)) == (a, port)


@given(v4_addresses)
def test_to_v6_to_v4_round_trips_for_every_v4_address(a):
    assert a.to_v6().to_v4() == a


@given(addresses, addresses)
def test_order_is_total_and_consistent_with_equality(a, b):
    assert (a < b) + (a == b) + (a > b) == 1
    assert (a <= b) == (a < b or a == b)
    if a == b:
        assert hash(a) == hash(b)


# ip.host_name


def test_host_name_is_the_system_host_name():
    assert host_name() == socket.gethostname()


# ip.address_info_flag and ip.message_flag


def test_address_info_flags_are_getaddrinfo_flags():
    assert address_info_flag.address_configured == socket.AI_ADDRCONFIG
    assert address_info_flag.all_matching == socket.AI_ALL
    assert address_info_flag.canonical_name == socket.AI_CANONNAME
    assert address_info_flag.passive == socket.AI_PASSIVE
    assert address_info_flag.v4_mapped == socket.AI_V4MAPPED
    assert {f.name for f in address_info_flag} == {
        "address_configured",
        "all_matching",
        "canonical_name",
        "passive",
        "v4_mapped",
    }


def test_address_info_flags_combine_into_an_int():
    flags = address_info_flag.all_matching | address_info_flag.v4_mapped
    assert flags == socket.AI_ALL | socket.AI_V4MAPPED
    assert isinstance(flags, int)
    assert address_info_flag.v4_mapped in flags


def test_message_flags_are_send_recv_flags():
    assert message_flag.do_not_route == socket.MSG_DONTROUTE
    assert message_flag.end_of_record == socket.MSG_EOR
    assert message_flag.out_of_band == socket.MSG_OOB
    assert message_flag.peek == socket.MSG_PEEK
    assert {f.name for f in message_flag} == {
        "do_not_route",
        "end_of_record",
        "out_of_band",
        "peek",
    }
    assert isinstance(message_flag.peek | message_flag.out_of_band, int)


# Internal helpers for the socket modules


def test_sockaddr_of_a_v4_address():
    a = address("127.0.0.1")
    assert a._family == socket.AF_INET
    assert a._sockaddr(80) == ("127.0.0.1", 80)


def test_sockaddr_of_a_v6_address_carries_the_scope_id():
    a = address("fe80::1%7")
    assert a._family == socket.AF_INET6
    assert a._sockaddr(443) == ("fe80::1", 443, 0, 7)


@pytest.mark.parametrize("port", [-1, 65536])
def test_sockaddr_rejects_a_port_out_of_range(port):
    with pytest.raises(ValueError) as excinfo:
        address("::1")._sockaddr(port)
    assert_einval(excinfo)


def test_from_sockaddr_gives_address_and_port():
    assert address._from_sockaddr(("10.0.0.1", 80)) == (address("10.0.0.1"), 80)
    assert address._from_sockaddr(("::1", 80, 0, 0)) == (address("::1"), 80)
    assert address._from_sockaddr(("fe80::1%lo", 22, 0, 9)) == (address("fe80::1%9"), 22)


def test_from_sockaddr_rejects_a_host_name():
    with pytest.raises(ValueError) as excinfo:
        address._from_sockaddr(("localhost", 80))
    assert_einval(excinfo)


@pytest.mark.parametrize(
    "family, addr",
    [(socket.AF_INET, address.loopback_v4()), (socket.AF_INET6, address.loopback_v6())],
)
def test_sockaddr_round_trips_through_a_real_socket(family, addr):
    assert addr._family == family
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind(addr._sockaddr(0))
        bound, port = address._from_sockaddr(sock.getsockname())
    assert bound == addr
    assert 0 < port <= 65535


def test_module_exports_the_manual_names():
    import emilua.ip._address as module

    assert sorted(module.__all__) == [
        "address",
        "address_info_flag",
        "host_name",
        "message_flag",
        "toendpoint",
        "tostring",
    ]
