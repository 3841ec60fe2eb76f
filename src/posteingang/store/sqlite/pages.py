"""`Store.message_page` for SQLite: one page of a mailbox's list, newest first.

The page comes straight off the ``(mailbox_id, uid)`` primary key: ``ORDER BY
uid DESC LIMIT n`` walks the b-tree backwards and stops after the page, so the
first page of a 100,000-message INBOX reads 50 rows. The total is a count over
the mailbox's key range (no table rows for ALL; the flag column for a filter),
a few milliseconds at that size. What it must never do: materialise the whole
mailbox in Python.
"""

from __future__ import annotations

import sqlite3

from posteingang.store.model import FLAGGED, SEEN, MessagePage, PageFilter, flags_to_bits
from posteingang.store.sqlite.messages import _MESSAGE_COLUMNS, _message

_SEEN_BIT = flags_to_bits(frozenset({SEEN}))[0]
_FLAGGED_BIT = flags_to_bits(frozenset({FLAGGED}))[0]

# filter -> (bit mask, value the masked flags must have)
_FILTERS: dict[PageFilter, tuple[int, int]] = {
    PageFilter.ALL: (0, 0),
    PageFilter.UNSEEN: (_SEEN_BIT, 0),
    PageFilter.FLAGGED: (_FLAGGED_BIT, _FLAGGED_BIT),
}


def message_page(
    conn: sqlite3.Connection,
    mailbox_id: int,
    offset: int,
    limit: int,
    filter: PageFilter,
    newest_first: bool,
) -> MessagePage:
    mask, value = _FILTERS[filter]
    where = "mailbox_id = ?" + (" AND (flags & ?) = ?" if mask else "")
    args: tuple[int, ...] = (mailbox_id, mask, value) if mask else (mailbox_id,)
    (total,) = conn.execute(f"SELECT count(*) FROM messages WHERE {where}", args).fetchone()
    order = "DESC" if newest_first else "ASC"
    rows = conn.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {where}"
        f" ORDER BY uid {order} LIMIT ? OFFSET ?",
        (*args, max(limit, 0), max(offset, 0)),
    ).fetchall()
    return MessagePage(int(total), [_message(r) for r in rows])
