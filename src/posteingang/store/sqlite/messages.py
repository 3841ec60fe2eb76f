"""SQLite jobs for messages: append, copy and move, flags, expunge, and the reads.

Every write function runs inside the writer thread's transaction (see
writer.py), takes the next account modseq with `next_modseq` (shared.py),
and returns the
`Change` records the writer publishes after COMMIT. Blob reference counts
change in the same transaction as the message rows that use them.
"""

from __future__ import annotations

import bisect
import sqlite3
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from posteingang.store.errors import Conflict, NotFound, QuotaExceeded
from posteingang.store.hub import Change, ChangeKind
from posteingang.store.ids import new_object_id
from posteingang.store.mailstore import NewMessage
from posteingang.store.model import (
    AppendResult,
    Changes,
    CopyResult,
    FlagOp,
    FlagUpdate,
    Mailbox,
    MailboxIndex,
    Message,
    MessageBody,
    bits_to_flags,
    canonical_flags,
    flags_to_bits,
)
from posteingang.store.sqlite import index as packed
from posteingang.store.sqlite import pop3, sortkeys
from posteingang.store.sqlite.rows import (
    MESSAGE_COLUMNS,
    SYSTEM_FLAG_SETS,
    MessageRow,
    message_row,
)
from posteingang.store.sqlite.shared import drop_messages, next_modseq, require_mailbox, usage
from posteingang.store.sqlite.threads import thread_of

T = TypeVar("T")
# Delivery keys older than a week are removed when a mailbox's uidnext passes a
# multiple of this (an index makes it cheap; no need to do it on every delivery).
_PURGE_EVERY = 64
_CHUNK = 500  # SQLite's default limit of bound parameters is 32766; stay far below


def _chunks(values: Sequence[T]) -> Iterable[Sequence[T]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def _next_modseq_and_quota(conn: sqlite3.Connection, account_id: int) -> tuple[int, int | None]:
    """`next_modseq`, and the account's quota in the same statement (appends need both)."""
    row = conn.execute(
        "UPDATE accounts SET modseq = modseq + 1 WHERE id = ? RETURNING modseq, quota_bytes",
        (account_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"account {account_id} does not exist")
    return int(row[0]), row[1]


def _check_quota(conn: sqlite3.Connection, account_id: int, extra: int) -> None:
    """QuotaExceeded if `extra` more octets do not fit."""
    row = conn.execute("SELECT quota_bytes FROM accounts WHERE id = ?", (account_id,)).fetchone()
    _check_quota_of(conn, account_id, extra, row[0] if row else None)


def _check_quota_of(
    conn: sqlite3.Connection, account_id: int, extra: int, quota: int | None
) -> None:
    """`_check_quota` with the account's quota already read (None: no quota, no query)."""
    if quota is not None and usage(conn, account_id) + extra > quota:
        raise QuotaExceeded("quota exceeded")


def _next_modseq_of_mailbox(conn: sqlite3.Connection, mailbox_id: int) -> tuple[int, int]:
    """(account, its next modseq) of a mailbox in one statement: a job that changes
    a mailbox it has found messages in needs both (~7 µs less than two)."""
    row = conn.execute(
        "UPDATE accounts SET modseq = modseq + 1"
        " WHERE id = (SELECT account_id FROM mailboxes WHERE id = ?) RETURNING id, modseq",
        (mailbox_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"mailbox {mailbox_id} does not exist")
    return int(row[0]), int(row[1])


def append_messages(
    conn: sqlite3.Connection, mailbox_id: int, messages: Sequence[NewMessage]
) -> tuple[list[AppendResult], list[Change]]:
    return append_to(conn, require_mailbox(conn, mailbox_id), messages)


def append_to(
    conn: sqlite3.Connection, mailbox: Mailbox, messages: Sequence[NewMessage]
) -> tuple[list[AppendResult], list[Change]]:
    """`append_messages` into a mailbox row read in this transaction."""
    if not messages:
        return [], []
    mailbox_id = mailbox.id
    account_id = mailbox.account_id
    results_by_index: dict[int, AppendResult] = {}
    for i, m in enumerate(messages):
        if m.dedupe_seconds is not None:
            since = int(time.time()) - m.dedupe_seconds
            if m.dedupe_key is not None:
                row = conn.execute(
                    "SELECT d.uid, d.modseq FROM delivery_keys d JOIN messages m"
                    " ON m.mailbox_id = d.mailbox_id AND m.uid = d.uid"
                    " WHERE d.mailbox_id = ? AND d.key = ? AND d.at >= ?",
                    (mailbox_id, m.dedupe_key, since),
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT uid, modseq FROM messages WHERE mailbox_id = ? AND blob_id = ?"
                    " AND save_date >= ? ORDER BY uid DESC LIMIT 1",
                    (mailbox_id, m.blob_id, since),
                ).fetchone()
            if row is not None:
                results_by_index[i] = AppendResult(mailbox_id, mailbox.uidvalidity, row[0], row[1])
    if results_by_index:
        fresh = [m for i, m in enumerate(messages) if i not in results_by_index]
        stored, changes = append_to(conn, mailbox, fresh) if fresh else ([], [])
        it = iter(stored)
        merged = [
            results_by_index[i] if i in results_by_index else next(it) for i in range(len(messages))
        ]
        return merged, changes
    modseq, quota = _next_modseq_and_quota(conn, account_id)
    # A failure here is undone with the modseq by the job's savepoint.
    _check_quota_of(conn, account_id, sum(m.size for m in messages), quota)
    now = int(time.time())
    uid = mailbox.uidnext
    results = []
    rows = []
    for m in messages:
        if m.uid is not None:
            if m.uid < uid:
                raise Conflict(f"uid {m.uid} is below uidnext {uid}")
            uid = m.uid
        email_id = new_object_id("M")
        thread_id = thread_of(conn, account_id, m, email_id)
        rows.append(
            _row(mailbox_id, uid, modseq, canonical_flags(m.flags), m.internal_date, m.size,
                 m.blob_id, email_id, thread_id, now)
        )  # fmt: skip
        results.append(AppendResult(mailbox_id, mailbox.uidvalidity, uid, modseq))
        uid += 1
    keys = [sortkeys.of_new(m) for m in messages]
    _insert_rows(conn, mailbox_id, rows, [(m.blob_id, m.size, m.line_size) for m in messages], keys)
    conn.executemany(
        "INSERT OR IGNORE INTO parsed (blob_id, data) VALUES (?, ?)",
        [(m.blob_id, m.parsed) for m in messages],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO blob_data (id, data) VALUES (?, ?)",
        [(m.blob_id, m.data) for m in messages if m.data is not None],
    )
    keyed = [
        (mailbox_id, m.dedupe_key, r.uid, modseq, now)
        for m, r in zip(messages, results, strict=True)
        if m.dedupe_key
    ]
    if keyed:
        if uid // _PURGE_EVERY != mailbox.uidnext // _PURGE_EVERY:  # now and then
            conn.execute(
                "DELETE FROM delivery_keys WHERE mailbox_id = ? AND at < ?",
                (mailbox_id, now - 7 * 86400),
            )
        conn.executemany(
            "INSERT OR REPLACE INTO delivery_keys (mailbox_id, key, uid, modseq, at)"
            " VALUES (?, ?, ?, ?, ?)",
            keyed,
        )
    conn.execute(
        "UPDATE mailboxes SET uidnext = ?, highestmodseq = ? WHERE id = ?",
        (uid, modseq, mailbox_id),
    )
    change = Change(
        account_id, mailbox_id, modseq, ChangeKind.APPEND, uids=tuple(r.uid for r in results)
    )
    return results, [change]


def _row(
    mailbox_id: int,
    uid: int,
    modseq: int,
    flags: frozenset[str],
    internal_date: datetime,
    size: int,
    blob_id: str,
    email_id: str,
    thread_id: str,
    save_date: int,
) -> MessageRow:
    """One `messages` row, in `MESSAGE_COLUMNS` order."""
    bits, keywords = flags_to_bits(flags)
    offset = internal_date.utcoffset()
    return (
        mailbox_id,
        uid,
        modseq,
        bits,
        keywords,
        int(internal_date.timestamp()),
        int(offset.total_seconds() // 60) if offset else 0,
        size,
        blob_id,
        email_id,
        thread_id,
        save_date,
    )


def _insert_rows(
    conn: sqlite3.Connection,
    mailbox_id: int,
    rows: list[MessageRow],
    blobs: list[tuple[str, int, int | None]],
    keys: list[sortkeys.Row],
) -> None:
    """Insert message rows with their sort keys (sqlite/sortkeys.py); keep the packed
    index and blob reference counts in step."""
    conn.executemany(
        f"INSERT INTO messages ({MESSAGE_COLUMNS}, {sortkeys.COLUMNS})"
        f" VALUES ({','.join('?' * 15)})",
        [(*row, *key) for row, key in zip(rows, keys, strict=True)],
    )
    packed.add(conn, mailbox_id, [(r[1], r[2], r[3]) for r in rows])
    _ref_blobs(conn, blobs)


def _ref_blobs(conn: sqlite3.Connection, blobs: list[tuple[str, int, int | None]]) -> None:
    """(blob id, size, size with CRLF line ends if known) of each new reference."""
    conn.executemany(
        "INSERT INTO blobs (id, size, refcount, line_size) VALUES (?, ?, 1, ?)"
        " ON CONFLICT (id) DO UPDATE SET refcount = refcount + 1, zero_since = NULL,"
        " line_size = COALESCE(line_size, excluded.line_size)",
        blobs,
    )


def line_sizes(conn: sqlite3.Connection, blob_ids: Sequence[str]) -> dict[str, int]:
    """The stored CRLF sizes of those of `blob_ids` that have one."""
    out: dict[str, int] = {}
    ids = list(dict.fromkeys(blob_ids))
    for chunk in _chunks(ids):
        rows = conn.execute(
            f"SELECT id, line_size FROM blobs WHERE line_size IS NOT NULL"
            f" AND id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        out.update(rows)
    return out


def get_index(conn: sqlite3.Connection, mailbox_id: int) -> MailboxIndex:
    mailbox = require_mailbox(conn, mailbox_id)
    uids, modseqs, bits = packed.load(conn, mailbox_id)
    flags = list(map(SYSTEM_FLAG_SETS.__getitem__, bits))  # C-speed: no per-row Python
    keyworded = conn.execute(
        "SELECT uid, flags, keywords FROM messages INDEXED BY messages_keywords"
        " WHERE mailbox_id = ? AND keywords != ''",
        (mailbox_id,),
    ).fetchall()
    for uid, flag_bits, keywords in keyworded:
        i = bisect.bisect_left(uids, uid)
        if i < len(uids) and uids[i] == uid:
            flags[i] = bits_to_flags(flag_bits, keywords)
    return MailboxIndex(mailbox, uids, modseqs, flags)


_RANGE_SQL = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ?"
    " ORDER BY uid"
)


def get_messages(conn: sqlite3.Connection, mailbox_id: int, uids: Sequence[int]) -> list[Message]:
    """The rows of ``uids`` (those that exist), ascending.  A run of uids that covers at
    most twice its length is read with BETWEEN (one prepared statement, an index range
    scan) and the few uids not asked for are skipped: a FETCH asks for ranges, and an
    ``IN (?, ...)`` list cost a statement per length and an ephemeral table (profiled,
    issue 12)."""
    wanted = sorted(set(uids))
    out: list[Message] = []
    i = 0
    while i < len(wanted):
        j = min(i + _CHUNK, len(wanted)) - 1
        while wanted[j] - wanted[i] + 1 > 2 * (j - i + 1):
            j = i + (j - i) // 2
        low, high = wanted[i], wanted[j]
        rows = conn.execute(_RANGE_SQL, (mailbox_id, low, high)).fetchall()
        if high - low == j - i:
            out.extend(map(message_row, rows))
        else:
            keep = set(wanted[i : j + 1])
            out.extend(message_row(r) for r in rows if r[1] in keep)
        i = j + 1
    return out


def read_messages(
    conn: sqlite3.Connection, mailbox_id: int, uids: Sequence[int], inline_max: int, budget: int
) -> list[MessageBody]:
    """`Store.read_messages`: rows and small inline octets in one query per range,
    stepped row by row, so octets past the budget are never read."""
    wanted = sorted(set(uids))
    out: list[MessageBody] = []
    total = 0
    flag_sets = SYSTEM_FLAG_SETS
    i = 0
    while i < len(wanted):
        # The longest run of `wanted` that covers at most twice its length of uids
        # is read with BETWEEN (an index range scan, one statement to prepare),
        # the few uids in it that were not asked for are skipped.
        j = min(i + _CHUNK, len(wanted)) - 1
        while wanted[j] - wanted[i] + 1 > 2 * (j - i + 1):
            j = i + (j - i) // 2
        low, high = wanted[i], wanted[j]
        keep = None if high - low == j - i else set(wanted[i : j + 1])
        rows = conn.execute(
            "SELECT m.uid, m.modseq, m.flags, m.keywords, m.size, m.blob_id,"
            " CASE WHEN m.size <= ? THEN d.data END"
            " FROM messages m LEFT JOIN blob_data d ON d.id = m.blob_id"
            " WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid",
            (inline_max, mailbox_id, low, high),
        )
        for uid, modseq, bits, keywords, size, blob_id, data in rows:
            if keep is not None and uid not in keep:
                continue
            octets = len(data) if data is not None else 0
            if out and total + octets > budget:
                rows.close()
                return out
            total += octets
            flags = flag_sets[bits] if not keywords else bits_to_flags(bits, keywords)
            out.append(MessageBody(uid, modseq, flags, size, blob_id, data))
        i = j + 1
    return out


def store_flags(
    conn: sqlite3.Connection,
    mailbox_id: int,
    uids: Sequence[int],
    op: FlagOp,
    flags: frozenset[str],
    unchanged_since: int | None,
) -> tuple[list[FlagUpdate], list[Change]]:
    flags = canonical_flags(flags)
    pending: list[tuple[int, frozenset[str]]] = []
    for chunk in _chunks(sorted(set(uids))):
        rows = conn.execute(
            f"SELECT uid, modseq, flags, keywords FROM messages WHERE mailbox_id = ? AND uid IN"
            f" ({','.join('?' * len(chunk))})",
            (mailbox_id, *chunk),
        ).fetchall()
        for uid, modseq, bits, keywords in rows:
            if unchanged_since is not None and modseq > unchanged_since:
                continue
            old = bits_to_flags(bits, keywords)
            new = flags if op is FlagOp.SET else (old | flags if op is FlagOp.ADD else old - flags)
            if new != old:
                pending.append((uid, new))
    if not pending:
        _account_of(conn, mailbox_id)  # NotFound for a mailbox that is not there
        return [], []
    pending.sort()
    account_id, modseq = _next_modseq_of_mailbox(conn, mailbox_id)
    rows = [(*flags_to_bits(new), modseq, mailbox_id, uid) for uid, new in pending]
    conn.executemany(
        "UPDATE messages SET flags = ?, keywords = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
        rows,
    )
    packed.update(conn, mailbox_id, [(uid, modseq, bits) for bits, _, _, _, uid in rows])
    conn.execute("UPDATE mailboxes SET highestmodseq = ? WHERE id = ?", (modseq, mailbox_id))
    updates = [FlagUpdate(uid, modseq, new) for uid, new in pending]
    change = Change(
        account_id,
        mailbox_id,
        modseq,
        ChangeKind.FLAGS,
        uids=tuple(u.uid for u in updates),
        flags=tuple(u.flags for u in updates),
    )
    return updates, [change]


def _existing_uids(conn: sqlite3.Connection, mailbox_id: int, uids: Sequence[int]) -> list[int]:
    found: list[int] = []
    for chunk in _chunks(sorted(set(uids))):
        found.extend(
            r[0]
            for r in conn.execute(
                "SELECT uid FROM messages WHERE mailbox_id = ? AND uid IN"
                f" ({','.join('?' * len(chunk))})",
                (mailbox_id, *chunk),
            )
        )
    return sorted(found)


def _remove(conn: sqlite3.Connection, mailbox_id: int, uids: list[int], modseq: int) -> None:
    for chunk in _chunks(uids):
        marks = ",".join("?" * len(chunk))
        drop_messages(conn, f"mailbox_id = ? AND uid IN ({marks})", (mailbox_id, *chunk))
    pop3.forget(conn, mailbox_id, uids)
    packed.remove(conn, mailbox_id, uids)
    conn.executemany(
        "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
        [(mailbox_id, uid, modseq) for uid in uids],
    )
    conn.execute("UPDATE mailboxes SET highestmodseq = ? WHERE id = ?", (modseq, mailbox_id))


def expunge(
    conn: sqlite3.Connection, mailbox_id: int, uids: Sequence[int]
) -> tuple[list[int], list[Change]]:
    gone = _existing_uids(conn, mailbox_id, uids)
    if not gone:
        _account_of(conn, mailbox_id)  # NotFound for a mailbox that is not there
        return [], []
    account_id, modseq = _next_modseq_of_mailbox(conn, mailbox_id)
    _remove(conn, mailbox_id, gone, modseq)
    return gone, [Change(account_id, mailbox_id, modseq, ChangeKind.EXPUNGE, uids=tuple(gone))]


def _account_of(conn: sqlite3.Connection, mailbox_id: int) -> int:
    """The mailbox's account (NotFound if there is no such mailbox): one column, not the
    whole `Mailbox` that `require_mailbox` builds (~3 µs against ~16 µs per job)."""
    row = conn.execute("SELECT account_id FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone()
    if row is None:
        raise NotFound(f"mailbox {mailbox_id} does not exist")
    return int(row[0])


def expunge_deleted(
    conn: sqlite3.Connection, mailbox_id: int, up_to_uid: int, uids: Sequence[int] | None
) -> tuple[list[int], list[Change]]:
    """`Store.expunge_deleted`: the \\Deleted messages are found through the partial
    index `messages_deleted` (schema version 13), in this transaction."""
    found = [
        r[0]
        for r in conn.execute(
            "SELECT uid FROM messages INDEXED BY messages_deleted"
            " WHERE mailbox_id = ? AND uid <= ? AND flags & 8 != 0",
            (mailbox_id, up_to_uid),
        )
    ]
    if uids is not None:
        wanted = set(uids)
        found = [u for u in found if u in wanted]
    if not found:
        _account_of(conn, mailbox_id)  # NotFound for a mailbox that is not there
        return [], []
    account_id, modseq = _next_modseq_of_mailbox(conn, mailbox_id)
    _remove(conn, mailbox_id, found, modseq)
    return found, [Change(account_id, mailbox_id, modseq, ChangeKind.EXPUNGE, uids=tuple(found))]


def copy_messages(
    conn: sqlite3.Connection, source_id: int, uids: Sequence[int], target_id: int, move: bool
) -> tuple[CopyResult, list[Change]]:
    src, dst = require_mailbox(conn, source_id), require_mailbox(conn, target_id)
    if src.account_id != dst.account_id:
        raise Conflict("copy between accounts is not supported")
    msgs = get_messages(conn, source_id, uids)
    if not msgs:
        row = conn.execute("SELECT modseq FROM accounts WHERE id = ?", (src.account_id,)).fetchone()
        return CopyResult(dst.uidvalidity, [], [], int(row[0])), []
    if not move:
        _check_quota(conn, src.account_id, sum(m.size for m in msgs))
    modseq = next_modseq(conn, src.account_id)
    now = int(time.time())
    uid = dst.uidnext
    rows = []
    target_uids = []
    for m in msgs:
        # COPY/MOVE keep the flags, internal date and OBJECTIDs (RFC 8474) of the source
        rows.append(
            _row(target_id, uid, modseq, m.flags, m.internal_date, m.size, m.blob_id,
                 m.email_id, m.thread_id, now)
        )  # fmt: skip
        target_uids.append(uid)
        uid += 1
    keys = sortkeys.of_rows(conn, source_id, [m.uid for m in msgs])
    _insert_rows(conn, target_id, rows, [(m.blob_id, m.size, None) for m in msgs], keys)
    conn.execute(
        "UPDATE mailboxes SET uidnext = ?, highestmodseq = ? WHERE id = ?", (uid, modseq, target_id)
    )
    source_uids = [m.uid for m in msgs]
    changes = [
        Change(src.account_id, target_id, modseq, ChangeKind.APPEND, uids=tuple(target_uids))
    ]
    if move:
        _remove(conn, source_id, source_uids, modseq)
        changes.append(
            Change(src.account_id, source_id, modseq, ChangeKind.EXPUNGE, uids=tuple(source_uids))
        )
    return CopyResult(dst.uidvalidity, source_uids, target_uids, modseq), changes


def changes_since(conn: sqlite3.Connection, mailbox_id: int, modseq: int) -> Changes:
    mailbox = require_mailbox(conn, mailbox_id)
    changed = [
        FlagUpdate(r[0], r[1], bits_to_flags(r[2], r[3]))
        for r in conn.execute(
            "SELECT uid, modseq, flags, keywords FROM messages WHERE mailbox_id = ? AND modseq > ?"
            " ORDER BY uid",
            (mailbox_id, modseq),
        )
    ]
    vanished = [
        r[0]
        for r in conn.execute(
            "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
            (mailbox_id, modseq),
        )
    ]
    return Changes(mailbox, changed, vanished)


def blob_counts(conn: sqlite3.Connection, mailbox_id: int) -> dict[str, int]:
    return {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT blob_id, COUNT(*) FROM messages WHERE mailbox_id = ? GROUP BY blob_id",
            (mailbox_id,),
        )
    }
