"""A real SMTP + LMTP server on loopback (and an LMTP UNIX socket), for end-to-end tests.

The server runs in a background thread with its own event loop, so blocking
clients (smtplib, swaks, Postfix) can run in the test's thread.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.smtp.server import DEFAULT_LMTP, DEFAULT_SMTP, SmtpServer, start_server
from posteingang.smtp.settings import SmtpSettings
from posteingang.store.sqlite.store import SqliteStore
from tests.serving import OnLoop, serve_on_loop, write_certificates
from tests.smtp.harness import open_store, populate


@dataclass
class RunningServer(OnLoop):
    store: SqliteStore
    server: SmtpServer
    smtp_port: int
    lmtp_port: int
    lmtp_socket: Path | None
    ca_file: Path
    client_context: ssl.SSLContext
    data_dir: Path

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
    certs = write_certificates(tmp_path)
    data_dir = tmp_path / "data"
    settings = settings or SmtpSettings(lmtp_socket=Path("lmtp.sock"))
    smtp = smtp or msgspec.structs.replace(DEFAULT_SMTP, port=0)
    lmtp = lmtp or msgspec.structs.replace(DEFAULT_LMTP, port=0)

    async def start() -> tuple[SqliteStore, SmtpServer]:
        store = await open_store(data_dir)
        await populate(store)
        tls = certs.server_contexts()
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

    with serve_on_loop(start) as (thread, store, server):
        yield RunningServer(
            thread,
            store,
            server,
            server.ports[0],
            server.ports[1],
            Path(server.unix.settings.host) if server.unix is not None else None,
            certs.ca_file,
            certs.client_context,
            data_dir,
        )
