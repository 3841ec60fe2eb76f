"""The sort-key columns of `messages` (migration 10): written with each new row; rows
without them (stored before the migration, or whose parse record was re-derived)
are filled in the background after open (derived.py, the one way derived data
is brought up to date).

The keys come from the parse record (`store.sortkeys`); a copy or move takes the
source row's keys. A row whose keys are NULL still sorts (first in ascending
order), so until the back-fill reaches it (or after a crash interrupted it,
until the next open finishes it) only such rows sort early.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from posteingang.store.mailstore import NewMessage
from posteingang.store.sortkeys import sort_keys

__all__ = ["COLUMNS", "Row", "backfill_batch", "of_new", "of_rows", "waiting"]

COLUMNS = "sent_date, sort_from, sort_subject"
#: (sent_date, sort_from, sort_subject) of one row, in `COLUMNS` order
Row = tuple[int | None, str | None, str | None]
#: rows filled per write job by `backfill_batch`
_BATCH = 2000


def of_new(message: NewMessage) -> Row:
    """The keys of a message about to be appended: computed with its parse by
    delivery, else from its parse record."""
    keys = message.sort_keys or sort_keys(message.parsed)
    internal_date = message.internal_date
    sent = keys.sent if keys.sent is not None else int(internal_date.timestamp())
    return sent, keys.sender, keys.subject


def of_rows(conn: sqlite3.Connection, mailbox_id: int, uids: Sequence[int]) -> list[Row]:
    """The stored keys of messages (in `uids` order), for their copies."""
    found: dict[int, Row] = {}
    for i in range(0, len(uids), 500):
        chunk = uids[i : i + 500]
        for uid, *key in conn.execute(
            f"SELECT uid, {COLUMNS} FROM messages WHERE mailbox_id = ?"
            f" AND uid IN ({','.join('?' * len(chunk))})",
            (mailbox_id, *chunk),
        ):
            found[uid] = (key[0], key[1], key[2])
    return [found.get(uid, (None, None, None)) for uid in uids]


def waiting(conn: sqlite3.Connection) -> bool:
    """Whether any row has no keys (cheap: the partial index `messages_unsorted`)."""
    return (
        conn.execute(
            "SELECT 1 FROM messages INDEXED BY messages_unsorted WHERE sort_subject IS NULL LIMIT 1"
        ).fetchone()
        is not None
    )


def backfill_batch(conn: sqlite3.Connection) -> bool:
    """In a write job: fill the keys of up to `_BATCH` rows that have none; True when
    none are left."""
    rows = conn.execute(
        "SELECT m.mailbox_id, m.uid, m.internal_date, p.data FROM messages m"
        " INDEXED BY messages_unsorted LEFT JOIN parsed p ON p.blob_id = m.blob_id"
        " WHERE m.sort_subject IS NULL LIMIT ?",
        (_BATCH,),
    ).fetchall()
    values = []
    for mailbox_id, uid, internal_date, data in rows:
        keys = sort_keys(data or b"")
        sent = keys.sent if keys.sent is not None else internal_date
        values.append((sent, keys.sender, keys.subject, mailbox_id, uid))
    conn.executemany(
        "UPDATE messages SET sent_date = ?, sort_from = ?, sort_subject = ?"
        " WHERE mailbox_id = ? AND uid = ?",
        values,
    )
    return len(rows) < _BATCH
