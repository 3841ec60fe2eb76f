"""The SMTP/LMTP asyncio shell: moves bytes between a `net.Connection` and a `DeliverySession`.

Theory of operation.  One coroutine per connection (:func:`serve_connection`)
hands a `DeliverySession`, wrapped in `_ShellSession`, to the session loop every
protocol shares (`net.session.serve_session`): it greets, reads what arrived
(waiting at most the command timeout, or the data timeout while message octets
are expected, RFC 5321 §4.5.3.2), feeds the session, writes the replies it
queued (one write per pipelined group, RFC 2920), and upgrades to TLS when the
session accepted STARTTLS.  `net.Connection.start_tls` drops plaintext
pipelined behind the command and the core drops its own buffer, so nothing sent
before the handshake is ever read as a command (RFC 3207 §6).  A failed
handshake closes the connection.  At shutdown a client between commands gets
``421 4.3.2`` at once; one sending message data finishes the message first.

Listeners are the shared `net.ListenerServer` (limits total and per IP, TLS,
PROXY protocol, UNIX sockets); LMTP may listen on a UNIX socket
(`lmtp_socket_settings`, as Postfix's ``lmtp:unix:`` expects).  The runtime
composes the service `SMTP` (`posteingang.service`): per runtime an
`SmtpServing` holds the `[smtp]` settings and one `DeliveryContext` each for
SMTP and LMTP, makes the shells of the SMTP and LMTP listeners, and starts the
LMTP UNIX socket and the delivery worker processes (`workers.py`).

This module must never interpret SMTP or touch the store itself: that is the
session's job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from posteingang.config import Config
from posteingang.delivery.spool import clear_spool_dir
from posteingang.delivery.trace import ClientInfo
from posteingang.log import get_logger
from posteingang.net.connection import Connection
from posteingang.net.server import Handler, ListenerServer
from posteingang.net.session import serve_session
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.tls import TlsContexts
from posteingang.net.transport import ConnectionTransport
from posteingang.service import Context, ProtocolService, Serving, Shell
from posteingang.smtp.session import DeliveryContext, DeliverySession, SessionConfig
from posteingang.smtp.settings import SmtpSettings
from posteingang.smtp.workers import start_delivery_workers
from posteingang.store.interface import Store

__all__ = [
    "DEFAULT_LMTP",
    "DEFAULT_SMTP",
    "REFUSAL",
    "SMTP",
    "SmtpServer",
    "SmtpServing",
    "Timeouts",
    "delivery_context",
    "lmtp_socket_settings",
    "serve_connection",
    "session_config",
    "smtp_handler",
    "smtp_settings",
    "start_server",
]

log = get_logger(__name__)

# Development defaults: loopback, unprivileged ports (production SMTP: 25).
DEFAULT_SMTP = ListenerSettings(
    protocol="SMTP", host="127.0.0.1", port=2525, tls=TlsMode.STARTTLS, login_timeout=300.0
)
DEFAULT_LMTP = ListenerSettings(protocol="LMTP", host="127.0.0.1", port=2424, login_timeout=300.0)
# RFC 5321 §3.8 / §4.2.2: 421 is the "closing" reply a server may send any time.
# "{limit}" becomes the limit that was hit (net/server.py), e.g. "from your address".
REFUSAL = b"421 4.7.0 Too many connections {limit}, try again later\r\n"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Read timeouts in seconds: between commands, and per block of message data."""

    command: float = SmtpSettings().command_timeout
    data: float = SmtpSettings().data_timeout


class _ShellSession:
    """A `DeliverySession` under the session contract of `net.session`: the SMTP
    timeouts as data (RFC 5321 §4.5.3.2), and message data as the inside of a command,
    which a shutdown lets finish."""

    __slots__ = ("_conn", "_session", "_timeouts")

    def __init__(self, conn: Connection, session: DeliverySession, timeouts: Timeouts) -> None:
        self._conn = conn
        self._session = session
        self._timeouts = timeouts

    @property
    def closed(self) -> bool:
        return self._session.closed

    @property
    def read_timeout(self) -> float:
        return self._timeouts.data if self._session.in_data else self._timeouts.command

    @property
    def at_boundary(self) -> bool:
        return not self._session.in_data

    @property
    def tls_requested(self) -> bool:
        return self._session.tls_requested

    def greet(self) -> None:
        self._session.greet()

    async def receive(self, data: bytes) -> None:
        await self._session.receive(data)

    def data_to_send(self) -> bytes:
        return self._session.data_to_send()

    def tls_established(self) -> None:
        self._session.tls_established(self._conn.tls_version, self._conn.cipher)

    def timeout(self) -> None:
        self._session.timeout()

    def shutdown(self) -> None:
        self._session.shutdown()

    async def close(self) -> None:
        self._session.close()


async def serve_connection(
    conn: Connection,
    context: DeliveryContext,
    *,
    timeouts: Timeouts = Timeouts(),
    stopping: asyncio.Event | None = None,
) -> None:
    """Serve one SMTP or LMTP client until it quits, times out or disconnects."""
    conn.timeout = None  # the session loop applies the RFC 5321 timeouts per read
    client = ClientInfo(
        helo=None,
        ip=conn.peer.host if conn.peer.host != "unix" else None,
        tls_version=conn.tls_version,
        cipher=conn.cipher,
    )
    session = DeliverySession(context, client, starttls=conn.can_start_tls, tls_active=conn.is_tls)
    await serve_session(_ShellSession(conn, session, timeouts), ConnectionTransport(conn), stopping)


def smtp_handler(
    context: DeliveryContext,
    *,
    timeouts: Timeouts = Timeouts(),
    stopping: asyncio.Event | None = None,
) -> Handler:
    """The `ListenerServer` handler: one `DeliverySession` per connection."""

    async def handle(conn: Connection) -> None:
        await serve_connection(conn, context, timeouts=timeouts, stopping=stopping)

    return handle


# ------------------------------------------------------------------ UNIX socket


def lmtp_socket_settings(path: Path, mode: int) -> ListenerSettings:
    """An LMTP listener on a UNIX socket (Postfix ``lmtp:unix:PATH``): `net.server`
    binds it like any other listener (a stale socket file is replaced, any other
    file at the path refused; removed on stop)."""
    return ListenerSettings(protocol="LMTP", host=str(path), port=0, socket_mode=mode)


# ------------------------------------------------------------ standalone server


@dataclass
class SmtpServer:
    """Running SMTP/LMTP listeners (tests, benchmarks and small runner scripts)."""

    listeners: list[ListenerServer]
    unix: ListenerServer | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ports(self) -> list[int]:
        return [listener.port for listener in self.listeners]

    async def stop(self, grace: float = 5.0) -> None:
        self.stopping.set()
        stops = [listener.stop(grace) for listener in self.listeners]
        if self.unix is not None:
            stops.append(self.unix.stop(grace))
        await asyncio.gather(*stops)


def session_config(
    settings: SmtpSettings,
    *,
    hostname: str,
    lmtp: bool,
    max_message_size: int = 50 * 1024 * 1024,
    delimiter: str = "+",
    data_dir: Path = Path("."),
) -> SessionConfig:
    """A `SessionConfig` from the `[smtp]` settings and the server-wide values."""
    return SessionConfig(
        hostname=hostname,
        lmtp=lmtp,
        limits=settings.limits(max_message_size),
        delimiter=delimiter,
        spool_dir=data_dir / settings.spool_dir,
        spool_memory=settings.spool_memory,
        dedupe_seconds=settings.dedupe_seconds,
    )


async def start_server(
    store: Store,
    *,
    hostname: str,
    data_dir: Path,
    settings: SmtpSettings | None = None,
    listeners: Sequence[ListenerSettings] = (DEFAULT_SMTP, DEFAULT_LMTP),
    tls: TlsContexts | None = None,
    max_message_size: int = 50 * 1024 * 1024,
    delimiter: str = "+",
) -> SmtpServer:
    """Bind SMTP and LMTP listeners (and ``settings.lmtp_socket``) outside the runtime."""
    settings = settings or SmtpSettings()
    timeouts = Timeouts(settings.command_timeout, settings.data_timeout)
    clear_spool_dir(data_dir / settings.spool_dir)

    def context(lmtp: bool) -> DeliveryContext:
        config = session_config(
            settings,
            hostname=hostname,
            lmtp=lmtp,
            max_message_size=max_message_size,
            delimiter=delimiter,
            data_dir=data_dir,
        )
        return DeliveryContext(store, config)

    contexts = {"SMTP": context(False), "LMTP": context(True)}
    server = SmtpServer([], None)
    try:
        for ls in listeners:
            if ls.tls is not TlsMode.NONE and tls is None:
                raise ValueError(f"{ls.protocol} listener with tls={ls.tls} needs TLS contexts")
            handler = smtp_handler(
                contexts[ls.protocol.upper()], timeouts=timeouts, stopping=server.stopping
            )
            listener = ListenerServer(ls, handler, tls=tls, refusal=REFUSAL)
            await listener.start()
            server.listeners.append(listener)
        if settings.lmtp_socket is not None:
            unix = ListenerServer(
                lmtp_socket_settings(data_dir / settings.lmtp_socket, settings.lmtp_socket_mode),
                smtp_handler(contexts["LMTP"], timeouts=timeouts, stopping=server.stopping),
                refusal=REFUSAL,
            )
            await unix.start()
            server.unix = unix
    except BaseException:
        await server.stop(0)
        raise
    return server


# --------------------------------------------------------------------- runtime


def smtp_settings(config: Config) -> SmtpSettings:
    """The `[smtp]` section (its defaults when the config has none)."""
    return config.section(SmtpSettings)


def delivery_context(
    store: Store, config: Config, settings: SmtpSettings, *, lmtp: bool
) -> DeliveryContext:
    """The sessions' shared context from the whole config (server and worker processes)."""
    session = session_config(
        settings,
        hostname=config.server.hostname,
        lmtp=lmtp,
        max_message_size=config.limits.max_message_size,
        delimiter=config.delivery.recipient_delimiter,
        data_dir=Path(config.server.data_dir),
    )
    return DeliveryContext(store, session)


class SmtpServing(Serving):
    """SMTP and LMTP in one runtime: every listener of a protocol shares its context.

    Made before any listener is bound, so the spool left by a previous run is
    cleared before the first message can arrive.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = smtp_settings(ctx.config)
        clear_spool_dir(Path(ctx.config.server.data_dir) / self.settings.spool_dir)
        self.contexts = {
            lmtp: delivery_context(ctx.store, ctx.config, self.settings, lmtp=lmtp)
            for lmtp in (False, True)
        }
        self.timeouts = Timeouts(self.settings.command_timeout, self.settings.data_timeout)

    def shell(self, listener: ListenerSettings) -> Shell:
        """SMTP: incoming mail from the internet (MX, port 25); LMTP: local delivery
        from an MTA (Postfix ``lmtp:inet:``)."""
        lmtp = listener.protocol.upper() == "LMTP"
        handler = smtp_handler(
            self.contexts[lmtp], timeouts=self.timeouts, stopping=self.ctx.stopping
        )
        return Shell(handler=handler, refusal=REFUSAL, login="mail in, no login")

    async def start(self) -> None:
        """The LMTP UNIX socket of ``[smtp] lmtp_socket``, if set (the same as an LMTP
        ``[[listener]]`` whose host is a path; kept as a setting because that is where
        Postfix users look for it); then the delivery worker processes, which inherit
        every SMTP/LMTP socket bound by then."""
        path = self.settings.lmtp_socket
        if path is not None:
            settings = lmtp_socket_settings(
                Path(self.ctx.config.server.data_dir) / path, self.settings.lmtp_socket_mode
            )
            await self.ctx.add_listener(settings, self.shell(settings))
        await start_delivery_workers(self.ctx)


SMTP = ProtocolService("SMTP", ("SMTP", "LMTP"), (DEFAULT_SMTP, DEFAULT_LMTP), SmtpServing)
