"""The sort-key columns of `messages` (migration 9): filled on append and copy,
and for rows stored before the migration once at open.

The keys come from the parse record (`store.sortkeys`); a copy or move takes the
source row's keys. A row whose keys are NULL still sorts (first in ascending
order), so a backfill interrupted by a crash only makes a few rows sort early
until the next open finishes it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from posteingang.store.sortkeys import sort_keys

__all__ = ["backfill", "fill_appended", "fill_copied"]

_SET = (
    "UPDATE messages SET sent_date = COALESCE(?, internal_date), sort_from = ?,"
    " sort_subject = ? WHERE mailbox_id = ? AND uid = ?"
)
#: rows filled per transaction by `backfill`
_BATCH = 2000


def fill_appended(
    conn: sqlite3.Connection, mailbox_id: int, rows: Sequence[tuple[int, bytes]]
) -> None:
    """Keys of just-inserted messages: (uid, encoded parse record) each."""
    values = []
    for uid, parsed in rows:
        keys = sort_keys(parsed)
        values.append((keys.sent, keys.sender, keys.subject, mailbox_id, uid))
    conn.executemany(_SET, values)


def fill_copied(
    conn: sqlite3.Connection, source_id: int, target_id: int, uids: Sequence[tuple[int, int]]
) -> None:
    """Keys of copied messages, from their source rows: (source uid, target uid) each."""
    conn.executemany(
        "UPDATE messages SET (sent_date, sort_from, sort_subject) = (SELECT sent_date,"
        " sort_from, sort_subject FROM messages WHERE mailbox_id = ? AND uid = ?)"
        " WHERE mailbox_id = ? AND uid = ?",
        [(source_id, s, target_id, t) for s, t in uids],
    )


def backfill(conn: sqlite3.Connection) -> int:
    """Fill the keys of rows that have none (stored before migration 9); returns how
    many. Cheap when there are none: the partial index `messages_unsorted` is empty."""
    done = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(
                "SELECT m.mailbox_id, m.uid, p.data FROM messages m"
                " INDEXED BY messages_unsorted LEFT JOIN parsed p ON p.blob_id = m.blob_id"
                " WHERE m.sort_subject IS NULL LIMIT ?",
                (_BATCH,),
            ).fetchall()
            values = []
            for mailbox_id, uid, data in rows:
                keys = sort_keys(data or b"")
                values.append((keys.sent, keys.sender, keys.subject, mailbox_id, uid))
            conn.executemany(_SET, values)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done += len(rows)
        if len(rows) < _BATCH:
            return done
