"""SQLite-only: the full-text index's tables (schema version 11), its back-fill, the
indexing of new mail in the background, and turning it off."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from posteingang.delivery.ingest import prepare_message
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.fulltext import Term
from posteingang.store.sqlite import fulltext, searchindex
from posteingang.store.sqlite.schema import LATEST, migrate
from posteingang.store.sqlite.store import SqliteStore
from tests.store.conftest import inbox_id, make_account


def _mail(i: int) -> bytes:
    return f"From: sender{i}@example.org\r\nSubject: number {i}\r\n\r\nbody {i}\r\n".encode()


def _docs(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        (docs,) = conn.execute("SELECT count(*) FROM search_docs").fetchone()
        (texts,) = conn.execute("SELECT count(*) FROM search_text").fetchone()
        assert docs == texts
        return int(docs)
    finally:
        conn.close()


async def test_documents_go_with_their_blob(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))
    try:
        account = await make_account(store)
        inbox = await inbox_id(store, account)
        for i in range(3):
            await store.append(inbox, await prepare_message(store, _mail(i)))
        kept = await store.create_mailbox(account, "Kept")
        await store.copy(inbox, [1], kept.id)
        await store.backfill_fulltext()
        assert _docs(db) == 3
        await store.expunge(inbox, [1, 2])
        assert _docs(db) == 3  # kept until blob GC (an hour later by default)
        await store.gc_blobs(grace_seconds=-1)
        assert _docs(db) == 2  # message 1's blob is still in Kept
        await store.delete_mailbox(account, "Kept")
        await store.gc_blobs(grace_seconds=-1)
        assert _docs(db) == 1
        await store.delete_account("alice@example.test")
        await store.gc_blobs(grace_seconds=-1)
        assert _docs(db) == 0
    finally:
        await store.close()


async def test_an_expunged_message_is_not_found_and_its_octets_come_back_indexed(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))
    try:
        account = await make_account(store)
        inbox = await inbox_id(store, account)
        term = [Term("subject", "number 1")]
        for i in range(2):
            await store.append(inbox, await prepare_message(store, _mail(i)))
        await store.backfill_fulltext()
        await store.expunge(inbox, [2])
        found = await store.fulltext_candidates(inbox, term)
        assert found is not None and found.uids() == []
        # The same octets again before blob GC: the kept document serves them.
        await store.append(inbox, await prepare_message(store, _mail(1)))
        found = await store.fulltext_candidates(inbox, term)
        assert found is not None and found.matched == [3] and found.unsure == []
        assert _docs(db) == 2
    finally:
        await store.close()


async def test_mail_stored_before_version_11_is_indexed_after_open(tmp_path: Path) -> None:
    db, blobs = tmp_path / "s.sqlite3", tmp_path / "blobs"
    store = await SqliteStore.open(db, FsBlobStore(blobs))
    account = await make_account(store)
    inbox = await inbox_id(store, account)
    count = fulltext.BATCH * 2 + 5  # several batches
    await store.append_many(inbox, [await prepare_message(store, _mail(i)) for i in range(count)])
    await store.close()
    # back to schema version 10: no index (11), image senders (12) or \Deleted index (13)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP INDEX messages_deleted")
    conn.execute("DROP TABLE image_senders")
    conn.execute("DROP TABLE search_text")
    conn.execute("DROP TABLE search_docs")
    conn.execute("DELETE FROM meta WHERE key = 'fulltext_backfill'")
    conn.execute("PRAGMA user_version = 10")
    term = [Term("subject", "number 7")]
    # Until the back-fill is done, messages without a document are candidates.
    assert migrate(conn) == LATEST
    early = fulltext.candidates(conn, inbox, term)
    assert early is not None and early.unsure == list(range(1, count + 1))
    conn.close()

    store = await SqliteStore.open(db, FsBlobStore(blobs))
    try:
        await store.backfill_fulltext()  # (what open started in the background)
        assert _docs(db) == count
        hits = [i + 1 for i in range(count) if "number 7" in f"number {i}"]
        found = await store.fulltext_candidates(inbox, term)
        assert found is not None and found.matched == hits and found.unsure == []
        await store.append(inbox, await prepare_message(store, _mail(count)))
        await store.backfill_fulltext()
        assert _docs(db) == count + 1
    finally:
        await store.close()


async def test_an_idle_open_commits_nothing(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.sqlite3", FsBlobStore(tmp_path / "blobs"))
    try:
        await store.backfill_fulltext()
        assert store._writer.commits == 0
    finally:
        await store.close()


async def test_new_mail_is_unsure_until_the_background_indexer_takes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Room for three appends on a loaded machine before the indexer's first batch.
    monkeypatch.setattr(searchindex, "INDEX_DELAY", 2.0)
    db = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))
    try:
        account = await make_account(store)
        inbox = await inbox_id(store, account)
        term = [Term("subject", "number 1")]
        for i in range(3):
            await store.append(inbox, await prepare_message(store, _mail(i)))
        # Not indexed in the append's commit: a candidate the engine must confirm.
        early = await store.fulltext_candidates(inbox, term)
        assert early is not None and early.uids() == [1, 2, 3]
        # Gone in the expunge's commit, indexed or not.
        await store.expunge(inbox, [3])
        gone = await store.fulltext_candidates(inbox, term)
        assert gone is not None and 3 not in gone.uids()
        # The appends woke the indexer: it gets there by itself.
        for _ in range(500):
            found = await store.fulltext_candidates(inbox, term)
            if found is not None and not found.unsure:
                break
            await asyncio.sleep(0.02)
        assert found is not None and found.matched == [2] and found.unsure == []
        assert _docs(db) in (2, 3)  # 3's document too, if the indexer came first
    finally:
        await store.close()


async def test_the_index_can_be_turned_off_and_catches_up_when_on_again(
    tmp_path: Path,
) -> None:
    db, blobs = tmp_path / "s.sqlite3", tmp_path / "blobs"
    store = await SqliteStore.open(db, FsBlobStore(blobs), search_index=False)
    try:
        account = await make_account(store)
        inbox = await inbox_id(store, account)
        await store.append(inbox, await prepare_message(store, _mail(1)))
        assert await store.fulltext_candidates(inbox, [Term("subject", "number")]) is None
        assert _docs(db) == 0
    finally:
        await store.close()
    store = await SqliteStore.open(db, FsBlobStore(blobs))
    try:
        early = await store.fulltext_candidates(inbox, [Term("subject", "number 2")])
        assert early is not None and early.uids() == [1]  # not indexed yet: unsure
        await store.backfill_fulltext()
        assert _docs(db) == 1
        found = await store.fulltext_candidates(inbox, [Term("subject", "number 1")])
        assert found is not None and found.matched == [1] and found.unsure == []
    finally:
        await store.close()


async def test_mail_another_process_left_unindexed_is_indexed_by_a_listening_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `posteingang deliver` appends and exits before its indexer runs: the serving
    # process hears of the append (notify.py) and indexes it, with no append of its own.
    monkeypatch.setattr(searchindex, "SWEEP_DELAY", 0.05)
    db, blobs = tmp_path / "s.sqlite3", tmp_path / "blobs"
    serving = await SqliteStore.open(db, FsBlobStore(blobs))
    try:
        await serving.listen_external()
        account = await make_account(serving)
        inbox = await inbox_id(serving, account)
        await serving.backfill_fulltext()
        # (with its index off, as `deliver` may run: nothing of its own races the
        # check below; with it on, its first append is indexed at once)
        deliver = await SqliteStore.open(db, FsBlobStore(blobs), search_index=False)
        await deliver.append(inbox, await prepare_message(deliver, _mail(1)))
        await deliver.close()
        assert _docs(db) == 0
        for _ in range(500):
            if _docs(db) == 1:
                break
            await asyncio.sleep(0.02)
        assert _docs(db) == 1
    finally:
        await serving.close()


async def test_incomplete_documents_are_found_without_walking_the_folder(tmp_path: Path) -> None:
    """The query for a folder's incomplete documents starts from the few of them
    (partial index) and looks each one's messages up by blob, never walking the
    folder's messages (23 ms at 100,000 of them): a property of the plan."""
    db = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))
    try:
        account = await make_account(store)
        inbox = await inbox_id(store, account)
        for i in range(20):
            await store.append(inbox, await prepare_message(store, _mail(i)))
        await store.backfill_fulltext()
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "UPDATE search_docs SET complete = 0 WHERE blob_id ="
            " (SELECT blob_id FROM messages WHERE mailbox_id = ? AND uid = 3)",
            (inbox,),
        )
        conn.commit()
        plan = [
            row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + fulltext.INCOMPLETE, (inbox,))
        ]
        assert plan[0] == "SCAN d USING INDEX search_docs_incomplete", plan
        (messages,) = [step for step in plan if " m " in step]
        assert messages.startswith("SEARCH m USING") and "(blob_id=?" in messages, plan
        assert [r[0] for r in conn.execute(fulltext.INCOMPLETE, (inbox,))] == [3]
    finally:
        conn.close()
