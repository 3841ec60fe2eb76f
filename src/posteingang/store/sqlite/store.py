"""The SQLite embedded default: WAL, one writer thread, concurrent readers.

`SqliteStore` is the `Store`: its parts (directory.py, mailstore.py,
clientstate.py, searchindex.py, imagesenders.py, on the connections of
access.py) plus opening, closing, creating and deleting accounts (which touch
every part), blob GC and `check`.

Durability: `journal_mode=WAL` with `synchronous=FULL`, so a COMMIT that has
returned survives power loss (flag changes and expunges alone: `synchronous=NORMAL`,
see writer.py); blobs are fsynced by the blob store before the job
that references them is even submitted. Deleting blobs whose last message went
away is deferred (`gc_blobs`) and done by the writer thread itself, so it cannot
race with an append that reuses the same content.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from posteingang.store import names
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.hub import Change, Hub, credentials_change
from posteingang.store.interface import IntegrityReport
from posteingang.store.model import DEFAULT_MAILBOXES, Account
from posteingang.store.sqlite import accounts as acc
from posteingang.store.sqlite import fulltext, integrity, pop3, shared, sortkeys
from posteingang.store.sqlite import index as packed
from posteingang.store.sqlite import mailboxes as mbx
from posteingang.store.sqlite.access import connect
from posteingang.store.sqlite.clientstate import SqliteClientState
from posteingang.store.sqlite.directory import SqliteDirectory
from posteingang.store.sqlite.imagesenders import SqliteImageSenders
from posteingang.store.sqlite.mailstore import SqliteMailstore
from posteingang.store.sqlite.notify import Listener, Notifier
from posteingang.store.sqlite.schema import migrate
from posteingang.store.sqlite.searchindex import SqliteSearchIndex
from posteingang.store.sqlite.writer import Writer

BLOB_GC_GRACE_SECONDS = 3600
#: blobs deleted per write job of `SqliteStore.gc_blobs`
BLOB_GC_BATCH = 100


def write_lock_path(path: Path) -> Path:
    """The lock file every writing process takes around a transaction (writer.py)."""
    return path.with_name(path.name + ".writelock")


class SqliteStore(
    SqliteDirectory, SqliteSearchIndex, SqliteMailstore, SqliteClientState, SqliteImageSenders
):
    """The `Store` on one SQLite file and a blob directory (`open` makes one)."""

    @classmethod
    async def open(
        cls, path: Path, blobs: FsBlobStore, hub: Hub | None = None, *, search_index: bool = True
    ) -> SqliteStore:
        """Open (creating and migrating) the store; `search_index` False: no full-text
        index (searchindex.py)."""
        path.parent.mkdir(parents=True, exist_ok=True)

        def prepare() -> sqlite3.Connection:
            conn = connect(path)
            migrate(conn)
            sortkeys.backfill(conn)
            return conn

        conn = await asyncio.to_thread(prepare)
        hub = hub or Hub()
        notifier = Notifier(path)
        writer = Writer(conn, hub, notifier.committed, lock_path=write_lock_path(path))
        store = cls(path, blobs, hub, writer, notifier)
        if search_index:
            store._start_indexing()
        return store

    async def listen_external(self) -> None:
        """Receive wake-ups for commits made by other processes (see notify.py)."""
        if self._listener is not None:
            return
        listener = Listener(self.path, self.hub, self._notifier.token)
        try:
            listener.start(asyncio.get_running_loop())
        except OSError:
            return  # e.g. a socket path over 108 bytes: pushes from other processes are late
        self._listener = listener
        listener.on_receive = self._others_committed
        self._notifier.listening = True
        self.hub.catch_up = listener.receive_pending

    async def close(self) -> None:
        await self._stop_indexing()
        if self._listener is not None:
            self.hub.catch_up = None
            self._notifier.listening = False
            self._listener.stop(asyncio.get_running_loop())
            self._listener = None
        await self._writer.close()
        self._notifier.close()
        self.blobs.close()
        self._close_readers()

    # -- accounts: creating and deleting them touches every part -----------------------
    async def create_account(
        self,
        address: str,
        password_hash: str,
        *,
        scram_sha256: str | None = None,
        quota_bytes: int | None = None,
    ) -> Account:
        address = names.normalize_address(address)

        def job(conn: sqlite3.Connection) -> tuple[Account, list[Change]]:
            account = acc.insert_account(conn, address, password_hash, scram_sha256, quota_bytes)
            changes: list[Change] = []
            for name, use in DEFAULT_MAILBOXES:
                _, more = mbx.create_mailbox(conn, account.id, name, use, None)
                changes += more
            mbx.subscribe_defaults(conn, account.id, [n for n, _ in DEFAULT_MAILBOXES])
            return account, changes

        return await self._write(job)

    async def delete_account(self, address: str) -> None:
        address = names.normalize_address(address)

        def job(conn: sqlite3.Connection) -> tuple[None, list[Change]]:
            account = acc.require_account(conn, address)
            boxes = mbx.list_mailboxes(conn, account.id)
            for box in boxes:
                shared.drop_messages(conn, "mailbox_id = ?", (box.id,))
                pop3.forget(conn, box.id, None)
                packed.drop(conn, box.id)
                conn.execute("DELETE FROM expunged WHERE mailbox_id = ?", (box.id,))
            conn.execute("DELETE FROM mailboxes WHERE account_id = ?", (account.id,))
            conn.execute("DELETE FROM subscriptions WHERE account_id = ?", (account.id,))
            conn.execute("DELETE FROM thread_keys WHERE account_id = ?", (account.id,))
            conn.execute("DELETE FROM aliases WHERE target = ?", (address,))
            conn.execute("UPDATE domains SET catch_all = NULL WHERE catch_all = ?", (address,))
            conn.execute("DELETE FROM devices WHERE account_id = ?", (account.id,))
            conn.execute("DELETE FROM logins WHERE account_id = ?", (account.id,))
            conn.execute("DELETE FROM accounts WHERE id = ?", (account.id,))
            return None, [credentials_change(account.id, "account")]

        await self._write(job)

    # -- maintenance -------------------------------------------------------------------
    async def gc_blobs(self, grace_seconds: int = BLOB_GC_GRACE_SECONDS) -> list[str]:
        """Delete blobs no message has used for `grace_seconds`, with their parse
        records and search documents; returns their ids.

        In jobs of `BLOB_GC_BATCH` blobs: deleting a search document costs the
        writer about a millisecond, and other writes go on between the jobs."""
        blobs = self.blobs
        cutoff = int(time.time()) - grace_seconds

        def job(conn: sqlite3.Connection) -> tuple[list[str], list[Change]]:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM blobs WHERE refcount <= 0 AND zero_since <= ? LIMIT ?",
                    (cutoff, BLOB_GC_BATCH),
                )
            ]
            fulltext.forget_blobs(conn, ids)
            for blob_id in ids:
                conn.execute("DELETE FROM blobs WHERE id = ?", (blob_id,))
                conn.execute("DELETE FROM parsed WHERE blob_id = ?", (blob_id,))
                conn.execute("DELETE FROM blob_data WHERE id = ?", (blob_id,))
                # Removing the file before COMMIT is safe: the row is gone either way, and
                # a crash here leaves a row-less file, which `check --repair` removes.
                blobs.files.delete_sync(blob_id)
            return ids, []

        removed: list[str] = []
        while True:
            ids = await self._write(job)
            removed += ids
            if len(ids) < BLOB_GC_BATCH:
                return removed

    async def check(self, repair: bool = False) -> IntegrityReport:
        return await integrity.check(self, repair)
