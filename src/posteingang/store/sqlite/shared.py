"""SQLite statements that both mailboxes.py and messages.py run (so neither imports
the other for them): the account's modseq, a mailbox by id, dropping message rows,
an account's usage."""

from __future__ import annotations

import sqlite3
import time

from posteingang.store.errors import NotFound
from posteingang.store.model import Mailbox
from posteingang.store.sqlite.rows import MAILBOX_COLUMNS, mailbox_row


def next_modseq(conn: sqlite3.Connection, account_id: int) -> int:
    row = conn.execute(
        "UPDATE accounts SET modseq = modseq + 1 WHERE id = ? RETURNING modseq", (account_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"account {account_id} does not exist")
    return int(row[0])


def get_mailbox_by_id(conn: sqlite3.Connection, mailbox_id: int) -> Mailbox | None:
    row = conn.execute(
        f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?", (mailbox_id,)
    ).fetchone()
    return mailbox_row(row) if row else None


def require_mailbox(conn: sqlite3.Connection, mailbox_id: int) -> Mailbox:
    mailbox = get_mailbox_by_id(conn, mailbox_id)
    if mailbox is None:
        raise NotFound(f"mailbox {mailbox_id} does not exist")
    return mailbox


def drop_messages(conn: sqlite3.Connection, where: str, args: tuple[object, ...]) -> None:
    """Unreference the blobs of the messages matching `where`, then delete the rows.

    A blob whose count reaches zero gets `zero_since` (blob GC takes it after its
    grace period, and its search document with it: `SqliteStore.gc_blobs`) in the
    same statement, so no statement scans every blob. Deleting an FTS5 document
    costs about a millisecond per message (FTS5 tokenizes the stored text again to
    remove it), more than the rest of an EXPUNGE, so it is not done here; a search
    never finds a document whose blob no message uses (fulltext.py).
    """
    conn.execute(
        f"UPDATE blobs SET refcount = refcount - c.n,"
        f" zero_since = CASE WHEN refcount - c.n <= 0 THEN COALESCE(zero_since, ?)"
        f" ELSE zero_since END FROM"
        f" (SELECT blob_id, COUNT(*) AS n FROM messages WHERE {where} GROUP BY blob_id) AS c"
        f" WHERE blobs.id = c.blob_id",
        (int(time.time()), *args),
    )
    conn.execute(f"DELETE FROM messages WHERE {where}", args)


def usage(conn: sqlite3.Connection, account_id: int) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(m.size), 0) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
        " WHERE b.account_id = ?",
        (account_id,),
    ).fetchone()
    return int(row[0])
