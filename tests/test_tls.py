# Manual: "tls.context", "tls.context_flag", "tls.socket". Every test runs as
# the main fiber of a fresh engine, once per backend. The peers are
# independent TLS implementations: `openssl s_server`/`s_client` and
# Python's blocking ssl module in a thread. Certificates are made once per
# session with `openssl req`/`x509` in a temporary directory.
import contextlib
import errno
import os
import re
import socket as pysocket
import ssl
import subprocess
import threading
import types

import pytest
from helpers import tcp_pair, wait_until_idle

from emilua import FiberInterrupted, ip, spawn, stream, tls, unix
from emilua.byte_span import byte_span

OPENSSL = "/usr/bin/openssl"
LO = "127.0.0.1"


def _openssl(*args, cwd):
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    w = str(d)

    def ext(name, text):
        (d / name).write_text(text)
        return name

    ca_ext = ext("ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Test CA",
             "-days", "2", cwd=w)  # fmt: skip
    _openssl("req", "-x509", *ec, "-keyout", "rogue.key", "-out", "rogue.pem",
             "-subj", "/CN=localhost", "-days", "2", cwd=w)  # fmt: skip

    def leaf(name, cn, san, issuer="ca", extra=""):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
                 cwd=w)  # fmt: skip
        e = ext(f"{name}.ext", (f"subjectAltName={san}\n" if san else "") + extra)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey",
                 f"{issuer}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                 "-extfile", e, cwd=w)  # fmt: skip

    leaf("server", "localhost", "DNS:localhost,IP:127.0.0.1")
    leaf("client", "client.test", "DNS:client.test")
    leaf("inter", "Test Intermediate", None, extra=(d / ca_ext).read_text())
    leaf("deep", "localhost", "DNS:localhost", issuer="inter")
    # An RSA identity with an encrypted key (password callback, PKCS#1 DER).
    _openssl("genrsa", "-out", "rsa_plain.key", "2048", cwd=w)
    _openssl("pkcs8", "-topk8", "-in", "rsa_plain.key", "-out", "rsa_enc.key", "-passout",
             "pass:s3cret", "-v2", "aes-256-cbc", cwd=w)  # fmt: skip
    _openssl("rsa", "-in", "rsa_plain.key", "-traditional", "-outform", "DER", "-out",
             "rsa_pkcs1.der", cwd=w)  # fmt: skip
    _openssl("req", "-new", "-key", "rsa_plain.key", "-out", "rsa.csr", "-subj", "/CN=localhost",
             cwd=w)  # fmt: skip
    e = ext("rsa.ext", "subjectAltName=DNS:localhost\n")
    _openssl("x509", "-req", "-in", "rsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "rsa.pem", "-days", "2", "-extfile", e, cwd=w)  # fmt: skip
    # DER forms, a chain file and DH parameters.
    _openssl("x509", "-in", "server.pem", "-outform", "DER", "-out", "server.der", cwd=w)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "server.key", "-outform", "DER", "-out",
             "server_key.der", cwd=w)  # fmt: skip
    (d / "deep_chain.pem").write_bytes(
        (d / "deep.pem").read_bytes() + (d / "inter.pem").read_bytes()
    )
    _openssl("genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048", "-out",
             "dh.pem", cwd=w)  # fmt: skip
    # A CA directory with hashed names (add_verify_path).
    (d / "cadir").mkdir()
    (d / "cadir" / "ca.pem").write_bytes((d / "ca.pem").read_bytes())
    _openssl("rehash", "cadir", cwd=w)
    ns = types.SimpleNamespace(dir=d)
    for f in d.iterdir():
        if f.is_file():
            setattr(ns, f.name.replace(".", "_"), f)
    return ns


def rb(path):
    return path.read_bytes()


def server_context(certs, method="tls", cert="server"):
    ctx = tls.context(method)
    ctx.use_certificate_chain(rb(getattr(certs, f"{cert}_pem")))
    ctx.use_private_key(rb(getattr(certs, f"{cert}_key")), "pem")
    return ctx


def client_context(certs, method="tls", verify="peer"):
    ctx = tls.context(method)
    ctx.add_certificate_authority(rb(certs.ca_pem))
    ctx.set_verify_mode(verify)
    return ctx


@contextlib.contextmanager
def tls_pair(certs, client_ctx=None, server_ctx=None, pair=tcp_pair):
    """A (client, server) pair of tls.socket over the loopback, handshaken."""
    client_ctx = client_ctx or client_context(certs)
    server_ctx = server_ctx or server_context(certs)
    with pair() as (c, s):
        tc = tls.socket(c, client_ctx)
        ts = tls.socket(s, server_ctx)
        hs = spawn(ts.server_handshake)
        tc.client_handshake()
        hs.join()
        yield tc, ts


def read_bytes(s, n=256):
    buf = byte_span(n)
    got = s.read_some(buf)
    return bytes(buf.slice(0, got))


# ------------------------------------------------------------------ peers


class PyPeer:
    """A blocking Python ssl peer in a thread, on a loopback port."""

    def __init__(self, ctx, server=True, script=None, server_hostname=None):
        self.ctx = ctx
        self.script = script
        self.error = None
        self.result = None
        self.info = {}
        self.server_hostname = server_hostname
        if server:
            self.lsock = pysocket.create_server((LO, 0))
            self.port = self.lsock.getsockname()[1]
            target = self._serve
        else:
            self.lsock = None
            target = self._connect
        self.thread = threading.Thread(target=target, daemon=True)

    def start(self, port=None):
        self.connect_port = port
        self.thread.start()
        return self

    def _run(self, raw, server_side):
        with raw:
            raw.settimeout(30)
            try:
                with self.ctx.wrap_socket(
                    raw, server_side=server_side, server_hostname=self.server_hostname
                ) as s:
                    self.info["version"] = s.version()
                    self.info["peercert"] = s.getpeercert()
                    self.result = self.script(s) if self.script else None
            except Exception as e:
                self.error = e

    def _serve(self):
        try:
            self.lsock.settimeout(30)
            conn, _ = self.lsock.accept()
        except Exception as e:
            self.error = e
            return
        finally:
            self.lsock.close()
        self._run(conn, True)

    def _connect(self):
        raw = pysocket.create_connection((LO, self.connect_port), timeout=30)
        self._run(raw, False)

    def join(self):
        self.thread.join(60)
        assert not self.thread.is_alive()
        return self.result


def echo_once(s):
    data = s.recv(4096)
    s.sendall(data.upper())
    return data


def connect(port):
    sock = ip.tcp.socket()
    sock.connect(ip.address.loopback_v4(), port)
    return sock


def py_server_ctx(certs, cert="server", verify_client=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(getattr(certs, f"{cert}_pem"), getattr(certs, f"{cert}_key"))
    if verify_client:
        ctx.load_verify_locations(certs.ca_pem)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def py_client_ctx(certs, cert=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.ca_pem)
    if cert:
        ctx.load_cert_chain(getattr(certs, f"{cert}_pem"), getattr(certs, f"{cert}_key"))
    return ctx


def client_to_py_server(certs, ctx, peer_ctx=None, script=echo_once, setup=None):
    """Connect a tls.socket to a Python ssl server; return (tls socket, peer)."""
    peer = PyPeer(peer_ctx or py_server_ctx(certs), script=script).start()
    s = tls.socket(connect(peer.port), ctx)
    if setup:
        setup(s)
    return s, peer


# ------------------------------------------------------------- tls.context


@pytest.mark.parametrize(
    "method",
    ["tls", "tls_client", "tls_server", "sslv23", "sslv23_client", "sslv23_server", "tlsv1",
     "tlsv1_client", "tlsv1_server", "tlsv11", "tlsv11_client", "tlsv11_server", "tlsv12",
     "tlsv12_client", "tlsv12_server", "tlsv13", "tlsv13_client", "tlsv13_server"],
)  # fmt: skip
def test_context_methods(method):
    tls.context(method)


@pytest.mark.parametrize(
    "method", ["sslv2", "sslv2_client", "sslv2_server", "sslv3", "sslv3_client", "sslv3_server"]
)
def test_ssl_methods_are_refused_with_einval(method):
    with pytest.raises(OSError) as e:
        tls.context(method)
    assert e.value.errno == errno.EINVAL


def test_unknown_method():
    with pytest.raises(ValueError):
        tls.context("tlsv14")


def test_context_flags_are_openssl_options():
    f = tls.context_flag
    assert f.no_compression == ssl.OP_NO_COMPRESSION
    assert f.no_tlsv1_3 == ssl.OP_NO_TLSv1_3
    assert f.default_workarounds == ssl.OP_ALL
    for name in ("no_sslv2", "no_sslv3", "no_tlsv1", "no_tlsv1_1", "no_tlsv1_2", "single_dh_use"):
        assert isinstance(getattr(f, name), int)


def test_set_and_clear_options(certs):
    ctx = server_context(certs)
    ctx.set_options(tls.context_flag.no_tlsv1_3 | tls.context_flag.no_compression)
    assert ctx.options & tls.context_flag.no_tlsv1_3
    peer = PyPeer(py_client_ctx(certs), server=False, server_hostname="localhost")
    a = ip.tcp.acceptor()
    a.open("v4")
    a.bind(LO, 0)
    a.listen()
    peer.start(a.local_port)
    s = tls.socket(a.accept(), ctx)
    a.close()
    s.server_handshake()
    s.close()
    peer.join()
    assert peer.info["version"] == "TLSv1.2"
    ctx.clear_options(tls.context_flag.no_tlsv1_3)
    assert not ctx.options & tls.context_flag.no_tlsv1_3
    with tls_pair(certs, server_ctx=ctx) as (c, s):
        c.write_some(b"1.3 again")
        assert read_bytes(s) == b"1.3 again"


def test_version_methods_must_agree(certs):
    with tcp_pair() as (c, s):
        tc = tls.socket(c, client_context(certs, "tlsv12_client"))
        ts = tls.socket(s, server_context(certs, "tlsv13_server"))

        def server():
            with pytest.raises(ssl.SSLError):
                ts.server_handshake()

        f = spawn(server)
        with pytest.raises(ssl.SSLError):
            tc.client_handshake()
        f.join()
        assert not tc.is_open and not ts.is_open


def test_a_role_limited_context_refuses_the_other_role(certs):
    with tcp_pair() as (c, s):
        ts = tls.socket(s, client_context(certs, "tls_client"))
        with pytest.raises(ValueError):
            ts.server_handshake()


def test_certificate_and_key_from_files_and_asn1(certs):
    ctx = tls.context("tls_server")
    ctx.use_certificate_file(certs.server_der, "asn1")
    ctx.use_private_key_file(certs.server_key_der, "asn1")
    with tls_pair(certs, server_ctx=ctx) as (c, s):
        assert c.write_some(b"der") == 3
        assert read_bytes(s) == b"der"
    ctx = tls.context("tls_server")
    ctx.use_certificate(rb(certs.server_der), "asn1")
    ctx.use_private_key(rb(certs.server_key_der), "asn1")
    ctx2 = tls.context("tls_server")
    ctx2.use_certificate_file(certs.server_pem, "pem")
    ctx2.use_private_key_file(certs.server_key, "pem")
    for server_ctx in (ctx, ctx2):
        with tls_pair(certs, server_ctx=server_ctx) as (c, s):
            s.write_some(b"ok")
            assert read_bytes(c) == b"ok"


def test_certificate_chain_from_memory_and_file_with_verify_depth(certs):
    for load in ("memory", "file"):
        ctx = tls.context("tls")
        if load == "memory":
            ctx.use_certificate_chain(rb(certs.deep_chain_pem))
        else:
            ctx.use_certificate_chain_file(certs.deep_chain_pem)
        ctx.use_private_key(rb(certs.deep_key), "pem")
        with tls_pair(certs, server_ctx=ctx) as (c, s):
            c.write_some(b"chain")
            assert read_bytes(s) == b"chain"
        # leaf -> intermediate -> root: a depth of 0 refuses the chain.
        strict = client_context(certs)
        strict.set_verify_depth(0)
        with tcp_pair() as (cs, ss):
            tc, ts = tls.socket(cs, strict), tls.socket(ss, ctx)
            f = spawn(_quiet, ts.server_handshake)
            with pytest.raises(ssl.SSLCertVerificationError):
                tc.client_handshake()
            f.join()
        # The socket's own depth overrides the context's.
        with tcp_pair() as (cs, ss):
            tc, ts = tls.socket(cs, strict), tls.socket(ss, ctx)
            tc.set_verify_depth(5)
            f = spawn(ts.server_handshake)
            tc.client_handshake()
            f.join()


def test_encrypted_key_with_password_callback(certs):
    calls = []

    def password(max_length, purpose):
        calls.append((max_length, purpose))
        return "s3cret"

    ctx = tls.context("tls_server")
    ctx.set_password_callback(password)
    ctx.use_certificate_file(certs.rsa_pem, "pem")
    ctx.use_private_key_file(certs.rsa_enc_key, "pem")
    assert calls and calls[0][1] == "for_reading" and calls[0][0] >= 6
    with tls_pair(certs, server_ctx=ctx) as (c, s):
        c.write_some(b"rsa")
        assert read_bytes(s) == b"rsa"
    bad = tls.context("tls_server")
    bad.set_password_callback(lambda n, purpose: "wrong")
    bad.use_certificate_file(certs.rsa_pem, "pem")
    with pytest.raises(ssl.SSLError):
        bad.use_private_key_file(certs.rsa_enc_key, "pem")


def test_password_callback_cannot_suspend(certs):
    def password(max_length, purpose):
        from emilua import this_fiber

        this_fiber.yield_()
        return "s3cret"

    ctx = tls.context("tls_server")
    ctx.set_password_callback(password)
    ctx.use_certificate_file(certs.rsa_pem, "pem")
    with pytest.raises(RuntimeError):
        ctx.use_private_key_file(certs.rsa_enc_key, "pem")


def test_rsa_private_key_from_memory_and_file(certs):
    for form in ("pem-memory", "asn1-memory", "pem-file", "asn1-file"):
        ctx = tls.context("tls_server")
        ctx.use_certificate(rb(certs.rsa_pem), "pem")
        if form == "pem-memory":
            ctx.use_rsa_private_key(rb(certs.rsa_plain_key), "pem")
        elif form == "asn1-memory":
            ctx.use_rsa_private_key(rb(certs.rsa_pkcs1_der), "asn1")
        elif form == "pem-file":
            ctx.use_rsa_private_key_file(certs.rsa_plain_key, "pem")
        else:
            ctx.use_rsa_private_key_file(certs.rsa_pkcs1_der, "asn1")
        with tls_pair(certs, server_ctx=ctx) as (c, s):
            s.write_some(form)
            assert read_bytes(c) == form.encode()


def test_a_key_that_does_not_match_the_certificate_is_refused(certs):
    ctx = tls.context("tls_server")
    ctx.use_certificate(rb(certs.server_pem), "pem")
    with pytest.raises(ssl.SSLError):
        ctx.use_private_key(rb(certs.client_key), "pem")


def test_bad_format_names():
    ctx = tls.context("tls")
    with pytest.raises(ValueError):
        ctx.use_certificate(b"", "der")


def test_ca_from_file_and_directory(certs):
    for how in ("file", "path"):
        ctx = tls.context("tls_client")
        if how == "file":
            ctx.load_verify_file(certs.ca_pem)
        else:
            ctx.add_verify_path(certs.dir / "cadir")
        ctx.set_verify_mode("peer")
        ctx.set_verify_callback("host_name_verification", "localhost")
        with tls_pair(certs, client_ctx=ctx) as (c, s):
            c.write_some(how)
            assert read_bytes(s) == how.encode()


def test_default_verify_paths_do_not_trust_the_test_ca(certs):
    ctx = tls.context("tls_client")
    ctx.set_default_verify_paths()
    ctx.set_verify_mode("peer")
    with tcp_pair() as (cs, ss):
        tc, ts = tls.socket(cs, ctx), tls.socket(ss, server_context(certs))
        f = spawn(_quiet, ts.server_handshake)
        with pytest.raises(ssl.SSLCertVerificationError):
            tc.client_handshake()
        f.join()


def test_tmp_dh_enables_dhe_key_exchange(certs):
    def peer_ctx():
        ctx = py_client_ctx(certs)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("DHE-RSA-AES128-GCM-SHA256")
        return ctx

    for how in (None, "memory", "file"):
        ctx = tls.context("tls_server")
        ctx.use_certificate_file(certs.rsa_pem, "pem")
        ctx.use_private_key_file(certs.rsa_plain_key, "pem")
        if how == "memory":
            ctx.use_tmp_dh(rb(certs.dh_pem))
        elif how == "file":
            ctx.use_tmp_dh_file(certs.dh_pem)
        ctx.set_options(tls.context_flag.single_dh_use)
        peer = PyPeer(peer_ctx(), server=False, server_hostname="localhost", script=echo_once)
        a = ip.tcp.acceptor()
        a.open("v4")
        a.bind(LO, 0)
        a.listen()
        peer.start(a.local_port)
        s = tls.socket(a.accept(), ctx)
        a.close()
        if how is None:
            # No DH parameters: no DHE cipher to agree on.
            with pytest.raises(ssl.SSLError):
                s.server_handshake()
            peer.join()
            assert peer.error is not None
            continue
        s.server_handshake()
        s.close()
        peer.join()
        assert peer.info["version"] == "TLSv1.2"


# --------------------------------------------------------------- tls.socket


def test_echo_over_tcp_with_stream_helpers(certs):
    with tls_pair(certs) as (c, s):
        payload = os.urandom(300_000)
        w = spawn(stream.write_all, c, payload)
        buf = byte_span(len(payload))
        assert stream.read_all(s, buf) == len(payload)
        assert w.join() == len(payload)
        assert bytes(buf) == payload
        stream.write_all(s, "line one\r\nline two\r\n")
        sc = stream.scanner(c)
        assert bytes(sc.get_line()) == b"line one"
        assert bytes(sc.get_line()) == b"line two"
        assert stream.write_at_least(c, b"abcdef", 3) >= 3
        got = byte_span(6)
        assert stream.read_at_least(s, got, 6) == 6


def test_echo_over_a_unix_stream_socket(certs):
    @contextlib.contextmanager
    def unix_pair():
        a, b = unix.stream_socket.pair()
        try:
            yield a, b
        finally:
            a.close()
            b.close()

    with tls_pair(certs, pair=unix_pair) as (c, s):
        c.write_some(b"over unix")
        assert read_bytes(s) == b"over unix"


def test_full_duplex_reader_and_writer_fibers(certs):
    with tls_pair(certs) as (c, s):
        total = 2_000_000

        def pump(src, n):
            buf = byte_span(65536)
            got = 0
            while got < n:
                got += src.read_some(buf)
            return got

        chunk = os.urandom(65536)

        def write(dst, n):
            sent = 0
            while sent < n:
                sent += dst.write_some(chunk[: min(65536, n - sent)])

        readers = [spawn(pump, s, total), spawn(pump, c, total)]
        writers = [spawn(write, c, total), spawn(write, s, total)]
        for f in writers:
            f.join()
        assert [f.join() for f in readers] == [total, total]


def test_client_against_openssl_s_server(certs):
    srv = subprocess.Popen(
        [OPENSSL, "s_server", "-accept", f"{LO}:0", "-cert", certs.server_pem, "-key",
         certs.server_key, "-naccept", "1", "-rev", "-tls1_3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        port = None
        for line in srv.stdout:
            m = re.match(r"ACCEPT .*:(\d+)$", line.strip())
            if m:
                port = int(m.group(1))
                break
        assert port
        ctx = tls.context("tlsv13_client")
        ctx.add_certificate_authority(rb(certs.ca_pem))
        ctx.set_verify_mode("peer")
        ctx.set_verify_callback("host_name_verification", "localhost")
        s = tls.socket(connect(port), ctx)
        s.client_handshake()
        stream.write_all(s, b"hello openssl\n")
        sc = stream.scanner(s, record_separator="\n")
        assert bytes(sc.get_line()) == b"lssnepo olleh"
        s.shutdown()
        s.close()
    except BaseException:
        srv.kill()
        raise
    finally:
        srv.stdout.close()
        srv.wait(30)


def test_server_against_openssl_s_client(certs):
    a = ip.tcp.acceptor()
    a.open("v4")
    a.bind(LO, 0)
    a.listen()
    cli = subprocess.Popen(
        [OPENSSL, "s_client", "-connect", f"{LO}:{a.local_port}", "-CAfile", certs.ca_pem,
         "-verify_return_error", "-verify_hostname", "localhost", "-cert", certs.client_pem,
         "-key", certs.client_key, "-servername", "localhost", "-quiet", "-no_ign_eof"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE,
    )  # fmt: skip
    try:
        ctx = server_context(certs)
        ctx.load_verify_file(certs.ca_pem)
        ctx.set_verify_mode("fail_if_no_peer_cert")
        s = tls.socket(a.accept(), ctx)
        s.set_verify_callback("host_name_verification", "client.test")
        s.server_handshake()
        stream.write_all(s, b"greetings from emilua\n")
        cli.stdin.write(b"hello\n")
        cli.stdin.flush()
        assert read_bytes(s) == b"hello\n"
        s.shutdown()
        s.close()
        out, err = cli.communicate(timeout=30)
        assert b"greetings from emilua" in out
        assert cli.returncode == 0, err
    finally:
        a.close()
        if cli.poll() is None:
            cli.kill()
            cli.communicate()


def test_client_against_python_ssl_server(certs):
    ctx = client_context(certs, "tlsv13")
    ctx.set_verify_callback("host_name_verification", "localhost")
    s, peer = client_to_py_server(certs, ctx)
    s.client_handshake()
    s.write_some(b"python")
    assert read_bytes(s) == b"PYTHON"
    s.close()
    assert peer.join() == b"python"
    assert peer.info["version"] == "TLSv1.3"


def test_client_certificate_for_a_python_server(certs):
    ctx = client_context(certs)
    ctx.use_certificate_chain_file(certs.client_pem)
    ctx.use_private_key_file(certs.client_key, "pem")
    s, peer = client_to_py_server(certs, ctx, py_server_ctx(certs, verify_client=True))
    s.client_handshake()
    s.write_some(b"mtls")
    assert read_bytes(s) == b"MTLS"
    s.close()
    peer.join()
    assert dict(x[0] for x in peer.info["peercert"]["subject"])["commonName"] == "client.test"


def test_server_name_indication_reaches_the_peer(certs):
    seen = []
    peer_ctx = py_server_ctx(certs)
    peer_ctx.sni_callback = lambda sslobj, name, ctx: seen.append(name)
    ctx = client_context(certs)
    ctx.set_verify_callback("host_name_verification", "localhost")

    def setup(s):
        s.set_server_name("sni.example")  # differs from the name checked

    s, peer = client_to_py_server(certs, ctx, peer_ctx, setup=setup)
    s.client_handshake()
    s.write_some(b"x")
    assert read_bytes(s) == b"X"
    s.close()
    peer.join()
    assert seen == ["sni.example"]


def test_bad_certificate_is_a_clear_error_and_leaves_no_fd(certs):
    s, peer = client_to_py_server(certs, client_context(certs), py_server_ctx(certs, "rogue"))
    with pytest.raises(ssl.SSLCertVerificationError) as e:
        s.client_handshake()
    assert "certificate verify failed" in str(e.value)
    assert not s.is_open
    peer.join()
    assert isinstance(peer.error, ssl.SSLError)  # it got our alert


def test_wrong_host_name_is_refused(certs):
    for where in ("context", "socket"):
        ctx = client_context(certs)
        if where == "context":
            ctx.set_verify_callback("host_name_verification", "wrong.example")

        def setup(s, where=where):
            if where == "socket":
                s.set_verify_callback("host_name_verification", "wrong.example")

        s, peer = client_to_py_server(certs, ctx, setup=setup)
        with pytest.raises(ssl.SSLCertVerificationError) as e:
            s.client_handshake()
        assert "wrong.example" in str(e.value) or "mismatch" in str(e.value)
        assert not s.is_open
        peer.join()


def test_verify_mode_none_accepts_any_certificate(certs):
    ctx = tls.context("tls_client")  # "none" by default, as in Boost.Asio
    s, peer = client_to_py_server(certs, ctx, py_server_ctx(certs, "rogue"))
    s.client_handshake()
    s.write_some(b"any")
    assert read_bytes(s) == b"ANY"
    s.close()
    peer.join()
    strict = client_context(certs)
    s, peer = client_to_py_server(certs, strict, py_server_ctx(certs, "rogue"))
    s.set_verify_mode("none")  # the socket's mode overrides the context's
    s.client_handshake()
    s.close()
    peer.join()


def test_server_verify_modes(certs):
    # "peer": a certificate is asked for, not required; "fail_if_no_peer_cert"
    # requires one; "client_once" asks once.
    for mode, with_cert, ok in [
        ("peer", False, True),
        ("peer", True, True),
        ("client_once", False, True),
        ("fail_if_no_peer_cert", False, False),
        ("fail_if_no_peer_cert", True, True),
    ]:
        sctx = server_context(certs)
        sctx.add_certificate_authority(rb(certs.ca_pem))
        sctx.set_verify_mode(mode)
        cctx = client_context(certs)
        if with_cert:
            cctx.use_certificate_chain(rb(certs.client_pem))
            cctx.use_private_key(rb(certs.client_key), "pem")
        if ok:
            with tls_pair(certs, cctx, sctx) as (c, s):
                c.write_some(b"m")
                assert read_bytes(s) == b"m"
            continue
        with tcp_pair() as (cs, ss):
            tc, ts = tls.socket(cs, cctx), tls.socket(ss, sctx)

            def server(ts=ts):
                with pytest.raises(ssl.SSLError):
                    ts.server_handshake()

            f = spawn(server)
            # TLS 1.3: the client learns of the refusal on its first read.
            with contextlib.suppress(ssl.SSLError):
                tc.client_handshake()
                with pytest.raises((ssl.SSLError, EOFError)):
                    tc.read_some(byte_span(4))
            f.join()


def test_server_side_host_name_verification_of_the_client(certs):
    for name, ok in (("client.test", True), ("someone.else", False)):
        sctx = server_context(certs)
        sctx.add_certificate_authority(rb(certs.ca_pem))
        sctx.set_verify_mode("fail_if_no_peer_cert")
        sctx.set_verify_callback("host_name_verification", name)
        cctx = client_context(certs)
        cctx.use_certificate_chain(rb(certs.client_pem))
        cctx.use_private_key(rb(certs.client_key), "pem")
        with tcp_pair() as (cs, ss):
            tc, ts = tls.socket(cs, cctx), tls.socket(ss, sctx)
            f = spawn(_quiet, tc.client_handshake)
            if ok:
                ts.server_handshake()
            else:
                with pytest.raises(ssl.SSLCertVerificationError):
                    ts.server_handshake()
            f.join()


def _quiet(fn):
    with contextlib.suppress(ssl.SSLError, OSError):
        fn()


def test_plain_text_peer_is_a_clear_error(certs):
    def http_server(conn):
        conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nplain text\r\n")
        conn.recv(4096)

    lsock = pysocket.create_server((LO, 0))
    port = lsock.getsockname()[1]

    def serve():
        conn, _ = lsock.accept()
        with conn:
            http_server(conn)
        lsock.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    s = tls.socket(connect(port), client_context(certs))
    with pytest.raises(ssl.SSLError) as e:
        s.client_handshake()
    assert "wrong version number" in str(e.value) or "record" in str(e.value)
    assert not s.is_open
    t.join(30)


def test_plain_text_client_to_a_tls_server(certs):
    with tcp_pair() as (c, s):
        ts = tls.socket(s, server_context(certs))
        c.write_some(b"GET / HTTP/1.0\r\n\r\n")
        with pytest.raises(ssl.SSLError):
            ts.server_handshake()
        assert not ts.is_open


def test_clean_shutdown_is_eof_for_the_peer(certs):
    with tls_pair(certs) as (c, s):
        c.write_some(b"bye")
        f = spawn(c.shutdown)
        assert read_bytes(s) == b"bye"
        with pytest.raises(EOFError):
            s.read_some(byte_span(8))
        s.shutdown()  # answers the peer's close_notify
        f.join()


def test_truncated_stream_is_an_error(certs):
    with tls_pair(certs) as (c, s):
        c.write_some(b"cut")
        c.next_layer.shutdown("send")  # the TCP stream ends, no close_notify
        assert read_bytes(s) == b"cut"
        with pytest.raises(ssl.SSLEOFError):
            s.read_some(byte_span(8))


def test_interrupting_a_parked_read_keeps_the_stream(certs):
    with tls_pair(certs) as (c, s):

        def reader():
            with pytest.raises(FiberInterrupted):
                s.read_some(byte_span(8))

        f = spawn(reader)
        wait_until_idle()
        f.interrupt()
        f.join()
        c.write_some(b"after")
        assert read_bytes(s) == b"after"


def test_interrupting_a_parked_handshake_closes_the_socket(certs):
    with tcp_pair() as (c, s):
        ts = tls.socket(s, server_context(certs))

        def server():
            with pytest.raises(FiberInterrupted):
                ts.server_handshake()

        f = spawn(server)
        wait_until_idle()
        f.interrupt()
        f.join()
        assert not ts.is_open


def _fill_until_parked(c):
    """Spawn a fiber that writes to *c* until its socket buffer is full."""
    c.next_layer.set_option("send_buffer_size", 4096)
    chunk = os.urandom(65536)

    def writer():
        while True:
            c.write_some(chunk)

    f = spawn(writer)
    wait_until_idle()
    assert f.joinable
    return f


def test_interrupting_a_parked_write(certs):
    with tls_pair(certs) as (c, s):
        f = _fill_until_parked(c)
        f.interrupt()
        f.join()
        assert f.interruption_caught


def test_close_wakes_a_parked_write_with_ecanceled(certs):
    with tls_pair(certs) as (c, s):
        f = _fill_until_parked(c)
        c.close()
        with pytest.raises(OSError) as e:
            f.join()
        assert e.value.errno == errno.ECANCELED


def test_a_reader_and_a_parked_writer_share_the_socket(certs):
    # While one fiber is parked sending, another reads and answers the peer.
    with tls_pair(certs) as (c, s):
        f = _fill_until_parked(c)
        s.write_some(b"meanwhile")
        assert read_bytes(c) == b"meanwhile"
        f.interrupt()
        f.join()
        assert f.interruption_caught


def test_close_wakes_a_parked_read_with_ecanceled(certs):
    with tls_pair(certs) as (c, s):

        def reader():
            with pytest.raises(OSError) as e:
                s.read_some(byte_span(8))
            return e.value.errno

        f = spawn(reader)
        wait_until_idle()
        s.close()
        assert f.join() == errno.ECANCELED


def test_cancel_wakes_a_parked_read_and_keeps_the_stream(certs):
    with tls_pair(certs) as (c, s):

        def reader():
            with pytest.raises(OSError) as e:
                s.read_some(byte_span(8))
            return e.value.errno

        f = spawn(reader)
        wait_until_idle()
        s.cancel()
        assert f.join() == errno.ECANCELED
        c.write_some(b"kept")
        assert read_bytes(s) == b"kept"


def test_operations_before_the_handshake(certs):
    with tcp_pair() as (c, s):
        ts = tls.socket(s, server_context(certs))
        with pytest.raises(OSError) as e:
            ts.read_some(byte_span(4))
        assert e.value.errno == errno.ENOTCONN
        with pytest.raises(OSError) as e:
            ts.write_some(b"x")
        assert e.value.errno == errno.ENOTCONN


def test_socket_argument_checks(certs):
    with pytest.raises(TypeError):
        tls.socket(object(), tls.context("tls"))
    with tcp_pair() as (c, s):
        with pytest.raises(TypeError):
            tls.socket(c, object())
        ts = tls.socket(c, tls.context("tls"))
        with pytest.raises(ValueError):
            ts.set_verify_callback("rfc2818_verification", "x")
        with pytest.raises(ValueError):
            ts.set_verify_mode("sometimes")
        assert ts.next_layer is c
