"""The full-text index of the SQLite backend (schema version 11): SQLite FTS5 with
the trigram tokenizer over each blob's `store.fulltext.Document`.

Theory of operation
-------------------
``search_docs`` gives each indexed blob a row (its id is the rowid of the blob's
row in the FTS5 table ``search_text``, and `complete` says whether the document
holds all the text SEARCH compares). Documents are per blob, like parse
records: COPY and MOVE share them, and a message is found through its row in
``messages`` (index ``messages_blob``), so an expunged message drops out of
every search in the commit that removes its row. The document itself stays
until blob GC deletes the blob (`forget_blobs`, an hour after its last message
went): deleting an FTS5 document costs about a millisecond, too much for every
EXPUNGE, and the same octets appended again meanwhile need no new document.

The trigram tokenizer (SQLite ≥ 3.34) matches a quoted phrase as a substring
(case-folded, at least three characters), which is what IMAP SEARCH compares
(RFC 9051 §6.4.4); the texts and needles are folded the same way before, so a
message the IMAP engine finds is always among the candidates.

Documents are made by one batch indexer (`backfill_batch`), never in the
append's commit: building a document and inserting it into FTS5 cost about
1 ms of writer CPU per new blob, more than the rest of a delivery's store work,
and a transaction of many documents is cheaper per document. The indexer is a
cursor over the rowids of ``parsed`` (kept in ``meta``; -1 when nothing
waits): everything after it without a document is still to be indexed, and
such messages are `unsure` candidates, so results stay exact meanwhile. The
append only lowers the cursor below its new blobs' parse records in its own
commit (`note_new`, two statements), and `SqliteSearchIndex`
(searchindex.py) runs the batches in the background shortly afterwards, after
open for what waits from before (the blobs stored before version 11 too), so
opening a large store does not wait for it. Deletions go with blob GC
(`forget_blobs`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from posteingang.store.fulltext import (
    COLUMNS,
    FIELD_COLUMNS,
    Candidates,
    Document,
    Term,
    document,
    fold,
    head_of,
    read_head,
)
from posteingang.store.mailstore import NewMessage

__all__ = ["backfill_batch", "backfilled", "candidates", "forget_blobs", "note_new"]

#: parse records indexed per write job (each a few hundred µs in the writer)
BATCH = 100
#: meta key: the rowid of `parsed` the back-fill has reached; -1 when done
_CURSOR = "fulltext_backfill"
_INSERT_TEXT = f"INSERT INTO search_text (rowid, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)"


def _insert(conn: sqlite3.Connection, blob_id: str, doc: Document) -> None:
    cur = conn.execute(
        "INSERT INTO search_docs (blob_id, complete) VALUES (?, ?)", (blob_id, int(doc.complete))
    )
    conn.execute(_INSERT_TEXT, (cur.lastrowid, *doc.columns))


def _file_reader(path: Path) -> Callable[[int, int], bytes]:
    def read(offset: int, length: int) -> bytes:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(length)

    return read


def _document(parsed: bytes, data: bytes | None, path: Path) -> Document:
    """The document of a blob whose octets are `data` (stored inline) or in `path`;
    a blob file that cannot be read makes an incomplete one."""
    if data is not None:
        return document(parsed, head_of(data), lambda offset, n: data[offset : offset + n])
    try:
        with path.open("rb") as f:
            head = read_head(f)
    except OSError:
        return Document(document(parsed, b"").columns, complete=False)
    return document(parsed, head, _file_reader(path))


def note_new(conn: sqlite3.Connection, messages: Sequence[NewMessage]) -> bool:
    """In the append's transaction: put the cursor before the parse records of the
    just-appended `messages`' blobs that have no document (a new blob, or one whose
    last message went and came back before blob GC), so the indexer takes them and
    `candidates` counts them as unsure until it has. True if any waits now."""
    ids = list(dict.fromkeys(m.blob_id for m in messages))
    first: int | None = None
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        row = conn.execute(
            f"SELECT MIN(p.rowid) FROM parsed p WHERE p.blob_id IN ({','.join('?' * len(chunk))})"
            " AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.blob_id = p.blob_id)",
            chunk,
        ).fetchone()
        if row[0] is not None and (first is None or row[0] < first):
            first = row[0]
    if first is None:
        return False
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = ? AND (value < 0 OR value >= ?)",
        (first - 1, _CURSOR, first),
    )
    return True


def forget_blobs(conn: sqlite3.Connection, blob_ids: Sequence[str]) -> None:
    """Delete the documents of `blob_ids` (blob GC, in the commit that deletes the
    blobs: `SqliteStore.gc_blobs`)."""
    gone = []
    for i in range(0, len(blob_ids), 500):
        chunk = blob_ids[i : i + 500]
        gone += conn.execute(
            f"SELECT id FROM search_docs WHERE blob_id IN ({','.join('?' * len(chunk))})", chunk
        ).fetchall()
    conn.executemany("DELETE FROM search_text WHERE rowid = ?", gone)
    conn.executemany("DELETE FROM search_docs WHERE id = ?", gone)


def _phrase(needle: str) -> str:
    """An FTS5 string: double quotes doubled (https://sqlite.org/fts5.html §3.1)."""
    return '"' + needle.replace('"', '""') + '"'


def match_expression(terms: Sequence[Term]) -> str | None:
    """The FTS5 query for `terms` (all must match), or None when no term is long
    enough for the trigram index: then it narrows nothing."""
    parts = []
    for term in terms:
        if term.usable:
            columns = " ".join(FIELD_COLUMNS[term.field])
            parts.append("{" + columns + "} : " + _phrase(fold(term.needle)))
    return " AND ".join(parts) if parts else None


def candidates(
    conn: sqlite3.Connection, mailbox_id: int, terms: Sequence[Term]
) -> Candidates | None:
    """The messages of the mailbox that may match all `terms`: the index's hits
    (`matched`), and (`unsure`) those with an incomplete document and those the
    indexer has not reached yet. None: the index cannot narrow these terms."""
    query = match_expression(terms)
    if query is None:
        return None
    matched = {
        r[0]
        for r in conn.execute(
            # CROSS JOIN keeps this order: the index's hits first, then their messages.
            "SELECT m.uid FROM search_text s CROSS JOIN search_docs d ON d.id = s.rowid"
            " CROSS JOIN messages m ON m.blob_id = d.blob_id"
            " WHERE search_text MATCH ? AND m.mailbox_id = ?",
            (query, mailbox_id),
        )
    }
    doubtful = {
        r[0]
        for r in conn.execute(
            "SELECT m.uid FROM search_docs d INDEXED BY search_docs_incomplete"
            " JOIN messages m ON m.blob_id = d.blob_id"
            " WHERE d.complete = 0 AND m.mailbox_id = ?",
            (mailbox_id,),
        )
    }
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_CURSOR,)).fetchone()
    if row is not None and row[0] >= 0:
        # What waits for the indexer: the parse records after the cursor (few, shortly
        # after a delivery; all of them before the first back-fill).
        doubtful.update(
            r[0]
            for r in conn.execute(
                "SELECT m.uid FROM parsed p CROSS JOIN messages m ON m.blob_id = p.blob_id"
                " WHERE p.rowid > ? AND m.mailbox_id = ?"
                " AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.blob_id = p.blob_id)",
                (row[0], mailbox_id),
            )
        )
    return Candidates(sorted(matched - doubtful), sorted(doubtful))


def backfilled(conn: sqlite3.Connection) -> bool:
    """Whether nothing waits for the indexer (new blobs, or those stored before
    schema version 11)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_CURSOR,)).fetchone()
    return row is None or row[0] < 0


def backfill_batch(conn: sqlite3.Connection, path_of: Callable[[str], Path]) -> bool:
    """Index up to `BATCH` blobs after the cursor (in a write job); True when none
    are left. Resumes where the previous batch (of any process) stopped: the
    cursor is a rowid of `parsed`, kept in `meta`."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_CURSOR,)).fetchone()
    if row is None or row[0] < 0:
        return True
    rows = conn.execute(
        "SELECT p.rowid, p.blob_id, p.data, i.data FROM parsed p"
        " JOIN blobs b ON b.id = p.blob_id AND b.refcount > 0"
        " LEFT JOIN blob_data i ON i.id = p.blob_id"
        " WHERE p.rowid > ?"
        " AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.blob_id = p.blob_id)"
        " ORDER BY p.rowid LIMIT ?",
        (row[0], BATCH),
    ).fetchall()
    for _rowid, blob_id, parsed, inline in rows:
        data = bytes(inline) if inline is not None else None
        _insert(conn, blob_id, _document(bytes(parsed), data, path_of(blob_id)))
    done = len(rows) < BATCH
    cursor = -1 if done else rows[-1][0]
    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (cursor, _CURSOR))
    return done
