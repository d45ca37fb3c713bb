"""libFuzzer harness (atheris) for the message decoder.

Not collected by pytest (the name does not start with test_). Run with

    pip install atheris
    python tests/fuzz/fuzz_codec.py -runs=1000000          # or -max_total_time=600
    python tests/fuzz/fuzz_codec.py -runs=1000000 corpus/  # keep what it finds

The codec is a C extension built without -fsanitize=fuzzer, so libFuzzer sees
no coverage inside it. Two things steer it instead: a custom mutator that now
and then starts from a freshly encoded valid message before applying
libFuzzer's byte mutations (so most inputs are near-valid), and a harness
whose branches (instrumented) follow the input's shape.

Input: byte 0 selects how descriptors arrive (bits 0-1: one per descriptor
member, one extra, one missing, or byte 1 of them), whether the kernel's
MSG_TRUNC/MSG_CTRUNC are reported (bits 2-3, both set), and whether the body
keeps its length instead of being cut or zero-padded to MESSAGE_SIZE (bit 4).
The body starts at byte 2. Every input must be rejected with MessageError or
be the canonical encoding of what it decodes to, and must leave the
descriptor table as it found it.
"""

import os
import random
import socket
import struct
import sys

import atheris

with atheris.instrument_imports():
    from emilua._core import codec

_PIPE_R, _PIPE_W = os.pipe()
_SOCK_A, _SOCK_B = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
_TAG = {0x7FF0000000000004: _PIPE_W, 0x7FF0000000000005: _SOCK_A.fileno()}
_NIL = 0x7FF0000000000006
_MAX = codec.MAX_MEMBERS


def _fd_count():
    return len(os.listdir("/proc/self/fd"))


_BASELINE = _fd_count()


def _descriptor_sources(body):
    """What a well-behaved sender would attach: one descriptor per fd or
    address member, in member order."""
    if len(body) < 8 * _MAX:
        return []
    words = struct.unpack_from(f"={_MAX}Q", body)
    words = words[1:2] if words[0] == _NIL else words
    sources = []
    for word in words:
        if word == _NIL:
            break
        if word in _TAG:
            sources.append(_TAG[word])
    return sources


@atheris.instrument_func
def test_one_input(data: bytes) -> None:
    mode = data[0] if data else 0
    count = data[1] if len(data) > 1 else 0
    body = data[2:]
    if not mode & 16:
        body = body[: codec.MESSAGE_SIZE].ljust(codec.MESSAGE_SIZE, b"\0")
    flags = 0
    if mode & 12 == 12:
        flags = socket.MSG_TRUNC if count & 1 else socket.MSG_CTRUNC
    sources = _descriptor_sources(body)
    if mode & 3 == 1:
        sources.append(_PIPE_W)
    elif mode & 3 == 2:
        sources = sources[:-1]
    elif mode & 3 == 3:
        sources = [_PIPE_W if i & 1 else _SOCK_A.fileno() for i in range(count % 23)]
    fds = [os.dup(fd) for fd in sources]
    got = None
    try:
        got = codec.decode_received(body, len(body), flags, fds)
    except codec.MessageError:
        pass
    else:
        if codec.encode(got)[0] != body:
            raise AssertionError("accepted a non-canonical message")
    finally:
        if got is not None:
            for leaf in got.values() if isinstance(got, dict) else [got]:
                if isinstance(leaf, (codec.FileDescriptor, codec.ActorAddress)):
                    leaf.close()
    if _fd_count() != _BASELINE:
        raise AssertionError("a descriptor leaked")


def _random_leaf(rng, owned):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.random() < 0.5
    if kind == 1:
        return struct.unpack("=d", rng.randbytes(8))[0]
    if kind == 2:
        return "".join(
            chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x10FFFF)]))
            for _ in range(rng.choice([0, 1, 8, 60]))
        )
    if kind == 3:
        return float(rng.randrange(-(2**53), 2**53))
    box = (
        codec.FileDescriptor(os.dup(_PIPE_W))
        if kind == 4
        else codec.ActorAddress(os.dup(_SOCK_A.fileno()))
    )
    owned.append(box)
    return box


def _valid_message(rng):
    owned = []
    try:
        for _ in range(10):
            if rng.random() < 0.3:
                value = _random_leaf(rng, owned)
            else:
                value = {
                    "".join(rng.choice("abcdefgh") for _ in range(rng.randrange(6)))
                    + str(i): _random_leaf(rng, owned)
                    for i in range(rng.randrange(1, _MAX + 1))
                }
            try:
                return codec.encode(value)[0]
            except ValueError:  # strings overflowed strbuf, a surrogate...
                continue
        return codec.encode(True)[0]
    finally:
        for box in owned:
            box.close()


def custom_mutator(data, max_size, seed):
    rng = random.Random(seed)
    if rng.random() < 0.2 or len(data) < 2:
        data = bytes([rng.choice([0, 0, 0, 1, 2, 3, 12, 16]), rng.randrange(256)])
        data += _valid_message(rng)
    return atheris.Mutate(data, max_size)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
