"""Derived data of the SQLite backend, and the one way it is brought up to date.

Derived data is what the store computes from a message's octets and could
compute again: the parse record (`parsed`, format `mime.FORMAT_VERSION`), the
sort keys of `messages` (sortkeys.py) and the full-text documents
(fulltext.py). New mail gets all of it at delivery (the full-text document
shortly after, from the indexer). Mail stored before a new kind of derived data
existed, or whose record is in an older format, is brought up to date this way
and no other:

1. A migration changes only the schema; it never reads message contents (the
   released migration 9, which filled thread keys from parse records in SQL,
   came before this rule and stays as it is: migrations are never edited).
2. What waits is recorded in the database itself, so any process that opens
   the whole store resumes it: NULL columns behind a partial index (the sort
   keys: `messages_unsorted`), or a cursor over the rowids of `parsed` in
   `meta`, -1 when done (full-text documents, parse-record upgrades).
3. After open, batches run in the background, each one write job, so other
   writes go between them and opening a large store never waits: `BACKFILLS`
   here, run by `SqliteStore` in order (a re-parsed record clears the sort keys
   and the full-text document it fed, so they are derived again from it), and
   the full-text indexer of searchindex.py, which also takes new mail.
4. Until a row is done, readers cope: a row without sort keys sorts first, a
   blob without a document is an unsure search candidate, and a record in an
   older format is parsed again where IMAP reads it (imap/ops/parse_cache.py:
   clients keep an ENVELOPE for good, and a running process's caches only ever
   hold what the upgrade will write); the webmail and POP3 read it as it is.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from posteingang.store.sqlite import sortkeys

if TYPE_CHECKING:
    from posteingang.mime import ParsedMessage

__all__ = ["BACKFILLS", "Backfill", "note_parse_format"]

#: parse records re-derived per write job (a parse is ~0.1-1 ms)
PARSE_BATCH = 50
#: meta keys: the parse-record format the store is being brought to, and the
#: rowid of `parsed` its upgrade has reached (-1 when done)
_FORMAT = "parse_format"
_CURSOR = "parse_upgrade"
#: meta key of the full-text indexer's cursor (fulltext.py)
_FULLTEXT_CURSOR = "fulltext_backfill"


class Backfill(NamedTuple):
    """One kind of derived data: whether anything waits (a read), and one batch (a
    write job; True when nothing is left)."""

    name: str
    waiting: Callable[[sqlite3.Connection], bool]
    batch: Callable[[sqlite3.Connection, Callable[[str], Path]], bool]


def note_parse_format(conn: sqlite3.Connection) -> None:
    """At open, before anything is written: if the stored records may be older than
    this code's `FORMAT_VERSION`, start their upgrade (one small transaction, only
    the first time this version opens the store). Records written from now on are
    current, so the cursor only has to pass the rows that exist now."""
    from posteingang.mime.model import FORMAT_VERSION

    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_FORMAT,)).fetchone()
    if row is not None and row[0] >= FORMAT_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        start = -1 if conn.execute("SELECT 1 FROM parsed LIMIT 1").fetchone() is None else 0
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?), (?, ?)",
            (_FORMAT, FORMAT_VERSION, _CURSOR, start),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _parse_waiting(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_CURSOR,)).fetchone()
    return row is not None and row[0] >= 0


def _upgrade_parse_batch(conn: sqlite3.Connection, path_of: Callable[[str], Path]) -> bool:
    """Re-derive up to `PARSE_BATCH` records after the cursor that are in an older format."""
    from posteingang.mime import encode_parsed

    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_CURSOR,)).fetchone()
    if row is None or row[0] < 0:
        return True
    rows = conn.execute(
        "SELECT rowid, blob_id, data FROM parsed WHERE rowid > ? ORDER BY rowid LIMIT ?",
        (row[0], PARSE_BATCH),
    ).fetchall()
    for rowid, blob_id, data in rows:
        if _current(bytes(data)):
            continue
        record = _parse(conn, blob_id, path_of(blob_id))
        if record is None:
            continue  # the octets are gone (`check` reports that); keep what there is
        conn.execute("UPDATE parsed SET data = ? WHERE rowid = ?", (encode_parsed(record), rowid))
        _rederive(conn, rowid, blob_id)
    done = len(rows) < PARSE_BATCH
    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (-1 if done else rows[-1][0], _CURSOR))
    return done


def _current(data: bytes) -> bool:
    import msgspec

    from posteingang.mime import decode_parsed
    from posteingang.mime.model import FORMAT_VERSION

    try:
        return decode_parsed(data).version >= FORMAT_VERSION
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False


def _parse(conn: sqlite3.Connection, blob_id: str, path: Path) -> ParsedMessage | None:
    from posteingang.mime import parse_file, parse_message

    inline = conn.execute("SELECT data FROM blob_data WHERE id = ?", (blob_id,)).fetchone()
    if inline is not None:
        return parse_message(bytes(inline[0]))
    try:
        with open(path, "rb") as f:
            return parse_file(f, os.fstat(f.fileno()).st_size)
    except FileNotFoundError:
        return None


def _rederive(conn: sqlite3.Connection, rowid: int, blob_id: str) -> None:
    """What was derived from the old record is derived again from the new one: the
    sort keys (by `sortkeys.backfill_batch`, next in `BACKFILLS`) and the full-text
    document (by the indexer: its cursor goes back before this record)."""
    conn.execute(
        "UPDATE messages SET sent_date = NULL, sort_from = NULL, sort_subject = NULL"
        " WHERE blob_id = ?",
        (blob_id,),
    )
    doc = conn.execute("SELECT id FROM search_docs WHERE blob_id = ?", (blob_id,)).fetchone()
    if doc is not None:
        conn.execute("DELETE FROM search_text WHERE rowid = ?", (doc[0],))
        conn.execute("DELETE FROM search_docs WHERE id = ?", (doc[0],))
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = ? AND (value < 0 OR value >= ?)",
        (rowid - 1, _FULLTEXT_CURSOR, rowid),
    )


def _sortkeys_batch(conn: sqlite3.Connection, _path_of: Callable[[str], Path]) -> bool:
    return sortkeys.backfill_batch(conn)


#: run in this order after open (a re-parsed record clears the sort keys it fed)
BACKFILLS: tuple[Backfill, ...] = (
    Backfill("parse_records", _parse_waiting, _upgrade_parse_batch),
    Backfill("sort_keys", sortkeys.waiting, _sortkeys_batch),
)
