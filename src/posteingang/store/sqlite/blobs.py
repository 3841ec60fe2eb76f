"""Message bytes for the SQLite backend: small blobs inside the database, large ones as files.

Why inline: a file per message costs a create, a write, a rename and the
flushes that make them durable, and all of that must finish before the
metadata row may commit (DESIGN.md invariant 1) — two durable writes in series
per delivery. A small message stored in the `blob_data` table instead is
written by the very transaction that adds its message row: one commit, shared
by every delivery in the group commit, and atomic by construction (the bytes
and the row appear together or not at all). Most mail is small; files remain
for the large messages, where a streaming copy matters more than a flush.

`prepare_message` decides: at most `inline_limit` octets → `NewMessage.data`
carries the bytes and no file is written; larger → the file blob store, as
before. Readers do not care where a blob lives: `get`, `read` and `open` look
in the database first, then in the file store. Ids are SHA-256 either way, so
COPY and deduplication work across both.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.errors import NotFound

# Messages up to this size live in the database (a typical text mail is 2-50 KiB).
DEFAULT_INLINE_LIMIT = 128 * 1024


class SqliteBlobStore:
    """The BlobStore of a SqliteStore: `blob_data` rows plus an `FsBlobStore` for large blobs."""

    def __init__(
        self,
        files: FsBlobStore,
        connect: Callable[[], sqlite3.Connection],
        inline_limit: int = DEFAULT_INLINE_LIMIT,
    ) -> None:
        self.files = files
        self.inline_limit = inline_limit
        self.local_reads = True  # the page cache via mmap, or local files
        self._connect = connect
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []

    # -- the database side (any thread) ---------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            self._conns.append(conn)
        return conn

    def _inline(self, blob_id: str) -> bytes | None:
        row = self._conn().execute("SELECT data FROM blob_data WHERE id = ?", (blob_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def _inline_slice(self, blob_id: str, offset: int, length: int) -> bytes | None:
        # substr() is 1-based; it reads only the pages it needs of a large value
        row = (
            self._conn()
            .execute(
                "SELECT substr(data, ?, ?) FROM blob_data WHERE id = ?",
                (offset + 1, length, blob_id),
            )
            .fetchone()
        )
        return None if row is None else bytes(row[0])

    def close(self) -> None:
        for conn in self._conns:
            conn.close()
        self._conns.clear()

    # -- BlobStore --------------------------------------------------------------------
    def path_of(self, blob_id: str) -> Path:
        return self.files.path_of(blob_id)

    async def put(self, data: bytes) -> str:
        """Always a file: inline bytes travel with `NewMessage.data` into the append."""
        return await self.files.put(data)

    async def put_file(self, path: str) -> str:
        return await self.files.put_file(path)

    def get_sync(self, blob_id: str) -> bytes:
        data = self._inline(blob_id)
        if data is not None:
            return data
        return self.files.get_sync(blob_id)

    async def get(self, blob_id: str) -> bytes:
        return await asyncio.to_thread(self.get_sync, blob_id)

    def _read_sync(self, blob_id: str, offset: int, length: int) -> bytes:
        data = self._inline_slice(blob_id, offset, length)
        if data is not None:
            return data
        with self.files.open(blob_id) as f:
            f.seek(offset)
            return f.read(length)

    async def read(self, blob_id: str, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(self._read_sync, blob_id, offset, length)

    def open(self, blob_id: str) -> BinaryIO:
        data = self._inline(blob_id)
        if data is not None:
            return io.BytesIO(data)
        return self.files.open(blob_id)

    def open_many(self, blob_ids: list[str]) -> dict[str, BinaryIO]:
        """Open several blobs with one query for the inline ones (FETCH 1:* in batches)."""
        wanted = list(dict.fromkeys(blob_ids))
        opened: dict[str, BinaryIO] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            rows = self._conn().execute(
                f"SELECT id, data FROM blob_data WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for blob_id, data in rows:
                opened[blob_id] = io.BytesIO(data)
        for blob_id in wanted:
            if blob_id not in opened:
                try:
                    opened[blob_id] = self.files.open(blob_id)
                except NotFound:
                    pass
        return opened

    def exists_sync(self, blob_id: str) -> bool:
        if self._conn().execute("SELECT 1 FROM blob_data WHERE id = ?", (blob_id,)).fetchone():
            return True
        try:
            return self.files.path_of(blob_id).exists()
        except NotFound:
            return False

    async def exists(self, blob_id: str) -> bool:
        return await asyncio.to_thread(self.exists_sync, blob_id)

    async def delete(self, blob_id: str) -> None:
        """Delete a file blob. Inline blobs go with their rows (the store's GC does that)."""
        await self.files.delete(blob_id)

    async def list_ids(self) -> list[str]:
        def ids() -> list[str]:
            inline = [r[0] for r in self._conn().execute("SELECT id FROM blob_data")]
            return sorted(set(inline) | set(self.files.list_ids_sync()))

        return await asyncio.to_thread(ids)
