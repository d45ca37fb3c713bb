"""The bounded message format of process actors (manual: "Message serialization")."""

import enum
from collections.abc import Iterable
from types import TracebackType
from typing import Protocol, Self, TypeAlias

MAX_MEMBERS: int  # 20
MESSAGE_SIZE: int  # 512: every message is exactly this many bytes
STRBUF_SIZE: int  # MESSAGE_SIZE - 8 * MAX_MEMBERS
MAX_STRING_SIZE: int  # 255 UTF-8 bytes, behind a one-byte length
CONTROL_SIZE: int  # recvmsg control buffer for MAX_MEMBERS descriptors

class Kind(enum.IntEnum):
    boolean_true = 1
    boolean_false = 2
    string = 3
    file_descriptor = 4
    actor_address = 5
    nil = 6

class MessageError(ValueError): ...

class _OwnedFd:
    def __init__(self, fd: int) -> None: ...
    def fileno(self) -> int: ...
    def detach(self) -> int: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

class FileDescriptor(_OwnedFd): ...
class ActorAddress(_OwnedFd): ...

Leaf: TypeAlias = bool | int | float | str | FileDescriptor | ActorAddress
Message: TypeAlias = Leaf | dict[str, Leaf]
# What decode() returns: numbers always come back as float.
Received: TypeAlias = (
    bool | float | str | FileDescriptor | ActorAddress
    | dict[str, bool | float | str | FileDescriptor | ActorAddress]
)

class _HasFileno(Protocol):
    def fileno(self) -> int: ...

def encode(value: Message) -> tuple[bytes, list[int]]: ...
def decode(data: bytes | bytearray | memoryview, fds: Iterable[int] = ()) -> Received: ...
def decode_received(
    buffer: bytes | bytearray | memoryview, nbytes: int, msg_flags: int, fds: Iterable[int]
) -> Received: ...
def send_message(sock: int | _HasFileno, value: Message) -> None: ...
def recv_message(sock: int | _HasFileno) -> Received: ...

# Each entry is a message, or the error (MessageError, EOFError) that ended the batch.
def recv_messages(
    sock: int | _HasFileno, limit: int = ...
) -> list[Received | MessageError | EOFError]: ...
def _layout() -> dict[str, int | list[int]]: ...
