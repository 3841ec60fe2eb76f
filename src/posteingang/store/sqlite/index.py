"""The packed mailbox index: uid/modseq/system flags of a mailbox in a few wide rows.

Why: SELECT needs uid, modseq and flags of every message. Reading them as one
row per message costs SQLite ~0.5 µs of CPU per row before Python has built a
single object — 500 ms for a 1,000,000-message mailbox, the whole budget. So
the writer keeps a second, derived copy packed in chunks: each row of
`mailbox_index` holds the messages whose uid falls in one range of
`CHUNK_UIDS` uids, as three little-endian arrays (uids u32, modseqs u64,
system-flag bits u8). Loading a mailbox is then a few hundred rows and three
`array.frombytes`.

The `messages` table stays the truth; every function here runs in the writer
thread inside the same transaction as the row change it mirrors, so the two
never disagree after a commit. `posteingang check` compares them.
Keywords are not packed (few messages have any); `load` reads them from
`messages` through a partial index.
"""

from __future__ import annotations

import sqlite3
import sys
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable

CHUNK_SHIFT = 10
CHUNK_UIDS = 1 << CHUNK_SHIFT  # uids per chunk: a chunk row is at most ~13 KiB

_LITTLE = sys.byteorder == "little"

Entry = tuple[int, int, int]  # uid, modseq, flag bits


def _unpack(code: str, data: bytes) -> array[int]:
    values = array(code)
    values.frombytes(data)
    if not _LITTLE:
        values.byteswap()
    return values


def _pack(values: array[int]) -> bytes:
    if _LITTLE:
        return values.tobytes()
    copy = array(values.typecode, values)
    copy.byteswap()
    return copy.tobytes()


class _Chunk:
    __slots__ = ("flags", "modseqs", "uids")

    def __init__(self, row: tuple[bytes, bytes, bytes] | None) -> None:
        if row is None:
            self.uids: array[int] = array("I")
            self.modseqs: array[int] = array("Q")
            self.flags = bytearray()
        else:
            self.uids = _unpack("I", row[0])
            self.modseqs = _unpack("Q", row[1])
            self.flags = bytearray(row[2])


def _load_chunk(conn: sqlite3.Connection, mailbox_id: int, chunk: int) -> _Chunk:
    row = conn.execute(
        "SELECT uids, modseqs, flags FROM mailbox_index WHERE mailbox_id = ? AND chunk = ?",
        (mailbox_id, chunk),
    ).fetchone()
    return _Chunk(row)


def _save_chunk(conn: sqlite3.Connection, mailbox_id: int, chunk: int, c: _Chunk) -> None:
    if not c.uids:
        conn.execute(
            "DELETE FROM mailbox_index WHERE mailbox_id = ? AND chunk = ?", (mailbox_id, chunk)
        )
        return
    conn.execute(
        "INSERT OR REPLACE INTO mailbox_index (mailbox_id, chunk, uids, modseqs, flags)"
        " VALUES (?, ?, ?, ?, ?)",
        (mailbox_id, chunk, _pack(c.uids), _pack(c.modseqs), bytes(c.flags)),
    )


def _by_chunk(entries: Iterable[Entry]) -> dict[int, list[Entry]]:
    groups: dict[int, list[Entry]] = defaultdict(list)
    for entry in entries:
        groups[entry[0] >> CHUNK_SHIFT].append(entry)
    return groups


def add(conn: sqlite3.Connection, mailbox_id: int, entries: Iterable[Entry]) -> None:
    """New messages (append, copy, move target). Usually past the end: O(1) per entry."""
    for chunk, group in _by_chunk(entries).items():
        c = _load_chunk(conn, mailbox_id, chunk)
        for uid, modseq, bits in sorted(group):
            if not c.uids or uid > c.uids[-1]:
                c.uids.append(uid)
                c.modseqs.append(modseq)
                c.flags.append(bits)
            else:
                i = bisect_left(c.uids, uid)
                if i < len(c.uids) and c.uids[i] == uid:
                    c.modseqs[i], c.flags[i] = modseq, bits
                else:
                    c.uids.insert(i, uid)
                    c.modseqs.insert(i, modseq)
                    c.flags.insert(i, bits)
        _save_chunk(conn, mailbox_id, chunk, c)


def update(conn: sqlite3.Connection, mailbox_id: int, entries: Iterable[Entry]) -> None:
    """Flag changes: new modseq and bits for existing uids."""
    for chunk, group in _by_chunk(entries).items():
        c = _load_chunk(conn, mailbox_id, chunk)
        for uid, modseq, bits in group:
            i = bisect_left(c.uids, uid)
            if i < len(c.uids) and c.uids[i] == uid:
                c.modseqs[i], c.flags[i] = modseq, bits
        _save_chunk(conn, mailbox_id, chunk, c)


def remove(conn: sqlite3.Connection, mailbox_id: int, uids: Iterable[int]) -> None:
    groups: dict[int, set[int]] = defaultdict(set)
    for uid in uids:
        groups[uid >> CHUNK_SHIFT].add(uid)
    for chunk, gone in groups.items():
        c = _load_chunk(conn, mailbox_id, chunk)
        keep = [i for i, uid in enumerate(c.uids) if uid not in gone]
        if len(keep) != len(c.uids):
            kept = _Chunk(None)
            kept.uids = array("I", (c.uids[i] for i in keep))
            kept.modseqs = array("Q", (c.modseqs[i] for i in keep))
            kept.flags = bytearray(c.flags[i] for i in keep)
            _save_chunk(conn, mailbox_id, chunk, kept)


def drop(conn: sqlite3.Connection, mailbox_id: int) -> None:
    conn.execute("DELETE FROM mailbox_index WHERE mailbox_id = ?", (mailbox_id,))


def load(conn: sqlite3.Connection, mailbox_id: int) -> tuple[list[int], list[int], bytes]:
    """uids, modseqs (ascending by uid) and the flag-bit byte of each message."""
    uids: array[int] = array("I")
    modseqs: array[int] = array("Q")
    flags = bytearray()
    for u, m, f in conn.execute(
        "SELECT uids, modseqs, flags FROM mailbox_index WHERE mailbox_id = ? ORDER BY chunk",
        (mailbox_id,),
    ):
        uids.frombytes(u)
        modseqs.frombytes(m)
        flags += f
    if not _LITTLE:
        uids.byteswap()
        modseqs.byteswap()
    return uids.tolist(), modseqs.tolist(), bytes(flags)


def rebuild(conn: sqlite3.Connection, mailbox_id: int) -> None:
    """Recompute a mailbox's packed index from `messages` (migration, repair)."""
    drop(conn, mailbox_id)
    rows = conn.execute(
        "SELECT uid, modseq, flags FROM messages WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,)
    ).fetchall()
    add(conn, mailbox_id, rows)


def differences(conn: sqlite3.Connection, mailbox_id: int) -> int:
    """How many messages the packed index has wrong (0 when in sync); for `check`."""
    uids, modseqs, flags = load(conn, mailbox_id)
    packed = set(zip(uids, modseqs, flags, strict=True))
    rows = set(
        conn.execute(
            "SELECT uid, modseq, flags FROM messages WHERE mailbox_id = ?", (mailbox_id,)
        ).fetchall()
    )
    return len(packed ^ rows)
