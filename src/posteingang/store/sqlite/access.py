"""How the SQLite backend's parts reach the database: one writer, readers, the loop's reader.

`SqliteAccess` owns the connections; `SqliteDirectory`, `SqliteMailstore` and
`SqliteClientState` (one per `Store` part) build on it, and `SqliteStore`
combines them and adds the blobs (`open_directory` opens the directory alone,
without them). Writes are jobs for `Writer` (one thread, group commit, publish
after commit); reads run on a small pool of reader threads, each with its own
connection, so a long SELECT never waits for the writer and never blocks the
event loop, except the point reads that cost less than the hop (`_read_now`), and
of those the per-command lookups answered from memory until the next commit
(`_read_cached`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from posteingang.store.hub import Change, Hub
from posteingang.store.sqlite.notify import Listener, Notifier
from posteingang.store.sqlite.writer import Writer

if TYPE_CHECKING:
    from posteingang.store.sqlite.blobs import SqliteBlobStore

T = TypeVar("T")

MMAP_SIZE = 1 << 30
#: point reads of up to this many rows (one indexed statement) run on the event
#: loop's own connection (`_read_now`): a hop to the reader pool costs ~40 µs of
#: CPU on loop and worker together, more than such a query (profiled)
LOOP_READ_ROWS = 256
#: whole-mailbox reads (STATUS counts, the SELECT index) run on the loop too while the
#: mailbox's uidnext is at most this (`SqliteAccess._read_small_now`)
LOOP_READ_MAILBOX = 4096
#: answers `SqliteAccess._read_cached` keeps at most (then it starts afresh)
READ_CACHE_ENTRIES = 4096
_MISS = object()


#: prepared statements the writer's connection keeps (Python's default is 128): a
#: statement with an ``IN (?, ...)`` list is one statement per length (a STORE's
#: uids; an EXPUNGE's messages, three statements), so the ~50 fixed ones and a few
#: dozen lengths of each outgrow 128, and the least recent are prepared again and
#: again (a prepare costs more than most of the statements' runs)
WRITER_STATEMENTS = 512


def connect(path: Path, *, readonly: bool = False, statements: int = 128) -> sqlite3.Connection:
    """A connection with the store's settings; `statements`: how many prepared
    statements it keeps (`WRITER_STATEMENTS` for the writer's)."""
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,
        timeout=30,
        cached_statements=statements,
    )
    conn.execute("PRAGMA busy_timeout = 30000")
    if readonly:
        conn.execute("PRAGMA query_only = 1")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -16000")
    if readonly:
        # Readers go through mmap: message bytes and index chunks are copied straight
        # from the page cache (3x faster for FETCH BODY[] of inline blobs). Not the
        # writer: its pages are mostly written, and a long import would otherwise
        # count every page of the database it touched in its RSS.
        conn.execute(f"PRAGMA mmap_size = {MMAP_SIZE}")
    return conn


class SqliteAccess:
    """The connections: `_write` submits a job to the writer thread, `_read` runs a
    read on the pool, `_read_now`/`_read_small_now` on the loop's own connection."""

    #: the message blobs: set by `SqliteStore` (a directory opened alone has none)
    blobs: SqliteBlobStore

    def __init__(self, path: Path, hub: Hub, writer: Writer, notifier: Notifier) -> None:
        self.path = path
        self.hub = hub
        self._writer = writer
        self._notifier = notifier
        self._listener: Listener | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._loop_reader: sqlite3.Connection | None = None
        self._read_cache: dict[Hashable, object] = {}
        self._read_cache_version = -1
        self._version_leased = False  # `_check_version`'s answer still holds
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-reader")

    def _close_readers(self) -> None:
        self._pool.shutdown(wait=True)
        for conn in self._readers:
            conn.close()
        self._readers.clear()
        if self._loop_reader is not None:
            self._loop_reader.close()
            self._loop_reader = None

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            self._readers.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            conn = self._reader()
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    def _read_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A point lookup on the event loop's own reader connection, without a thread hop.

        Only for a few indexed queries (tens of µs): the hop to the reader pool
        costs more than that in CPU on both sides (measured: ~180 µs per delivered
        message for the recipient lookup). WAL readers never wait for the writer.
        """
        conn = self._loop_reader
        if conn is None:
            conn = self._loop_reader = connect(self.path, readonly=True)
        return fn(conn)

    def _read_cached(self, key: Hashable, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`_read_now` answered from memory while nothing was committed since ``fn`` ran.

        SQLite's ``PRAGMA data_version`` (~2 µs) changes whenever another connection
        commits — the writer thread, another process (`[imap] processes`), a CLI — so
        an answer kept under an unchanged version is the one ``fn`` would return now.
        The version is read before ``fn`` runs: a commit in between changes it, and the
        next call starts afresh. For the per-command lookups (issue 12: STATUS's
        mailbox row and counts, LIST's mailboxes and subscriptions cost 10–25 µs each
        in SQL and Python). The values must be immutable (frozen rows, tuples)."""
        conn = self._loop_reader
        if conn is None:
            conn = self._loop_reader = connect(self.path, readonly=True)
        cache = self._read_cache
        if not self._version_leased and self._check_version(conn):
            cache.clear()
        else:
            found = cache.get(key, _MISS)
            if found is not _MISS:
                return found  # type: ignore[return-value]
        value = fn(conn)
        if len(cache) >= READ_CACHE_ENTRIES:
            cache.clear()
        cache[key] = value
        return value

    def _check_version(self, conn: sqlite3.Connection) -> bool:
        """Read ``PRAGMA data_version`` (~10 µs: it looks at the WAL index); True if it
        moved since the cache was filled.

        The answer holds until the running task next lets the loop run (``call_soon``
        ends the lease): a command's second and third lookups (STATUS: the mailbox,
        then its counts; LIST: mailboxes and subscriptions) skip the pragma. That is
        safe: nothing this process commits lands without the task waiting for the
        writer, and another process's commit that lands meanwhile is concurrent with
        the command, which answers as of the moment it checked. (A value read after
        such a commit and kept under the older version is dropped at the next check,
        which sees the version move.) Outside a running loop there is no lease."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        try:
            asyncio.get_running_loop().call_soon(self._end_lease)
            self._version_leased = True
        except RuntimeError:
            pass
        if version == self._read_cache_version:
            return False
        self._read_cache_version = version
        return True

    def _end_lease(self) -> None:
        self._version_leased = False

    def _read_small_now(
        self, mailbox_id: int, fn: Callable[[sqlite3.Connection, int], T]
    ) -> T | None:
        """``fn(conn, mailbox_id)`` in one read transaction on the loop's connection when
        the mailbox is small (uidnext bounds its messages), else None: use the pool.

        A whole-mailbox read (STATUS counts, SELECT's index) of a few thousand rows takes
        well under a millisecond; a big mailbox's must not hold the loop."""
        conn = self._loop_reader
        if conn is None:
            conn = self._loop_reader = connect(self.path, readonly=True)
        conn.execute("BEGIN")  # one snapshot for the mailbox row and its messages
        try:
            row = conn.execute(
                "SELECT uidnext FROM mailboxes WHERE id = ?", (mailbox_id,)
            ).fetchone()
            if row is None or row[0] > LOOP_READ_MAILBOX:
                return None  # (a missing mailbox: the pool's read raises NotFound)
            return fn(conn, mailbox_id)
        finally:
            conn.execute("COMMIT")

    async def _write(
        self, fn: Callable[[sqlite3.Connection], tuple[T, list[Change]]], *, durable: bool = True
    ) -> T:
        """``durable=False`` only for a job that stores no message (writer.py)."""
        return await self._writer.submit(fn, durable=durable)

    # The whole-store jobs of integrity.py
    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._read(fn)

    async def write(self, fn: Callable[[sqlite3.Connection], tuple[T, list[Change]]]) -> T:
        return await self._write(fn)
