"""Shared fixtures for the connection-layer tests: trustme certificates and listeners."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from posteingang.net.connection import Connection
from posteingang.net.server import ListenerServer, Refusal
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.tls import CertPair, TlsContexts


@dataclass
class Certs:
    ca: trustme.CA
    default: CertPair
    sni: dict[str, CertPair]
    dir: Path

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx

    def reissue(self, name: str, *identities: str) -> CertPair:
        """Write a new certificate over `name`'s files (for reload tests)."""
        cert = self.ca.issue_cert(*identities)
        pair = CertPair(self.dir / f"{name}.pem", self.dir / f"{name}.key")
        cert.cert_chain_pems[0].write_to_path(str(pair.cert))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(pair.cert), append=True)
        cert.private_key_pem.write_to_path(str(pair.key))
        return pair


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    ca = trustme.CA()
    d = tmp_path_factory.mktemp("certs")
    c = Certs(ca, CertPair(d / "x", d / "y"), {}, d)
    c.default = c.reissue("default", "localhost", "127.0.0.1")
    c.sni = {
        "mail.example.org": c.reissue("org", "mail.example.org"),
        "*.example.net": c.reissue("net", "*.example.net"),
    }
    return c


def leaf_names(ssl_object: Any) -> list[str]:
    """The DNS names of the certificate the server presented."""
    cert = ssl_object.getpeercert()
    return [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]


def listener(**overrides: Any) -> ListenerSettings:
    values: dict[str, Any] = {"protocol": "TEST", "host": "127.0.0.1", "port": 0}
    values.update(overrides)
    return ListenerSettings(**values)


ServeFactory = Callable[..., Any]


@pytest.fixture
async def serve() -> AsyncIterator[ServeFactory]:
    """`await serve(handler, tls=..., mode=..., **settings)` starts a listener (stopped after)."""
    servers: list[ListenerServer] = []

    async def start(
        handler: Callable[[Connection], Any],
        *,
        tls: TlsContexts | None = None,
        mode: TlsMode | None = None,
        refusal: Refusal = b"",
        **settings: Any,
    ) -> ListenerServer:
        if tls is not None:
            settings["tls"] = mode or TlsMode.IMPLICIT
        server = ListenerServer(listener(**settings), handler, tls=tls, refusal=refusal)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop(0)


async def echo_lines(conn: Connection) -> None:
    """A handler that echoes lines until EOF."""
    await conn.write(b"hello\r\n")
    while True:
        line = await conn.read_line(1000)
        await conn.write(line)


async def read_until(reader: asyncio.StreamReader, marker: bytes, within: float = 5) -> bytes:
    return await asyncio.wait_for(reader.readuntil(marker), within)
