"""SQLite sort keys (migration 10): rows stored before it are filled in the background
after open (store/sqlite/derived.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from posteingang.mime import encode_parsed, parse_message
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.model import PageSort
from posteingang.store.sqlite.schema import migrate
from posteingang.store.sqlite.store import SqliteStore


def _raw(sender: str, subject: str) -> bytes:
    return f"From: {sender}\r\nSubject: {subject}\r\nDate: Mon, 02 Nov 2026 09:00:00 +0000\r\n\r\nx\r\n".encode()  # noqa: E501


async def test_messages_stored_before_the_sort_keys_sort_after_the_upgrade(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, 8)
    conn.executescript(
        "INSERT INTO domains (name) VALUES ('example.test');"
        "INSERT INTO accounts (id, address, password_hash, modseq)"
        " VALUES (1, 'a@example.test', 'h', 3);"
        "INSERT INTO mailboxes (id, account_id, name, uidvalidity, uidnext, highestmodseq)"
        " VALUES (1, 1, 'INBOX', 1000, 3, 3);"
    )
    for uid, (sender, subject) in enumerate([("Zed <z@x>", "Re: b"), ("amy@x", "a")], 1):
        blob = f"b{uid}"
        conn.execute(
            "INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date,"
            " tz_offset, size, blob_id, email_id, thread_id, save_date)"
            " VALUES (1, ?, ?, 0, '', 0, 0, 10, ?, ?, ?, 0)",
            (uid, uid, blob, f"M{uid}", f"T{uid}"),
        )
        conn.execute(
            "INSERT INTO parsed (blob_id, data) VALUES (?, ?)",
            (blob, encode_parsed(parse_message(_raw(sender, subject)))),
        )
    conn.close()
    store = await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))
    try:
        await store.backfill_derived()  # (what open started in the background)
        by_from = await store.message_page(
            1, offset=0, limit=5, sort=PageSort.FROM, newest_first=False
        )
        assert [m.uid for m in by_from.messages] == [2, 1]
        by_subject = await store.message_page(
            1, offset=0, limit=5, sort=PageSort.SUBJECT, newest_first=True
        )
        assert [m.uid for m in by_subject.messages] == [1, 2]
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM messages WHERE sort_subject IS NULL").fetchone() == (
        0,
    )
    conn.close()
