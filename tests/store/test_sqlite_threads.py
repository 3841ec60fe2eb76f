"""SQLite-only: migration 9 indexes the Message-IDs of mail stored before it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from posteingang.delivery.ingest import prepare_message
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.sqlite.store import SqliteStore
from tests.store.conftest import inbox_id, make_account


async def test_replies_after_the_upgrade_join_mail_stored_before_it(tmp_path: Path) -> None:
    db, blobs = tmp_path / "s.sqlite3", tmp_path / "blobs"
    store = await SqliteStore.open(db, FsBlobStore(blobs))
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    old = b"Message-ID: <old@example.test>\r\nSubject: before\r\n\r\nhi\r\n"
    await store.append(inbox, await prepare_message(store, old))
    (before,) = await store.get_messages(inbox, [1])
    await store.close()
    # back to schema version 8: no \Deleted index (13), image senders (12), full-text
    # index (11), sort keys (10) or thread index (9)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP INDEX messages_deleted")
    for table in ("image_senders", "search_text", "search_docs"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DELETE FROM meta WHERE key = 'fulltext_backfill'")
    for index in ("messages_sent", "messages_from", "messages_subject", "messages_unsorted"):
        conn.execute(f"DROP INDEX {index}")
    for column in ("sent_date", "sort_from", "sort_subject"):
        conn.execute(f"ALTER TABLE messages DROP COLUMN {column}")
    conn.execute("DROP TABLE thread_keys")
    conn.execute("DROP INDEX messages_thread")
    conn.execute("PRAGMA user_version = 8")
    conn.close()

    store = await SqliteStore.open(db, FsBlobStore(blobs))
    try:
        reply = (
            b"Message-ID: <new@example.test>\r\nIn-Reply-To: <old@example.test>\r\n"
            b"Subject: Re: before\r\n\r\nhello\r\n"
        )
        await store.append(inbox, await prepare_message(store, reply))
        first, second = await store.get_messages(inbox, [1, 2])
        assert first.thread_id == before.thread_id  # stored thread ids do not change
        assert second.thread_id == first.thread_id
        assert len(await store.thread_messages(account_id, first.thread_id)) == 2
    finally:
        await store.close()
