"""SMTP/LMTP from every core: the delivery worker processes of `[smtp] processes`.

`[smtp] processes` (default: one per CPU core, at most 4) processes serve
SMTP and LMTP connections, the server's own included.  The process
supervision is protocol-neutral (`net/supervisor.py`, `net/worker.py`); this
module says what a delivery worker serves: `delivery_worker` runs in each
worker, opens the store and builds the same SMTP/LMTP handlers the server
process has.  Whatever a worker commits reaches the server's IDLE sessions
through the store's cross-process wake-up (`store/sqlite/notify.py`).

Only the SQLite store can be shared between processes; with the in-memory
store delivery stays in the server process.  A worker never clears the
shared spool directory: other processes' messages in transit are there.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from posteingang.net.settings import ListenerSettings
from posteingang.net.worker import WorkerShell
from posteingang.workerstate import start_mail_workers, worker_shell

if TYPE_CHECKING:
    from posteingang.config import Config
    from posteingang.service import Context

__all__ = ["DELIVERY_PROTOCOLS", "delivery_worker", "start_delivery_workers"]

DELIVERY_PROTOCOLS = ("SMTP", "LMTP")


async def delivery_worker(
    config: Config, listeners: tuple[ListenerSettings, ...], stopping: asyncio.Event
) -> WorkerShell:
    """The `WorkerSetup` of a delivery worker (runs in the worker process)."""
    from posteingang.smtp.server import (
        REFUSAL,
        Timeouts,
        delivery_context,
        smtp_handler,
        smtp_settings,
    )
    from posteingang.store import open_store

    settings = smtp_settings(config)
    store = await open_store(config.store, data_dir=config.server.data_dir)
    timeouts = Timeouts(settings.command_timeout, settings.data_timeout)
    handlers = {
        lmtp: smtp_handler(
            delivery_context(store, config, settings, lmtp=lmtp),
            timeouts=timeouts,
            stopping=stopping,
        )
        for lmtp in (False, True)
    }
    return worker_shell(
        config, store, listeners, lambda ls: handlers[ls.protocol.upper() == "LMTP"], REFUSAL
    )


async def start_delivery_workers(rt: Context) -> None:
    """The extra delivery processes of ``[smtp] processes``, started by the SMTP service
    (`server.SmtpServing.start`) once every listener is bound."""
    from posteingang.smtp.server import smtp_settings

    count = smtp_settings(rt.config).worker_processes(os.cpu_count())
    await start_mail_workers(
        rt,
        "SMTP/LMTP",
        delivery_worker,
        count,
        None,
        protocols=DELIVERY_PROTOCOLS,
        name="delivery",
    )
