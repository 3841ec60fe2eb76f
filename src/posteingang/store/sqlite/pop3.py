"""SQLite jobs for POP3 per-client state (views per device) and imported UIDLs.

`device_key` is the device id, or 0 for a login with the account password:
each is its own POP3 client with its own view.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from posteingang.store.hub import Change
from posteingang.store.model import Pop3View


def device_key(device_id: int | None) -> int:
    return device_id or 0


def view(conn: sqlite3.Connection, mailbox_id: int, device_id: int | None) -> Pop3View:
    retrieved: dict[int, datetime] = {}
    hidden: set[int] = set()
    for uid, at, is_hidden in conn.execute(
        "SELECT uid, retrieved_at, hidden FROM pop3_state WHERE mailbox_id = ? AND device_key = ?",
        (mailbox_id, device_key(device_id)),
    ):
        if at is not None:
            retrieved[uid] = datetime.fromtimestamp(at, UTC)
        if is_hidden:
            hidden.add(uid)
    return Pop3View(retrieved, frozenset(hidden))


def record(
    conn: sqlite3.Connection,
    mailbox_id: int,
    device_id: int | None,
    retrieved: Sequence[int],
    hidden: Sequence[int],
    at: datetime,
) -> tuple[None, list[Change]]:
    key = device_key(device_id)
    stamp = int(at.timestamp())
    existing = {
        r[0] for r in conn.execute("SELECT uid FROM messages WHERE mailbox_id = ?", (mailbox_id,))
    }
    conn.executemany(
        "INSERT INTO pop3_state (mailbox_id, device_key, uid, retrieved_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET retrieved_at = COALESCE(retrieved_at, excluded.retrieved_at)",
        [(mailbox_id, key, uid, stamp) for uid in retrieved if uid in existing],
    )
    conn.executemany(
        "INSERT INTO pop3_state (mailbox_id, device_key, uid, hidden) VALUES (?, ?, ?, 1)"
        " ON CONFLICT DO UPDATE SET hidden = 1",
        [(mailbox_id, key, uid) for uid in hidden if uid in existing],
    )
    return None, []


def retrieved_before(conn: sqlite3.Connection, mailbox_id: int, cutoff: datetime) -> list[int]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT uid FROM pop3_state WHERE mailbox_id = ? AND retrieved_at IS NOT NULL"
            " GROUP BY uid HAVING MIN(retrieved_at) < ? ORDER BY uid",
            (mailbox_id, int(cutoff.timestamp())),
        )
    ]


def set_uidls(
    conn: sqlite3.Connection, mailbox_id: int, uidls: dict[int, str]
) -> tuple[None, list[Change]]:
    conn.executemany(
        "INSERT OR REPLACE INTO pop3_uidl (mailbox_id, uid, uidl) VALUES (?, ?, ?)",
        [(mailbox_id, uid, uidl) for uid, uidl in uidls.items()],
    )
    return None, []


def get_uidls(conn: sqlite3.Connection, mailbox_id: int) -> dict[int, str]:
    return {
        r[0]: r[1]
        for r in conn.execute("SELECT uid, uidl FROM pop3_uidl WHERE mailbox_id = ?", (mailbox_id,))
    }


def forget(conn: sqlite3.Connection, mailbox_id: int, uids: Sequence[int] | None) -> None:
    """Drop POP3 state of expunged messages (all of the mailbox's when uids is None)."""
    if uids is None:
        conn.execute("DELETE FROM pop3_state WHERE mailbox_id = ?", (mailbox_id,))
        conn.execute("DELETE FROM pop3_uidl WHERE mailbox_id = ?", (mailbox_id,))
        return
    conn.executemany(
        "DELETE FROM pop3_state WHERE mailbox_id = ? AND uid = ?", [(mailbox_id, u) for u in uids]
    )
    conn.executemany(
        "DELETE FROM pop3_uidl WHERE mailbox_id = ? AND uid = ?", [(mailbox_id, u) for u in uids]
    )
