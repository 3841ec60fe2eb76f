"""The SQLite backend's `SearchIndex` (store/searchindex.py): jobs in fulltext.py,
and the background task that makes the documents.

The task (`_index_loop`) sleeps until an append wakes it, waits `INDEX_DELAY`
so that a burst of deliveries is indexed in a few large write jobs instead of
one small one each, and runs `fulltext.backfill_batch` until nothing waits.
After open it first takes what waits from before (an upgrade's back-fill, or
mail appended by another process or while the index was off). A serving
process also wakes, `EXTERNAL_DELAY` later, for appends other processes
committed (the cross-process wake-ups of notify.py, `Listener.on_receive`):
each process indexes its own appends, but `posteingang deliver` may exit
before its indexer ran. With
``[store] search_index = false`` there is no task and `fulltext_candidates`
answers None (the webmail then searches with the IMAP engine alone); appends
still mark their blobs as waiting, so turning it on again catches up exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
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
#: seconds after another process's append before this one looks for what waits
EXTERNAL_DELAY = 2.0
#: documents made during delivery kept for the indexer (beyond: made again from the blob)
MAX_MADE = 10_000


class SqliteSearchIndex(SqliteMailstore):
    """On `SqliteMailstore`: its appends wake the indexer."""

    _indexer: asyncio.Task[None] | None = None
    _index_wake: asyncio.Event | None = None
    # Documents made during delivery's parse, by blob id, until the indexer takes them.
    _made: dict[str, Document] | None = None
    _external_wake: asyncio.TimerHandle | None = None

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
        look for unindexed mail after `EXTERNAL_DELAY`: a serving process indexes
        its own appends with the documents it made, but `posteingang deliver` or
        `import` may exit first, or run with the index off."""
        if self._index_wake is None or self._external_wake is not None:
            return
        if changes is not None and not any(c.kind is ChangeKind.APPEND for c in changes):
            return
        wake = self._index_wake

        def woken() -> None:
            self._external_wake = None
            wake.set()

        self._external_wake = asyncio.get_running_loop().call_later(EXTERNAL_DELAY, woken)

    def _start_indexing(self) -> None:
        self._made = {}
        self._index_wake = asyncio.Event()
        self._index_wake.set()  # first what waits from before (a read says if anything does)
        self._indexer = asyncio.create_task(self._index_loop(), name="fulltext indexer")

    async def _stop_indexing(self) -> None:
        if self._external_wake is not None:
            self._external_wake.cancel()
            self._external_wake = None
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
                await self.backfill_fulltext()
            except Exception:  # the next wake-up tries again; until then: unsure
                log.exception("fulltext_index_failed")

    async def backfill_fulltext(self) -> None:
        """Index what waits, one write job of up to `fulltext.BATCH` blobs at a time
        (other writes go between them); returns when nothing is left."""
        path_of = self.blobs.path_of
        made = self._made if self._made is not None else {}
        if await self._read(fulltext.backfilled):
            made.clear()  # (indexed by another process meanwhile)
            return  # (without a write job: an idle open commits nothing)

        def take(blob_id: str) -> Document | None:
            return made.pop(blob_id, None)

        while not await self._write(lambda c: (fulltext.backfill_batch(c, path_of, take), [])):
            pass
