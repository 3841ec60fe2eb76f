"""Background upkeep of a running server: cross-process wake-ups and blob garbage collection.

The runtime runs it as the `MAINTENANCE` service. What it must never do:
hold the event loop for long (every store call is a thread hop), or delete
bytes a message still uses (the store's GC only takes blobs unused for an hour).
"""

from __future__ import annotations

import asyncio
import contextlib

from posteingang.log import get_logger
from posteingang.service import Background, Context

log = get_logger(__name__)

BLOB_GC_INTERVAL_SECONDS = 3600


async def _blob_gc_loop(runtime: Context) -> None:
    gc = getattr(runtime.store, "gc_blobs", None)
    if gc is None:
        return
    while not runtime.stopping.is_set():
        try:
            removed = await gc()
            if removed:
                log.info("blob_gc", removed=len(removed))
        except Exception as exc:  # keep serving; the next round retries
            log.error("blob_gc_failed", error=str(exc))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(runtime.stopping.wait(), BLOB_GC_INTERVAL_SECONDS)


async def start_maintenance(runtime: Context) -> None:
    """Hear commits of `posteingang deliver`/`import` processes; collect unused blobs."""
    await runtime.store.listen_external()
    runtime.spawn(_blob_gc_loop(runtime), name="blob-gc")


MAINTENANCE = Background("maintenance", start_maintenance)
