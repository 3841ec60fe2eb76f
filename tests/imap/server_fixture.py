"""A real IMAP server on loopback (IMAP with STARTTLS and IMAPS), for end-to-end tests.

The server runs in a background thread with its own event loop so that blocking
clients (imaplib, IMAPClient, mbsync, curl) can run in the test's thread.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from posteingang.imap.server import DEFAULT_IMAP, DEFAULT_IMAPS, ImapServer, start_server
from posteingang.imap.settings import ImapSettings
from posteingang.store.sqlite.store import SqliteStore
from tests.imap.harness import add_account, make_services, open_store
from tests.serving import OnLoop, serve_on_loop, write_certificates


@dataclass
class RunningServer(OnLoop):
    store: SqliteStore
    server: ImapServer
    imap_port: int
    imaps_port: int
    ca_file: Path
    client_context: ssl.SSLContext


@contextlib.contextmanager
def running_server(
    tmp_path: Path,
    settings: ImapSettings | None = None,
    setup: Callable[[SqliteStore], Awaitable[Any]] | None = None,
) -> Iterator[RunningServer]:
    certs = write_certificates(tmp_path)

    async def start() -> tuple[SqliteStore, ImapServer]:
        store = await open_store(tmp_path / "data")
        await add_account(store)
        if setup is not None:
            await setup(store)
        tls = certs.server_contexts()
        services = make_services(store, settings)
        listeners = [
            msgspec.structs.replace(DEFAULT_IMAP, port=0),
            msgspec.structs.replace(DEFAULT_IMAPS, port=0),
        ]
        server = await start_server(services, tls=tls, listeners=listeners)
        return store, server

    with serve_on_loop(start) as (thread, store, server):
        yield RunningServer(
            thread,
            store,
            server,
            server.ports[0],
            server.ports[1],
            certs.ca_file,
            certs.client_context,
        )
