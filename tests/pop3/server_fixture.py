"""A real POP3 server on loopback (POP3 with STLS and POP3S), for end-to-end tests.

The server runs in a background thread with its own event loop so that blocking
clients (poplib, fetchmail, getmail, curl) can run in the test's thread.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from posteingang.net.settings import TlsMode
from posteingang.pop3.policy import Pop3Settings
from posteingang.pop3.server import DEFAULT_POP3, DEFAULT_POP3S, Pop3Server, start_server
from posteingang.store.sqlite.store import SqliteStore
from tests.pop3.harness import make_services, open_store
from tests.serving import OnLoop, serve_on_loop, write_certificates


@dataclass
class RunningServer(OnLoop):
    store: SqliteStore
    server: Pop3Server
    pop3_port: int
    pop3s_port: int
    ca_file: Path
    client_context: ssl.SSLContext


@contextlib.contextmanager
def running_server(
    tmp_path: Path,
    settings: Pop3Settings | None = None,
    setup: Callable[[SqliteStore], Awaitable[Any]] | None = None,
) -> Iterator[RunningServer]:
    certs = write_certificates(tmp_path)

    async def start() -> tuple[SqliteStore, Pop3Server]:
        store = await open_store(tmp_path / "data")
        if setup is not None:
            await setup(store)
        tls = certs.server_contexts()
        services = make_services(store, settings or Pop3Settings(hostname="localhost"))
        listeners = [
            msgspec.structs.replace(DEFAULT_POP3, port=0),
            msgspec.structs.replace(DEFAULT_POP3S, port=0, tls=TlsMode.IMPLICIT),
        ]
        server = await start_server(services, tls=tls, listeners=listeners, retention_interval=None)
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
