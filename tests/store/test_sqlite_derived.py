"""Derived data brought up to date after open (store/sqlite/derived.py): parse records
of an older format are re-derived, and what was derived from them follows."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import msgspec

from posteingang.mime import decode_parsed, encode_parsed, parse_message
from posteingang.mime.model import FORMAT_VERSION
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.fulltext import Term
from posteingang.store.sqlite.store import SqliteStore
from tests.store.conftest import inbox_id, make_account, new_message

RAW = (
    b"From: Amy Example <amy@example.test>\r\nTo: bob@example.test\r\n"
    b"Subject: quarterly figures\r\nDate: Mon, 02 Nov 2026 09:00:00 +0000\r\n"
    b"Message-ID: <q1@example.test>\r\n\r\nthe numbers are in\r\n"
)


async def _store_with_an_old_record(tmp_path: Path) -> tuple[Path, bytes]:
    """A store whose one message has a parse record of the previous format, with a
    wrong subject in it (standing for the ENVELOPE the old parser derived)."""
    db = tmp_path / "store.sqlite3"
    store = await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))
    try:
        inbox = await inbox_id(store, await make_account(store))
        message = await new_message(store, RAW)
        fresh = parse_message(RAW)
        await store.append(inbox, dataclasses.replace(message, parsed=encode_parsed(fresh)))
        await store.backfill_derived()
        await store.backfill_fulltext()
    finally:
        await store.close()
    old = msgspec.structs.replace(fresh, subject="stale", version=FORMAT_VERSION - 1)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE parsed SET data = ?", (encode_parsed(old),))
    conn.execute("UPDATE messages SET sort_subject = 'stale'")
    # as a store last opened by the previous version left it
    conn.execute("DELETE FROM meta WHERE key IN ('parse_format', 'parse_upgrade')")
    conn.close()
    return db, encode_parsed(fresh)


async def test_records_of_an_older_format_are_derived_again_after_open(tmp_path: Path) -> None:
    db, fresh = await _store_with_an_old_record(tmp_path)
    store = await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))
    try:
        # open does not wait for the upgrade; this is what it started in the background
        await store.backfill_derived()
        await store.backfill_fulltext()
        message = (await store.get_messages(1, [1]))[0]
        record = await store.get_parsed(message.blob_id)
        assert decode_parsed(record).version == FORMAT_VERSION
        assert record == fresh
        # what was derived from the old record follows the new one
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT sort_subject FROM messages").fetchall() == [
            ("quarterly figures",)
        ]
        conn.close()
        found = await store.fulltext_candidates(1, [Term("subject", "quarterly")])
        assert found is not None and (found.matched, found.unsure) == ([1], [])
    finally:
        await store.close()


async def test_an_upgraded_store_is_not_walked_again(tmp_path: Path) -> None:
    db, _ = await _store_with_an_old_record(tmp_path)
    for _ in range(2):
        store = await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))
        await store.backfill_derived()
        await store.close()
    conn = sqlite3.connect(db)
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'parse_%'"))
    conn.close()
    assert meta == {"parse_format": FORMAT_VERSION, "parse_upgrade": -1}
