"""The SQLite embedded default: WAL, one writer thread, concurrent readers.

`SqliteStore` is the `Store`: its parts (directory.py, mailstore.py,
clientstate.py, searchindex.py, imagesenders.py, on the connections of
access.py) plus the blobs, opening, closing, blob GC and `check`.

Durability: `journal_mode=WAL` with `synchronous=FULL`, so a COMMIT that has
returned survives power loss (flag changes and expunges alone: `synchronous=NORMAL`,
see writer.py); blobs are fsynced by the blob store before the job
that references them is even submitted. Deleting blobs whose last message went
away is deferred (`gc_blobs`) and done by the writer thread itself, so it cannot
race with an append that reuses the same content.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

from posteingang.log import get_logger
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.hub import Change, Hub
from posteingang.store.interface import IntegrityReport
from posteingang.store.sqlite import derived, fulltext, integrity
from posteingang.store.sqlite.access import WRITER_STATEMENTS, connect
from posteingang.store.sqlite.blobs import SqliteBlobStore
from posteingang.store.sqlite.clientstate import SqliteClientState
from posteingang.store.sqlite.directory import SqliteDirectory, write_lock_path
from posteingang.store.sqlite.imagesenders import SqliteImageSenders
from posteingang.store.sqlite.mailstore import SqliteMailstore
from posteingang.store.sqlite.notify import Listener, Notifier
from posteingang.store.sqlite.schema import migrate
from posteingang.store.sqlite.searchindex import SqliteSearchIndex
from posteingang.store.sqlite.writer import Writer

log = get_logger(__name__)

BLOB_GC_GRACE_SECONDS = 3600
#: blobs deleted per write job of `SqliteStore.gc_blobs`
BLOB_GC_BATCH = 100


class SqliteStore(
    SqliteDirectory, SqliteSearchIndex, SqliteMailstore, SqliteClientState, SqliteImageSenders
):
    """The `Store` on one SQLite file and a blob directory (`open` makes one)."""

    _deriving: asyncio.Task[None] | None = None

    def __init__(
        self, path: Path, blobs: FsBlobStore, hub: Hub, writer: Writer, notifier: Notifier
    ) -> None:
        super().__init__(path, hub, writer, notifier)
        self.blobs = SqliteBlobStore(blobs, lambda: connect(path, readonly=True))

    @classmethod
    async def open(
        cls, path: Path, blobs: FsBlobStore, hub: Hub | None = None, *, search_index: bool = True
    ) -> SqliteStore:
        """Open (creating and migrating) the store; `search_index` False: no full-text
        index (searchindex.py)."""
        path.parent.mkdir(parents=True, exist_ok=True)

        def prepare() -> sqlite3.Connection:
            conn = connect(path, statements=WRITER_STATEMENTS)
            migrate(conn)
            derived.note_parse_format(conn)
            return conn

        conn = await asyncio.to_thread(prepare)
        hub = hub or Hub()
        notifier = Notifier(path)
        writer = Writer(
            conn,
            hub,
            notifier.committed,
            lock_path=write_lock_path(path),
            checkpoint=lambda: connect(path),
        )
        store = cls(path, blobs, hub, writer, notifier)
        if search_index:
            store._start_indexing()
        store._deriving = asyncio.create_task(store._derive_in_background(), name="derived data")
        return store

    async def _derive_in_background(self) -> None:
        try:
            await self.backfill_derived()
        except Exception:  # the next open resumes; until then rows sort early (derived.py)
            log.exception("derived_data_failed")

    async def backfill_derived(self) -> None:
        """Bring what waits of the derived data up to date (derived.py), one write job
        per batch; returns when nothing waits. Started in the background by `open`."""
        path_of = self.blobs.path_of
        for backfill in derived.BACKFILLS:
            if not await self._read(backfill.waiting):
                continue  # (without a write job: an idle open commits nothing)

            def job(
                conn: sqlite3.Connection, b: derived.Backfill = backfill
            ) -> tuple[bool, list[Change]]:
                return b.batch(conn, path_of), []

            while not await self._write(job):
                pass
            log.info("derived_data_updated", kind=backfill.name)
            self._index_soon(())  # a re-derived record waits for its full-text document

    async def listen_external(self) -> None:
        """Receive wake-ups for commits made by other processes (see notify.py)."""
        if self._listener is not None:
            return
        listener = Listener(self.path, self.hub, self._notifier.token)
        try:
            listener.start(asyncio.get_running_loop())
        except OSError:
            return  # e.g. a socket path over 108 bytes: pushes from other processes are late
        self._listener = listener
        listener.on_receive = self._others_committed
        self._notifier.listening = True
        self.hub.catch_up = listener.receive_pending

    async def close(self) -> None:
        if self._deriving is not None:
            self._deriving.cancel()  # its batches are whole transactions; the next open resumes
            with contextlib.suppress(asyncio.CancelledError):
                await self._deriving
            self._deriving = None
        await self._stop_indexing()
        if self._listener is not None:
            self.hub.catch_up = None
            self._notifier.listening = False
            self._listener.stop(asyncio.get_running_loop())
            self._listener = None
        await self._writer.close()
        self._notifier.close()
        self.blobs.close()
        self._close_readers()

    # -- maintenance -------------------------------------------------------------------
    async def gc_blobs(self, grace_seconds: int = BLOB_GC_GRACE_SECONDS) -> list[str]:
        """Delete blobs no message has used for `grace_seconds`, with their parse
        records and search documents; returns their ids.

        In jobs of `BLOB_GC_BATCH` blobs: deleting a search document costs the
        writer about a millisecond, and other writes go on between the jobs."""
        blobs = self.blobs
        cutoff = int(time.time()) - grace_seconds

        def job(conn: sqlite3.Connection) -> tuple[list[str], list[Change]]:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM blobs WHERE refcount <= 0 AND zero_since <= ? LIMIT ?",
                    (cutoff, BLOB_GC_BATCH),
                )
            ]
            fulltext.forget_blobs(conn, ids)
            for blob_id in ids:
                conn.execute("DELETE FROM blobs WHERE id = ?", (blob_id,))
                conn.execute("DELETE FROM parsed WHERE blob_id = ?", (blob_id,))
                conn.execute("DELETE FROM blob_data WHERE id = ?", (blob_id,))
                # Removing the file before COMMIT is safe: the row is gone either way, and
                # a crash here leaves a row-less file, which `check --repair` removes.
                blobs.files.delete_sync(blob_id)
            return ids, []

        removed: list[str] = []
        while True:
            ids = await self._write(job)
            removed += ids
            if len(ids) < BLOB_GC_BATCH:
                return removed

    async def check(self, repair: bool = False) -> IntegrityReport:
        return await integrity.check(self, repair)
