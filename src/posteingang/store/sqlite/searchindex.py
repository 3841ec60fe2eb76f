"""The SQLite backend's `SearchIndex` (store/searchindex.py): jobs in fulltext.py,
and the background task that indexes the blobs stored before schema version 11."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from posteingang.store.fulltext import Candidates, Term
from posteingang.store.sqlite import fulltext
from posteingang.store.sqlite.access import SqliteAccess


class SqliteSearchIndex(SqliteAccess):
    _backfill: asyncio.Task[None] | None = None

    async def fulltext_candidates(
        self, mailbox_id: int, terms: Sequence[Term]
    ) -> Candidates | None:
        return await self._read(lambda c: fulltext.candidates(c, mailbox_id, terms))

    def _start_indexing(self) -> None:
        # Not awaited: a large store opens at once and is indexed meanwhile (fulltext.py).
        self._backfill = asyncio.create_task(self.backfill_fulltext(), name="fulltext backfill")

    async def _stop_indexing(self) -> None:
        if self._backfill is not None:
            self._backfill.cancel()  # its batches are whole transactions; the next open resumes
            with contextlib.suppress(asyncio.CancelledError):
                await self._backfill
            self._backfill = None

    async def backfill_fulltext(self) -> None:
        """Index the blobs stored before schema version 11, one small write job at a
        time (other writes go between them); returns when none are left."""
        path_of = self.blobs.path_of
        if await self._read(fulltext.backfilled):
            return  # (without a write job: an idle open commits nothing)
        while not await self._write(lambda c: (fulltext.backfill_batch(c, path_of), [])):
            pass
