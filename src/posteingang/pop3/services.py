"""What every POP3 session of one server shares.

`Pop3Services` bundles the store, the settings, the login throttle, the
maildrop locks, the login-delay table, the size cache and a clock. One
instance per server; tests build their own with an injected clock.
(The connection a session talks through is `net.transport.Transport`.)
This module must never import sockets or asyncio's stream classes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from posteingang.auth.throttle import Throttle
from posteingang.pop3.locks import LoginDelays, MaildropLocks
from posteingang.pop3.maildrop import DEFAULT_SIZE_CACHE, SizeCache
from posteingang.pop3.policy import Pop3Settings
from posteingang.store.interface import Store


@dataclass(slots=True)
class Pop3Services:
    store: Store
    settings: Pop3Settings = field(default_factory=Pop3Settings)
    throttle: Throttle = field(default_factory=Throttle)
    locks: MaildropLocks = field(default_factory=MaildropLocks)
    login_delays: LoginDelays = field(default_factory=LoginDelays)
    sizes: SizeCache = DEFAULT_SIZE_CACHE
    clock: Callable[[], float] = time.time  # wall clock: LOGIN-DELAY, retrieval times
