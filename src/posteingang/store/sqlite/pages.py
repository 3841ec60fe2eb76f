"""`Store.message_page` and `Store.mailbox_counts` for SQLite: the webmail's list views.

The page comes straight off the ``(mailbox_id, uid)`` primary key: ``ORDER BY
uid DESC LIMIT n`` walks the b-tree backwards and stops after the page, so the
first page of a 100,000-message INBOX reads 50 rows. Counts (the page's total,
the folder list's unread numbers) come from the packed index (index.py: one
flag byte per message, ~100 rows for 100,000 messages) and are counted with
``bytes.translate`` at C speed, instead of a scan of the wide message rows
(32 ms for 100,000 messages; `bench_web`). What it must never do: materialise
the whole mailbox in Python objects.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from posteingang.store.model import (
    FLAGGED,
    SEEN,
    MailboxCounts,
    MessagePage,
    PageFilter,
    PageSort,
    flags_to_bits,
)
from posteingang.store.sqlite.messages import get_messages
from posteingang.store.sqlite.rows import MESSAGE_COLUMNS, message_row

_SEEN_BIT = flags_to_bits(frozenset({SEEN}))[0]
_FLAGGED_BIT = flags_to_bits(frozenset({FLAGGED}))[0]

# Every flag byte with the bit set: deleting them from a flag array leaves the others.
_WITH_SEEN = bytes(b for b in range(256) if b & _SEEN_BIT)
_WITH_FLAGGED = bytes(b for b in range(256) if b & _FLAGGED_BIT)

# filter -> (bit mask, value the masked flags must have)
_FILTERS: dict[PageFilter, tuple[int, int]] = {
    PageFilter.ALL: (0, 0),
    PageFilter.UNSEEN: (_SEEN_BIT, 0),
    PageFilter.FLAGGED: (_FLAGGED_BIT, _FLAGGED_BIT),
}


# sort -> the column ordered by before uid (None: uid alone)
_SORT_COLUMNS: dict[PageSort, str | None] = {
    PageSort.ARRIVAL: None,
    PageSort.SIZE: "size",
    PageSort.DATE: "sent_date",
    PageSort.FROM: "sort_from",
    PageSort.SUBJECT: "sort_subject",
}
_INDEXED = {"sent_date", "sort_from", "sort_subject"}


def message_page(
    conn: sqlite3.Connection,
    mailbox_id: int,
    offset: int,
    limit: int,
    filter: PageFilter,
    newest_first: bool,
    sort: PageSort = PageSort.ARRIVAL,
) -> MessagePage:
    mask, value = _FILTERS[filter]
    where = "mailbox_id = ?" + (" AND (flags & ?) = ?" if mask else "")
    args: tuple[int, ...] = (mailbox_id, mask, value) if mask else (mailbox_id,)
    counts = _counts(conn, mailbox_id)
    total = {
        PageFilter.ALL: counts.messages,
        PageFilter.UNSEEN: counts.unseen,
        PageFilter.FLAGGED: counts.flagged,
    }[filter]
    order = "DESC" if newest_first else "ASC"
    # By size there is no index: SQLite keeps the top `offset + limit` rows while it
    # scans the mailbox (tens of ms for 100,000 messages); by arrival it walks the key,
    # by date, sender and subject an index (migration 9: messages_sent/_from/_subject).
    column = _SORT_COLUMNS[sort]
    keys = f"{column} {order}, uid {order}" if column else f"uid {order}"
    if column in _INDEXED and not mask:
        # Two steps: the page's uids from the covering (mailbox_id, key, uid) index,
        # so a deep OFFSET skips index entries, not whole rows; then those rows.
        uids = [
            row[0]
            for row in conn.execute(
                f"SELECT uid FROM messages WHERE {where} ORDER BY {keys} LIMIT ? OFFSET ?",
                (*args, max(limit, 0), max(offset, 0)),
            )
        ]
        found = {m.uid: m for m in get_messages(conn, mailbox_id, uids)}
        return MessagePage(int(total), [found[u] for u in uids if u in found])
    rows = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} ORDER BY {keys} LIMIT ? OFFSET ?",
        (*args, max(limit, 0), max(offset, 0)),
    ).fetchall()
    return MessagePage(int(total), [message_row(r) for r in rows])


def _counts(conn: sqlite3.Connection, mailbox_id: int) -> MailboxCounts:
    flags = b"".join(
        row[0]
        for row in conn.execute(
            "SELECT flags FROM mailbox_index WHERE mailbox_id = ?", (mailbox_id,)
        )
    )
    return MailboxCounts(
        len(flags),
        len(flags.translate(None, _WITH_SEEN)),
        len(flags) - len(flags.translate(None, _WITH_FLAGGED)),
    )


def mailbox_counts(
    conn: sqlite3.Connection, mailbox_ids: Sequence[int]
) -> dict[int, MailboxCounts]:
    known = (
        {
            row[0]
            for row in conn.execute(
                f"SELECT id FROM mailboxes WHERE id IN ({','.join('?' * len(mailbox_ids))})",
                tuple(mailbox_ids),
            )
        }
        if mailbox_ids
        else set()
    )
    return {m: _counts(conn, m) for m in mailbox_ids if m in known}
