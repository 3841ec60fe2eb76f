"""The POP3 asyncio shell: listeners on the shared connection layer, one session per client.

All protocol behaviour is in `session.py`; this module only hands each
`net.Connection` and a `Pop3Session` to the shared session loop
(`net.session.serve_session`) and plugs POP3 into the runtime as the service
`POP3` (`posteingang.service`): per runtime a `Pop3Serving` holds the
`Pop3Services` every listener shares (maildrop locks, the login-delay table,
the throttle), makes the shell for each ``[[listener]] protocol = "POP3"``
(POP3 with STLS, POP3S with implicit TLS), and starts the retention task.

`start_server` binds listeners without a runtime, for tests and benchmarks.

Timeouts: the session loop applies the session's `Pop3Settings.login_timeout` /
`idle_timeout` (RFC 1939 §3: at least 10 minutes once logged in), so the
connection's own read timeout is switched off here; write timeouts and
back-pressure are the connection layer's. At shutdown a session waiting for
its client's next command is closed (POP3 has no unsolicited response); one in
the middle of a command (a RETR being sent) finishes it first.

This module must never parse POP3 or touch the store except through the
session and the retention task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import msgspec

from posteingang.config import Config
from posteingang.log import get_logger
from posteingang.net.connection import Connection
from posteingang.net.server import Handler, ListenerServer
from posteingang.net.session import serve_session
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.supervisor import Supervisor
from posteingang.net.tls import TlsContexts
from posteingang.net.transport import ConnectionTransport
from posteingang.pop3.retention import INTERVAL, retention_task
from posteingang.pop3.services import Pop3Services
from posteingang.pop3.session import Pop3Session
from posteingang.pop3.settings import Pop3Settings
from posteingang.service import Context, ProtocolService, Serving, Shell

log = get_logger(__name__)

# Development defaults: loopback, unprivileged ports (production: 110 and 995).
DEFAULT_POP3 = ListenerSettings(
    protocol="POP3", host="127.0.0.1", port=1110, tls=TlsMode.STARTTLS, idle_timeout=600.0
)
DEFAULT_POP3S = ListenerSettings(
    protocol="POP3", host="127.0.0.1", port=1995, tls=TlsMode.IMPLICIT, idle_timeout=600.0
)
LOGIN_TEXT = "full address + password"
MIN_IDLE_TIMEOUT = 600.0  # RFC 1939 §3
# "{limit}" becomes the limit that was hit (net/server.py), e.g. "from your address".
REFUSAL = b"-ERR [SYS/TEMP] Too many connections {limit}, try again later\r\n"


def pop3_handler(services: Pop3Services, stopping: asyncio.Event | None = None) -> Handler:
    """The `ListenerServer` handler: one `Pop3Session` per connection."""

    async def handle(conn: Connection) -> None:
        conn.timeout = None  # the session loop runs the POP3 timeouts (module docstring)
        transport = ConnectionTransport(conn)
        session = Pop3Session(
            services,
            transport,
            address=conn.peer.host,
            tls_active=conn.is_tls,
            tls_available=conn.can_start_tls,
            acquire_account=conn.acquire_account,
        )
        await serve_session(session, transport, stopping)

    return handle


@dataclass
class Pop3Server:
    """Listeners started by `start_server` (tests, benchmarks) and the retention task."""

    services: Pop3Services
    listeners: list[ListenerServer]
    retention: asyncio.Task[None] | None = None
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
        if self.retention is not None:
            self.retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.retention
        await asyncio.gather(*(listener.stop(grace) for listener in self.listeners))


async def start_server(
    services: Pop3Services,
    *,
    tls: TlsContexts | None,
    listeners: Sequence[ListenerSettings] = (DEFAULT_POP3, DEFAULT_POP3S),
    retention_interval: float | None = INTERVAL,
) -> Pop3Server:
    """Bind `listeners` without a runtime (tests, benchmarks); TLS ones need `tls`."""
    stopping = asyncio.Event()
    handler = pop3_handler(services, stopping)
    servers: list[ListenerServer] = []
    try:
        for settings in listeners:
            if settings.tls is not TlsMode.NONE and tls is None:
                raise ValueError(f"POP3 listener on port {settings.port} needs TLS contexts")
            context = tls if settings.tls is not TlsMode.NONE else None
            server = ListenerServer(settings, handler, tls=context, refusal=REFUSAL)
            await server.start()
            servers.append(server)
    except BaseException:
        for server in servers:
            await server.stop(0)
        raise
    task = None
    if retention_interval is not None:
        task = asyncio.create_task(
            retention_task(services.store, services.settings, interval=retention_interval),
            name="pop3-retention",
        )
    return Pop3Server(services, servers, task, stopping)


# -- the runtime's service ---------------------------------------------------------------------


def settings_from_config(config: Config) -> Pop3Settings:
    """The ``[pop3]`` section with ``[server] hostname`` and ``[auth] allow_plaintext`` applied."""
    return msgspec.structs.replace(
        config.section(Pop3Settings),
        hostname=config.server.hostname,
        allow_plaintext_auth=config.auth.allow_plaintext,
    )


def listener_services(services: Pop3Services, listener: ListenerSettings) -> Pop3Services:
    """``services`` with one listener's `login_timeout` and `idle_timeout` (RFC 1939 §3:
    the idle timeout is at least 10 minutes, so a shorter one is raised to 600 s)."""
    timeouts = msgspec.structs.replace(
        services.settings,
        login_timeout=listener.login_timeout,
        idle_timeout=max(listener.idle_timeout, MIN_IDLE_TIMEOUT),
    )
    return replace(services, settings=timeouts)


class Pop3Serving(Serving):
    """POP3 in one runtime: every listener shares the maildrop locks, the login-delay
    table and the login throttle (the runtime's, one for every protocol).
    `[pop3] processes` > 1 serves the listeners from worker processes too, which ask
    this process for those tables (`workers.py`)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.services = Pop3Services(
            ctx.store, settings_from_config(ctx.config), throttle=ctx.throttle
        )
        self.supervisor: Supervisor | None = None  # the worker processes, if any

    def shell(self, listener: ListenerSettings) -> Shell:
        """The shell for one POP3 listener (`listener_services`)."""
        services = listener_services(self.services, listener)
        return Shell(pop3_handler(services, self.ctx.stopping), REFUSAL, LOGIN_TEXT)

    async def start(self) -> None:
        """The worker processes of `[pop3] processes`; the retention task (at startup,
        then hourly, in this process only), cancelled at shutdown."""
        from .workers import start_pop3_workers

        self.supervisor = await start_pop3_workers(self.ctx, self.services)
        task = asyncio.create_task(
            retention_task(self.ctx.store, self.services.settings), name="pop3-retention"
        )

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self.ctx.on_shutdown(stop)


POP3 = ProtocolService("POP3", ("POP3",), (DEFAULT_POP3, DEFAULT_POP3S), Pop3Serving)
