"""Receipts: the trace header each (sender, recipient, message) got, so a retry is identical.

Why this exists.  The store makes delivery idempotent by content
(`NewMessage.dedupe_seconds`: same bytes in the same mailbox within the window
is the same message).  But every copy we store starts with our own
``Received`` line, which carries the time of receipt: a sender that retries
after we crashed between the commit and our 250 would send the same message
and get different bytes, so a second copy.  To stop that, the first delivery
of a (reverse-path, recipient, received octets) triple records the Received
line it used here, *before* its row is committed; a retry within the window
looks the triple up and gets the very same line, hence the same bytes, hence
the store's dedupe.

Two phases.  ``stamp(key, make)`` returns the header at once and a
:class:`Recording` whose ``wait()`` the caller awaits before it appends (the
blob is written in the meantime, so the receipt costs no extra latency).
Lookups are answered from memory (a dict of the keys seen in the window, a
few dozen octets each); only a key seen before (a retry) reads the file.

Durability: SQLite in WAL mode with ``synchronous=OFF``, in one thread of its
own (file writes can block behind other fsyncs on the same file system, and
must never stall the event loop).  A commit is a ``write()`` into the WAL and
never an fsync, so it survives the process being killed (the crash we defend
against).  A power failure may lose recent receipts or even damage the file
(it is then set aside and a fresh one started); afterwards a retry may store a
second copy of a message whose 250 was lost (a duplicate, never a loss).  The
clean fix is a ``dedupe_key`` on `NewMessage` that the store checks instead of
the blob id (see docs/delivery.md).

What this module must never do: decide anything about delivery; it only
remembers and returns header bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from posteingang.log import get_logger

__all__ = ["MemoryReceipts", "Receipts", "Recording", "SqliteReceipts", "receipt_key"]

log = get_logger(__name__)

# Forget expired receipts after this many new ones.
_PURGE_EVERY = 1000


def receipt_key(sender: str | None, recipient: str, body_sha256: str) -> str:
    """The identity of one delivery attempt: reverse-path, recipient, received octets."""
    h = hashlib.sha256()
    h.update((sender or "").encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(recipient.encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(body_sha256.encode("ascii"))
    return h.hexdigest()


class Recording:
    """A receipt being written: ``await wait()`` before the store commits the copy."""

    __slots__ = ("_future",)

    def __init__(self, future: Future[None] | None = None) -> None:
        self._future = future

    async def wait(self) -> None:
        if self._future is not None:
            await asyncio.wrap_future(self._future)


_DONE = Recording()


class Receipts:
    """Interface: ``stamp(key, make)`` returns the header recorded for ``key`` within
    ``window`` seconds, or records ``make()`` and returns that (0: remember nothing)."""

    window: int

    async def stamp(self, key: str, make: Callable[[], bytes]) -> tuple[bytes, Recording]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class MemoryReceipts(Receipts):
    """Receipts in a dict: survives nothing (tests, and the `memory` store backend)."""

    def __init__(self, window: int = 24 * 3600, *, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self._clock = clock
        self._seen: dict[str, tuple[float, bytes]] = {}

    async def stamp(self, key: str, make: Callable[[], bytes]) -> tuple[bytes, Recording]:
        if self.window <= 0:
            return make(), _DONE
        now = self._clock()
        found = self._seen.get(key)
        if found is not None and found[0] >= now - self.window:
            return found[1], _DONE
        value = make()
        self._seen[key] = (now, value)
        if len(self._seen) % _PURGE_EVERY == 0:
            cutoff = now - self.window
            self._seen = {k: v for k, v in self._seen.items() if v[0] >= cutoff}
        return value, _DONE


class SqliteReceipts(Receipts):
    """Receipts in a small SQLite file next to the store (one writer: the server process)."""

    def __init__(
        self, path: str | Path, window: int = 24 * 3600, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.window = window
        self._clock = clock
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            # Only a power failure can damage it (synchronous=OFF); what it held
            # only prevents duplicates, so start afresh rather than refuse mail.
            log.warning("receipts_reset", path=str(self.path), error=str(exc))
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    Path(f"{self.path}{suffix}").rename(f"{self.path}{suffix}.damaged")
            self._db = self._open()
        # Keys (their first 64 bits) seen within the window, with their time.
        cutoff = clock() - window
        self._known: dict[int, float] = {
            int(key[:16], 16): at
            for key, at in self._db.execute("SELECT key, at FROM receipts WHERE at >= ?", (cutoff,))
        }
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp-receipts")
        self._inserted = 0
        self._closed = False

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            db.execute(
                "CREATE TABLE IF NOT EXISTS receipts"
                " (key TEXT PRIMARY KEY, at REAL NOT NULL, trace BLOB NOT NULL) WITHOUT ROWID"
            )
            db.execute("SELECT count(*) FROM receipts").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    async def stamp(self, key: str, make: Callable[[], bytes]) -> tuple[bytes, Recording]:
        if self.window <= 0:
            return make(), _DONE
        now = self._clock()
        short = int(key[:16], 16)
        seen = self._known.get(short)
        if seen is not None and seen >= now - self.window:
            # Probably a retry: the one thread runs jobs in order, so a
            # concurrent first attempt's insert is already in the file.
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(self._thread, self._lookup, key, now)
            if found is not None:
                return found, _DONE
        value = make()
        self._known[short] = now
        self._inserted += 1
        if self._inserted % _PURGE_EVERY == 0:
            cutoff = now - self.window
            self._known = {k: at for k, at in self._known.items() if at >= cutoff}
            self._thread.submit(self._purge, cutoff)
        return value, Recording(self._thread.submit(self._insert, key, now, value))

    def _lookup(self, key: str, now: float) -> bytes | None:
        row = self._db.execute("SELECT at, trace FROM receipts WHERE key = ?", (key,)).fetchone()
        if row is not None and row[0] >= now - self.window:
            return bytes(row[1])
        return None

    def _insert(self, key: str, now: float, value: bytes) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO receipts (key, at, trace) VALUES (?, ?, ?)", (key, now, value)
        )

    def _purge(self, cutoff: float) -> None:
        self._db.execute("DELETE FROM receipts WHERE at < ?", (cutoff,))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._thread.submit(self._db.close).result()
            self._thread.shutdown()
