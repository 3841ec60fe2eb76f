"""The IMAP asyncio shell: listeners on the shared connection layer, one session per client.

All protocol behaviour is in `session.py` and `ops/`; this module only adapts a
`net.Connection` to the session's `Transport`, has the shared loop
(`net.session.serve_session`) drive the session, and plugs IMAP into the runtime:

* `IMAP` is the service (`posteingang.service`) the runtime composes: per
  runtime an `ImapServing` holds the `ImapServices` every IMAP listener shares
  and makes the shell for each ``[[listener]] protocol = "IMAP"``;
* `start_server(services, tls=..., listeners=...)` binds listeners directly
  (tests, the benchmark) with the development defaults: IMAP with STARTTLS on
  127.0.0.1:1143 and IMAPS on 127.0.0.1:1993 (production: 143 and 993).

Timeouts: the session loop applies the session's `ImapSettings.login_timeout` /
`idle_timeout` (RFC 9051 §5.4: at least 30 minutes once logged in, IDLE
included), so the connection's own read timeout is switched off; write timeouts and back-pressure
(a client that does not read its FETCH stalls only itself) are the connection
layer's. STARTTLS goes through `Connection.start_tls` (run by the loop), which drops
every plaintext octet received before the handshake; the session also throws
away its reader.

This module must never parse IMAP or touch the store except through the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from posteingang.config import Config
from posteingang.log import get_logger
from posteingang.net.connection import Connection
from posteingang.net.limits import AccountLimits
from posteingang.net.server import Handler, ListenerServer
from posteingang.net.session import serve_session
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.supervisor import Supervisor
from posteingang.net.tls import TlsContexts
from posteingang.net.transport import ConnectionTransport
from posteingang.service import Context, ProtocolService, Serving, Shell

from .session import ImapServices, ImapSession
from .settings import ImapSettings

__all__ = [
    "DEFAULT_IMAP",
    "DEFAULT_IMAPS",
    "IMAP",
    "REFUSAL",
    "ConnectionTransport",
    "ImapServer",
    "ImapServing",
    "imap_handler",
    "start_server",
]

log = get_logger(__name__)

# Development defaults: loopback, unprivileged ports (production: 143 and 993).
DEFAULT_IMAP = ListenerSettings(
    protocol="IMAP", host="127.0.0.1", port=1143, tls=TlsMode.STARTTLS, idle_timeout=1800.0
)
DEFAULT_IMAPS = ListenerSettings(
    protocol="IMAP", host="127.0.0.1", port=1993, tls=TlsMode.IMPLICIT, idle_timeout=1800.0
)
# "{limit}" becomes the limit that was hit (net/server.py), e.g. "from your address".
REFUSAL = b"* BYE [UNAVAILABLE] Too many connections {limit}, try again later\r\n"
LOGIN_TEXT = "full address + password"


def imap_handler(services: ImapServices, stopping: asyncio.Event | None = None) -> Handler:
    """The `ListenerServer` handler: one `ImapSession` per connection.

    When `stopping` is set (shutdown), sessions say ``* BYE`` at their next
    command boundary, and idling ones at once.
    """

    async def handle(conn: Connection) -> None:
        conn.timeout = None  # the session loop runs the IMAP timeouts (module docstring)
        session = ImapSession(
            services,
            ConnectionTransport(conn),
            address=conn.peer.host,
            tls_active=conn.is_tls,
            starttls_available=conn.can_start_tls,
            acquire_account=conn.acquire_account,
        )
        await serve_session(session, session.transport, stopping, session.wake)

    return handle


@dataclass
class ImapServer:
    """The running IMAP listeners (from `start_server`)."""

    services: ImapServices
    listeners: list[ListenerServer]
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _stopped: bool = field(default=False, repr=False)

    @property
    def ports(self) -> list[int]:
        return [listener.port for listener in self.listeners]

    async def stop(self, grace: float = 10.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.stopping.set()
        for listener in self.listeners:
            await listener.stop(grace)


async def start_server(
    services: ImapServices,
    *,
    tls: TlsContexts | None,
    listeners: Sequence[ListenerSettings] = (DEFAULT_IMAP, DEFAULT_IMAPS),
    account_limits: AccountLimits | None = None,
) -> ImapServer:
    """Bind `listeners`; without `tls`, IMAPS is skipped and IMAP runs without STARTTLS.

    All listeners share `account_limits` (connections per account, default 50).
    """
    servers: list[ListenerServer] = []
    stopping = asyncio.Event()
    handler = imap_handler(services, stopping)
    shared_accounts = account_limits or AccountLimits()
    try:
        for settings in listeners:
            if settings.tls is TlsMode.IMPLICIT and tls is None:
                log.warning("imaps_skipped", reason="no TLS certificate", port=settings.port)
                continue
            context = tls if settings.tls is not TlsMode.NONE else None
            if settings.tls is TlsMode.STARTTLS and tls is None:
                settings = msgspec.structs.replace(settings, tls=TlsMode.NONE)
                context = None
            server = ListenerServer(
                settings,
                handler,
                tls=context,
                refusal=REFUSAL,
                account_limits=shared_accounts,
            )
            await server.start()
            servers.append(server)
    except BaseException:
        for server in servers:
            await server.stop(0)
        raise
    return ImapServer(services, servers, stopping)


def settings_from_config(config: Config) -> ImapSettings:
    """The ``[imap]`` section with ``[server] hostname`` and ``[auth] allow_plaintext`` applied."""
    base = config.section(ImapSettings)
    return msgspec.structs.replace(
        base,
        hostname=config.server.hostname,
        allow_plaintext_auth=base.allow_plaintext_auth or config.auth.allow_plaintext,
    )


#: RFC 9051 §5.4: a logged-in client may stay silent for at least 30 minutes.
MIN_IDLE_TIMEOUT = 1800.0


def listener_services(services: ImapServices, listener: ListenerSettings) -> ImapServices:
    """``services`` with one listener's `login_timeout` and `idle_timeout`; an idle
    timeout under 30 minutes is raised to 30 minutes (RFC 9051 §5.4)."""
    timeouts = msgspec.structs.replace(
        services.settings,
        login_timeout=listener.login_timeout,
        idle_timeout=max(listener.idle_timeout, MIN_IDLE_TIMEOUT),
    )
    return ImapServices(services.store, timeouts, throttle=services.throttle)


class ImapServing(Serving):
    """IMAP in one runtime: every listener shares the settings and the login throttle
    (the runtime's, shared with every protocol). `[imap] processes` > 1 serves the
    listeners from worker processes too (`workers.py`)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.stopping = ctx.stopping
        self.services = ImapServices(
            ctx.store, settings_from_config(ctx.config), throttle=ctx.throttle
        )
        self.supervisor: Supervisor | None = None  # the worker processes, if any

    def shell(self, listener: ListenerSettings) -> Shell:
        """The shell for one IMAP listener (`listener_services`)."""
        services = listener_services(self.services, listener)
        return Shell(imap_handler(services, self.stopping), REFUSAL, LOGIN_TEXT)

    async def start(self) -> None:
        """The worker processes of `[imap] processes`, once every listener is bound."""
        from .workers import start_imap_workers

        self.supervisor = await start_imap_workers(self.ctx)


IMAP = ProtocolService("IMAP", ("IMAP",), (DEFAULT_IMAP, DEFAULT_IMAPS), ImapServing)
