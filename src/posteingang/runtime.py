"""The composition root: config -> store -> services and their listeners, and the shutdown order.

Theory of operation. `run(config)` opens the store and composes the services
of `SERVICES` (the contract is `posteingang.service`): each is prepared once
(its state for this runtime, held here), then one `net.server.ListenerServer`
is bound per `[[listener]]` of the config with the `Shell` the service that
serves its protocol makes for it, then every service starts what runs besides
its listeners (the POP3 retention task, the LMTP UNIX socket, the delivery
worker processes, the control socket, blob collection). `on_ready` is told
what is actually bound, and the runtime waits for SIGTERM or SIGINT. SIGHUP
re-reads the TLS certificates.

Shutdown goes in the reverse order of trust: `stopping` is set (sessions say
goodbye at their next command boundary), every listener stops accepting and
gives its connections `server.shutdown_timeout` seconds before aborting them,
background tasks get the same time before they are cancelled, the services'
cleanups run, and the store closes last, so nothing acknowledged can be lost
by closing the store under a writer.

A protocol plugs in with one import and one entry in `SERVICES` (and, if it has
a config section, one line in `config.schema.PROTOCOL_SECTIONS`; its listener
name also goes into `protocols.BUILTIN_PROTOCOLS`, which `check-config` reads
without importing the servers). Nothing below this module imports it: the
services see it only as a `service.Context`.

This module must never contain protocol behaviour: it only composes, binds,
tracks and tears down.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, cast

from posteingang.auth.cache import LOGIN_CACHE
from posteingang.auth.sasl.scram_sha_256 import use_fake_secret
from posteingang.auth.secret import SecretKeyError, load_server_secret
from posteingang.auth.throttle import Throttle
from posteingang.config import Config
from posteingang.control import CONTROL
from posteingang.imap.server import IMAP
from posteingang.log import get_logger
from posteingang.maintenance import MAINTENANCE
from posteingang.net.eventloop import running_loop_name
from posteingang.net.limits import AccountLimits, ConnectionCounter
from posteingang.net.server import ListenerServer
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.tls import TlsContexts, tune_asyncio_tls_buffers
from posteingang.pop3.server import POP3
from posteingang.protocols import listener_problems
from posteingang.service import Cleanup, Listener, Service, Serving, ServingT, Shell
from posteingang.smtp.server import SMTP
from posteingang.store.interface import Store
from posteingang.web.server import WEB

__all__ = [
    "SERVICES",
    "Listener",
    "Runtime",
    "Shell",
    "StartupError",
    "TlsMode",
    "run",
]

log = get_logger(__name__)


# The services of this build, in start order (and the order of the listeners `init`
# writes). Every `[[listener]]` is bound before the first starts, so SMTP's delivery
# workers inherit them all (SMTP binds its LMTP UNIX socket before starting them).
SERVICES: tuple[Service[Serving], ...] = (MAINTENANCE, CONTROL, POP3, SMTP, IMAP, WEB)


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
        # whichever process made the change.
        store.hub.on_credentials(
            lambda c: self.account_limits.end_sessions(
                c.account_id, c.name or "account", c.uids[0] if c.uids else None
            )
        )
        self._servers: list[ListenerServer] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cleanups: list[Cleanup] = []
        self._reloads: list[Callable[[], None]] = []
        self._servings: dict[object, Serving] = {}
        # Lines for the start-up output, added by services (e.g. how many processes
        # serve delivery); `serve` prints them under the listener table.
        self.notes: list[str] = []
        self._tls: TlsContexts | None = None
        self._throttle: Throttle | None = None

    @property
    def throttle(self) -> Throttle:
        """The one brute-force throttle every protocol and the web login share."""
        if self._throttle is None:
            self._throttle = Throttle(self.config.auth.throttle_policy())
        return self._throttle

    @property
    def tls(self) -> TlsContexts:
        """The certificates from `[tls]`, loaded on first use (SIGHUP reloads them)."""
        if self._tls is None:
            self._tls = TlsContexts.from_settings(self.config.tls)
        return self._tls

    def prepare(self, service: Service[Serving]) -> Serving:
        """`service`'s state in this runtime, made once (`Service.prepare`)."""
        if service not in self._servings:
            self._servings[service] = service.prepare(self)
        return self._servings[service]

    def serving(self, service: Service[ServingT]) -> ServingT:
        """The state `service` prepared here (LookupError if it is not part of this runtime)."""
        try:
            return cast(ServingT, self._servings[service])
        except KeyError:
            raise LookupError(f"{service.name} is not running here") from None

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
    services: Sequence[Service[Serving]] = SERVICES,
    on_ready: ReadyCallback | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or `stop` is set), then shut down gracefully.

    Raises `StartupError` for a listener whose protocol no service serves, and
    whatever binding or loading certificates raises (`OSError`, `ssl.SSLError`).
    """
    from posteingang.store import open_store

    served = {name.upper(): service for service in services for name in service.protocols}
    problems = listener_problems(config, served)
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
        event_loop = running_loop_name()  # server.event_loop, as `serve` resolved it
        runtime.notes.append(
            f"Event loop: {event_loop} (server.event_loop = {config.server.event_loop!r})."
        )
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, runtime.reload_tls)
            installed.append(signal.SIGHUP)
        try:
            servings = [runtime.prepare(service) for service in services]
            for settings in config.listener:
                serving = runtime.prepare(served[settings.protocol.upper()])
                await runtime.add_listener(settings, serving.shell(settings))
            for serving in servings:
                await serving.start()
            if on_ready is not None:
                pending = on_ready(runtime)
                if pending is not None:
                    await pending
            log.info("ready", listeners=len(runtime.listeners), event_loop=event_loop)
            await stop.wait()
        finally:
            await runtime.shutdown()
        log.info("stopped")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
