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
from typing import TYPE_CHECKING

from posteingang.net.settings import ListenerSettings
from posteingang.net.supervisor import Supervisor
from posteingang.net.worker import WorkerShell
from posteingang.workerstate import (
    exports_for,
    open_worker_state,
    start_mail_workers,
    worker_shell,
)

if TYPE_CHECKING:
    from posteingang.config import Config
    from posteingang.service import Context

__all__ = ["imap_worker", "start_imap_workers"]


async def imap_worker(
    config: Config, listeners: tuple[ListenerSettings, ...], stopping: asyncio.Event
) -> WorkerShell:
    """The `WorkerSetup` of an IMAP worker (runs in the worker process)."""
    from .server import REFUSAL, imap_handler, listener_services, settings_from_config
    from .session import ImapServices

    state = await open_worker_state(config)
    base = ImapServices(state.store, settings_from_config(config), throttle=state.throttle)
    return worker_shell(
        config,
        state.store,
        listeners,
        lambda ls: imap_handler(listener_services(base, ls), stopping),
        REFUSAL,
        state.limits,
        close=state.close,
    )


async def start_imap_workers(ctx: Context) -> Supervisor | None:
    """The extra IMAP processes of ``[imap] processes`` (none by default)."""
    from .server import settings_from_config

    count = settings_from_config(ctx.config).worker_processes(os.cpu_count())
    servers = [s for s in ctx.servers if s.settings.protocol.upper() == "IMAP"]
    if not servers:
        return None
    exports = exports_for(ctx.throttle, servers[0].account_limits)
    return await start_mail_workers(ctx, "IMAP", imap_worker, count, exports)
