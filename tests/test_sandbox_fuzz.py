"""Manual: "Tests": mutated messages sent through real sockets to real inboxes.

tests/test_codec_fuzz.py fuzzes the codec alone. Here each mutated datagram
(truncated, oversized, zero-length, forged tags, bad strings, too many fds,
fds where none are expected, the wrong kind of fd for an address, random
byte flips) goes through a SOCK_SEQPACKET socket into an inbox's receive
path (``ProcessMailbox``: recvmsg, SCM_RIGHTS, decode, drop). Two receivers:

- our own inbox, which is a socket inbox as soon as an address of it exists
  outside the VM (what a sandbox holding our address writes to);
- a sandboxed guest's inbox (tests/sandbox_guests/fuzz_target.py).

A message that does not decode revokes its socket: the receiver closes it,
while the sender still holds its end. So "dropped" is observable: with no
other sender, ``receive()`` raises NoSendersError although the mutant's
sender is alive. Every fd a mutant carried must be closed by the receiver:
the descriptor table is compared after each one.
"""

from __future__ import annotations

import array
import os
import random
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from emilua import (
    ChannelClosedError,
    NoSendersError,
    _actor,
    _process_actor,
    _supervisor,
    inbox,
    spawn_vm,
)
from emilua._core import codec
from emilua.file_descriptor import file_descriptor

GUEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_guests", "fuzz_target.py")
SIZE = codec.MESSAGE_SIZE
STRBUF = 8 * codec.MAX_MEMBERS  # offset of strbuf: members are 8 bytes each
TAG = 0x7FF0000000000000  # a signalling NaN; the kind is in the low mantissa bits
U64 = struct.Struct("<Q")

# Started before any test: its control socket is not an fd a test leaked.
_supervisor.start()


@dataclass
class Mutant:
    """One datagram and what to attach to it."""

    name: str
    data: bytes
    fds: str = ""  # one letter per fd: p(ipe), s(eqpacket socket), t (stream socket)
    maybe_valid: bool = False  # a random flip may spell another valid message


def encoded(value: dict[str, Any]) -> bytes:
    """The wire bytes of *value*; fd leaves are encoded and their fds closed."""
    data, _ = codec.encode(value)
    for v in value.values():
        if isinstance(v, (codec.FileDescriptor, codec.ActorAddress)):
            v.close()
    return data


def with_member(data: bytes, index: int, bits: int) -> bytes:
    out = bytearray(data)
    U64.pack_into(out, 8 * index, bits)
    return bytes(out)


def with_byte(data: bytes, offset: int, value: int) -> bytes:
    out = bytearray(data)
    out[offset] = value
    return bytes(out)


def mutants() -> Iterator[Mutant]:
    plain = encoded({"s": "hello", "n": 1.5, "t": True})
    one_fd = encoded({"fd": codec.FileDescriptor(os.dup(0))})
    one_addr = encoded(
        {"a": codec.ActorAddress(socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).detach())}
    )
    yield Mutant("zero-length", b"")
    for n in (1, 8, STRBUF - 1, STRBUF, SIZE - 1):
        yield Mutant(f"truncated to {n}", plain[:n])
    yield Mutant("one byte too many", plain + b"\0")
    yield Mutant("twice the size", plain * 2)
    yield Mutant("four pages", plain * (4 * 4096 // SIZE))
    for kind in (0, 7, 0xFFFF, (1 << 51) - 1):
        yield Mutant(f"tag kind {kind:#x}", with_member(plain, 0, TAG | kind))
    yield Mutant("NaN with a payload", with_member(plain, 1, 0x7FF8000000000001))
    yield Mutant("nil, then nothing", with_member(with_member(plain, 0, TAG | 6), 1, TAG | 6))
    yield Mutant("nil, then a second value", with_member(plain, 0, TAG | 6))
    yield Mutant("no sentinel, garbage members", with_member(plain, 3, U64.unpack(b"\x01" * 8)[0]))
    yield Mutant("key length past strbuf", with_byte(plain, STRBUF, 255))
    yield Mutant("key length zero", with_byte(plain, STRBUF, 0))
    yield Mutant("key not UTF-8", with_byte(plain, STRBUF + 1, 0xFF))
    yield Mutant("duplicate key", with_byte(plain, STRBUF + 9, ord("s")))
    yield Mutant("bytes after the last string", with_byte(plain, SIZE - 1, 1))
    yield Mutant("fd member, no fd", one_fd)
    yield Mutant("fd member, two fds", one_fd, "pp")
    yield Mutant("no fd member, one fd", plain, "p")
    yield Mutant("no fd member, an address", plain, "s")
    yield Mutant("fd member, too many fds", one_fd, "p" * (codec.MAX_MEMBERS + 4))
    yield Mutant("zero-length with fds", b"", "ps")
    yield Mutant("truncated with an fd", one_fd[:100], "p")
    yield Mutant("address member, a pipe", one_addr, "p")
    yield Mutant("address member, a stream socket", one_addr, "t")
    yield Mutant("address member, no fd", one_addr)
    rng = random.Random(20260523)  # the same mutants every run
    for i in range(40):
        base, fds = (plain, "") if i % 2 else (one_fd, "p")
        flipped = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            flipped[rng.randrange(SIZE)] ^= 1 << rng.randrange(8)
        yield Mutant(f"random flips #{i}", bytes(flipped), fds, maybe_valid=True)


MUTANTS = list(mutants())


def fd_snapshot() -> set[str]:
    return {fd for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")}


def make_fd(kind: str) -> int:
    if kind == "p":
        r, w = os.pipe()
        os.close(w)
        return r
    if kind == "s":
        a, b = _process_actor._pair()
        os.close(b)
        return a
    return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).detach()


def send_raw(tx: int, m: Mutant) -> None:
    """Send *m* on the sending end *tx* (which the caller keeps)."""
    fds = [make_fd(k) for k in m.fds]
    sock = socket.socket(fileno=os.dup(tx))
    try:
        anc = (
            [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []
        )
        sock.sendmsg([m.data], anc)
    finally:
        sock.close()
        for fd in fds:
            os.close(fd)


def reader_gone(tx: int) -> bool:
    try:
        os.write(tx, encoded({"x": 1}))
    except (BrokenPipeError, ConnectionRefusedError, ConnectionResetError):
        return True
    return False


def discard(value: Any) -> None:
    for v in value.values() if isinstance(value, dict) else [value]:
        if isinstance(v, (file_descriptor, _process_actor.ProcessChannel)):
            v.close()


def test_our_inbox_drops_every_mutant_and_keeps_receiving() -> None:
    box = _actor.current_vm().mailbox
    before = fd_snapshot()
    outcomes = {"dropped": 0, "valid": 0}
    for i, m in enumerate(MUTANTS):
        tx = _process_actor._new_address_for(box)
        try:
            send_raw(tx, m)
            try:
                value = inbox.receive()
            except NoSendersError:
                # We still hold tx: the receiver closed its end.
                assert reader_gone(tx), m.name
                outcomes["dropped"] += 1
            else:
                assert m.maybe_valid, (m.name, value)
                discard(value)
                outcomes["valid"] += 1
        finally:
            os.close(tx)
        # The receiver still works: a good message through a new address.
        good = _process_actor.ProcessChannel(_process_actor._new_address_for(box))
        good.send({"after": m.name[:200], "i": i})
        assert inbox.receive() == {"after": m.name[:200], "i": float(i)}
        good.close()
        with pytest.raises(NoSendersError):
            inbox.receive()  # every socket of this round is gone
        assert fd_snapshot() == before, m.name
    assert outcomes["dropped"] >= len(MUTANTS) - 40


def test_a_sandboxed_inbox_drops_every_mutant_and_closes_their_fds() -> None:
    ch = spawn_vm(GUEST, linux_namespaces={"new_pid": True})
    ch.send({"reply": inbox, "addresses": len(MUTANTS)})
    addresses = [inbox.receive()["address"] for _ in MUTANTS]
    for i, (m, address) in enumerate(zip(MUTANTS, addresses, strict=True)):
        send_raw(address._raw_fd(), m)
        try:
            # Behind the mutant on its socket: lost with it if it is dropped.
            address.send({"good": i})
        except ChannelClosedError:
            pass  # already dropped
    ch.send("last")
    for address in addresses:
        address.close()
    ch.close()
    report = inbox.receive()
    # Every socket a mutant came on is closed, with every fd it carried; so
    # is the inbox socket spawn_vm made, whose sender we closed too.
    assert report["fds_after"] == report["fds_before"] - 1
    assert report["last"] is True
    through = {int(i) for i in report["good"].split()}
    assert through <= {i for i, m in enumerate(MUTANTS) if m.maybe_valid}
    assert report["others"] <= len(through)  # only flips that spelled a valid message
