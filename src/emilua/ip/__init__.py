"""The ip module (manual: "ip.*"): addresses, TCP, UDP, name resolution."""

from emilua.ip import tcp, udp
from emilua.ip._address import (
    address,
    address_info_flag,
    host_name,
    message_flag,
    toendpoint,
    tostring,
)
from emilua.ip._resolve import (
    address_info,
    connect,
    get_address_info,
    get_name_info,
    name_info,
)

__all__ = [
    "address",
    "address_info",
    "address_info_flag",
    "connect",
    "get_address_info",
    "get_name_info",
    "host_name",
    "message_flag",
    "name_info",
    "tcp",
    "toendpoint",
    "tostring",
    "udp",
]
