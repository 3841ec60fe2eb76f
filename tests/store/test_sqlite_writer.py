"""The SQLite writer thread: failing jobs, and checkpoints beside the writer (writer.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.hub import Change, Hub
from posteingang.store.sqlite import writer as writer_module
from posteingang.store.sqlite.access import connect
from posteingang.store.sqlite.store import SqliteStore
from posteingang.store.sqlite.writer import Writer


def _put(key: str, value: int, fail: bool = False) -> writer_module.Job[int]:
    def job(conn: sqlite3.Connection) -> tuple[int, list[Change]]:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        if fail:
            raise RuntimeError("job failed")
        return value, []

    return job


def _meta(path: Path, key: str) -> object:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


async def test_a_failing_job_leaves_nothing_alone_or_in_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(path, FsBlobStore(tmp_path / "b"))
    try:
        with pytest.raises(RuntimeError):
            await store._write(_put("alone", 1, fail=True))  # a batch of one job
        assert await store._write(_put("after", 2)) == 2
        gate = threading.Event()

        def hold(conn: sqlite3.Connection) -> tuple[None, list[Change]]:
            gate.wait(10)
            return None, []

        held = asyncio.ensure_future(store._write(hold))
        await asyncio.sleep(0.05)  # the writer is in `hold`: the next three form one batch
        batch = [
            asyncio.ensure_future(store._write(_put("first", 3))),
            asyncio.ensure_future(store._write(_put("batched", 4, fail=True))),
            asyncio.ensure_future(store._write(_put("last", 5))),
        ]
        await asyncio.sleep(0.05)
        gate.set()
        await held
        results = await asyncio.gather(*batch, return_exceptions=True)
        assert results[0] == 3 and isinstance(results[1], RuntimeError) and results[2] == 5
    finally:
        await store.close()
    assert _meta(path, "alone") is None and _meta(path, "batched") is None
    assert (_meta(path, "after"), _meta(path, "first"), _meta(path, "last")) == (2, 3, 5)


@pytest.fixture
def small_checkpoints(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Checkpoints after every 8 commits, SQLite's own after 64 WAL pages."""
    monkeypatch.setattr(writer_module, "CHECKPOINT_COMMITS", 8)
    monkeypatch.setattr(writer_module, "CHECKPOINT_FALLBACK_PAGES", 64)
    yield


async def test_the_wal_stays_short_under_sustained_writes(
    tmp_path: Path, small_checkpoints: None
) -> None:
    path = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(path, FsBlobStore(tmp_path / "b"), search_index=False)
    reader = connect(path, readonly=True)
    try:
        page = int(reader.execute("PRAGMA page_size").fetchone()[0])
        for i in range(600):  # each commit writes a page of meta at least
            await store._write(_put(f"k{i % 50}", i))
            if i % 10 == 0:  # a reader in between, as a serving store has
                reader.execute("SELECT COUNT(*) FROM meta").fetchone()
        assert store._writer.checkpoints > 0
        wal = path.with_name(path.name + "-wal").stat().st_size
        # Without checkpoints the WAL would hold 600 pages at least; it starts over
        # after the fallback's 64 (and what was written while a checkpoint ran).
        assert wal < 300 * (page + 24)
    finally:
        reader.close()
        await store.close()
    assert _meta(path, "k49") == 599


async def test_a_checkpoint_never_holds_up_a_write(tmp_path: Path, small_checkpoints: None) -> None:
    """The checkpoint thread stuck in a checkpoint: commits go on, durable ones too."""
    path = tmp_path / "s.sqlite3"
    (await SqliteStore.open(path, FsBlobStore(tmp_path / "b"), search_index=False))
    entered, release = threading.Event(), threading.Event()

    class Stuck(sqlite3.Connection):
        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
            if "wal_checkpoint" in sql:
                entered.set()
                release.wait(30)
            return super().execute(sql, *args)

    def open_stuck() -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None, factory=Stuck)

    writer = Writer(connect(path), Hub(), checkpoint=open_stuck)
    try:
        for i in range(8):
            await writer.submit(_put("n", i))
        assert await asyncio.to_thread(entered.wait, 10)  # the checkpoint has started
        for i in range(100):  # and goes on, while commits go on beside it
            assert await writer.submit(_put("n", i), durable=i % 2 == 0) == i
        assert _meta(path, "n") == 99
    finally:
        release.set()
        await writer.close()
    assert writer.checkpoints >= 1
