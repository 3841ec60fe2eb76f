"""What a service gets from the runtime and gives back: the contract between the two.

Theory of operation. A *service* is one part of a running server the runtime
composes: a protocol (IMAP, POP3, SMTP with LMTP, the webmail over HTTP) or
background upkeep. Each protocol package exposes one `Service` object in its
`server.py`; `runtime.py` imports them directly and keeps them in one list, so
adding a protocol is one import and one entry there. For every service, once
per runtime:

1. ``service.prepare(ctx)`` makes the service's `Serving`: its state for this
   runtime (settings read from ``ctx.config``, the objects its sessions share),
   created here and held by the runtime, never in a module-level table.
2. For each ``[[listener]]`` whose protocol is in ``service.protocols``, the
   runtime asks ``serving.shell(listener)`` for the `Shell` that serves its
   connections and binds it.
3. When every listener is bound, ``await serving.start()`` runs, in the
   runtime's order: extra sockets, background tasks, worker processes (which
   inherit the sockets bound before them).

What a service starts it hands to the context (`Context.spawn`,
`Context.on_shutdown`, `Context.on_reload`), so shutdown needs no code of its
own per service. `default_listeners` are what ``posteingang init`` writes for
it; `Shell.login` and `Context.notes` are what the startup table shows.

What this module must never do: import a protocol, the runtime or the CLI.
`runtime.Runtime` satisfies `Context`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from posteingang.auth.throttle import Throttle
from posteingang.config import Config
from posteingang.net.server import Handler, ListenerServer, Refusal
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.store.interface import Store

__all__ = [
    "Background",
    "Cleanup",
    "Context",
    "Listener",
    "ProtocolService",
    "Service",
    "Serving",
    "ServingT",
    "Shell",
]

Cleanup = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Shell:
    """What a service hands the runtime for one listener."""

    handler: Handler  # serves one `net.connection.Connection` until it is done
    refusal: Refusal = b""  # sent when a connection limit is reached, e.g. b"* BYE busy\r\n"
    login: str = ""  # how a user logs in here, for the startup table


@dataclass(frozen=True, slots=True)
class Listener:
    """One bound socket, as the startup table (and the webmail's setup pages) show it."""

    protocol: str  # "SMTP", "LMTP", "IMAP", "POP3", "HTTP", in the protocol's own spelling
    address: str
    port: int  # the bound port (a configured 0 becomes the port the OS chose)
    tls: TlsMode = TlsMode.NONE
    login: str = ""  # how a user logs in here, e.g. "full address + password"
    # PROXY protocol: the proxies trusted to send the header; empty if not expected
    proxy_from: tuple[str, ...] = ()


class Serving:
    """One service's state in one runtime (`Service.prepare` makes it).

    The defaults fit a service without listeners (`shell`) or without
    background work (`start`).
    """

    def shell(self, listener: ListenerSettings) -> Shell:
        """The shell for one of this service's `[[listener]]`s."""
        raise LookupError(f"{listener.protocol} is not served here")

    async def start(self) -> None:
        """Start what runs besides the listeners; called once every listener is bound."""


ServingT = TypeVar("ServingT", bound=Serving, covariant=True)
S = TypeVar("S", bound=Serving)


class Service(Protocol[ServingT]):
    """One part of the server as the runtime composes it (module docstring)."""

    @property
    def name(self) -> str:
        """For logs and errors, e.g. "IMAP"."""
        ...

    @property
    def protocols(self) -> tuple[str, ...]:
        """The `[[listener]] protocol` names it serves, upper case ("SMTP", "LMTP")."""
        ...

    @property
    def default_listeners(self) -> tuple[ListenerSettings, ...]:
        """What `posteingang init` writes into a new config for it."""
        ...

    def prepare(self, ctx: Context) -> ServingT:
        """Its state for the runtime `ctx` (called once, before any listener is bound)."""
        ...


class Context(Protocol):
    """What the runtime lends its services: shared objects, and a place for what they start."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> Store: ...

    @property
    def throttle(self) -> Throttle:
        """The one brute-force throttle every protocol and the web login share."""
        ...

    @property
    def stopping(self) -> asyncio.Event:
        """Set when shutdown begins: sessions say goodbye at their next command boundary."""
        ...

    @property
    def listeners(self) -> list[Listener]:
        """Every socket bound so far, with the port it got."""
        ...

    @property
    def servers(self) -> tuple[ListenerServer, ...]:
        """Every bound listener (delivery workers share the SMTP/LMTP sockets)."""
        ...

    @property
    def notes(self) -> list[str]:
        """Lines the startup table prints under the listeners."""
        ...

    def serving(self, service: Service[ServingT]) -> ServingT:
        """The state `service` prepared in this runtime (LookupError if it is not running)."""
        ...

    async def add_listener(self, settings: ListenerSettings, shell: Shell) -> ListenerServer:
        """Bind one more listener (e.g. the LMTP UNIX socket) and serve it until shutdown."""
        ...

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Run background work that shutdown waits for (and cancels after the timeout)."""
        ...

    def on_shutdown(self, cleanup: Cleanup) -> None:
        """Run `cleanup` after connections are done and before the store closes (LIFO)."""
        ...

    def on_reload(self, callback: Callable[[], None]) -> None:
        """Call `callback` on SIGHUP too (e.g. to pass it on to worker processes)."""
        ...


@dataclass(frozen=True, eq=False)
class ProtocolService(Generic[S]):
    """A protocol's `Service`: its names and defaults, and its `Serving` type, which is
    made with the runtime's context (``ImapServing(ctx)``)."""

    name: str
    protocols: tuple[str, ...]
    default_listeners: tuple[ListenerSettings, ...]
    serving: Callable[[Context], S]

    def prepare(self, ctx: Context) -> S:
        return self.serving(ctx)


@dataclass(frozen=True, eq=False)
class Background:
    """A service without listeners: `begin(ctx)` starts its work once the listeners are bound
    (the control socket, blob collection)."""

    name: str
    begin: Callable[[Context], Awaitable[None]]
    protocols: tuple[str, ...] = ()
    default_listeners: tuple[ListenerSettings, ...] = ()

    def prepare(self, ctx: Context) -> Serving:
        return _Begun(self.begin, ctx)


class _Begun(Serving):
    def __init__(self, begin: Callable[[Context], Awaitable[None]], ctx: Context) -> None:
        self._begin = begin
        self._ctx = ctx

    async def start(self) -> None:
        await self._begin(self._ctx)
