"""SQLite-only behaviour: migrations from every earlier schema version, reopening, GC."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.hub import Change
from posteingang.store.model import FlagOp
from posteingang.store.sqlite.schema import LATEST, MIGRATIONS, migrate, schema_version
from posteingang.store.sqlite.store import SqliteStore
from tests.store.conftest import inbox_id, make_account, new_message

# Rows a database at each schema version can hold; the upgrade must keep them.
FILL_AT_VERSION = {
    1: [
        "INSERT INTO domains (name) VALUES ('example.test')",
        "INSERT INTO accounts (id, address, password_hash, modseq)"
        " VALUES (1, 'a@example.test', 'h', 2)",
        "INSERT INTO mailboxes (id, account_id, name, uidvalidity, uidnext, highestmodseq)"
        " VALUES (1, 1, 'INBOX', 1000, 2, 2)",
    ],
    2: [
        "INSERT INTO devices (account_id, name, password_hash, created)"
        " VALUES (1, 'phone', 'h', 0)",
    ],
}


@pytest.mark.parametrize("start", range(1, LATEST))
async def test_upgrade_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    assert migrate(conn, start) == start
    for version in range(1, start + 1):
        for sql in FILL_AT_VERSION.get(version, []):
            conn.execute(sql)
    conn.close()

    store = await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))
    try:
        account = await store.get_account("a@example.test")
        assert account is not None
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None and inbox.uidvalidity == 1000
        # the upgraded database works for new writes, modseq continues from the old counter
        result = await store.append(inbox.id, await new_message(store))
        assert result.uid == 2 and result.modseq == 3
        await store.add_device(account.id, "laptop", "h")
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    assert schema_version(conn) == LATEST == len(MIGRATIONS)
    conn.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))


async def test_data_survives_reopen(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.sqlite3", FsBlobStore(tmp_path / "b"))
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    await store.append(inbox, await new_message(store, b"persisted", frozenset({"\\Flagged"})))
    await store.close()
    store = await SqliteStore.open(tmp_path / "s.sqlite3", FsBlobStore(tmp_path / "b"))
    try:
        (msg,) = await store.get_messages(inbox, [1])
        assert msg.flags == {"\\Flagged"}
        assert await store.blobs.get(msg.blob_id) == b"persisted"
        assert (await store.check()).clean
    finally:
        await store.close()


async def test_blob_gc_deletes_unused_bytes_after_grace(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.sqlite3", FsBlobStore(tmp_path / "b"))
    try:
        account_id = await make_account(store)
        inbox = await inbox_id(store, account_id)
        msg = await new_message(store, b"to be deleted")
        await store.append(inbox, msg)
        await store.expunge(inbox, [1])
        assert await store.gc_blobs(grace_seconds=3600) == []  # still in its grace period
        assert await store.blobs.exists(msg.blob_id)
        assert await store.gc_blobs(grace_seconds=-1) == [msg.blob_id]
        assert not await store.blobs.exists(msg.blob_id)
        # the same content arriving again is stored afresh
        again = await new_message(store, b"to be deleted")
        await store.append(inbox, again)
        assert (await store.check()).clean
    finally:
        await store.close()


async def test_group_commit_batches_concurrent_appends(tmp_path: Path) -> None:
    import asyncio

    store = await SqliteStore.open(tmp_path / "s.sqlite3", FsBlobStore(tmp_path / "b"))
    try:
        account_id = await make_account(store)
        inbox = await inbox_id(store, account_id)
        msgs = [await new_message(store, b"m%d" % i) for i in range(200)]
        before = store._writer.commits
        results = await asyncio.gather(*(store.append(inbox, m) for m in msgs))
        assert sorted(r.uid for r in results) == list(range(1, 201))
        assert store._writer.commits - before < 200  # fewer commits than appends
    finally:
        await store.close()


def _synchronous(conn: sqlite3.Connection) -> tuple[int, list[Change]]:
    """A write job that reports the commit's fsync setting (2 FULL, 1 NORMAL)."""
    return int(conn.execute("PRAGMA synchronous").fetchone()[0]), []


async def test_only_batches_without_a_message_commit_without_fsync(tmp_path: Path) -> None:
    import asyncio
    import threading

    store = await SqliteStore.open(tmp_path / "s.sqlite3", FsBlobStore(tmp_path / "b"))
    try:
        account_id = await make_account(store)
        inbox = await inbox_id(store, account_id)
        msg = await new_message(store, b"m")
        assert await store._write(_synchronous) == 2
        assert await store._write(_synchronous, durable=False) == 1
        before = store._writer.unsynced_commits
        await store.append(inbox, msg)
        await store.store_flags(inbox, [1], FlagOp.ADD, frozenset({"\\Seen"}))
        await store.expunge(inbox, [1])
        assert store._writer.unsynced_commits == before + 2  # the flags and the expunge
        # A flag change batched with an append is fsynced with it.
        gate = threading.Event()

        def wait(conn: sqlite3.Connection) -> tuple[None, list[Change]]:
            gate.wait(10)
            return None, []

        held = asyncio.ensure_future(store._write(wait))
        await asyncio.sleep(0.05)  # the writer is in `wait`: what follows forms one batch
        mixed = [
            asyncio.ensure_future(store._write(_synchronous, durable=False)),
            asyncio.ensure_future(store.append(inbox, await new_message(store, b"n"))),
        ]
        await asyncio.sleep(0.05)
        gate.set()
        await held
        assert (await mixed[0]) == 2 and (await mixed[1]).uid == 2
    finally:
        await store.close()


async def test_commit_in_another_process_wakes_subscribers(tmp_path: Path) -> None:
    """`posteingang deliver` runs in its own process; IDLE sessions must still be pushed."""
    import asyncio
    import sys

    from posteingang.store.hub import Change, ChangeKind, Resync

    db, blobs = tmp_path / "s.sqlite3", tmp_path / "b"
    store = await SqliteStore.open(db, FsBlobStore(blobs))
    try:
        account_id = await make_account(store)
        inbox = await inbox_id(store, account_id)
        await store.listen_external()
        sub = store.hub.subscribe(account_id, await store.account_modseq(account_id))
        script = f"""
import asyncio
from pathlib import Path
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.hub import Change
from posteingang.store.model import FlagOp
from posteingang.store.sqlite.store import SqliteStore
from posteingang.delivery.ingest import prepare_message

async def main():
    s = await SqliteStore.open(Path({str(db)!r}), FsBlobStore(Path({str(blobs)!r})))
    await s.append({inbox}, await prepare_message(s, b"Subject: from afar\\r\\n\\r\\nhi"))
    await s.close()

asyncio.run(main())
"""
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
        assert await proc.wait() == 0
        # The other process's change arrives as it is: no store read needed.
        event = await asyncio.wait_for(sub.get(), 10)
        assert isinstance(event, Change)
        assert (event.mailbox_id, event.kind, event.uids) == (inbox, ChangeKind.APPEND, (1,))
        # our own commits arrive as ordinary changes, not as extra resyncs
        await store.append(inbox, await new_message(store))
        await asyncio.sleep(0.05)
        assert all(not isinstance(e, Resync) for e in sub.drain())
        sub.close()
    finally:
        await store.close()


async def test_packed_index_is_checked_and_repaired(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.sqlite3", FsBlobStore(tmp_path / "b"))
    try:
        account_id = await make_account(store)
        inbox = await inbox_id(store, account_id)
        for i in range(5):
            await store.append(inbox, await new_message(store, b"%d" % i))
        await store.write(
            lambda c: (c.execute("DELETE FROM mailbox_index WHERE mailbox_id = ?", (inbox,)), [])
        )
        report = await store.check()
        assert not report.clean and "packed index" in report.violations[0]
        repaired = await store.check(repair=True)
        assert repaired.clean and (await store.get_index(inbox)).uids == [1, 2, 3, 4, 5]
    finally:
        await store.close()


async def test_packed_index_spans_chunks_and_keywords(tmp_path: Path) -> None:
    from posteingang.store.model import FlagOp
    from posteingang.store.sqlite.index import CHUNK_UIDS

    store = await SqliteStore.open(tmp_path / "s.sqlite3", FsBlobStore(tmp_path / "b"))
    try:
        account_id = await make_account(store)
        inbox = await inbox_id(store, account_id)
        far = CHUNK_UIDS * 3 + 5
        await store.append_many(
            inbox,
            [
                await new_message(store, b"a", uid=CHUNK_UIDS - 1),
                await new_message(store, b"b", uid=CHUNK_UIDS),
                await new_message(store, b"c", uid=far),
            ],
        )
        await store.store_flags(inbox, [CHUNK_UIDS, far], FlagOp.ADD, frozenset({"\\Seen", "$x"}))
        await store.expunge(inbox, [CHUNK_UIDS - 1])
        index = await store.get_index(inbox)
        assert index.uids == [CHUNK_UIDS, far]
        assert index.flags == [frozenset({"\\Seen", "$x"})] * 2
        assert (await store.check()).clean
    finally:
        await store.close()


async def test_a_deduplicated_retrys_blob_file_is_collected(tmp_path: Path) -> None:
    # Issue 10, item 11: the retry's file is known to the store at once (not an
    # orphan) and blob GC removes it like any other unused blob.
    from dataclasses import replace

    store = await SqliteStore.open(tmp_path / "s.sqlite3", FsBlobStore(tmp_path / "b"))
    try:
        account_id = await make_account(store)
        inbox = await inbox_id(store, account_id)
        first = await new_message(store, b"Received: 1\r\n\r\nsame")
        retry = await new_message(store, b"Received: 2\r\n\r\nsame")
        await store.append(inbox, replace(first, dedupe_seconds=60, dedupe_key="k"))
        await store.append(inbox, replace(retry, dedupe_seconds=60, dedupe_key="k"))
        assert (await store.check()).orphaned_blobs == []
        assert await store.gc_blobs(grace_seconds=-1) == [retry.blob_id]
        assert await store.blobs.files.list_ids() == [first.blob_id]
        assert (await store.check()).clean
    finally:
        await store.close()


async def test_ids_are_never_reused_after_the_upgrade(tmp_path: Path) -> None:
    # Migration 5 rebuilds the tables with AUTOINCREMENT, keeping every row and id.
    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, 4)
    for sql in FILL_AT_VERSION[1] + FILL_AT_VERSION[2]:
        conn.execute(sql)
    conn.execute(
        "INSERT INTO mailboxes (id, account_id, name, uidvalidity, uidnext, highestmodseq)"
        " VALUES (7, 1, 'Old', 1001, 1, 2)"
    )
    conn.close()
    store = await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))
    try:
        old = await store.get_mailbox(1, "Old")
        assert old is not None and old.id == 7
        await store.delete_mailbox(1, "Old")
        fresh = await store.create_mailbox(1, "New")
        assert fresh.id == 8
        (device,) = await store.list_devices(1)
        assert device.name == "phone"
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
