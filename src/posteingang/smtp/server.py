"""The SMTP/LMTP asyncio shell: moves bytes between a `net.Connection` and a `DeliverySession`.

Theory of operation.  One coroutine per connection (:func:`serve_connection`)
greets, then loops: read what arrived (waiting at most the command timeout,
or the data timeout while message octets are expected, RFC 5321 §4.5.3.2),
feed it to the session, write the replies it queued (one write per pipelined
group, RFC 2920), and upgrade to TLS when the session accepted STARTTLS.
`net.Connection.start_tls` drops plaintext pipelined behind the command and the
core drops its own buffer, so nothing sent before the handshake is ever read as
a command (RFC 3207 §6).  A failed handshake closes the connection.

Listeners are the shared `net.ListenerServer` (limits total and per IP, TLS,
PROXY protocol, UNIX sockets); LMTP may listen on a UNIX socket
(`lmtp_socket_settings`, as Postfix's ``lmtp:unix:`` expects).  The runtime
plugs in through :func:`smtp_shell` / :func:`lmtp_shell` (``PROTOCOLS``) and
:func:`start_lmtp_socket` (``STARTERS``).

This module must never interpret SMTP or touch the store itself: that is the
session's job.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from posteingang.delivery.spool import clear_spool_dir
from posteingang.delivery.trace import ClientInfo
from posteingang.log import get_logger
from posteingang.net.connection import (
    Connection,
    ConnectionClosed,
    IdleTimeout,
)
from posteingang.net.server import Handler, ListenerServer
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.tls import TlsContexts
from posteingang.smtp.session import DeliveryContext, DeliverySession, SessionConfig
from posteingang.smtp.settings import SmtpSettings
from posteingang.store.interface import Store

if TYPE_CHECKING:
    from posteingang.config import Config
    from posteingang.runtime import Runtime, Shell

__all__ = [
    "DEFAULT_LMTP",
    "DEFAULT_SMTP",
    "REFUSAL",
    "SmtpServer",
    "Timeouts",
    "delivery_context",
    "lmtp_shell",
    "lmtp_socket_settings",
    "serve_connection",
    "session_config",
    "smtp_handler",
    "smtp_settings",
    "smtp_shell",
    "start_lmtp_socket",
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


async def serve_connection(
    conn: Connection,
    context: DeliveryContext,
    *,
    timeouts: Timeouts = Timeouts(),
    stopping: asyncio.Event | None = None,
) -> None:
    """Serve one SMTP or LMTP client until it quits, times out or disconnects."""
    conn.timeout = None  # the RFC 5321 timeouts are applied per read below
    client = ClientInfo(
        helo=None,
        ip=conn.peer.host if conn.peer.host != "unix" else None,
        tls_version=conn.tls_version,
        cipher=conn.cipher,
    )
    session = DeliverySession(context, client, starttls=conn.can_start_tls, tls_active=conn.is_tls)
    session.greet()
    try:
        await conn.write(session.data_to_send())
        while not session.closed:
            within = timeouts.data if session.in_data else timeouts.command
            try:
                data = await _read(conn, within, None if session.in_data else stopping)
            except IdleTimeout:
                session.timeout()
                await conn.write(session.data_to_send())
                return
            if data is None:  # the server is stopping and this client is between messages
                session.shutdown()
                await conn.write(session.data_to_send())
                return
            await session.receive(data)
            out = session.data_to_send()
            if out:
                await conn.write(out)
            if session.tls_requested:
                await conn.start_tls()  # a failed handshake raises and closes
                session.tls_established(conn.tls_version, conn.cipher)
            elif stopping is not None and stopping.is_set() and not session.in_data:
                session.shutdown()
                await conn.write(session.data_to_send())
                return
    except ConnectionClosed:
        pass
    finally:
        session.close()


async def _read(conn: Connection, within: float, stopping: asyncio.Event | None) -> bytes | None:
    """The next octets from the client, or None if ``stopping`` is set first.

    Hot path (two or three reads per delivered message): the read is awaited
    directly in the session's task; `_StopWatch` cancels the reads waiting when
    ``stopping`` is set, instead of racing two new tasks on every read.
    """
    if stopping is None:
        return await conn.read_some(within=within)
    if stopping.is_set():
        return None
    watch = _StopWatch.of(stopping)
    task = asyncio.current_task()
    assert task is not None
    watch.readers.add(task)
    try:
        return await conn.read_some(within=within)
    except asyncio.CancelledError:
        if task not in watch.cancelled:
            raise  # cancelled by someone else (the listener's hard stop)
        watch.cancelled.discard(task)
        task.uncancel()
        return None
    finally:
        watch.readers.discard(task)


class _StopWatch:
    """The sessions waiting for a client's next octets, cancelled when ``stopping`` is set.

    One per stopping event (one per server or worker): a single task waits for
    the event, so a read costs a set insertion rather than two tasks and an
    `asyncio.wait`.
    """

    _all: ClassVar[weakref.WeakKeyDictionary[asyncio.Event, _StopWatch]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, stopping: asyncio.Event) -> None:
        self.readers: set[asyncio.Task[object]] = set()
        self.cancelled: set[asyncio.Task[object]] = set()
        self._waiter = asyncio.ensure_future(self._watch(stopping))

    @classmethod
    def of(cls, stopping: asyncio.Event) -> _StopWatch:
        watch = cls._all.get(stopping)
        if watch is None or watch._waiter.get_loop() is not asyncio.get_running_loop():
            watch = cls._all[stopping] = cls(stopping)
        return watch

    async def _watch(self, stopping: asyncio.Event) -> None:
        await stopping.wait()
        for task in list(self.readers):
            self.cancelled.add(task)
            task.cancel()


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


@dataclass
class _Shared:
    """Per-runtime state shared by every SMTP/LMTP listener."""

    settings: SmtpSettings
    contexts: dict[bool, DeliveryContext] = field(default_factory=dict)


_SHARED: weakref.WeakKeyDictionary[Runtime, _Shared] = weakref.WeakKeyDictionary()


def smtp_settings(config: Config) -> SmtpSettings:
    """The `[smtp]` section (its defaults when the config has none)."""
    found = getattr(config, "smtp", None)
    return found if isinstance(found, SmtpSettings) else SmtpSettings()


def _shared(rt: Runtime) -> _Shared:
    shared = _SHARED.get(rt)
    if shared is None:
        settings = smtp_settings(rt.config)
        data_dir = Path(rt.config.server.data_dir)
        clear_spool_dir(data_dir / settings.spool_dir)
        shared = _Shared(settings)
        _SHARED[rt] = shared
    return shared


def _context(rt: Runtime, lmtp: bool) -> DeliveryContext:
    shared = _shared(rt)
    found = shared.contexts.get(lmtp)
    if found is None:
        found = delivery_context(rt.store, rt.config, shared.settings, lmtp=lmtp)
        shared.contexts[lmtp] = found
    return found


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


def _shell(rt: Runtime, lmtp: bool) -> Shell:
    from posteingang.runtime import Shell

    shared = _shared(rt)
    timeouts = Timeouts(shared.settings.command_timeout, shared.settings.data_timeout)
    handler = smtp_handler(_context(rt, lmtp), timeouts=timeouts, stopping=rt.stopping)
    return Shell(handler=handler, refusal=REFUSAL, login="mail in, no login")


def smtp_shell(rt: Runtime, settings: ListenerSettings) -> Shell:
    """``PROTOCOLS["SMTP"]``: incoming mail from the internet (MX, port 25)."""
    return _shell(rt, lmtp=False)


def lmtp_shell(rt: Runtime, settings: ListenerSettings) -> Shell:
    """``PROTOCOLS["LMTP"]``: local delivery from an MTA (Postfix ``lmtp:inet:``)."""
    return _shell(rt, lmtp=True)


async def start_lmtp_socket(rt: Runtime) -> None:
    """``STARTERS`` entry: the LMTP UNIX socket of ``[smtp] lmtp_socket``, if set.

    The same as an LMTP ``[[listener]]`` whose host is a path; kept as a setting
    because that is where Postfix users look for it.
    """
    path = _shared(rt).settings.lmtp_socket
    if path is None:
        return
    settings = lmtp_socket_settings(
        Path(rt.config.server.data_dir) / path, _shared(rt).settings.lmtp_socket_mode
    )
    await rt.add_listener(settings, lmtp_shell(rt, settings))
