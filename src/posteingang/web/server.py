"""The HTTP shell: uvicorn's HTTP/1.1 protocol on the runtime's shared listeners.

Theory of operation. An ``[[listener]] protocol = "HTTP"`` is bound by the
runtime like every other (`net.server.ListenerServer`: PROXY header, connection
limits, implicit TLS with the same certificates and SIGHUP reload as the mail
listeners). For each accepted connection, `http_handler` hands the transport to
a fresh uvicorn ``H11Protocol`` (``transport.set_protocol``), gives it any octets
already received, and waits until the connection is lost. So the web app runs
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
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from posteingang.log import get_logger
from posteingang.net.connection import Connection
from posteingang.net.server import Handler
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.web.app import create_app
from posteingang.web.context import Web

if TYPE_CHECKING:
    from posteingang.runtime import Runtime, Shell

__all__ = ["DEFAULT_HTTP", "HttpServing", "http_handler", "http_shell", "serving_for"]

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


_SERVINGS: weakref.WeakKeyDictionary[Runtime, HttpServing] = weakref.WeakKeyDictionary()


def serving_for(rt: Runtime) -> HttpServing:
    """The runtime's one web app: every HTTP listener serves the same sessions."""
    serving = _SERVINGS.get(rt)
    if serving is None:
        hostname = rt.config.server.hostname
        web = Web.create(
            rt.store,
            rt.throttle,
            rt.config.web,
            rt.config.auth,
            rt.stopping,
            hostname=hostname,
        )
        web.pop3_policy = str(rt.config.pop3.deletion_policy)
        web.pop3_retention = rt.config.pop3.retention_days
        serving = _SERVINGS[rt] = HttpServing.create(web)
        # Sends held for undo are background work shutdown waits for (outbound.py).
        from posteingang.web.outbound import outbox_of

        outbox_of(web).spawn = rt.spawn
        # Mail program setup (setup.py, setup_routes.py) answers from the listeners as bound.
        from posteingang.web.setup_routes import attach_mail_setup

        attach_mail_setup(serving.app, rt)
    return serving


def http_shell(rt: Runtime, settings: ListenerSettings) -> Shell:
    """``PROTOCOLS["HTTP"]``: the runtime calls it for each HTTP listener."""
    from posteingang.runtime import Shell

    return Shell(http_handler(serving_for(rt), rt.stopping), REFUSAL, LOGIN_TEXT)


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
