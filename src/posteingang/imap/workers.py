"""IMAP from every core: the worker processes of `[imap] processes`.

The process supervision is protocol-neutral (`net/supervisor.py`,
`net/worker.py`); this module says what an IMAP worker serves.  `imap_worker`
runs in each worker: it opens the store and listens for every other process's
commits (`store/sqlite/notify.py`), so an IDLE session in any process sees a
change made in any other; the login throttle and the per-account connection
limits are the server process's, asked over the worker's shared-state socket
(`net/shared.py`).  `\\Recent` is claimed in the store, so it is one for all.

Only the SQLite store can be shared between processes; with the in-memory
store IMAP stays in the server process.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.supervisor import Supervisor, start_workers
from posteingang.net.tls import TlsContexts
from posteingang.net.worker import WorkerShell, WorkerSpec
from posteingang.workerstate import exports_for, open_worker_state

if TYPE_CHECKING:
    from posteingang.config import Config
    from posteingang.service import Context

__all__ = ["imap_worker", "start_imap_workers"]


async def imap_worker(
    config: Config, listeners: tuple[ListenerSettings, ...], stopping: asyncio.Event
) -> WorkerShell:
    """The `WorkerSetup` of an IMAP worker (runs in the worker process)."""
    from posteingang.store import open_store

    from .server import REFUSAL, imap_handler, listener_services, settings_from_config
    from .session import ImapServices

    store = await open_store(config.store, data_dir=config.server.data_dir)
    limits = config.limits
    state = await open_worker_state(
        store,
        Path(config.server.data_dir),
        config.auth.throttle_policy(),
        limits.max_connections_per_account,
        limits.max_connections_per_user_ip,
    )
    base = ImapServices(state.store, settings_from_config(config), throttle=state.throttle)
    needs_tls = any(ls.tls is not TlsMode.NONE for ls in listeners)
    return WorkerShell(
        handler_for=lambda ls: imap_handler(listener_services(base, ls), stopping),
        refusal=REFUSAL,
        tls=TlsContexts.from_settings(config.tls) if needs_tls else None,
        grace=config.server.shutdown_timeout,
        close=state.store.close,
        account_limits=state.limits,
    )


async def start_imap_workers(ctx: Context) -> Supervisor | None:
    """The extra IMAP processes of ``[imap] processes`` (none by default)."""
    from .server import settings_from_config

    count = settings_from_config(ctx.config).worker_processes(os.cpu_count())
    servers = [s for s in ctx.servers if s.settings.protocol.upper() == "IMAP"]
    if count <= 0 or not servers or ctx.config.store.backend != "sqlite":
        return None
    spec = WorkerSpec(
        imap_worker,
        ctx.config,
        listeners=(),
        channel=-1,
        index=0,
        name="imap",
        log_level=ctx.config.log.level,
        log_format=ctx.config.log.format,
    )
    supervisor = await start_workers(
        ctx,
        spec,
        protocols=("IMAP",),
        count=count,
        grace=ctx.config.server.shutdown_timeout,
        exports=exports_for(ctx.throttle, servers[0].account_limits),
    )
    if supervisor is not None:
        ctx.notes.append(
            f"IMAP served by {1 + len(supervisor.workers)} processes (setting imap.processes)."
        )
    return supervisor
