"""TLS (manual: "tls.context", "tls.context_flag", "tls.socket").

TLS runs in the standard library's ``ssl`` module on memory BIOs
(``ssl.SSLObject``): OpenSSL never touches the fd. Ciphertext is read and
written through the engine's own stream socket (``ip.tcp.socket`` or
``unix.stream_socket``), so a TLS read or handshake parks its fiber like any
other read, and interruption cancels the socket operation underneath it.

How OpenSSL's state stays consistent across park points:

- OpenSSL runs only between park points (fibers never run in parallel), so
  one reader and one writer may use a socket at the same time, as with
  Boost.Asio's ``ssl::stream``. Sending ciphertext is serialised by a mutex:
  a read may have to answer the peer (a TLS 1.3 KeyUpdate) while a write is
  parked on a full socket buffer.
- A read that is interrupted (or cancelled) while it waits for ciphertext has
  consumed nothing: the socket operation was cancelled, and OpenSSL only sees
  bytes once they arrived. The stream stays usable.
- A write encrypts at most ``_WRITE_CHUNK`` bytes, then sends the records.
  If it is interrupted while sending, the plaintext already belongs to the
  TLS stream: the rest of its records goes out first on the next operation.
- A handshake that fails or is interrupted closes the socket underneath: the
  session cannot be resumed, and nothing of it survives (no fd either).

Errors: OpenSSL's are ``ssl.SSLError`` and its subclasses (all OSError),
e.g. ``ssl.SSLCertVerificationError`` for a bad certificate or a wrong host
name. A clean end (the peer's close_notify) is ``EOFError``; a stream cut
without close_notify is ``ssl.SSLEOFError`` (Boost.Asio's
``stream_truncated``).
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import ssl
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from emilua import _tls_native
from emilua._core.proactor import Mutex, current

__all__ = ["context", "context_flag", "socket"]

_WRITE_CHUNK = 65536  # four full TLS records per write_some
_READ_CHUNK = 65536  # ciphertext read from the socket at once

# PEM_BUFSIZE (openssl/pem.h): what OpenSSL offers a password callback.
_PASSWORD_MAX = 1024


class context_flag:
    """SSL option flags (manual: "tls.context_flag"), for
    ``context.set_options``/``clear_options``; they combine with ``|``.

    Flags that OpenSSL 3 no longer has (no_sslv2, single_dh_use: always on)
    are 0, as Boost.Asio defines them there.
    """

    default_workarounds: int = int(ssl.OP_ALL)
    no_compression: int = int(ssl.OP_NO_COMPRESSION)
    no_sslv2: int = int(ssl.OP_NO_SSLv2)
    no_sslv3: int = int(ssl.OP_NO_SSLv3)
    no_tlsv1: int = int(ssl.OP_NO_TLSv1)
    no_tlsv1_1: int = int(ssl.OP_NO_TLSv1_1)
    no_tlsv1_2: int = int(ssl.OP_NO_TLSv1_2)
    no_tlsv1_3: int = int(ssl.OP_NO_TLSv1_3)
    single_dh_use: int = int(ssl.OP_SINGLE_DH_USE)


_V = ssl.TLSVersion
_VERSIONS: dict[str, tuple[Any, Any]] = {
    "sslv23": (None, None),
    "tls": (None, None),
    "tlsv1": (_V.TLSv1, _V.TLSv1),
    "tlsv11": (_V.TLSv1_1, _V.TLSv1_1),
    "tlsv12": (_V.TLSv1_2, _V.TLSv1_2),
    "tlsv13": (_V.TLSv1_3, _V.TLSv1_3),
}

_VERIFY_MODES = {
    "none": ssl.CERT_NONE,
    "peer": ssl.CERT_OPTIONAL,
    "fail_if_no_peer_cert": ssl.CERT_REQUIRED,
    "client_once": ssl.CERT_OPTIONAL,
}

_CLIENT, _SERVER = "client", "server"


def _einval(detail: str) -> OSError:
    return OSError(_errno.EINVAL, f"{os.strerror(_errno.EINVAL)}: {detail}")


def _bytes(data: Any) -> bytes:
    if isinstance(data, str):
        return data.encode()
    return bytes(data)


def _fmt(fmt: str) -> str:
    if fmt not in ("pem", "asn1"):
        raise ValueError(f"format must be 'pem' or 'asn1', not {fmt!r}")
    return fmt


def _der_to_pem(der: bytes, label: str) -> bytes:
    return ssl.DER_cert_to_PEM_cert(der).replace("CERTIFICATE", label).encode()


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    """A path to *data* for APIs that only read files: a memfd, never on disk."""
    fd = os.memfd_create("emilua-tls", os.MFD_CLOEXEC)
    try:
        os.write(fd, data)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _read_file(path: Any) -> bytes:
    with open(os.fspath(path), "rb") as f:
        return f.read()


@contextlib.contextmanager
def _quiet_deprecation() -> Iterator[None]:
    # The manual's methods and flags name protocol versions that Python
    # deprecates (OP_NO_TLS*, TLSVersion.TLSv1); they still work.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


class context:
    """Settings shared by TLS sockets (manual: "tls.context").

    ``context(method)``: *method* is one of the manual's names. "tls",
    "sslv23" and "tlsvN" serve both roles; a "_client"/"_server" suffix
    limits the context to one. SSLv2 and SSLv3 raise OSError(EINVAL): OpenSSL
    3 has neither (Boost.Asio raises invalid_argument too).

    Python's ``ssl.SSLContext`` is built for one role and one verification
    setup, while the manual lets each socket change the mode, the depth and
    the host name check. So this object records its settings and keeps one
    ``ssl.SSLContext`` per combination in use; each setting is applied at
    once to those that exist (its errors are raised by the call that makes
    it) and replayed into any made later.
    """

    __slots__ = ("_roles", "_versions", "_steps", "_cert", "_key", "_password", "_mode", "_depth",
                 "_once", "_host", "_ctxs")  # fmt: skip

    def __init__(self, method: str) -> None:
        base = method
        roles: tuple[str, ...] = (_CLIENT, _SERVER)
        for suffix, role in (("_client", _CLIENT), ("_server", _SERVER)):
            if method.endswith(suffix):
                base = method[: -len(suffix)]
                roles = (role,)
        if base in ("sslv2", "sslv3"):
            raise _einval(f"{method!r}: this OpenSSL has no SSLv2 or SSLv3")
        try:
            self._versions = _VERSIONS[base]
        except KeyError:
            raise ValueError(f"unknown TLS method {method!r}") from None
        self._roles = roles
        self._steps: list[Callable[[ssl.SSLContext], None]] = []
        self._cert: bytes | None = None
        self._key: bytes | None = None
        self._password: Callable[[int, str], Any] | None = None
        self._mode = ssl.CERT_NONE
        self._once = False
        self._depth: int | None = None
        self._host: str | None = None
        self._ctxs: dict[tuple[Any, ...], ssl.SSLContext] = {}
        # Build the default context of each role now: a method this OpenSSL
        # cannot serve fails here.
        for role in roles:
            self._get(role, self._mode, self._depth, False, None, False)

    # -------------------------------------------------- building contexts

    def _new(self, role: str) -> ssl.SSLContext:
        proto = ssl.PROTOCOL_TLS_CLIENT if role == _CLIENT else ssl.PROTOCOL_TLS_SERVER
        ctx = ssl.SSLContext(proto)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        lo, hi = self._versions
        with _quiet_deprecation():
            if lo is not None:
                ctx.minimum_version = lo
                ctx.maximum_version = hi
        return ctx

    def _get(
        self, role: str, mode: Any, depth: int | None, check: bool, host: str | None, once: bool
    ) -> ssl.SSLContext:
        key = (role, mode, depth, check, host, once)
        ctx = self._ctxs.get(key)
        if ctx is None:
            ctx = self._new(role)
            for step in self._steps:
                step(ctx)
            self._load_identity(ctx)
            ctx.verify_mode = mode
            if check:
                ctx.check_hostname = True
            if once:
                _tls_native.add_verify_flags(ctx, _tls_native.SSL_VERIFY_CLIENT_ONCE)
            if depth is not None:
                _tls_native.set_verify_depth(ctx, depth)
            if host is not None:
                _tls_native.set_host(ctx, host)
            self._ctxs[key] = ctx
        return ctx

    def _apply(self, step: Callable[[ssl.SSLContext], None]) -> None:
        """Apply a setting to every context made so far, then record it."""
        for ctx in self._ctxs.values():
            step(ctx)
        self._steps.append(step)

    def _password_callable(self) -> Callable[[], Any] | None:
        cb = self._password
        if cb is None:
            return None

        def ask() -> Any:
            # The manual: IO and blocking operations are disabled in it.
            p = current()
            if p is not None and p.current_fiber is not None:
                p.forbid_suspend()
                try:
                    return cb(_PASSWORD_MAX, "for_reading")
                finally:
                    p.allow_suspend()
            return cb(_PASSWORD_MAX, "for_reading")

        return ask

    def _load_identity(self, ctx: ssl.SSLContext) -> None:
        # ssl.SSLContext loads a certificate and its key together, from
        # files; both come from memory here (a memfd each).
        if self._cert is None or self._key is None:
            return
        with _memory_file(self._cert) as cert, _memory_file(self._key) as key:
            ctx.load_cert_chain(cert, key, self._password_callable())

    def _set_identity(self, cert: bytes | None = None, key: bytes | None = None) -> None:
        old = (self._cert, self._key)
        if cert is not None:
            self._cert = cert
        if key is not None:
            self._key = key
        try:
            for ctx in self._ctxs.values():
                self._load_identity(ctx)
        except BaseException:
            self._cert, self._key = old
            raise

    def _wrap(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool,
        sni: str | None,
        mode: str | None,
        depth: int | None,
        host: str | None,
    ) -> ssl.SSLObject:
        role = _SERVER if server_side else _CLIENT
        if role not in self._roles:
            raise ValueError(f"this tls.context cannot be used for a {role} handshake")
        vmode = self._mode if mode is None else _VERIFY_MODES[mode]
        once = mode == "client_once" if mode is not None else self._once
        depth = self._depth if depth is None else depth
        host = self._host if host is None else host
        if vmode == ssl.CERT_NONE:
            host = None  # as in OpenSSL: nothing is verified, nothing refused
        check = False
        native_host = None
        server_hostname = sni if role == _CLIENT else None
        if host is not None:
            if role == _CLIENT and (sni is None or sni == host):
                check, server_hostname = True, host
            else:
                native_host = host
        ctx = self._get(role, vmode, depth, check, native_host, once)
        return ctx.wrap_bio(incoming, outgoing, server_side, server_hostname)

    # ---------------------------------------------------- the manual's API

    def add_certificate_authority(self, data: Any) -> None:
        """Trust the CA certificate(s) in *data* (PEM, or one DER certificate)."""
        raw = _bytes(data)
        cadata: str | bytes = raw.decode("ascii") if raw.lstrip().startswith(b"-----") else raw
        self._apply(lambda ctx: ctx.load_verify_locations(cadata=cadata))

    def add_verify_path(self, path: Any) -> None:
        """Trust the CA certificates in directory *path* (hashed names, c_rehash)."""
        capath = os.fspath(path)
        if not os.path.isdir(capath):
            raise FileNotFoundError(_errno.ENOENT, os.strerror(_errno.ENOENT), capath)
        self._apply(lambda ctx: ctx.load_verify_locations(capath=capath))

    def load_verify_file(self, filename: Any) -> None:
        """Trust the CA certificates in the PEM file *filename*."""
        cafile = os.fspath(filename)
        self._apply(lambda ctx: ctx.load_verify_locations(cafile=cafile))

    def set_default_verify_paths(self) -> None:
        """Trust the system's CA certificates (OpenSSL's default locations)."""
        self._apply(lambda ctx: ctx.set_default_verify_paths())

    def set_options(self, flags: int) -> None:
        """Set context_flag options (OR-ed into the current ones)."""
        flags = int(flags)

        def step(ctx: ssl.SSLContext) -> None:
            with _quiet_deprecation():
                ctx.options |= flags

        self._apply(step)

    def clear_options(self, flags: int) -> None:
        """Clear context_flag options."""
        flags = int(flags)

        def step(ctx: ssl.SSLContext) -> None:
            with _quiet_deprecation():
                ctx.options &= ~flags

        self._apply(step)

    @property
    def options(self) -> int:
        """The options in force (an addition: the manual has no getter)."""
        ctx = next(iter(self._ctxs.values()))
        return int(ctx.options)

    def set_password_callback(self, callback: Callable[[int, str], Any]) -> None:
        """Set the callback that gives the password of an encrypted private key.

        ``callback(max_length, purpose)`` returns a ``str`` (or bytes) of at
        most *max_length* bytes; *purpose* is "for_reading" (keys are only
        read). It runs with suspension forbidden. It is called when a key
        is loaded, so set it before ``use_private_key*``.
        """
        if not callable(callback):
            raise TypeError("the password callback must be callable")
        self._password = callback

    def set_verify_callback(self, callback: str, *options: Any) -> None:
        """Set the verification callback: only "host_name_verification", with
        the host name the peer's certificate must match."""
        self._host = _verify_callback(callback, options)

    def set_verify_depth(self, depth: int) -> None:
        """Limit the length of the peer's certificate chain (SSL_CTX_set_verify_depth)."""
        if isinstance(depth, bool) or not isinstance(depth, int):
            raise TypeError("depth must be an int")
        for ctx in self._ctxs.values():
            _tls_native.get_verify_depth(ctx)  # checks this Python's layout once
        self._depth = depth

    def set_verify_mode(self, mode: str) -> None:
        """Set the verify mode: "none", "peer", "fail_if_no_peer_cert" or "client_once"."""
        if mode not in _VERIFY_MODES:
            raise ValueError(f"unknown verify mode {mode!r}")
        self._mode = _VERIFY_MODES[mode]
        self._once = mode == "client_once"

    def use_certificate(self, data: Any, fmt: str) -> None:
        """Use the certificate in *data* ("pem" or "asn1")."""
        raw = _bytes(data)
        pem = raw if _fmt(fmt) == "pem" else _der_to_pem(raw, "CERTIFICATE")
        self._set_identity(cert=pem)

    def use_certificate_file(self, filename: Any, fmt: str) -> None:
        """Use the certificate in file *filename* ("pem" or "asn1")."""
        self.use_certificate(_read_file(filename), fmt)

    def use_certificate_chain(self, data: Any) -> None:
        """Use the PEM certificate chain in *data* (the leaf first)."""
        self._set_identity(cert=_bytes(data))

    def use_certificate_chain_file(self, filename: Any) -> None:
        """Use the PEM certificate chain in file *filename*."""
        self.use_certificate_chain(_read_file(filename))

    def use_private_key(self, data: Any, fmt: str) -> None:
        """Use the private key in *data* ("pem", or "asn1": PKCS#8 DER)."""
        raw = _bytes(data)
        pem = raw if _fmt(fmt) == "pem" else _der_to_pem(raw, "PRIVATE KEY")
        self._set_identity(key=pem)

    def use_private_key_file(self, filename: Any, fmt: str) -> None:
        """Use the private key in file *filename* ("pem" or "asn1")."""
        self.use_private_key(_read_file(filename), fmt)

    def use_rsa_private_key(self, data: Any, fmt: str) -> None:
        """Use the RSA private key in *data* ("pem", or "asn1": PKCS#1 DER)."""
        raw = _bytes(data)
        pem = raw if _fmt(fmt) == "pem" else _der_to_pem(raw, "RSA PRIVATE KEY")
        self._set_identity(key=pem)

    def use_rsa_private_key_file(self, filename: Any, fmt: str) -> None:
        """Use the RSA private key in file *filename* ("pem" or "asn1")."""
        self.use_rsa_private_key(_read_file(filename), fmt)

    def use_tmp_dh(self, data: Any) -> None:
        """Use the PEM Diffie-Hellman parameters in *data* (for DHE ciphers)."""
        raw = _bytes(data)

        def step(ctx: ssl.SSLContext) -> None:
            with _memory_file(raw) as path:
                ctx.load_dh_params(path)

        self._apply(step)

    def use_tmp_dh_file(self, filename: Any) -> None:
        """Use the PEM Diffie-Hellman parameters in file *filename*."""
        self.use_tmp_dh(_read_file(filename))


def _verify_callback(callback: str, options: tuple[Any, ...]) -> str:
    if callback != "host_name_verification":
        raise ValueError(f"unknown verify callback {callback!r} (only 'host_name_verification')")
    if len(options) != 1 or not isinstance(options[0], str):
        raise TypeError("'host_name_verification' takes one host name (a str)")
    return options[0]


def _not_connected() -> OSError:
    return OSError(_errno.ENOTCONN, "the TLS handshake has not been done")


class socket:
    """A TLS stream over a connected stream socket (manual: "tls.socket").

    ``socket(sock, tls_ctx)`` takes ownership of *sock* (an ``ip.tcp.socket``
    or a ``unix.stream_socket``): closing the TLS socket closes it. The
    handshake settings (``set_server_name``, ``set_verify_*``) apply to the
    next handshake.
    """

    __slots__ = ("_sock", "_ctx", "_in", "_out", "_obj", "_rbuf", "_rview", "_left",
                 "_wlock", "_sni", "_mode", "_depth", "_host")  # fmt: skip

    def __init__(self, sock: Any, tls_ctx: context) -> None:
        if not isinstance(tls_ctx, context):
            raise TypeError("tls.socket needs a tls.context")
        if not callable(getattr(sock, "read_some", None)) or not hasattr(sock, "_handle"):
            raise TypeError("tls.socket needs an ip.tcp.socket or a unix.stream_socket")
        sock._handle()  # EBADF unless open
        self._sock = sock
        self._ctx = tls_ctx
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj: ssl.SSLObject | None = None
        self._rbuf = bytearray(_READ_CHUNK)
        self._rview = memoryview(self._rbuf)
        self._left: bytes | memoryview | None = None  # ciphertext an interrupted send left
        self._wlock = Mutex()
        self._sni: str | None = None
        self._mode: str | None = None
        self._depth: int | None = None
        self._host: str | None = None

    # --------------------------------------------------------- the transport

    def _fill(self) -> None:
        """Read ciphertext from the socket into OpenSSL. Interruption point."""
        sock = self._sock
        h = sock._handle()
        n = sock._p.recv(h, self._rview, 0)
        if n == 0:
            self._in.write_eof()
        else:
            self._in.write(self._rview[:n])

    def _flush(self) -> None:
        """Send every record OpenSSL produced. Interruption point."""
        sock = self._sock
        h = sock._handle()
        lock = self._wlock
        lock.lock()
        try:
            if h.closed:
                # Closed while this fiber waited for the other sender.
                raise OSError(_errno.ECANCELED, os.strerror(_errno.ECANCELED))
            p = sock._p
            while True:
                data = self._left
                if data is None:
                    if not self._out.pending:
                        return
                    data = self._out.read()
                # What is not sent yet stays in _left: an interrupted send
                # leaves the rest of its records for the next operation.
                self._left = data
                n = p.send(h, data, 0)
                while n < len(data):
                    data = memoryview(data)[n:]
                    self._left = data
                    n = p.send(h, data, 0)
                self._left = None
        finally:
            lock.unlock()

    def _handshake(self, server_side: bool) -> None:
        if self._obj is not None:
            raise OSError(_errno.EISCONN, "the TLS handshake is already done")
        try:
            obj = self._ctx._wrap(
                self._in, self._out, server_side, self._sni, self._mode, self._depth, self._host
            )
            while True:
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    self._flush()
                    self._fill()
            self._flush()
        except ssl.SSLError:
            # OpenSSL queued an alert for the peer: send it if the socket
            # takes it at once, then give up the connection.
            self._send_alert()
            self._sock.close()
            raise
        except BaseException:
            self._sock.close()
            raise
        self._obj = obj

    def _send_alert(self) -> None:
        data = self._out.read() if self._out.pending else b""
        if not data or self._left is not None:
            return
        with contextlib.suppress(OSError):
            os.write(self._sock.fileno(), data)  # O_NONBLOCK: never waits

    # --------------------------------------------------------- the manual's API

    def client_handshake(self) -> None:
        """Perform the TLS client handshake. Interruption point.

        Raises ``ssl.SSLError`` (an OSError: ``ssl.SSLCertVerificationError``
        for a refused certificate or host name) and closes the socket when
        the handshake fails or is interrupted.
        """
        self._handshake(False)

    def server_handshake(self) -> None:
        """Perform the TLS server handshake. Interruption point (see client_handshake)."""
        self._handshake(True)

    def read_some(self, buffer: Any) -> int:
        """Read at least one byte of plaintext into *buffer*; return the count.

        Interruption point. Raises EOFError after the peer's close_notify,
        ``ssl.SSLEOFError`` if the stream ends without one (truncation). An
        empty buffer returns 0 at once.
        """
        obj = self._obj
        if obj is None:
            raise _not_connected()
        size = len(buffer)
        if size == 0:
            self._sock._handle()
            return 0
        # Nothing buffered on either side of OpenSSL: a read would only say
        # SSLWantReadError, so wait for ciphertext first.
        if not self._in.pending and not obj.pending():
            self._fill()
        while True:
            try:
                # With a buffer, SSLObject.read() returns the count (typeshed
                # only knows the form that returns bytes).
                n: int = obj.read(size, buffer)  # type: ignore[assignment]
            except ssl.SSLWantReadError:
                if self._out.pending:
                    self._flush()
                self._fill()
                continue
            except ssl.SSLZeroReturnError:
                raise EOFError("end of stream (close_notify)") from None
            if self._out.pending:
                self._flush()  # the peer asked for an answer (TLS 1.3 KeyUpdate)
            if n == 0:
                # SSLObject.read() returns 0 once the peer's close_notify came.
                raise EOFError("end of stream (close_notify)")
            return n

    def write_some(self, buffer: Any) -> int:
        """Write some of *buffer* (at most 64 KiB) as TLS records; return the
        count written. Interruption point. A ``str`` is written UTF-8 encoded.
        """
        obj = self._obj
        if obj is None:
            raise _not_connected()
        if isinstance(buffer, str):
            buffer = buffer.encode()
        if len(buffer) == 0:
            self._sock._handle()
            return 0
        if self._left is not None:
            self._flush()
        if len(buffer) > _WRITE_CHUNK:
            buffer = memoryview(buffer).cast("B")[:_WRITE_CHUNK]
        n = obj.write(buffer)
        self._flush()
        return n

    def shutdown(self) -> None:
        """Close the TLS session: send close_notify and wait for the peer's.

        An addition (Boost.Asio's ``ssl::stream::shutdown``). A peer that
        closes the connection instead of answering ends it as well.
        Interruption point. The socket stays open: close() it afterwards.
        """
        obj = self._obj
        if obj is None:
            raise _not_connected()
        while True:
            try:
                obj.unwrap()
                break
            except ssl.SSLWantReadError:
                self._flush()
                try:
                    self._fill()
                except ConnectionResetError:
                    break
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                break
        self._flush()

    def set_server_name(self, hostname: str) -> None:
        """Set the server name indication (SNI) the client handshake sends."""
        if not isinstance(hostname, str):
            raise TypeError("the server name is a str")
        self._sni = hostname

    def set_verify_callback(self, callback: str, *options: Any) -> None:
        """Set the verification callback of this socket (see tls.context)."""
        self._host = _verify_callback(callback, options)

    def set_verify_depth(self, depth: int) -> None:
        """Limit the length of the peer's certificate chain for this socket."""
        if isinstance(depth, bool) or not isinstance(depth, int):
            raise TypeError("depth must be an int")
        self._depth = depth

    def set_verify_mode(self, mode: str) -> None:
        """Set this socket's verify mode (the names of tls.context's)."""
        if mode not in _VERIFY_MODES:
            raise ValueError(f"unknown verify mode {mode!r}")
        self._mode = mode

    # ----------------------------------------------------------- lifetime

    @property
    def is_open(self) -> bool:
        """Whether the socket underneath is open."""
        return bool(self._sock.is_open)

    def close(self) -> None:
        """Close the socket underneath (no close_notify: see shutdown()).

        Parked reads and writes raise OSError(ECANCELED).
        """
        self._sock.close()

    def cancel(self) -> None:
        """Cancel the operations in flight on the socket; they raise OSError(ECANCELED)."""
        self._sock.cancel()

    @property
    def next_layer(self) -> Any:
        """The stream socket underneath (an addition)."""
        return self._sock

    def __enter__(self) -> socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
