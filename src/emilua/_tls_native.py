"""The few libssl calls Python's ``ssl`` module does not expose.

``ssl.SSLContext`` has no verify depth (SSL_CTX_set_verify_depth(3)), no
host name check of a *client's* certificate (X509_VERIFY_PARAM_set1_host(3)
on a server context) and no SSL_VERIFY_CLIENT_ONCE. These are called through
ctypes on the very SSL_CTX the ``ssl`` module created, in the libssl that
``_ssl`` is linked to (found in /proc/self/maps, so the same copy is used).

CPython's ``PySSLContext`` starts with ``PyObject_HEAD`` followed by the
``SSL_CTX *`` (Modules/_ssl.c, every release since 3.0). Before a pointer is
used it is checked against the object: SSL_CTX_get_options() and
SSL_CTX_get_verify_mode() must give what ``ctx.options`` and
``ctx.verify_mode`` say; otherwise NotImplementedError is raised, never a call
through a wrong pointer.
"""

from __future__ import annotations

import ctypes
import ssl
import sys
from typing import Any

_lib: Any = None

# ssl.h
SSL_VERIFY_CLIENT_ONCE = 0x04


def _find_libssl() -> str:
    import _ssl  # noqa: F401  (loads libssl into the process)

    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.rstrip("\n").split(maxsplit=5)[-1]
            if "/libssl.so" in path:
                return path
    raise NotImplementedError("cannot find the libssl that the ssl module uses")


def _libssl() -> Any:
    global _lib
    if _lib is None:
        # The SSL_CTX pointer is read from CPython's object layout, known for
        # these releases only; a read through an unknown layout could crash.
        if sys.implementation.name != "cpython" or not (3, 11) <= sys.version_info[:2] <= (3, 14):
            raise NotImplementedError("this TLS setting needs CPython 3.11 to 3.14's ssl module")
        lib = ctypes.CDLL(_find_libssl())
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_verify_callback.restype = ctypes.c_void_p
        lib.SSL_CTX_get_verify_callback.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_set_verify.restype = None
        lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.SSL_CTX_set_verify_depth.restype = None
        lib.SSL_CTX_set_verify_depth.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.SSL_CTX_get_verify_depth.restype = ctypes.c_int
        lib.SSL_CTX_get_verify_depth.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get0_param.restype = ctypes.c_void_p
        lib.SSL_CTX_get0_param.argtypes = [ctypes.c_void_p]
        lib.X509_VERIFY_PARAM_set1_host.restype = ctypes.c_int
        lib.X509_VERIFY_PARAM_set1_host.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        _lib = lib
    return _lib


_VERIFY_BITS = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 3}


def _ctx_ptr(ctx: ssl.SSLContext) -> int:
    lib = _libssl()
    ptr = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if (
        not ptr
        or lib.SSL_CTX_get_options(ptr) != int(ctx.options)
        or lib.SSL_CTX_get_verify_mode(ptr) & 3 != _VERIFY_BITS[ctx.verify_mode]
    ):
        raise NotImplementedError("this Python's ssl.SSLContext has an unknown layout")
    return int(ptr)


def set_verify_depth(ctx: ssl.SSLContext, depth: int) -> None:
    _libssl().SSL_CTX_set_verify_depth(_ctx_ptr(ctx), depth)


def get_verify_depth(ctx: ssl.SSLContext) -> int:
    return int(_libssl().SSL_CTX_get_verify_depth(_ctx_ptr(ctx)))


def add_verify_flags(ctx: ssl.SSLContext, flags: int) -> None:
    """OR SSL_VERIFY_* bits into the context's mode, keeping its callback."""
    lib = _libssl()
    ptr = _ctx_ptr(ctx)
    mode = lib.SSL_CTX_get_verify_mode(ptr)
    lib.SSL_CTX_set_verify(ptr, mode | flags, lib.SSL_CTX_get_verify_callback(ptr))


def set_host(ctx: ssl.SSLContext, host: str) -> None:
    """Make verification of the peer's certificate require *host* (RFC 6125)."""
    lib = _libssl()
    param = lib.SSL_CTX_get0_param(_ctx_ptr(ctx))
    name = host.encode("idna") if not host.isascii() else host.encode()
    if not lib.X509_VERIFY_PARAM_set1_host(param, name, len(name)):
        raise ValueError(f"invalid host name {host!r}")
