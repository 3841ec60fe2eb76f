"""The full-text index of the SQLite backend (schema versions 11 and 14): SQLite
FTS5 with the trigram tokenizer over each blob's `store.fulltext.Document`.

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

Documents are inserted by one batch indexer (`backfill_batch`), never in the
append's commit: inserting into FTS5 costs about 0.5 ms of writer CPU per new
blob, and a transaction of many documents is much cheaper per document than
one each (FTS5 writes a segment at every savepoint, and the writer runs each
job in one). Delivery makes the document with its one parse
(`NewMessage.search_document`) and the indexer of the same process inserts it
from memory (`insert_made`); for other blobs `backfill_batch` reads the parse
record and the octets.

The index has no positions (``detail=none``: a third less CPU per insert and
about a third of the space of ``detail=full``), so FTS5 answers no phrase: a
needle is looked up as some of its trigrams (`match_expression`) and each
candidate is confirmed with ``instr`` on the stored column, the same substring
rule as `Document.matches`. The indexer is a
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

__all__ = [
    "backfill_batch",
    "backfilled",
    "candidates",
    "forget_blobs",
    "insert_made",
    "note_new",
]

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


def insert_made(conn: sqlite3.Connection, docs: Sequence[tuple[str, Document]]) -> None:
    """Insert documents made during delivery, for the blobs that still have a message
    and no document yet (the cursor moves past them at the next `backfill_batch`)."""
    for blob_id, doc in docs:
        if conn.execute(
            "SELECT 1 FROM blobs b WHERE b.id = ? AND b.refcount > 0"
            " AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.blob_id = b.id)",
            (blob_id,),
        ).fetchone():
            _insert(conn, blob_id, doc)


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


#: trigrams of one needle looked up in the index (the rest are checked on the text)
MAX_TRIGRAMS = 12


def _trigrams(needle: str) -> list[str]:
    """Up to `MAX_TRIGRAMS` of the needle's trigrams, spread over it: the index
    (``detail=none``) knows only which documents hold a trigram, so a needle is
    looked up as some of its trigrams and then confirmed on the columns."""
    grams = [needle[i : i + 3] for i in range(len(needle) - 2)]
    if len(grams) > MAX_TRIGRAMS:
        step = (len(grams) - 1) / (MAX_TRIGRAMS - 1)
        grams = [grams[round(i * step)] for i in range(MAX_TRIGRAMS)]
    return grams


def _string(text: str) -> str:
    """An FTS5 string: double quotes doubled (https://sqlite.org/fts5.html §3.1)."""
    return '"' + text.replace('"', '""') + '"'


def match_expression(terms: Sequence[Term]) -> tuple[str, str, list[str]] | None:
    """The FTS5 query for `terms` (all must match), the condition that confirms
    each needle in its columns (``instr``, exact as `Document.matches`) and its
    arguments; None when no term is long enough for the trigram index: then it
    narrows nothing."""
    grams: dict[str, None] = {}
    checks: list[str] = []
    args: list[str] = []
    for term in terms:
        if term.usable:
            needle = fold(term.needle)
            grams.update(dict.fromkeys(_trigrams(needle)))
            columns = FIELD_COLUMNS[term.field]
            checks.append("(" + " OR ".join(f"instr(s.{c}, ?) > 0" for c in columns) + ")")
            args.extend([needle] * len(columns))
    if not grams:
        return None
    return " AND ".join(map(_string, grams)), " AND ".join(checks), args


#: the mailbox's messages whose document is incomplete. CROSS JOIN keeps the few
#: incomplete documents (partial index ``search_docs_incomplete``) the outer loop,
#: each looked up in ``messages_blob``; with JOIN the planner walks every message
#: of the folder instead (23 ms at 100,000 messages against 0.05 ms;
#: tests/store/searchindex/test_sqlite_fulltext.py checks the plan).
INCOMPLETE = (
    "SELECT m.uid FROM search_docs d INDEXED BY search_docs_incomplete"
    " CROSS JOIN messages m ON m.blob_id = d.blob_id"
    " WHERE d.complete = 0 AND m.mailbox_id = ?"
)


def candidates(
    conn: sqlite3.Connection, mailbox_id: int, terms: Sequence[Term]
) -> Candidates | None:
    """The messages of the mailbox that may match all `terms`: the index's hits
    (`matched`), and (`unsure`) those with an incomplete document and those the
    indexer has not reached yet. None: the index cannot narrow these terms."""
    expression = match_expression(terms)
    if expression is None:
        return None
    query, confirm, args = expression
    matched = {
        r[0]
        for r in conn.execute(
            # CROSS JOIN keeps this order: the index's hits first, then their messages.
            "SELECT m.uid FROM search_text s CROSS JOIN search_docs d ON d.id = s.rowid"
            " CROSS JOIN messages m ON m.blob_id = d.blob_id"
            f" WHERE search_text MATCH ? AND {confirm} AND m.mailbox_id = ?",
            (query, *args, mailbox_id),
        )
    }
    doubtful = {r[0] for r in conn.execute(INCOMPLETE, (mailbox_id,))}
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


def backfill_batch(
    conn: sqlite3.Connection,
    path_of: Callable[[str], Path],
    made: Callable[[str], Document | None] = lambda _blob_id: None,
) -> bool:
    """Index up to `BATCH` blobs after the cursor (in a write job); True when none
    are left. Resumes where the previous batch (of any process) stopped: the
    cursor is a rowid of `parsed`, kept in `meta`. `made(blob_id)`: the document
    delivery made with its parse, if this process has it; otherwise the blob's
    parse record and octets are read and the document made here."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_CURSOR,)).fetchone()
    if row is None or row[0] < 0:
        return True
    rows = conn.execute(
        "SELECT p.rowid, p.blob_id FROM parsed p"
        " JOIN blobs b ON b.id = p.blob_id AND b.refcount > 0"
        " WHERE p.rowid > ?"
        " AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.blob_id = p.blob_id)"
        " ORDER BY p.rowid LIMIT ?",
        (row[0], BATCH),
    ).fetchall()
    for rowid, blob_id in rows:
        doc = made(blob_id)
        if doc is None:
            parsed, inline = conn.execute(
                "SELECT p.data, i.data FROM parsed p LEFT JOIN blob_data i ON i.id = p.blob_id"
                " WHERE p.rowid = ?",
                (rowid,),
            ).fetchone()
            data = bytes(inline) if inline is not None else None
            doc = _document(bytes(parsed), data, path_of(blob_id))
        _insert(conn, blob_id, doc)
    done = len(rows) < BATCH
    cursor = -1 if done else rows[-1][0]
    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (cursor, _CURSOR))
    return done
