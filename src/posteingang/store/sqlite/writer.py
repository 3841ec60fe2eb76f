"""The single writer thread: every SQLite write goes through here, with group commit.

Theory of operation
-------------------
SQLite allows one writer at a time, so instead of letting tasks fight over the
write lock, one thread owns the only write connection. A caller submits a job
(a function of the connection that returns a result and a list of changes) and
awaits a future. The thread takes every job that is queued, runs each inside
its own SAVEPOINT (a failing job rolls back alone and gets its exception; a
batch of one job needs none: its transaction rolls back), and commits them all
with ONE `COMMIT` (one fsync for many deliveries under load).

Only after that COMMIT returns does the thread hand results back: for each job,
in commit order, one callback on the event loop publishes the job's changes to
the hub and then resolves its future. So a change is never visible in the feed,
and an append is never acknowledged, before it is durable (DESIGN.md invariants
1 and 3), and subscribers see changes in commit order.

A whole operation runs in one thread hop: a hop costs ~100 µs, a query ~5 µs.

Durability per batch: the store opens its connections with `synchronous=FULL`,
so a COMMIT fsyncs the WAL before it returns. A job submitted with
``durable=False`` (a flag change, an expunge, a \\Recent claim: nothing that
stores or acknowledges a message) does not need that: when every job of a
batch is such a job, the batch commits with `synchronous=NORMAL` (the WAL is
written but not fsynced; SQLite's WAL stays consistent across power loss and
recovers a prefix of the commits). Such a change is durable at once against a
crash of the process (the bytes are in the kernel), and against power loss from
the next fsynced commit on (any append: an fsync of the WAL covers every frame
before it) or checkpoint. What a power loss can cost is the last few flag
changes and expunges, never a message, a uid or an acknowledged append: uids
are only given by fsynced commits. Dovecot's default `mail_fsync = optimized`
likewise writes flag changes and expunges without fsync. The fsync was about
130 µs of writer CPU per commit on the development VM, and its wait the larger
part of a STORE's latency (issue 12).

Several processes may write the same database: the serving process, its
delivery workers (`smtp/workers.py`) and the CLI. SQLite's own answer to a
locked database is to sleep and retry (1, 2, 5, 10 ms ...), which under steady
load turns every collision into milliseconds of idle time. So each write
transaction first takes an exclusive `flock` on a lock file beside the
database: a waiting writer sleeps in the kernel and wakes the moment the lock
is released. The thread does not hold the GIL while it waits.

Checkpoints: SQLite copies the WAL back into the database file (a checkpoint:
the WAL fsynced, its pages written, the database fsynced) by itself inside the
COMMIT that takes the WAL past 1,000 pages, on the one thread every write waits
for. Given a `checkpoint` connection, the writer moves that to a second thread,
which runs a PASSIVE checkpoint on that connection every `CHECKPOINT_COMMITS`
commits (at least a commit apart). A PASSIVE checkpoint takes no write lock:
commits go on while it copies, and it copies only frames no reader still needs,
as SQLite's own would. Durability is unchanged: a commit is as durable when it
returns as before (the fsyncs above are the commit's own), and a checkpoint only
makes the database file hold what the WAL already held.

The WAL starts over from its beginning at the first commit after a complete
checkpoint, once no reader is in the middle of reading it. A checkpoint beside
the writer is rarely complete under load (commits went on meanwhile), so SQLite's
own stays on at `CHECKPOINT_FALLBACK_PAGES` (``wal_autocheckpoint``): it copies
what the last one left (little) in a COMMIT, and the WAL starts over. It gets its
turn in the first COMMIT after the thread's checkpoint ended, before the thread
is asked again (while one runs, SQLite's finds the checkpointer lock taken and
returns). So the WAL stays within a few MiB of the fallback under sustained
writes. Every process that opens the store does the same for its own writer;
only one checkpoint runs at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from posteingang.store.hub import Change, Hub

T = TypeVar("T")

Job = Callable[[sqlite3.Connection], tuple[T, list[Change]]]

_MAX_BATCH = 256
#: commits between two checkpoints of the checkpoint thread (IMAP writes take ~9 WAL
#: pages each: about the 1,000 pages after which SQLite's own checkpoint would run)
CHECKPOINT_COMMITS = 128
#: WAL pages after which SQLite's own checkpoint runs in a COMMIT again, should the
#: checkpoint thread's checkpoints not let the WAL start over (module docstring)
CHECKPOINT_FALLBACK_PAGES = 4096
#: bytes the WAL file is cut back to when it starts over after it grew longer (a
#: burst, an import); the steady state stays below it, so no commit extends the file
WAL_SIZE_LIMIT = 64 << 20
# (succeeded, result or exception, changes to publish) of one job
_Outcome = tuple[bool, Any, list[Change]]


@dataclass(slots=True)
class _Pending(Generic[T]):
    job: Job[T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop
    durable: bool = True


_Done = tuple[_Pending[Any], bool, Any, list[Change]]


class Writer:
    def __init__(
        self,
        conn: sqlite3.Connection,
        hub: Hub,
        on_commit: Callable[[list[Change]], None] | None = None,
        lock_path: Path | None = None,
        checkpoint: Callable[[], sqlite3.Connection] | None = None,
    ) -> None:
        """`checkpoint`: opens a connection to the same database for the checkpoint
        thread (module docstring); without it, SQLite checkpoints in the COMMITs."""
        self._conn = conn
        self._lock_fd = (
            os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if lock_path is not None
            else None
        )
        self._hub = hub
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Pending[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._closed = False
        self.commits = 0
        self.unsynced_commits = 0  # of `commits`: made with synchronous=NORMAL
        self._synchronous_full = True  # the connection's setting (connect() makes FULL)
        self._checkpointer: _Checkpointer | None = None
        if checkpoint is not None:
            conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_FALLBACK_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}").fetchall()
            self._checkpointer = _Checkpointer(checkpoint)
        self._checkpoint_due = CHECKPOINT_COMMITS
        self._thread.start()

    @property
    def checkpoints(self) -> int:
        """Checkpoints the checkpoint thread has run (0 without one)."""
        return self._checkpointer.done if self._checkpointer is not None else 0

    async def submit(self, job: Job[T], *, durable: bool = True) -> T:
        """Run `job` in the writer's next transaction; its result once committed.

        ``durable=False``: the job neither stores nor acknowledges a message, so its
        commit need not be fsynced (module docstring)."""
        if self._closed:
            raise RuntimeError("store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Pending(job, future, loop, durable))
        return await future

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    # -- the thread ------------------------------------------------------------------
    def _run(self) -> None:
        conn = self._conn
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < _MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            with self._locked():
                outcomes = self._run_batch(conn, batch)
                # Other processes, and this process's loop, hear of the commit before
                # the next writer can commit: every hub sees each account's changes
                # in modseq order (hub.py).
                self._tell_others(outcomes)
                self._finish(batch, outcomes)
            checkpointer = self._checkpointer
            if (
                checkpointer is not None
                and self.commits >= self._checkpoint_due
                and checkpointer.request()
            ):
                self._checkpoint_due = self.commits + CHECKPOINT_COMMITS
        if self._checkpointer is not None:
            self._checkpointer.close()
        conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The cross-process write lock (see the module docstring), if there is one."""
        if self._lock_fd is None:
            yield
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Pending[Any]]) -> list[_Outcome]:
        """Run the jobs and commit; one outcome per job (all failed if the commit failed)."""
        full = any(p.durable for p in batch)
        try:
            if full != self._synchronous_full:  # (outside a transaction: takes effect now)
                conn.execute("PRAGMA synchronous = FULL" if full else "PRAGMA synchronous = NORMAL")
                self._synchronous_full = full
            conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            return [(False, exc, [])] * len(batch)
        outcomes: list[_Outcome] = []
        # One job (every batch of an unhurried server): the transaction is its
        # savepoint, and a failure rolls it back whole (two statements fewer).
        alone = len(batch) == 1
        for p in batch:
            if not alone:
                conn.execute("SAVEPOINT job")
            try:
                result, changes = p.job(conn)
            except BaseException as exc:
                if alone:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                    return [(False, exc, [])]
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((False, exc, []))
            else:
                if not alone:
                    conn.execute("RELEASE job")
                outcomes.append((True, result, changes))
        try:
            conn.execute("COMMIT")
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            return [(False, exc, [])] * len(batch)
        self.commits += 1
        if not full:
            self.unsynced_commits += 1
        return outcomes

    def _tell_others(self, outcomes: list[_Outcome]) -> None:
        if self._on_commit is None:
            return
        committed = [c for ok, _, changes in outcomes if ok for c in changes]
        if committed:
            try:
                self._on_commit(committed)
            except Exception:  # a wake-up must never break the writer
                pass

    def _finish(self, batch: list[_Pending[Any]], outcomes: list[_Outcome]) -> None:
        """Hand results back: one callback per event loop for the whole batch (one
        wake-up instead of one per job), publishing changes in commit order."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Done]] = {}
        for p, (ok, value, changes) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(p.loop, []).append((p, ok, value, changes))
        hub = self._hub

        def deliver(items: list[_Done]) -> None:
            for p, ok, value, changes in items:
                for change in changes:
                    hub.publish(change)
                if p.future.cancelled():
                    continue
                if ok:
                    p.future.set_result(value)
                else:
                    p.future.set_exception(value)

        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(deliver, items)
            except RuntimeError:
                pass  # the loop is gone; nobody is waiting any more


class _Checkpointer:
    """The checkpoint thread: a PASSIVE checkpoint on its own connection when asked."""

    def __init__(self, open_conn: Callable[[], sqlite3.Connection]) -> None:
        self._open = open_conn
        self._wake = threading.Event()
        self._stop = False
        self._busy = False  # a checkpoint was asked for and has not ended
        self.done = 0
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def request(self) -> bool:
        """Start a checkpoint unless one runs (then False: ask again after a commit).

        So a COMMIT comes between two, in which SQLite's own checkpoint
        (`CHECKPOINT_FALLBACK_PAGES`), kept busy while one runs, gets its turn: when
        writes come faster than checkpoints end, that one lets the WAL start over."""
        if self._busy:
            return False
        self._busy = True
        self._wake.set()
        return True

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                break
            try:
                if conn is None:
                    conn = self._open()
                # (busy, WAL pages, pages copied); PASSIVE never waits for a lock:
                # busy when another process's checkpoint runs, which does the work.
                # fetchall: a statement left unfinished would keep a read transaction
                # open, and the WAL could not start over.
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.done += 1
            except sqlite3.Error:
                pass  # the next request tries again; SQLite's fallback bounds the WAL
            self._busy = False
        if conn is not None:
            conn.close()
