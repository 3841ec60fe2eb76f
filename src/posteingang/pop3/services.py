"""What every POP3 session of one server shares, and the transport a session talks through.

`Pop3Services` bundles the store, the settings, the login throttle, the
maildrop locks, the login-delay table, the size cache and a clock. One
instance per server; tests build their own with an injected clock.

`Transport` is all a session needs from a connection: read, write, wait for
the write buffer to drain, and upgrade to TLS. The shell (`server.py`) adapts
a socket to it; tests use an in-memory one. This module must never import
sockets or asyncio's stream classes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from posteingang.auth.throttle import Throttle
from posteingang.pop3.locks import LoginDelays, MaildropLocks
from posteingang.pop3.maildrop import DEFAULT_SIZE_CACHE, SizeCache
from posteingang.pop3.policy import Pop3Settings
from posteingang.store.interface import Store


class Transport(Protocol):
    """A client connection as the session sees it."""

    async def read(self) -> bytes:
        """The next bytes from the client; ``b""`` when it closed its side."""
        ...

    def write(self, data: bytes) -> None:
        """Queue bytes for the client (never blocks)."""
        ...

    async def drain(self) -> None:
        """Wait until the queued bytes are (mostly) sent: back-pressure."""
        ...

    async def start_tls(self) -> None:
        """Run the TLS handshake after ``+OK`` to STLS (raises if it fails)."""
        ...


@dataclass(slots=True)
class Pop3Services:
    store: Store
    settings: Pop3Settings = field(default_factory=Pop3Settings)
    throttle: Throttle = field(default_factory=Throttle)
    locks: MaildropLocks = field(default_factory=MaildropLocks)
    login_delays: LoginDelays = field(default_factory=LoginDelays)
    sizes: SizeCache = DEFAULT_SIZE_CACHE
    clock: Callable[[], float] = time.time  # wall clock: LOGIN-DELAY, retrieval times
