"""`posteingang check` for the SQLite backend: blobs and invariants, optional repair.

Repairs are limited to what cannot lose mail: deleting blob files that no
message row references, and recomputing blob reference counts from the rows.
A missing blob or a UID/modseq violation is reported, never "repaired" by
deleting messages.
"""

from __future__ import annotations

import asyncio
import sqlite3

from posteingang.store.hub import Change
from posteingang.store.interface import IntegrityReport
from posteingang.store.sqlite import index as packed
from posteingang.store.sqlite.access import SqliteAccess


def _violations(conn: sqlite3.Connection) -> list[str]:
    found = []
    for mailbox_id, name, uidnext, max_uid in conn.execute(
        "SELECT b.id, b.name, b.uidnext, MAX(m.uid) FROM mailboxes b"
        " JOIN messages m ON m.mailbox_id = b.id GROUP BY b.id HAVING MAX(m.uid) >= b.uidnext"
    ):
        found.append(f"mailbox {name} ({mailbox_id}): uid {max_uid} >= uidnext {uidnext}")
    for mailbox_id, name, hms, max_ms in conn.execute(
        "SELECT b.id, b.name, b.highestmodseq, MAX(m.modseq) FROM mailboxes b"
        " JOIN messages m ON m.mailbox_id = b.id GROUP BY b.id"
        " HAVING MAX(m.modseq) > b.highestmodseq"
    ):
        found.append(f"mailbox {name} ({mailbox_id}): modseq {max_ms} > highestmodseq {hms}")
    for account_id, address, modseq, hms in conn.execute(
        "SELECT a.id, a.address, a.modseq, MAX(b.highestmodseq) FROM accounts a"
        " JOIN mailboxes b ON b.account_id = a.id GROUP BY a.id"
        " HAVING MAX(b.highestmodseq) > a.modseq"
    ):
        found.append(f"account {address} ({account_id}): highestmodseq {hms} > modseq {modseq}")
    for blob_id, refcount, actual in conn.execute(
        "SELECT b.id, b.refcount, COUNT(m.blob_id) FROM blobs b"
        " LEFT JOIN messages m ON m.blob_id = b.id GROUP BY b.id"
        " HAVING b.refcount != COUNT(m.blob_id)"
    ):
        found.append(f"blob {blob_id}: refcount {refcount} but {actual} messages use it")
    for (blob_id,) in conn.execute(
        "SELECT DISTINCT m.blob_id FROM messages m LEFT JOIN blobs b ON b.id = m.blob_id"
        " WHERE b.id IS NULL"
    ):
        found.append(f"blob {blob_id}: used by messages but has no blob row")
    for mailbox_id, name in conn.execute("SELECT id, name FROM mailboxes").fetchall():
        wrong = packed.differences(conn, mailbox_id)
        if wrong:
            found.append(f"mailbox {name} ({mailbox_id}): packed index differs in {wrong} entries")
    return found


def _rebuild_indexes(conn: sqlite3.Connection) -> tuple[int, list[Change]]:
    boxes = [r[0] for r in conn.execute("SELECT id FROM mailboxes").fetchall()]
    rebuilt = 0
    for mailbox_id in boxes:
        if packed.differences(conn, mailbox_id):
            packed.rebuild(conn, mailbox_id)
            rebuilt += 1
    return rebuilt, []


def _fix_refcounts(conn: sqlite3.Connection) -> tuple[int, list[Change]]:
    conn.execute(
        "INSERT INTO blobs (id, size, refcount) SELECT blob_id, MAX(size), 0 FROM messages"
        " WHERE blob_id NOT IN (SELECT id FROM blobs) GROUP BY blob_id"
    )
    cur = conn.execute(
        "UPDATE blobs SET refcount = (SELECT COUNT(*) FROM messages m WHERE m.blob_id = blobs.id)"
        " WHERE refcount != (SELECT COUNT(*) FROM messages m WHERE m.blob_id = blobs.id)"
    )
    conn.execute(
        "UPDATE blobs SET zero_since = strftime('%s', 'now') WHERE refcount = 0"
        " AND zero_since IS NULL"
    )
    return cur.rowcount, []


async def _strays(store: SqliteAccess) -> list[str]:
    """Files in the blob directory that are not blobs: reported, never deleted."""
    found = await asyncio.to_thread(store.blobs.files.strays_sync)
    return [f"stray file in the blob directory (not a blob; move it away): {p}" for p in found]


async def check(store: SqliteAccess, repair: bool) -> IntegrityReport:
    files = set(await store.blobs.list_ids())
    known = set(await store.read(lambda c: [r[0] for r in c.execute("SELECT id FROM blobs")]))
    used = set(
        await store.read(
            lambda c: [r[0] for r in c.execute("SELECT DISTINCT blob_id FROM messages")]
        )
    )
    orphaned = sorted(files - known - used)
    missing = sorted(used - files)
    violations = await store.read(_violations)
    violations += await _strays(store)
    repaired: list[str] = []
    if repair:
        for blob_id in orphaned:
            await store.blobs.delete(blob_id)
            repaired.append(f"deleted orphaned blob {blob_id}")
        if orphaned:
            gone = list(orphaned)
            await store.write(
                lambda c: (
                    c.executemany("DELETE FROM blob_data WHERE id = ?", [(b,) for b in gone]),
                    [],
                )
            )
        orphaned = []
        if any(v.startswith("blob ") for v in violations):
            fixed = await store.write(_fix_refcounts)
            repaired.append(f"recomputed {fixed} blob reference counts")
        if any("packed index" in v for v in violations):
            rebuilt = await store.write(_rebuild_indexes)
            repaired.append(f"rebuilt the packed index of {rebuilt} mailboxes")
        if repaired:
            violations = await store.read(_violations) + await _strays(store)
    return IntegrityReport(orphaned, missing, violations, repaired)
