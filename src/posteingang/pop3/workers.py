"""POP3 from every core: the worker processes of `[pop3] processes`.

The process supervision is protocol-neutral (`net/supervisor.py`,
`net/worker.py`); this module says what a POP3 worker serves.  `pop3_worker`
runs in each worker and opens the store; the login throttle, the per-account
connection limits, the maildrop locks (``[IN-USE]``) and the login delays
(``[LOGIN-DELAY]``) are the server process's, asked over the worker's
shared-state socket (`net/shared.py`, `locks.py`), so a maildrop in use in one
process is in use in all.  The retention task runs in the server process only.

Only the SQLite store can be shared between processes; with the in-memory
store POP3 stays in the server process.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from posteingang.net.settings import ListenerSettings
from posteingang.net.shared import remote
from posteingang.net.supervisor import Supervisor
from posteingang.net.worker import WorkerShell
from posteingang.workerstate import (
    exports_for,
    open_worker_state,
    start_mail_workers,
    worker_shell,
)

from .locks import LoginDelays, MaildropLocks, SharedLoginDelays, SharedMaildropLocks

if TYPE_CHECKING:
    from posteingang.config import Config
    from posteingang.service import Context

    from .services import Pop3Services

__all__ = ["pop3_worker", "start_pop3_workers"]


async def pop3_worker(
    config: Config, listeners: tuple[ListenerSettings, ...], stopping: asyncio.Event
) -> WorkerShell:
    """The `WorkerSetup` of a POP3 worker (runs in the worker process)."""
    from .server import REFUSAL, listener_services, pop3_handler, settings_from_config
    from .services import Pop3Services

    state = await open_worker_state(config)
    shared = remote()
    locks = SharedMaildropLocks(shared) if shared is not None else MaildropLocks()
    delays = SharedLoginDelays(shared) if shared is not None else LoginDelays()
    base = Pop3Services(
        state.store,
        settings_from_config(config),
        throttle=state.throttle,
        locks=locks,
        login_delays=delays,
    )
    return worker_shell(
        config,
        state.store,
        listeners,
        lambda ls: pop3_handler(listener_services(base, ls), stopping),
        REFUSAL,
        state.limits,
        close=state.close,
    )


async def start_pop3_workers(ctx: Context, services: Pop3Services) -> Supervisor | None:
    """The extra POP3 processes of ``[pop3] processes`` (none by default); they share
    ``services``' maildrop locks and login delays."""
    from .server import settings_from_config

    count = settings_from_config(ctx.config).worker_processes(os.cpu_count())
    servers = [s for s in ctx.servers if s.settings.protocol.upper() == "POP3"]
    if not servers:
        return None
    exports = exports_for(ctx.throttle, servers[0].account_limits)
    exports.add(
        SharedMaildropLocks.NAME,
        services.locks,
        SharedMaildropLocks.METHODS,
        SharedMaildropLocks.HOLDS,
    )
    exports.add(SharedLoginDelays.NAME, services.login_delays, SharedLoginDelays.METHODS)
    return await start_mail_workers(ctx, "POP3", pop3_worker, count, exports)
