"""The first-run certificate: names, refusal to overwrite, and a working TLS handshake."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from posteingang.net.certs import default_names, read_certificate, write_self_signed
from posteingang.net.tls import CertPair, build_context


def test_default_names_are_host_localhost_and_loopback() -> None:
    assert default_names("MX.Example.org") == ["mx.example.org", "localhost", "127.0.0.1", "::1"]
    assert default_names("localhost") == ["localhost", "127.0.0.1", "::1"]


def test_refuses_to_overwrite_without_being_asked(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    first = write_self_signed(cert, key, ["a.test"])
    with pytest.raises(FileExistsError):
        write_self_signed(cert, key, ["b.test"])
    assert read_certificate(cert).subject.rfc4514_string() == "CN=a.test"
    second = write_self_signed(cert, key, ["b.test"], overwrite=True)
    assert second.sha256_fingerprint != first.sha256_fingerprint
    assert read_certificate(cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName) == ["b.test"]


@pytest.mark.parametrize("min_version", ["TLSv1.2", "TLSv1.3"])
async def test_clients_trusting_the_certificate_can_connect(
    tmp_path: Path, min_version: str
) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    write_self_signed(cert, key, default_names("mail.test"))
    ctx = build_context(CertPair(cert, key), min_version=min_version)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    for name in ("mail.test", "localhost", "127.0.0.1"):
        client = ssl.create_default_context(cafile=str(cert))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname=name
        )
        assert await reader.readline() == b"* OK\r\n"
        version = writer.get_extra_info("ssl_object").version()
        assert version in (("TLSv1.2", "TLSv1.3") if min_version == "TLSv1.2" else ("TLSv1.3",))
        writer.close()
    # A name that is not on the certificate fails verification.
    client = ssl.create_default_context(cafile=str(cert))
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname="evil.test")
    server.close()
    await server.wait_closed()
