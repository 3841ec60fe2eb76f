"""A real SMTP + LMTP server on loopback (and an LMTP UNIX socket), for end-to-end tests.

The server runs in a background thread with its own event loop, so blocking
clients (smtplib, swaks, Postfix) can run in the test's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import msgspec
import trustme

from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.tls import CertPair, TlsContexts
from posteingang.smtp.server import DEFAULT_LMTP, DEFAULT_SMTP, SmtpServer, start_server
from posteingang.smtp.settings import SmtpSettings
from posteingang.store.sqlite.store import SqliteStore
from tests.smtp.harness import open_store, populate

T = TypeVar("T")


@dataclass
class RunningServer:
    loop: asyncio.AbstractEventLoop
    store: SqliteStore
    server: SmtpServer
    smtp_port: int
    lmtp_port: int
    lmtp_socket: Path | None
    ca_file: Path
    client_context: ssl.SSLContext
    data_dir: Path

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
        """Run a coroutine function on the server's loop and wait for its result."""

        async def wrapper() -> T:
            return await fn()

        fut: Future[T] = asyncio.run_coroutine_threadsafe(wrapper(), self.loop)
        return fut.result(timeout)

    def messages(self, address: str, mailbox: str = "INBOX") -> list[bytes]:
        from tests.smtp.harness import messages_of

        return self.call(lambda: messages_of(self.store, address, mailbox))


@contextlib.contextmanager
def running_server(
    tmp_path: Path,
    settings: SmtpSettings | None = None,
    *,
    smtp: ListenerSettings | None = None,
    lmtp: ListenerSettings | None = None,
    max_message_size: int = 50 * 1024 * 1024,
) -> Iterator[RunningServer]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    client_context = ssl.create_default_context(cafile=str(ca_file))
    data_dir = tmp_path / "data"
    settings = settings or SmtpSettings(lmtp_socket=Path("lmtp.sock"))
    smtp = smtp or msgspec.structs.replace(DEFAULT_SMTP, port=0)
    lmtp = lmtp or msgspec.structs.replace(DEFAULT_LMTP, port=0)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[SqliteStore, SmtpServer]:
        store = await open_store(data_dir)
        await populate(store)
        tls = TlsContexts(CertPair(cert_file, key_file))
        server = await start_server(
            store,
            hostname="mx.example.test",
            data_dir=data_dir,
            settings=settings,
            listeners=[smtp, lmtp],
            tls=tls if TlsMode.STARTTLS in (smtp.tls, lmtp.tls) else None,
            max_message_size=max_message_size,
        )
        return store, server

    store, server = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    running = RunningServer(
        loop,
        store,
        server,
        server.ports[0],
        server.ports[1],
        Path(server.unix.settings.host) if server.unix is not None else None,
        ca_file,
        client_context,
        data_dir,
    )
    try:
        yield running
    finally:

        async def stop() -> None:
            await server.stop(1)
            await store.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
