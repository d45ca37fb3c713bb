"""Never import inbox; keep a fiber alive until the test closes the gate connection.

The runtime closes the inbox of a VM whose main fiber ends without having
imported it (manual, "Channels and resources"), while this VM still runs.
"""

from actors import _probe
from emilua import ip, spawn
from emilua.byte_span import byte_span


def hold_until_gate_closes() -> None:
    sock = ip.tcp.socket()
    sock.connect(ip.address.loopback_v4(), _probe.gate_port)
    try:
        sock.read_some(byte_span(1))
    except EOFError:
        pass
    sock.close()


spawn(hold_until_gate_closes).detach()
