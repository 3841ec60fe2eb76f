"""What a mail-access worker process (IMAP, POP3) shares with the server process.

The RPC itself is protocol- and auth-neutral (`net/shared.py`); this module names
what goes over it for the mail-access workers: the login throttle (`auth`) and the
per-account connection limits (`net`), and opens a worker's side of them. It sits
beside `service.py`, above `auth` and `net`, so neither of those imports the other's
shared-state proxy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from posteingang.auth.throttle import SharedThrottle, Throttle
from posteingang.net.limits import AccountLimits, SharedAccountLimits
from posteingang.net.register import RegisterServer, register_dir
from posteingang.net.server import Handler
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.shared import Exports, remote
from posteingang.net.supervisor import Supervisor, start_workers
from posteingang.net.tls import TlsContexts
from posteingang.net.worker import WorkerSetup, WorkerShell, WorkerSpec

if TYPE_CHECKING:
    from posteingang.config import Config
    from posteingang.service import Context
    from posteingang.store.interface import Store

__all__ = ["WorkerState", "exports_for", "open_worker_state", "start_mail_workers", "worker_shell"]


def exports_for(throttle: Throttle, limits: AccountLimits) -> Exports:
    """What every IMAP/POP3 worker shares: the login throttle and the account limits."""
    exports = Exports()
    exports.add(SharedThrottle.NAME, throttle, SharedThrottle.METHODS)
    exports.add(
        SharedAccountLimits.NAME, limits, SharedAccountLimits.METHODS, SharedAccountLimits.HOLDS
    )
    return exports


@dataclass(frozen=True, slots=True)
class WorkerState:
    """What a mail-access worker (IMAP, POP3) opens: the store, listening for every other
    process's commits, and the proxies of the shared state."""

    store: Store
    throttle: Throttle
    limits: AccountLimits
    # Answers the account page about this process's sessions (net/register.py).
    register: RegisterServer | None = None

    async def close(self) -> None:
        if self.register is not None:
            await self.register.close()
        await self.store.close()


async def open_worker_state(config: Config) -> WorkerState:
    """Run in the worker process by a protocol's `WorkerSetup`: open the store and the
    shared state the config's ``[auth]`` throttle and ``[limits]`` describe."""
    from posteingang.auth.sasl.scram_sha_256 import use_fake_secret
    from posteingang.auth.secret import SecretKeyError, load_server_secret
    from posteingang.store import open_store

    store = await open_store(config.store, data_dir=config.server.data_dir)
    data_dir = Path(config.server.data_dir)
    policy = config.auth.throttle_policy()
    max_per_account = config.limits.max_connections_per_account
    max_per_user_ip = config.limits.max_connections_per_user_ip

    # SCRAM's fake salts for unknown users must be the server's (runtime.py).
    with contextlib.suppress(OSError, SecretKeyError):
        use_fake_secret(load_server_secret(data_dir))
    await store.listen_external()  # IDLE here hears every other process's changes
    shared = remote()
    throttle: Throttle
    limits: AccountLimits
    if shared is not None:
        throttle = SharedThrottle(policy, shared)
        limits = SharedAccountLimits(max_per_account, max_per_user_ip, shared)
    else:
        throttle = Throttle(policy)
        limits = AccountLimits(max_per_account, max_per_user_ip)
    # Revoked credentials end this process's sessions too (runtime.py does the same).
    store.hub.on_credentials(
        lambda c: limits.end_sessions(
            c.account_id, c.name or "account", c.uids[0] if c.uids else None
        )
    )
    register = RegisterServer(register_dir(data_dir), limits)
    await register.start()
    return WorkerState(store, throttle, limits, register)


def worker_shell(
    config: Config,
    store: Store,
    listeners: tuple[ListenerSettings, ...],
    handler_for: Callable[[ListenerSettings], Handler],
    refusal: bytes,
    limits: AccountLimits | None = None,
    close: Callable[[], Awaitable[None]] | None = None,
) -> WorkerShell:
    """The `WorkerShell` of a worker (IMAP, POP3, SMTP/LMTP): its handlers, TLS when a
    listener needs it, the shutdown grace, what it closes (the store, or `close`:
    a mail-access worker's whole state) and, for the mail-access workers, the shared
    account limits."""
    needs_tls = any(ls.tls is not TlsMode.NONE for ls in listeners)
    return WorkerShell(
        handler_for=handler_for,
        refusal=refusal,
        tls=TlsContexts.from_settings(config.tls) if needs_tls else None,
        grace=config.server.shutdown_timeout,
        close=close or store.close,
        account_limits=limits,
    )


async def start_mail_workers(
    ctx: Context,
    protocol: str,
    setup: WorkerSetup,
    count: int,
    exports: Exports | None,
    *,
    protocols: tuple[str, ...] = (),
    name: str = "",
) -> Supervisor | None:
    """Start ``count`` more processes serving ``ctx``'s listeners of ``protocols``
    (default: ``protocol``'s) with ``setup``, sharing ``exports`` (the server side of
    what the workers ask for). ``name``: the workers' name in logs (default: the
    protocol's). Nothing with the in-memory store, which cannot be shared between
    processes."""
    if count <= 0 or ctx.config.store.backend != "sqlite":
        return None
    # The server process serves this protocol too (and the webmail's live updates):
    # it must hear the workers' commits, whichever services run (idempotent).
    await ctx.store.listen_external()
    setting = protocol.split("/")[0].lower()
    name = name or setting
    spec = WorkerSpec(
        setup,
        ctx.config,
        listeners=(),
        channel=-1,
        index=0,
        name=name,
        log_level=ctx.config.log.level,
        log_format=ctx.config.log.format,
    )
    supervisor = await start_workers(
        ctx,
        spec,
        protocols=protocols or (protocol,),
        count=count,
        grace=ctx.config.server.shutdown_timeout,
        exports=exports,
    )
    if supervisor is not None:
        ctx.notes.append(
            f"{protocol} served by {1 + len(supervisor.workers)} processes "
            f"(setting {setting}.processes)."
        )
    return supervisor
