"""SQLite side of thread ids (the rule is in store/threads.py).

Table ``thread_keys`` (schema version 9) maps (account, Message-ID) to a
thread id; ``messages_thread`` indexes messages by thread id for
`thread_messages`. Runs in the writer's transaction like every append job.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from posteingang.store import threads
from posteingang.store.mailstore import NewMessage
from posteingang.store.model import Message
from posteingang.store.sqlite.rows import MESSAGE_COLUMNS, message_row


def thread_of(conn: sqlite3.Connection, account_id: int, message: NewMessage, email_id: str) -> str:
    """The thread of a new message; records its keys (one indexed lookup per key)."""
    keys = threads.thread_keys(message.message_id, message.parent_ids)

    def lookup(wanted: Sequence[str]) -> dict[str, str]:
        rows = conn.execute(
            "SELECT message_id, thread_id FROM thread_keys WHERE account_id = ?"
            f" AND message_id IN ({','.join('?' * len(wanted))})",
            (account_id, *wanted),
        )
        return dict(rows.fetchall())

    thread_id, new_keys = threads.assign(keys, email_id, lookup)
    if new_keys:
        conn.executemany(
            "INSERT OR IGNORE INTO thread_keys (account_id, message_id, thread_id)"
            " VALUES (?, ?, ?)",
            [(account_id, key, thread_id) for key in new_keys],
        )
    return thread_id


def thread_messages(conn: sqlite3.Connection, account_id: int, thread_id: str) -> list[Message]:
    columns = ", ".join("m." + c.strip() for c in MESSAGE_COLUMNS.split(","))
    rows = conn.execute(
        f"SELECT {columns} FROM messages m INDEXED BY messages_thread"
        " JOIN mailboxes b ON b.id = m.mailbox_id"
        " WHERE m.thread_id = ? AND b.account_id = ?"
        " ORDER BY m.internal_date, m.mailbox_id, m.uid",
        (thread_id, account_id),
    )
    return [message_row(r) for r in rows]


def thread_size(conn: sqlite3.Connection, account_id: int, thread_id: str) -> int:
    """The number of rows `thread_messages` gives (index messages_thread)."""
    (count,) = conn.execute(
        "SELECT count(*) FROM messages m INDEXED BY messages_thread"
        " JOIN mailboxes b ON b.id = m.mailbox_id"
        " WHERE m.thread_id = ? AND b.account_id = ?",
        (thread_id, account_id),
    ).fetchone()
    return int(count)
