"""SQLite jobs for mailboxes: create, rename, delete, subscribe, look up, count.

Every write function runs inside the writer thread's transaction (see
writer.py), takes the next account modseq with `next_modseq`, and returns the
`Change` records the writer publishes after COMMIT. Messages: messages.py (renaming
INBOX moves its messages); what both need: shared.py.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from posteingang.store import names
from posteingang.store.errors import AlreadyExists, Conflict, NotFound
from posteingang.store.hub import Change, ChangeKind
from posteingang.store.model import HIERARCHY_DELIMITER, Mailbox, MailboxStatus, SpecialUse
from posteingang.store.sqlite import index as packed
from posteingang.store.sqlite import pop3
from posteingang.store.sqlite.messages import copy_messages
from posteingang.store.sqlite.rows import MAILBOX_COLUMNS, mailbox_row
from posteingang.store.sqlite.shared import drop_messages, next_modseq, require_mailbox

_SEEN_BIT = 1
_DELETED_BIT = 8


def _next_uidvalidity(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'uidvalidity'").fetchone()
    value = max(int(row[0]) + 1 if row else 0, int(time.time()))
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('uidvalidity', ?)", (value,))
    return value


def list_mailboxes(conn: sqlite3.Connection, account_id: int) -> list[Mailbox]:
    rows = conn.execute(
        f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? ORDER BY name",
        (account_id,),
    ).fetchall()
    return [mailbox_row(r) for r in rows]


def get_mailbox(conn: sqlite3.Connection, account_id: int, name: str) -> Mailbox | None:
    row = conn.execute(
        f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND name = ?",
        (account_id, name),
    ).fetchone()
    return mailbox_row(row) if row else None


def find_mailbox(conn: sqlite3.Connection, account_id: int, name: str) -> Mailbox | None:
    """The mailbox called `name`, else one whose name differs only in ASCII case."""
    found = get_mailbox(conn, account_id, name)
    if found is not None:
        return found
    row = conn.execute(
        f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND name = ?"
        " COLLATE NOCASE ORDER BY name LIMIT 1",
        (account_id, name),
    ).fetchone()
    return mailbox_row(row) if row else None


def create_mailbox(
    conn: sqlite3.Connection,
    account_id: int,
    name: str,
    special_use: SpecialUse | None,
    uidvalidity: int | None,
) -> tuple[Mailbox, list[Change]]:
    if get_mailbox(conn, account_id, name) is not None:
        raise AlreadyExists(f"mailbox {name} already exists")
    modseq = next_modseq(conn, account_id)
    validity = uidvalidity or _next_uidvalidity(conn)
    cur = conn.execute(
        "INSERT INTO mailboxes (account_id, name, uidvalidity, uidnext, highestmodseq,"
        " special_use) VALUES (?, ?, ?, 1, ?, ?)",
        (account_id, name, validity, modseq, special_use.value if special_use else None),
    )
    assert cur.lastrowid is not None
    mailbox = Mailbox(cur.lastrowid, account_id, name, validity, 1, modseq, special_use)
    return mailbox, [Change(account_id, mailbox.id, modseq, ChangeKind.MAILBOX_CREATE, name=name)]


def delete_mailbox(
    conn: sqlite3.Connection, account_id: int, name: str
) -> tuple[None, list[Change]]:
    mailbox = get_mailbox(conn, account_id, name)
    if mailbox is None:
        raise NotFound(f"mailbox {name} does not exist")
    if mailbox.name == "INBOX":
        raise Conflict("INBOX cannot be deleted")
    modseq = next_modseq(conn, account_id)
    drop_messages(conn, "mailbox_id = ?", (mailbox.id,))
    pop3.forget(conn, mailbox.id, None)
    packed.drop(conn, mailbox.id)
    conn.execute("DELETE FROM expunged WHERE mailbox_id = ?", (mailbox.id,))
    conn.execute("DELETE FROM mailboxes WHERE id = ?", (mailbox.id,))
    return None, [Change(account_id, mailbox.id, modseq, ChangeKind.MAILBOX_DELETE)]


def rename_mailbox(
    conn: sqlite3.Connection, account_id: int, old: str, new: str
) -> tuple[Mailbox, list[Change]]:
    mailbox = get_mailbox(conn, account_id, old)
    if mailbox is None:
        raise NotFound(f"mailbox {old} does not exist")
    if get_mailbox(conn, account_id, new) is not None:
        raise AlreadyExists(f"mailbox {new} already exists")
    if mailbox.name == "INBOX":
        # RFC 9051 §6.3.6: renaming INBOX moves its messages to a new mailbox.
        target, changes = create_mailbox(conn, account_id, new, None, None)
        uids = [
            r[0]
            for r in conn.execute("SELECT uid FROM messages WHERE mailbox_id = ?", (mailbox.id,))
        ]
        if uids:
            _, more = copy_messages(conn, mailbox.id, uids, target.id, move=True)
            changes += more
        return require_mailbox(conn, target.id), changes
    if names.is_inferior(new, mailbox.name):
        raise Conflict("cannot rename a mailbox into its own child")
    changes = []
    renamed = mailbox
    rows = conn.execute(
        f"SELECT {MAILBOX_COLUMNS} FROM mailboxes"
        " WHERE account_id = ? AND (name = ? OR name LIKE ? ESCAPE '\\')",
        (account_id, mailbox.name, _like_prefix(mailbox.name + HIERARCHY_DELIMITER)),
    ).fetchall()
    for row in rows:
        mb = mailbox_row(row)
        if mb.name != mailbox.name and not names.is_inferior(mb.name, mailbox.name):
            continue
        new_name = new + mb.name[len(mailbox.name) :]
        if mb.id != mailbox.id and get_mailbox(conn, account_id, new_name) is not None:
            raise AlreadyExists(f"mailbox {new_name} already exists")
        modseq = next_modseq(conn, account_id)
        conn.execute(
            "UPDATE mailboxes SET name = ?, highestmodseq = ? WHERE id = ?",
            (new_name, modseq, mb.id),
        )
        changes.append(Change(account_id, mb.id, modseq, ChangeKind.MAILBOX_RENAME, name=new_name))
        if mb.id == mailbox.id:
            renamed = require_mailbox(conn, mb.id)
    # The subscriptions of the renamed names move along (a subscription of the new
    # name that was already there is kept once).
    conn.execute(
        "UPDATE OR REPLACE subscriptions SET name = ? || substr(name, ?)"
        " WHERE account_id = ? AND (name = ? OR name LIKE ? ESCAPE '\\')",
        (new, len(mailbox.name) + 1, account_id, mailbox.name,
         _like_prefix(mailbox.name + HIERARCHY_DELIMITER)),
    )  # fmt: skip
    return renamed, changes


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def set_subscribed(
    conn: sqlite3.Connection, account_id: int, name: str, subscribed: bool
) -> tuple[None, list[Change]]:
    """Subscriptions are names: no mailbox of that name needs to exist (interface.py)."""
    modseq = next_modseq(conn, account_id)
    if subscribed:
        conn.execute(
            "INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?, ?)",
            (account_id, name),
        )
    else:
        conn.execute(
            "DELETE FROM subscriptions WHERE account_id = ? AND name = ?", (account_id, name)
        )
    mailbox = get_mailbox(conn, account_id, name)
    mailbox_id = mailbox.id if mailbox is not None else 0
    return None, [Change(account_id, mailbox_id, modseq, ChangeKind.MAILBOX_SUBSCRIBE, name=name)]


def subscribe_defaults(conn: sqlite3.Connection, account_id: int, names: Sequence[str]) -> None:
    """A new account's default mailboxes start subscribed (no change: the account is new)."""
    conn.executemany(
        "INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?, ?)",
        [(account_id, n) for n in names],
    )


def list_subscriptions(conn: sqlite3.Connection, account_id: int) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name", (account_id,)
        )
    ]


def mailbox_status(conn: sqlite3.Connection, mailbox_id: int) -> MailboxStatus:
    mailbox = require_mailbox(conn, mailbox_id)
    row = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(flags & ? = 0), 0), COALESCE(SUM(flags & ? != 0), 0),"
        " COALESCE(SUM(size), 0), COALESCE(SUM(uid >= ?), 0) FROM messages WHERE mailbox_id = ?",
        (_SEEN_BIT, _DELETED_BIT, mailbox.first_recent_uid, mailbox_id),
    ).fetchone()
    return MailboxStatus(
        mailbox, int(row[0]), int(row[1]), int(row[2]), int(row[3]), recent=int(row[4])
    )


_M_COLUMNS = ", ".join("m." + c.strip() for c in MAILBOX_COLUMNS.split(","))
_STATUS_SMALL = (
    f"SELECT {_M_COLUMNS}, COUNT(x.uid), COALESCE(SUM(x.flags & ? = 0), 0),"
    " COALESCE(SUM(x.flags & ? != 0), 0), COALESCE(SUM(x.size), 0),"
    " COALESCE(SUM(x.uid >= m.first_recent_uid), 0)"
    " FROM mailboxes m LEFT JOIN messages x ON x.mailbox_id = m.id"
    " WHERE m.id = ? AND m.uidnext <= ? GROUP BY m.id"
)


def mailbox_status_small(
    conn: sqlite3.Connection, mailbox_id: int, max_uidnext: int
) -> MailboxStatus | None:
    """`mailbox_status` in one statement (one snapshot, no transaction to open) when
    the mailbox's uidnext is at most ``max_uidnext``; else (or if it is gone) None.

    The uidnext test is on the mailbox row, before any message is read, so a big
    mailbox costs one index lookup here and is counted on the pool."""
    row = conn.execute(_STATUS_SMALL, (_SEEN_BIT, _DELETED_BIT, mailbox_id, max_uidnext)).fetchone()
    if row is None:
        return None
    mailbox = mailbox_row(row[:8])  # the MAILBOX_COLUMNS part
    return MailboxStatus(mailbox, row[8], row[9], row[10], row[11], recent=row[12])


def claim_recent(conn: sqlite3.Connection, mailbox_id: int) -> tuple[tuple[int, int], list[Change]]:
    """`Store.claim_recent`: per-session state, so no modseq and no change."""
    # In the writer's transaction: atomic. Two columns, not the whole `Mailbox`.
    row = conn.execute(
        "SELECT first_recent_uid, uidnext FROM mailboxes WHERE id = ?", (mailbox_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"mailbox {mailbox_id} does not exist")
    first_recent_uid, uidnext = row
    if first_recent_uid < uidnext:
        conn.execute(
            "UPDATE mailboxes SET first_recent_uid = ? WHERE id = ?", (uidnext, mailbox_id)
        )
    return (first_recent_uid, uidnext), []
