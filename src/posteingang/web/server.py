"""The HTTP shell: uvicorn's HTTP/1.1 protocol on the runtime's shared listeners.

Theory of operation. The runtime composes the service `WEB`
(`posteingang.service`); its `WebServing` holds the runtime's one web app, made
when the first HTTP listener asks for a shell. An ``[[listener]] protocol =
"HTTP"`` is bound by the runtime like every other (`net.server.ListenerServer`:
PROXY header, connection limits, implicit TLS with the same certificates and
SIGHUP reload as the mail listeners). For each accepted connection,
`http_handler` hands the transport to a fresh uvicorn ``H11Protocol``
(``transport.set_protocol``), gives it any octets already received, and waits
until the connection is lost. So the web app runs
in the same process and event loop as the mail listeners, shares the store and
its change feed directly, and needs no second server with its own socket code.

On shutdown (`Runtime.stopping`) each connection is told to finish its current
response and close (uvicorn's graceful ``shutdown``); the live-update streams
end by themselves (sse.py); the listener aborts what is left after the grace
period.

What it must never do: contain web behaviour (that is app.py and its views), or
trust the socket's peer address on a PROXY listener (the handler passes the
connection's real client on).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from posteingang.log import get_logger
from posteingang.net.connection import Connection
from posteingang.net.register import MailSessions, register_dir
from posteingang.net.server import Handler
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.pop3.settings import Pop3Settings
from posteingang.service import Context, ProtocolService, Serving, Shell
from posteingang.web.app import create_app
from posteingang.web.context import Web
from posteingang.web.outbound import outbox_of
from posteingang.web.settings import WebSettings
from posteingang.web.setup_routes import attach_mail_setup

__all__ = ["DEFAULT_HTTP", "WEB", "HttpServing", "WebServing", "http_handler", "serving_for"]

log = get_logger(__name__)

# Loopback by default: put a TLS listener (or a reverse proxy) in front for other hosts.
DEFAULT_HTTP = ListenerSettings(protocol="HTTP", host="127.0.0.1", port=8080, tls=TlsMode.NONE)
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n"
    b"content-length: 13\r\nconnection: close\r\n\r\nToo busy now\n"
)
LOGIN_TEXT = "browser: full address + password"
_KEEP_ALIVE = 30  # seconds an idle keep-alive connection stays open


class _Protocol(H11Protocol):
    """uvicorn's H11Protocol that says when its connection is gone: to the handler,
    and to the connection layer's protocol it replaced (which closes and counts the
    connection for the listener)."""

    done: asyncio.Future[None]
    replaced: asyncio.BaseProtocol | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.replaced is not None:
            self.replaced.connection_lost(exc)
        if not self.done.done():
            self.done.set_result(None)


@dataclass(eq=False)
class HttpServing:
    """One web app and the uvicorn state its connections share."""

    web: Web
    app: ASGIApp
    config: uvicorn.Config
    state: ServerState

    @classmethod
    def create(cls, web: Web) -> HttpServing:
        app = create_app(web)
        config = uvicorn.Config(
            app,
            http=_Protocol,
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_keep_alive=_KEEP_ALIVE,
        )
        config.load()
        return cls(web, app, config, ServerState())


class WebServing(Serving):
    """The web in one runtime: every HTTP listener serves the same app and sessions."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._http: HttpServing | None = None

    @property
    def http(self) -> HttpServing:
        """The runtime's one web app, made on first use (only if an HTTP listener asks)."""
        if self._http is None:
            self._http = self._create()
        return self._http

    def _create(self) -> HttpServing:
        ctx = self.ctx
        config = ctx.config
        web = Web.create(
            ctx.store,
            ctx.throttle,
            config.section(WebSettings),
            config.auth,
            ctx.stopping,
            hostname=config.server.hostname,
        )
        pop3 = config.section(Pop3Settings)
        web.pop3_policy = str(pop3.deletion_policy)
        web.pop3_retention = pop3.retention_days
        # Every listener of the runtime shares its register of logged-in sessions.
        web.mail_sessions = MailSessions(
            lambda: next((s.account_limits for s in ctx.servers), None),
            register_dir(config.server.data_dir),
        )
        serving = HttpServing.create(web)
        # Sends held for undo are background work shutdown waits for (outbound.py).
        outbox_of(web).spawn = ctx.spawn
        # Mail program setup (setup.py, setup_routes.py) answers from the listeners as bound.
        attach_mail_setup(serving.app, ctx)
        return serving

    def shell(self, listener: ListenerSettings) -> Shell:
        return Shell(http_handler(self.http, self.ctx.stopping), REFUSAL, LOGIN_TEXT)


WEB = ProtocolService("web", ("HTTP",), (DEFAULT_HTTP,), WebServing)


def serving_for(ctx: Context) -> HttpServing:
    """The web app of the runtime `ctx` (tests and benchmarks reach into it)."""
    return ctx.serving(WEB).http


def http_handler(serving: HttpServing, stopping: asyncio.Event) -> Handler:
    """Serve one connection with uvicorn's protocol until it closes (module docstring)."""

    async def handle(conn: Connection) -> None:
        conn.timeout = None  # uvicorn runs the keep-alive timeout
        transport = conn.transport
        if transport.is_closing():
            return
        loop = asyncio.get_running_loop()
        proto = _Protocol(
            config=serving.config, server_state=serving.state, app_state={}, _loop=loop
        )
        proto.done = loop.create_future()
        proto.replaced = transport.get_protocol()
        transport.set_protocol(proto)
        proto.connection_made(transport)
        proto.client = (conn.peer.host, conn.peer.port)
        if conn.buffered:
            proto.data_received(await conn.read_some(conn.buffered))
        transport.resume_reading()
        stop: asyncio.Future[object] = asyncio.ensure_future(stopping.wait())
        done: asyncio.Future[object] = proto.done  # type: ignore[assignment]
        try:
            await asyncio.wait({done, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not proto.done.done():
                serving.web.close_streams()
                proto.shutdown()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(proto.done), 5)
        finally:
            stop.cancel()

    return handle
