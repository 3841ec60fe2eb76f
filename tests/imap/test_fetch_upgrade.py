"""FETCH while the store upgrades parse records of an older format (store/sqlite/
derived.py): a running process answers from the current format before, during and
after the upgrade, and its process-wide caches never keep what an old record said."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import msgspec
import pytest

from posteingang.imap.ops import fetch as fetch_mod
from posteingang.imap.ops import fetch_items, parse_cache
from posteingang.mime import decode_parsed, encode_parsed, parse_message
from posteingang.mime.model import FORMAT_VERSION
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.sqlite.store import SqliteStore
from tests.store.conftest import inbox_id, make_account, new_message

from .test_fetch_support import fetch_bytes, view_of

RAW = (
    b"From: Amy Example <amy@example.test>\r\nTo: bob@example.test\r\n"
    b"Subject: quarterly figures\r\nDate: Mon, 02 Nov 2026 09:00:00 +0000\r\n"
    b"Message-ID: <q1@example.test>\r\n\r\nthe numbers are in\r\n"
)


def _make_record_old(db: Path) -> None:
    """Put back a record of the previous format whose ENVELOPE differs (standing for
    the one the old parser derived), as a store last opened by the previous version
    left it, with its upgrade waiting."""
    old = msgspec.structs.replace(parse_message(RAW), version=FORMAT_VERSION - 1)
    old = msgspec.structs.replace(
        old, envelope=msgspec.structs.replace(old.envelope, subject=b"stale")
    )
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE parsed SET data = ?", (encode_parsed(old),))
    conn.execute("UPDATE meta SET value = 0 WHERE key = 'parse_upgrade'")
    conn.close()


async def test_fetch_answers_the_current_format_before_and_after_the_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_items, "RENDERED", fetch_items.RenderedCache())
    monkeypatch.setattr(fetch_mod, "RENDERED", fetch_items.RENDERED)
    monkeypatch.setattr(parse_cache, "DECODED", parse_cache.DecodedCache())
    db = tmp_path / "store.sqlite3"
    store = await SqliteStore.open(db, FsBlobStore(tmp_path / "blobs"))
    try:
        inbox = await inbox_id(store, await make_account(store))
        message = await new_message(store, RAW)
        await store.append(
            inbox, dataclasses.replace(message, parsed=encode_parsed(parse_message(RAW)))
        )
        await store.backfill_derived()  # nothing waits from here on ...
        _make_record_old(db)  # ... until the record is of the previous format again
        view = await view_of(store, inbox)
        line = b"a FETCH 1 (ENVELOPE BODYSTRUCTURE)"

        # The store still holds the old record: FETCH parses the message again
        # rather than answer (and cache) what the old record says.
        during = await fetch_bytes(store, view, line)
        assert decode_parsed(await store.get_parsed(message.blob_id)).version < FORMAT_VERSION
        assert b'"quarterly figures"' in during and b"stale" not in during
        decoded = parse_cache.DECODED.get(message.blob_id)
        assert decoded is not None and decoded.version == FORMAT_VERSION

        # The background upgrade of a running server lands; no restart, and the
        # next FETCH (from the caches or the store) answers the same.
        await store.backfill_derived()
        record = decode_parsed(await store.get_parsed(message.blob_id))
        assert record.version == FORMAT_VERSION and record.envelope.subject != b"stale"
        assert await fetch_bytes(store, view, line) == during
        parse_cache.DECODED.clear()
        fetch_items.RENDERED.clear()
        assert await fetch_bytes(store, view, line) == during
    finally:
        await store.close()


async def test_an_old_record_leaves_nothing_in_the_caches_that_would_outlive_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record of an older format handed to the caches directly is refused: a hit
    needs no version check, since only current records get in."""
    monkeypatch.setattr(parse_cache, "DECODED", parse_cache.DecodedCache())
    old = msgspec.structs.replace(parse_message(RAW), version=FORMAT_VERSION - 1)
    parse_cache.DECODED.put("blob", old, 100)
    assert parse_cache.DECODED.get("blob") is None
    parse_cache.DECODED.put("blob", parse_message(RAW), 100)
    assert parse_cache.DECODED.get("blob") is not None
