"""A real IMAP server on loopback (IMAP with STARTTLS and IMAPS), for end-to-end tests.

The server runs in a background thread with its own event loop so that blocking
clients (imaplib, IMAPClient, mbsync, curl) can run in the test's thread.
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
from typing import Any, TypeVar

import msgspec
import trustme

from posteingang.imap.server import DEFAULT_IMAP, DEFAULT_IMAPS, ImapServer, start_server
from posteingang.imap.settings import ImapSettings
from posteingang.net.tls import CertPair, TlsContexts
from posteingang.store.sqlite.store import SqliteStore
from tests.imap.harness import add_account, make_services, open_store

T = TypeVar("T")


@dataclass
class RunningServer:
    loop: asyncio.AbstractEventLoop
    store: SqliteStore
    server: ImapServer
    imap_port: int
    imaps_port: int
    ca_file: Path
    client_context: ssl.SSLContext

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
        """Run a coroutine function on the server's loop and wait for its result."""

        async def wrapper() -> T:
            return await fn()

        fut: Future[T] = asyncio.run_coroutine_threadsafe(wrapper(), self.loop)
        return fut.result(timeout)


@contextlib.contextmanager
def running_server(
    tmp_path: Path,
    settings: ImapSettings | None = None,
    setup: Callable[[SqliteStore], Awaitable[Any]] | None = None,
) -> Iterator[RunningServer]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    client_context = ssl.create_default_context(cafile=str(ca_file))

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[SqliteStore, ImapServer]:
        store = await open_store(tmp_path / "data")
        await add_account(store)
        if setup is not None:
            await setup(store)
        tls = TlsContexts(CertPair(cert_file, key_file))
        services = make_services(store, settings)
        listeners = [
            msgspec.structs.replace(DEFAULT_IMAP, port=0),
            msgspec.structs.replace(DEFAULT_IMAPS, port=0),
        ]
        server = await start_server(services, tls=tls, listeners=listeners)
        return store, server

    store, server = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    running = RunningServer(
        loop, store, server, server.ports[0], server.ports[1], ca_file, client_context
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
