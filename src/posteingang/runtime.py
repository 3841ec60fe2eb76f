"""The composition root: config -> store -> listeners and services, and the shutdown order.

Theory of operation. `run(config)` opens the store, then binds one
`net.server.ListenerServer` per `[[listener]]` of the config, asking the
protocol named there for its `Shell` (the connection handler) through
`PROTOCOLS`; then it runs the `STARTERS` (services that are not plain
listeners, such as the web app or periodic jobs), reports what is actually
bound through `on_ready`, and waits for SIGTERM or SIGINT. SIGHUP re-reads the
TLS certificates.

Shutdown goes in the reverse order of trust: `stopping` is set (sessions say
goodbye at their next command boundary), every listener stops accepting and
gives its connections `server.shutdown_timeout` seconds before aborting them,
background tasks get the same time before they are cancelled, the services'
cleanups run, and the store closes last, so nothing acknowledged can be lost
by closing the store under a writer.

A protocol plugs in with one line in `PROTOCOLS`, and one in `DEFAULT_LISTENERS`
for the listeners `posteingang init` writes into a new config::

    PROTOCOLS["POP3"] = pop3_shell   # def pop3_shell(rt, settings) -> Shell
    DEFAULT_LISTENERS["POP3"] = [{"protocol": "POP3", "port": 1110, "host": "127.0.0.1",
                                  "tls": "starttls"}]

This module must never contain protocol behaviour: it only composes, binds,
tracks and tears down.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posteingang.auth.cache import LOGIN_CACHE
from posteingang.auth.sasl.scram_sha_256 import use_fake_secret
from posteingang.auth.secret import SecretKeyError, load_server_secret
from posteingang.auth.throttle import Throttle
from posteingang.config import Config
from posteingang.log import get_logger
from posteingang.net.limits import AccountLimits, ConnectionCounter
from posteingang.net.server import Handler, ListenerServer, Refusal
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.tls import TlsContexts, tune_asyncio_tls_buffers
from posteingang.store.interface import Store

__all__ = [
    "DEFAULT_LISTENERS",
    "PROTOCOLS",
    "STARTERS",
    "Listener",
    "Runtime",
    "Shell",
    "StartupError",
    "TlsMode",
    "run",
]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Listener:
    """One bound socket, as the startup table shows it."""

    protocol: str  # "SMTP", "LMTP", "IMAP", "POP3", "HTTP", in the protocol's own spelling
    address: str
    port: int  # the bound port (a configured 0 becomes the port the OS chose)
    tls: TlsMode = TlsMode.NONE
    login: str = ""  # how a user logs in here, e.g. "full address + password"
    # PROXY protocol: the proxies trusted to send the header; empty if not expected
    proxy_from: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Shell:
    """What a protocol hands the runtime for one listener."""

    handler: Handler  # serves one `net.connection.Connection` until it is done
    refusal: Refusal = b""  # sent when a connection limit is reached, e.g. b"* BYE busy\r\n"
    login: str = ""  # for the startup table


ShellFactory = Callable[["Runtime", ListenerSettings], Shell]
Starter = Callable[["Runtime"], Awaitable[None]]
Cleanup = Callable[[], Awaitable[None]]

# `[[listener]] protocol = "NAME"` -> the protocol's shell factory. Names are upper case.
PROTOCOLS: dict[str, ShellFactory] = {}
# What `posteingang init` writes into a new config for each protocol in PROTOCOLS:
# `[[listener]]` tables, e.g. {"protocol": "IMAP", "port": 1143, "host": "127.0.0.1",
# "tls": "starttls"}.
DEFAULT_LISTENERS: dict[str, list[dict[str, Any]]] = {}
# Services that are not plain listeners (web app, periodic jobs), in start order.
STARTERS: list[Starter] = []


def _default_starters() -> list[Starter]:
    from posteingang.control import start_control
    from posteingang.maintenance import start_maintenance

    return [start_maintenance, start_control, *STARTERS]


def _load_secret(data_dir: Path) -> None:
    """SCRAM's fake salts for unknown users must survive restarts (auth/secret.py)."""
    if not data_dir.is_dir():  # a store elsewhere (memory backend): per-process key
        log.warning("no_data_dir_for_auth_secret", data_dir=str(data_dir))
        return
    try:
        use_fake_secret(load_server_secret(data_dir))
    except (SecretKeyError, OSError) as e:
        raise StartupError(str(e)) from None


class StartupError(Exception):
    """The configuration asks for something this server cannot start (one line for the user)."""


def listener_problems(
    config: Config, protocols: dict[str, ShellFactory] | None = None
) -> list[str]:
    """Every `[[listener]]` this build cannot serve (`protocols.listener_problems`)."""
    from posteingang import protocols as builtin

    if protocols is None:
        builtin.register_builtin_protocols()
        protocols = PROTOCOLS
    return builtin.listener_problems(config, protocols)


class Runtime:
    """What a running server shares: config, store, TLS, limits, listeners, in-flight work."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.listeners: list[Listener] = []
        self.stopping = asyncio.Event()
        limits = config.limits
        # Process-wide limits, shared by every listener (each has its own as well).
        self.connection_limit = ConnectionCounter(
            limits.max_connections, limits.max_connections_per_ip, scope="limits"
        )
        self.account_limits = AccountLimits(
            limits.max_connections_per_account, limits.max_connections_per_user_ip
        )
        # Revoked devices, changed passwords and removed accounts end their sessions,
        # whichever process made the change (issue 11 item 10).
        store.hub.on_credentials(
            lambda c: self.account_limits.end_sessions(
                c.account_id, c.name or "account", c.uids[0] if c.uids else None
            )
        )
        self._servers: list[ListenerServer] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cleanups: list[Cleanup] = []
        self._reloads: list[Callable[[], None]] = []
        # Lines for the start-up output, added by starters (e.g. how many processes
        # serve delivery); `serve` prints them under the listener table.
        self.notes: list[str] = []
        self._tls: TlsContexts | None = None
        self._throttle: Throttle | None = None

    @property
    def throttle(self) -> Throttle:
        """The one brute-force throttle every protocol and the web login share (issue 3)."""
        if self._throttle is None:
            self._throttle = Throttle(self.config.auth.throttle_policy())
        return self._throttle

    @property
    def tls(self) -> TlsContexts:
        """The certificates from `[tls]`, loaded on first use (SIGHUP reloads them)."""
        if self._tls is None:
            self._tls = TlsContexts.from_settings(self.config.tls)
        return self._tls

    async def add_listener(self, settings: ListenerSettings, shell: Shell) -> ListenerServer:
        """Bind one listener and serve its connections with `shell` until shutdown."""
        server = ListenerServer(
            settings,
            shell.handler,
            tls=self.tls if settings.tls is not TlsMode.NONE else None,
            refusal=shell.refusal,
            account_limits=self.account_limits,
            shared_limit=self.connection_limit,
        )
        await server.start()
        self._servers.append(server)
        self.listeners.append(
            Listener(
                settings.protocol,
                settings.host,
                server.port,
                settings.tls,
                shell.login,
                tuple(settings.trusted_proxies) if settings.proxy_protocol else (),
            )
        )
        return server

    @property
    def servers(self) -> tuple[ListenerServer, ...]:
        """Every bound listener (delivery workers share the SMTP/LMTP sockets)."""
        return tuple(self._servers)

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Run background work that shutdown waits for (and cancels after the timeout)."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def on_shutdown(self, cleanup: Cleanup) -> None:
        """Run `cleanup` after connections are done and before the store closes (LIFO)."""
        self._cleanups.append(cleanup)

    @property
    def in_flight(self) -> int:
        """Open connections plus background tasks."""
        return len(self._tasks) + sum(len(s.connections) for s in self._servers)

    def on_reload(self, callback: Callable[[], None]) -> None:
        """Call `callback` on SIGHUP too (e.g. to pass it on to worker processes)."""
        self._reloads.append(callback)

    def reload_tls(self) -> None:
        """Re-read the certificates (SIGHUP); on error the old ones stay in use."""
        for callback in self._reloads:
            callback()
        if self._tls is None:
            return
        try:
            self._tls.reload()
        except Exception as e:
            log.error("tls_reload_failed", error=str(e))

    async def shutdown(self) -> None:
        """Stop accepting, drain in-flight work within the timeout, clean up, close the store."""
        self.stopping.set()
        timeout = self.config.server.shutdown_timeout
        if self.in_flight:
            log.info("draining", in_flight=self.in_flight, timeout=timeout)
        tasks = {t for t in self._tasks if t is not asyncio.current_task()}
        await asyncio.gather(
            *(server.stop(timeout) for server in self._servers),
            self._drain_tasks(tasks, grace=timeout),
            return_exceptions=True,
        )
        for cleanup in reversed(self._cleanups):
            try:
                await cleanup()
            except Exception:
                log.exception("cleanup_failed")
        await self.store.close()
        log.info("store_closed")

    @staticmethod
    async def _drain_tasks(tasks: set[asyncio.Task[Any]], *, grace: float) -> None:
        if not tasks:
            return
        _, still = await asyncio.wait(tasks, timeout=grace)
        for task in still:
            task.cancel()
        if still:
            log.warning("cancelled_after_timeout", tasks=len(still))
            await asyncio.wait(still, timeout=5)


# Called once everything is bound; may be a coroutine function.
ReadyCallback = Callable[[Runtime], Awaitable[None] | None]


async def run(
    config: Config,
    *,
    protocols: dict[str, ShellFactory] | None = None,
    starters: list[Starter] | None = None,
    on_ready: ReadyCallback | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or `stop` is set), then shut down gracefully.

    Raises `StartupError` for a listener whose protocol is unknown, and whatever
    binding or loading certificates raises (`OSError`, `ssl.SSLError`).
    """
    from posteingang.protocols import register_builtin_protocols
    from posteingang.store import open_store

    register_builtin_protocols()
    protocols = PROTOCOLS if protocols is None else protocols
    problems = listener_problems(config, protocols)
    if problems:
        raise StartupError(problems[0])
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        log.info("signal_received", signal=sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
    try:
        _load_secret(config.server.data_dir)
        store = await open_store(config.store, data_dir=config.server.data_dir)
        log.info("store_opened", backend=config.store.backend)
        tune_asyncio_tls_buffers()  # 264 -> 40 KiB per idle TLS connection (net/tls.py)
        LOGIN_CACHE.ttl = config.auth.login_cache_ttl
        runtime = Runtime(config, store)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, runtime.reload_tls)
            installed.append(signal.SIGHUP)
        try:
            for settings in config.listener:
                shell = protocols[settings.protocol.upper()](runtime, settings)
                await runtime.add_listener(settings, shell)
            for starter in _default_starters() if starters is None else starters:
                await starter(runtime)
            if on_ready is not None:
                pending = on_ready(runtime)
                if pending is not None:
                    await pending
            log.info("ready", listeners=len(runtime.listeners))
            await stop.wait()
        finally:
            await runtime.shutdown()
        log.info("stopped")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
