"""The SQLite backend's `SearchIndex` (store/searchindex.py): jobs in fulltext.py,
and the background task that makes the documents.

The task (`_index_loop`) sleeps until an append wakes it and waits
`INDEX_DELAY`, so that a burst of deliveries is indexed in a few large write
jobs instead of one small one each. Then it inserts the documents this
process's deliveries made with their parse (`fulltext.insert_made`): every
process inserts its own, so none is made twice. `SWEEP_DELAY` after an append
(of this process, or of another one: the cross-process wake-ups of notify.py,
`Listener.on_receive`) it sweeps: `fulltext.backfill_batch` until nothing
waits, which moves the cursor past what the processes inserted and makes from
the stored blob what none did (`posteingang deliver` may exit before its
indexer ran; IMAP APPEND of a large message). After open it first sweeps what
waits from before (an upgrade's back-fill, mail appended while the index was
off). With
``[store] search_index = false`` there is no task and `fulltext_candidates`
answers None (the webmail then searches with the IMAP engine alone); appends
still mark their blobs as waiting, so turning it on again catches up exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence

from posteingang.log import get_logger
from posteingang.store.fulltext import Candidates, Document, Term
from posteingang.store.hub import Change, ChangeKind
from posteingang.store.mailstore import NewMessage
from posteingang.store.model import AppendResult
from posteingang.store.sqlite import fulltext
from posteingang.store.sqlite.mailstore import SqliteMailstore

log = get_logger(__name__)

#: seconds between the append that wakes the indexer and its first batch
INDEX_DELAY = 0.2
#: seconds after an append (of this process or another) before the indexer sweeps:
#: makes what no process inserted and moves the cursor past what they did
SWEEP_DELAY = 2.0
#: documents made during delivery kept for the indexer (a few MB at most; beyond: the
#: sweep makes them from the blob)
MAX_MADE = 2_000


class SqliteSearchIndex(SqliteMailstore):
    """On `SqliteMailstore`: its appends wake the indexer."""

    _indexer: asyncio.Task[None] | None = None
    _index_wake: asyncio.Event | None = None
    # Documents made during delivery's parse, by blob id, until the indexer takes them.
    _made: dict[str, Document] | None = None
    _sweep_timer: asyncio.TimerHandle | None = None
    _sweep_due = False

    @property
    def wants_documents(self) -> bool:
        return self._indexer is not None

    async def fulltext_candidates(
        self, mailbox_id: int, terms: Sequence[Term]
    ) -> Candidates | None:
        if self._indexer is None:
            return None  # the index is off: nothing it says can be trusted to be current
        return await self._read(lambda c: fulltext.candidates(c, mailbox_id, terms))

    async def append_many(
        self, mailbox_id: int, messages: Sequence[NewMessage]
    ) -> list[AppendResult]:
        results = await super().append_many(mailbox_id, messages)
        self._index_soon(messages)
        return results

    async def append_first(
        self, account_id: int, mailboxes: Sequence[str], message: NewMessage
    ) -> AppendResult:
        result = await super().append_first(account_id, mailboxes, message)
        self._index_soon((message,))
        return result

    def _index_soon(self, messages: Sequence[NewMessage]) -> None:
        if self._index_wake is None:
            return
        made = self._made
        if made is not None and len(made) < MAX_MADE:
            for m in messages:
                if m.search_document is not None:
                    made[m.blob_id] = m.search_document
        self._index_wake.set()

    def _others_committed(self, changes: Sequence[Change] | None) -> None:
        """Another process committed `changes` (None: unknown ones). If it appended,
        sweep after `SWEEP_DELAY`: that process inserts the documents it made, but
        `posteingang deliver` or `import` may exit first, or run with the index off."""
        if changes is not None and not any(c.kind is ChangeKind.APPEND for c in changes):
            return
        self._sweep_soon()

    def _sweep_soon(self) -> None:
        """Sweep (`backfill_fulltext`) `SWEEP_DELAY` from now, unless one is due already."""
        if self._index_wake is None or self._sweep_timer is not None or self._sweep_due:
            return
        wake = self._index_wake

        def due() -> None:
            self._sweep_timer = None
            self._sweep_due = True
            wake.set()

        self._sweep_timer = asyncio.get_running_loop().call_later(SWEEP_DELAY, due)

    def _start_indexing(self) -> None:
        self._made = {}
        self._sweep_due = True  # first what waits from before (a read says if anything does)
        self._index_wake = asyncio.Event()
        self._index_wake.set()
        self._indexer = asyncio.create_task(self._index_loop(), name="fulltext indexer")

    async def _stop_indexing(self) -> None:
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
            self._sweep_timer = None
        if self._indexer is not None:
            self._indexer.cancel()  # its batches are whole transactions; the next open resumes
            with contextlib.suppress(asyncio.CancelledError):
                await self._indexer
            self._indexer = self._index_wake = self._made = None

    async def _index_loop(self) -> None:
        assert self._index_wake is not None
        delay = 0.0
        while True:
            await self._index_wake.wait()
            await asyncio.sleep(delay)
            delay = INDEX_DELAY
            self._index_wake.clear()
            try:
                if self._sweep_due:
                    self._sweep_due = False
                    await self.backfill_fulltext()
                else:
                    await self._insert_made()
                    self._sweep_soon()  # (moves the cursor past them; takes what is left)
            except Exception:  # the next wake-up tries again; until then: unsure
                log.exception("fulltext_index_failed")

    async def _insert_made(self) -> None:
        """Insert the documents this process's deliveries made, in write jobs of up
        to `fulltext.BATCH` (other processes insert theirs: none is made twice)."""
        made = self._made
        while made:
            docs = [made.popitem() for _ in range(min(len(made), fulltext.BATCH))]

            def job(
                conn: sqlite3.Connection, docs: list[tuple[str, Document]] = docs
            ) -> tuple[None, list[Change]]:
                fulltext.insert_made(conn, docs)
                return None, []

            await self._write(job)

    async def backfill_fulltext(self) -> None:
        """Index what waits: the documents this process made, then, one write job of
        up to `fulltext.BATCH` blobs at a time (other writes go between them), every
        other blob after the cursor; returns when nothing is left."""
        await self._insert_made()
        path_of = self.blobs.path_of
        made = self._made if self._made is not None else {}
        if await self._read(fulltext.backfilled):
            return  # (without a write job: an idle open commits nothing)

        def take(blob_id: str) -> Document | None:
            return made.pop(blob_id, None)

        while not await self._write(lambda c: (fulltext.backfill_batch(c, path_of, take), [])):
            pass
