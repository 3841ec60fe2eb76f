"""TLS over real loopback sockets: versions, SNI, reload, and STARTTLS plaintext discard."""

from __future__ import annotations

import asyncio
import ssl
import warnings

import pytest

from posteingang.net.connection import Connection
from posteingang.net.settings import TlsMode
from posteingang.net.tls import CertPair, TlsContexts, build_context, upgrade_to_tls
from tests.net.conftest import Certs, ServeFactory, echo_lines, leaf_names, read_until


async def tls_connect(
    port: int, ctx: ssl.SSLContext, name: str | None = "localhost"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=name), 5
    )


async def test_implicit_tls_handshake_reports_version_cipher_and_name(
    certs: Certs, serve: ServeFactory
) -> None:
    seen: list[tuple[bool, str | None, str | None, str | None]] = []

    async def handler(conn: Connection) -> None:
        seen.append((conn.is_tls, conn.tls_version, conn.cipher, conn.sni_name))
        await echo_lines(conn)

    server = await serve(handler, tls=TlsContexts(certs.default))
    reader, writer = await tls_connect(server.port, certs.client_context())
    assert await read_until(reader, b"\n") == b"hello\r\n"
    writer.write(b"ping\r\n")
    assert await read_until(reader, b"\n") == b"ping\r\n"
    is_tls, version, cipher, sni = seen[0]
    assert is_tls and version in ("TLSv1.2", "TLSv1.3") and cipher
    assert sni == "localhost"
    writer.close()


def old_version_client(certs: Certs, version: ssl.TLSVersion) -> ssl.SSLContext:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    certs.ca.configure_trust(client)
    # Let the client really offer the old version (OpenSSL 3 hides it at level 1+).
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        client.maximum_version = version
    return client


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
async def test_tls_1_0_and_1_1_are_refused(certs: Certs, serve: ServeFactory, version: str) -> None:
    client = old_version_client(certs, getattr(ssl.TLSVersion, version))
    # Control: a permissive server proves this client can speak the old version here.
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        permissive.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    permissive.load_cert_chain(certs.default.cert, certs.default.key)

    async def hello(_: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"hello\r\n")
        await w.drain()
        w.close()

    control = await asyncio.start_server(hello, "127.0.0.1", 0, ssl=permissive)
    try:
        port = control.sockets[0].getsockname()[1]
        try:
            _, writer = await tls_connect(port, client)
        except (ssl.SSLError, ConnectionError):
            pytest.skip(f"this OpenSSL cannot speak {version} at all")
        assert writer.get_extra_info("ssl_object").version() in ("TLSv1", "TLSv1.1")
        writer.close()
    finally:
        control.close()

    server = await serve(echo_lines, tls=TlsContexts(certs.default))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await tls_connect(server.port, client)


async def test_tls_1_3_minimum_refuses_a_tls_1_2_client(certs: Certs, serve: ServeFactory) -> None:
    server = await serve(echo_lines, tls=TlsContexts(certs.default, min_version="TLSv1.3"))
    client = certs.client_context()
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await tls_connect(server.port, client)
    ok = certs.client_context()
    reader, writer = await tls_connect(server.port, ok)
    assert await read_until(reader, b"\n") == b"hello\r\n"
    assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
    writer.close()


def test_context_policy_has_no_compression_or_renegotiation(certs: Certs) -> None:
    ctx = build_context(certs.default)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_COMPRESSION
    assert ctx.options & ssl.OP_NO_RENEGOTIATION
    names = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert names and all("GCM" in n or "CHACHA20" in n for n in names)
    assert not any("CBC" in n or "RC4" in n or "3DES" in n for n in names)
    with pytest.raises(ValueError):
        build_context(certs.default, min_version="TLSv1.1")


@pytest.mark.parametrize(
    ("server_name", "expected"),
    [
        ("mail.example.org", "mail.example.org"),
        ("MAIL.Example.ORG", "mail.example.org"),
        ("imap.example.net", "*.example.net"),
        ("localhost", "localhost"),  # not an SNI entry: the default certificate
        ("other.test", "localhost"),
    ],
)
async def test_sni_picks_the_certificate_for_the_name(
    certs: Certs, serve: ServeFactory, server_name: str, expected: str
) -> None:
    names: list[str | None] = []

    async def handler(conn: Connection) -> None:
        names.append(conn.sni_name)
        await echo_lines(conn)

    server = await serve(handler, tls=TlsContexts(certs.default, certs.sni))
    client = certs.client_context()
    client.check_hostname = False  # we look at the certificate ourselves
    reader, writer = await tls_connect(server.port, client, server_name)
    await read_until(reader, b"\n")
    assert expected in leaf_names(writer.get_extra_info("ssl_object"))
    assert names == [server_name.lower()] or names == [server_name]
    writer.close()


async def test_reload_changes_the_certificate_for_new_connections_only(
    certs: Certs, serve: ServeFactory, tmp_path: object
) -> None:
    pair = certs.reissue("reloadable", "localhost", "before.test")
    contexts = TlsContexts(pair)
    server = await serve(echo_lines, tls=contexts)
    client = certs.client_context()
    old_reader, old_writer = await tls_connect(server.port, client)
    await read_until(old_reader, b"\n")
    assert "before.test" in leaf_names(old_writer.get_extra_info("ssl_object"))

    certs.reissue("reloadable", "localhost", "after.test")  # a renewed certificate on disk
    contexts.reload()
    assert contexts.generation == 2

    new_reader, new_writer = await tls_connect(server.port, client)
    await read_until(new_reader, b"\n")
    assert "after.test" in leaf_names(new_writer.get_extra_info("ssl_object"))
    # The old session was not dropped and still works.
    old_writer.write(b"still here\r\n")
    assert await read_until(old_reader, b"\n") == b"still here\r\n"
    old_writer.close()
    new_writer.close()


def test_failed_reload_keeps_the_old_certificates(certs: Certs, tmp_path: object) -> None:
    pair = certs.reissue("broken", "localhost")
    contexts = TlsContexts(pair)
    before = contexts.current
    pair.key.write_text("not a key")
    with pytest.raises(ssl.SSLError):
        contexts.reload()
    assert contexts.current is before and contexts.generation == 1


async def test_starttls_discards_pipelined_plaintext(certs: Certs, serve: ServeFactory) -> None:
    """`STARTTLS\\r\\nINJECTED\\r\\n` in one packet: INJECTED must never reach the protocol."""
    lines: list[bytes] = []
    discarded: list[int] = []

    async def handler(conn: Connection) -> None:
        await conn.write(b"ready\r\n")
        line = await conn.read_line(1000)
        assert line == b"STARTTLS\r\n"
        await conn.write(b"OK begin TLS\r\n")
        await upgrade_to_tls(conn)
        discarded.append(conn.discarded_plaintext)
        assert conn.is_tls
        while True:
            line = await conn.read_line(1000)
            lines.append(line)
            await conn.write(b"got " + line)

    server = await serve(handler, tls=TlsContexts(certs.default), mode=TlsMode.STARTTLS)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    assert await read_until(reader, b"\n") == b"ready\r\n"
    writer.write(b"STARTTLS\r\nINJECTED\r\n")  # one write: one packet on loopback
    assert await read_until(reader, b"\n") == b"OK begin TLS\r\n"
    await asyncio.wait_for(writer.start_tls(certs.client_context(), server_hostname="localhost"), 5)
    writer.write(b"AFTER\r\n")
    assert await read_until(reader, b"\n") == b"got AFTER\r\n"
    assert lines == [b"AFTER\r\n"]
    assert discarded == [len(b"INJECTED\r\n")]
    writer.close()


async def test_starttls_handshake_failure_closes_only_that_connection(
    certs: Certs, serve: ServeFactory
) -> None:
    outcome: list[str] = []

    async def handler(conn: Connection) -> None:
        await conn.read_line(100)
        await conn.write(b"go\r\n")
        try:
            await upgrade_to_tls(conn)
        except Exception as exc:
            outcome.append(type(exc).__name__)
            raise

    server = await serve(handler, tls=TlsContexts(certs.default), mode=TlsMode.STARTTLS)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"STARTTLS\r\n")
    await read_until(reader, b"\n")
    writer.write(b"this is not a TLS ClientHello\r\n" * 4)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert outcome == ["ConnectionClosed"]
    writer.close()


async def test_plaintext_client_on_implicit_tls_listener_does_not_hurt_the_server(
    certs: Certs, serve: ServeFactory
) -> None:
    server = await serve(echo_lines, tls=TlsContexts(certs.default), handshake_timeout=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"a001 LOGIN plain text\r\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    reader, writer = await tls_connect(server.port, certs.client_context())
    assert await read_until(reader, b"\n") == b"hello\r\n"
    writer.close()
    assert server.limits.total <= 1


def test_from_settings_resolves_relative_paths(certs: Certs) -> None:
    from posteingang.net.settings import SniCertificate, TlsSettings

    settings = TlsSettings(
        cert=certs.default.cert.relative_to(certs.dir),
        key=certs.default.key.relative_to(certs.dir),
        sni={
            "Mail.Example.Org": SniCertificate(
                cert=certs.sni["mail.example.org"].cert, key=certs.sni["mail.example.org"].key
            )
        },
    )
    contexts = TlsContexts.from_settings(settings, certs.dir)
    assert contexts.server_names == ["mail.example.org"]
    assert isinstance(CertPair(certs.default.cert, certs.default.key), CertPair)


async def test_sighup_reloads_and_a_broken_file_keeps_the_old_certificates(
    certs: Certs,
) -> None:
    import os
    import signal

    from posteingang.net.tls import reload_on_sighup

    pair = certs.reissue("hup", "localhost")
    contexts = TlsContexts(pair)
    remove = reload_on_sighup(contexts)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(100):
            if contexts.generation == 2:
                break
            await asyncio.sleep(0.01)
        assert contexts.generation == 2
        good = contexts.current
        pair.cert.write_text("garbage")
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(0.1)
        assert contexts.generation == 2 and contexts.current is good
    finally:
        remove()


async def test_smaller_asyncio_tls_buffer_still_carries_large_transfers(
    certs: Certs, serve: ServeFactory
) -> None:
    from posteingang.net.tls import tune_asyncio_tls_buffers

    with pytest.raises(ValueError):
        tune_asyncio_tls_buffers(1024)
    old = tune_asyncio_tls_buffers()
    try:
        payload = bytes(range(256)) * 8192  # 2 MiB

        async def handler(conn: Connection) -> None:
            await conn.write(b"hello\r\n")
            got = b""
            while len(got) < len(payload):
                got += await conn.read_some()
            await conn.write(b"ok\r\n" if got == payload else b"bad\r\n")
            await conn.write(payload)

        server = await serve(handler, tls=TlsContexts(certs.default))
        reader, writer = await tls_connect(server.port, certs.client_context())
        await read_until(reader, b"\n")
        writer.write(payload)
        assert await read_until(reader, b"\n") == b"ok\r\n"
        assert await asyncio.wait_for(reader.readexactly(len(payload)), 10) == payload
        writer.close()
    finally:
        tune_asyncio_tls_buffers(old)
