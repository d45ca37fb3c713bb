"""The ip module (manual: "ip.*"): addresses, TCP, UDP, name resolution."""

from emilua.ip import tcp
from emilua.ip._address import (
    address,
    address_info_flag,
    host_name,
    message_flag,
    toendpoint,
    tostring,
)

__all__ = [
    "address",
    "address_info_flag",
    "host_name",
    "message_flag",
    "tcp",
    "toendpoint",
    "tostring",
]
