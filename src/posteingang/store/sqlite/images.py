"""The senders whose remote images an account always loads (schema version 12).

A setting, not mail: no modseq, no change on the feed (an open page applies it
the next time it shows a message).
"""

from __future__ import annotations

import sqlite3
import time

from posteingang.store.hub import Change

__all__ = ["allow", "disallow", "senders"]


def senders(conn: sqlite3.Connection, account_id: int) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT sender FROM image_senders WHERE account_id = ? ORDER BY sender", (account_id,)
        )
    ]


def allow(conn: sqlite3.Connection, account_id: int, sender: str) -> tuple[None, list[Change]]:
    conn.execute(
        "INSERT OR IGNORE INTO image_senders (account_id, sender, added) VALUES (?, ?, ?)",
        (account_id, sender, int(time.time())),
    )
    return None, []


def disallow(conn: sqlite3.Connection, account_id: int, sender: str) -> tuple[bool, list[Change]]:
    cur = conn.execute(
        "DELETE FROM image_senders WHERE account_id = ? AND sender = ?", (account_id, sender)
    )
    return cur.rowcount > 0, []
