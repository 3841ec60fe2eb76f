"""The SQLite embedded default: WAL, one writer thread, concurrent readers.

Writes are jobs for `Writer` (one thread, group commit, publish after commit);
reads run on a small pool of reader threads, each with its own connection, so a
long SELECT never waits for the writer and never blocks the event loop.

Durability: `journal_mode=WAL` with `synchronous=FULL`, so a COMMIT that has
returned survives power loss; blobs are fsynced by the blob store before the job
that references them is even submitted. Deleting blobs whose last message went
away is deferred (`gc_blobs`) and done by the writer thread itself, so it cannot
race with an append that reuses the same content.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from posteingang.store import names
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.fulltext import Candidates, Term
from posteingang.store.hub import Change, Hub, credentials_change
from posteingang.store.interface import (
    IntegrityReport,
    InvalidName,
    NewMessage,
    NotFound,
    normalize_sender,
)
from posteingang.store.model import (
    DEFAULT_MAILBOXES,
    Account,
    AccountSettings,
    Alias,
    AppendResult,
    Changes,
    CopyResult,
    Device,
    Domain,
    FlagOp,
    FlagUpdate,
    LoginRecord,
    Mailbox,
    MailboxCounts,
    MailboxIndex,
    MailboxStatus,
    Message,
    MessageBody,
    MessagePage,
    PageFilter,
    PageSort,
    Pop3View,
    SpecialUse,
)
from posteingang.store.sqlite import accounts as acc
from posteingang.store.sqlite import fulltext, images, pages, pop3, sortkeys, threads
from posteingang.store.sqlite import index as packed
from posteingang.store.sqlite import mailboxes as mbx
from posteingang.store.sqlite import messages as msg
from posteingang.store.sqlite.blobs import SqliteBlobStore
from posteingang.store.sqlite.notify import Listener, Notifier
from posteingang.store.sqlite.schema import migrate
from posteingang.store.sqlite.writer import Writer

T = TypeVar("T")

BLOB_GC_GRACE_SECONDS = 3600
MMAP_SIZE = 1 << 30
#: point reads of up to this many rows (one indexed statement) run on the event
#: loop's own connection (`_read_now`): a hop to the reader pool costs ~40 µs of
#: CPU on loop and worker together, more than such a query (issue 12 profile)
LOOP_READ_ROWS = 256
#: whole-mailbox reads (STATUS counts, the SELECT index) run on the loop too while the
#: mailbox's uidnext is at most this (`SqliteStore._read_small_now`)
LOOP_READ_MAILBOX = 4096


class BlobMissing(Exception):
    """A blob the job references vanished (only possible after a crash or manual edit)."""


def write_lock_path(path: Path) -> Path:
    """The lock file every writing process takes around a transaction (writer.py)."""
    return path.with_name(path.name + ".writelock")


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
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


def _require_blobs(
    conn: sqlite3.Connection, blobs: SqliteBlobStore, messages: Sequence[NewMessage]
) -> None:
    """Every message's bytes are stored (or travel with it). Checked in the writer
    thread, where blob GC also runs, so the answer cannot go stale before the commit."""
    for m in messages:
        if m.data is not None or blobs.path_of(m.blob_id).exists():
            continue
        if not conn.execute("SELECT 1 FROM blob_data WHERE id = ?", (m.blob_id,)).fetchone():
            raise NotFound(f"blob {m.blob_id} is not stored")


def _note_unused_blobs(conn: sqlite3.Connection, messages: Sequence[NewMessage]) -> None:
    """Hand the blob files an append did not use to blob GC, in its commit (issue 10, item 11).

    A delivery retry whose stored bytes differ from the first attempt's (a new
    Received line) is deduplicated by its `dedupe_key`: the message already
    there is returned, and the retry's own blob file would be left with no row
    that knows it (an "orphan" for `check`). It gets a row with no references
    instead, so `gc_blobs` removes it like any blob whose last message went.
    Not deleted at once: the same prepared message may still be appended for
    another account of the delivery (an alias with several targets).
    """
    unused = []
    for m in messages:
        if m.data is not None:
            continue
        if conn.execute("SELECT 1 FROM blobs WHERE id = ?", (m.blob_id,)).fetchone():
            continue
        unused.append((m.blob_id, m.size, int(time.time()), m.line_size))
    conn.executemany(
        "INSERT OR IGNORE INTO blobs (id, size, refcount, zero_since, line_size)"
        " VALUES (?, ?, 0, ?, ?)",
        unused,
    )


class SqliteStore:
    def __init__(
        self, path: Path, blobs: FsBlobStore, hub: Hub, writer: Writer, notifier: Notifier
    ) -> None:
        self.path = path
        self.blobs = SqliteBlobStore(blobs, lambda: connect(path, readonly=True))
        self.hub = hub
        self._writer = writer
        self._notifier = notifier
        self._listener: Listener | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._loop_reader: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-reader")
        self._backfill: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path, blobs: FsBlobStore, hub: Hub | None = None) -> SqliteStore:
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
        # Not awaited: a large store opens at once and is indexed meanwhile (fulltext.py).
        store._backfill = asyncio.create_task(store.backfill_fulltext(), name="fulltext backfill")
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
        self._notifier.listening = True
        self.hub.catch_up = listener.receive_pending

    async def close(self) -> None:
        if self._backfill is not None:
            self._backfill.cancel()  # its batches are whole transactions; the next open resumes
            with contextlib.suppress(asyncio.CancelledError):
                await self._backfill
            self._backfill = None
        if self._listener is not None:
            self.hub.catch_up = None
            self._notifier.listening = False
            self._listener.stop(asyncio.get_running_loop())
            self._listener = None
        await self._writer.close()
        self._notifier.close()
        self.blobs.close()
        self._pool.shutdown(wait=True)
        for conn in self._readers:
            conn.close()
        self._readers.clear()
        if self._loop_reader is not None:
            self._loop_reader.close()
            self._loop_reader = None

    # -- plumbing -----------------------------------------------------------------------
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

    async def _write(self, fn: Callable[[sqlite3.Connection], tuple[T, list[Change]]]) -> T:
        return await self._writer.submit(fn)

    # -- domains, accounts, aliases ---------------------------------------------------
    async def add_domain(self, name: str) -> Domain:
        name = names.normalize_domain(name)
        return await self._write(lambda c: acc.add_domain(c, name))

    async def get_domain(self, name: str) -> Domain | None:
        name = names.normalize_domain(name)
        return await self._read(lambda c: acc.get_domain(c, name))

    async def list_domains(self) -> list[Domain]:
        return await self._read(acc.list_domains)

    async def remove_domain(self, name: str) -> None:
        name = names.normalize_domain(name)
        await self._write(lambda c: acc.remove_domain(c, name))

    async def set_catch_all(self, domain: str, target: str | None) -> None:
        domain = names.normalize_domain(domain)
        tgt = names.normalize_address(target) if target else None
        await self._write(lambda c: acc.set_catch_all(c, domain, tgt))

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

    async def get_account(self, address: str) -> Account | None:
        try:
            address = names.normalize_address(address)
        except InvalidName:
            return None
        return await self._read(lambda c: acc.get_account(c, address))

    async def get_account_by_id(self, account_id: int) -> Account | None:
        return self._read_now(lambda c: acc.get_account_by_id(c, account_id))  # one row

    async def list_accounts(self, domain: str | None = None) -> list[Account]:
        dom = names.normalize_domain(domain) if domain else None
        return await self._read(lambda c: acc.list_accounts(c, dom))

    async def delete_account(self, address: str) -> None:
        address = names.normalize_address(address)

        def job(conn: sqlite3.Connection) -> tuple[None, list[Change]]:
            account = acc.require_account(conn, address)
            boxes = mbx.list_mailboxes(conn, account.id)
            for box in boxes:
                mbx.drop_messages(conn, "mailbox_id = ?", (box.id,))
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

    async def set_password(
        self,
        account_id: int,
        password_hash: str,
        scram_sha256: str | None = None,
        *,
        end_sessions: bool = True,
    ) -> None:
        def job(conn: sqlite3.Connection) -> tuple[None, list[Change]]:
            acc.update_account(
                conn, account_id, password_hash=password_hash, scram_sha256=scram_sha256
            )
            return None, [credentials_change(account_id, "password")] if end_sessions else []

        await self._write(job)

    async def set_quota(self, account_id: int, quota_bytes: int | None) -> None:
        await self._write(lambda c: acc.update_account(c, account_id, quota_bytes=quota_bytes))

    async def set_settings(self, account_id: int, settings: AccountSettings) -> None:
        text = acc.settings_to_json(settings)
        await self._write(lambda c: acc.update_account(c, account_id, settings=text))

    async def usage(self, account_id: int) -> int:
        return await self._read(lambda c: mbx.usage(c, account_id))

    async def add_alias(self, source: str, target: str) -> Alias:
        source, target = names.normalize_address(source), names.normalize_address(target)
        return await self._write(lambda c: acc.add_alias(c, source, target))

    async def remove_alias(self, source: str, target: str | None = None) -> None:
        source = names.normalize_address(source)
        tgt = names.normalize_address(target) if target else None
        await self._write(lambda c: acc.remove_alias(c, source, tgt))

    async def list_aliases(self, domain: str | None = None) -> list[Alias]:
        dom = names.normalize_domain(domain) if domain else None
        return await self._read(lambda c: acc.list_aliases(c, dom))

    async def resolve_address(self, address: str, *, catch_all: bool = True) -> list[Account]:
        address = names.normalize_address(address)
        return self._read_now(lambda c: acc.resolve_address(c, address, catch_all))

    # -- devices -------------------------------------------------------------------------
    async def add_device(
        self, account_id: int, name: str, password_hash: str, selector: str | None = None
    ) -> Device:
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidName("device name must be 1-100 characters")
        return await self._write(
            lambda c: acc.add_device(c, account_id, name, password_hash, selector)
        )

    async def get_device_by_selector(self, account_id: int, selector: str) -> Device | None:
        return await self._read(lambda c: acc.get_device_by_selector(c, account_id, selector))

    async def list_devices(self, account_id: int) -> list[Device]:
        return await self._read(lambda c: acc.list_devices(c, account_id))

    async def revoke_device(self, account_id: int, name: str) -> None:
        await self._write(lambda c: acc.revoke_device(c, account_id, name))

    async def record_login(self, record: LoginRecord) -> None:
        await self._write(lambda c: acc.record_login(c, record))

    async def list_logins(self, account_id: int, limit: int = 50) -> list[LoginRecord]:
        return await self._read(lambda c: acc.list_logins(c, account_id, limit))

    async def logged_in_from(self, account_id: int, source: str, since: datetime) -> bool:
        return await self._read(lambda c: acc.logged_in_from(c, account_id, source, since))

    # -- mailboxes -----------------------------------------------------------------------
    # One indexed statement each (an account's mailboxes): on the loop, no hop.
    async def list_mailboxes(self, account_id: int) -> list[Mailbox]:
        return self._read_now(lambda c: mbx.list_mailboxes(c, account_id))

    async def get_mailbox(self, account_id: int, name: str) -> Mailbox | None:
        name = names.normalize_mailbox_name(name)
        return self._read_now(lambda c: mbx.get_mailbox(c, account_id, name))

    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        return self._read_now(lambda c: mbx.get_mailbox_by_id(c, mailbox_id))

    async def create_mailbox(
        self,
        account_id: int,
        name: str,
        *,
        special_use: SpecialUse | None = None,
        uidvalidity: int | None = None,
    ) -> Mailbox:
        name = names.normalize_mailbox_name(name)

        def job(conn: sqlite3.Connection) -> tuple[Mailbox, list[Change]]:
            if acc.get_account_by_id(conn, account_id) is None:
                raise NotFound(f"account {account_id} does not exist")
            return mbx.create_mailbox(conn, account_id, name, special_use, uidvalidity)

        return await self._write(job)

    async def delete_mailbox(self, account_id: int, name: str) -> None:
        name = names.normalize_mailbox_name(name)
        await self._write(lambda c: mbx.delete_mailbox(c, account_id, name))

    async def rename_mailbox(self, account_id: int, old: str, new: str) -> Mailbox:
        old, new = names.normalize_mailbox_name(old), names.normalize_mailbox_name(new)
        return await self._write(lambda c: mbx.rename_mailbox(c, account_id, old, new))

    async def raise_uidnext(self, mailbox_id: int, uidnext: int) -> Mailbox:
        def job(conn: sqlite3.Connection) -> tuple[Mailbox, list[Change]]:
            conn.execute(
                "UPDATE mailboxes SET uidnext = ? WHERE id = ? AND uidnext < ?",
                (min(uidnext, 2**32), mailbox_id, uidnext),
            )
            return mbx.require_mailbox(conn, mailbox_id), []

        return await self._write(job)

    async def set_subscribed(self, account_id: int, name: str, subscribed: bool) -> None:
        name = names.normalize_mailbox_name(name)
        await self._write(lambda c: mbx.set_subscribed(c, account_id, name, subscribed))

    async def list_subscriptions(self, account_id: int) -> list[str]:
        return self._read_now(lambda c: mbx.list_subscriptions(c, account_id))  # LIST: no hop

    async def mailbox_status(self, mailbox_id: int) -> MailboxStatus:
        found = self._read_small_now(mailbox_id, mbx.mailbox_status)
        if found is not None:
            return found
        return await self._read(lambda c: mbx.mailbox_status(c, mailbox_id))

    async def claim_recent(self, mailbox_id: int) -> tuple[int, int]:
        return await self._write(lambda c: mbx.claim_recent(c, mailbox_id))

    # -- messages ------------------------------------------------------------------------
    async def append(self, mailbox_id: int, message: NewMessage) -> AppendResult:
        return (await self.append_many(mailbox_id, [message]))[0]

    async def append_first(
        self, account_id: int, mailboxes: Sequence[str], message: NewMessage
    ) -> AppendResult:
        wanted = []
        for name in mailboxes:
            try:
                wanted.append(names.normalize_mailbox_name(name))
            except InvalidName:
                continue
        blobs = self.blobs

        def job(conn: sqlite3.Connection) -> tuple[AppendResult, list[Change]]:
            for name in wanted:
                mailbox = mbx.find_mailbox(conn, account_id, name)
                if mailbox is not None:
                    break
            else:
                raise NotFound(f"none of the mailboxes {wanted} exists")
            _require_blobs(conn, blobs, [message])
            results, changes = msg.append_to(conn, mailbox, [message])
            fulltext.index_new(conn, [message], blobs.path_of)
            _note_unused_blobs(conn, [message])
            return results[0], changes

        return await self._write(job)

    async def append_many(
        self, mailbox_id: int, messages: Sequence[NewMessage]
    ) -> list[AppendResult]:
        blobs = self.blobs

        def job(conn: sqlite3.Connection) -> tuple[list[AppendResult], list[Change]]:
            _require_blobs(conn, blobs, messages)
            done = msg.append_messages(conn, mailbox_id, messages)
            fulltext.index_new(conn, messages, blobs.path_of)
            _note_unused_blobs(conn, messages)
            return done

        return await self._write(job)

    async def get_index(self, mailbox_id: int) -> MailboxIndex:
        found = self._read_small_now(mailbox_id, msg.get_index)
        if found is not None:
            return found
        return await self._read(lambda c: msg.get_index(c, mailbox_id))

    async def get_messages(self, mailbox_id: int, uids: Sequence[int]) -> list[Message]:
        if len(uids) <= LOOP_READ_ROWS:
            # One indexed statement for a FETCH chunk: tens of µs, less than the hop.
            return self._read_now(lambda c: msg.get_messages(c, mailbox_id, uids))
        return await self._read(lambda c: msg.get_messages(c, mailbox_id, uids))

    async def read_messages(
        self, mailbox_id: int, uids: Sequence[int], inline_max: int, budget: int
    ) -> list[MessageBody]:
        # On the event loop: a batch (FETCH reads up to 1 MiB) takes ~0.6 ms from the page
        # cache, and a thread hop per batch cost more than that in GIL hand-offs; it
        # made bulk FETCH 360-570 MB/s instead of 430-600 (bench_imap_fetch).
        return self._read_now(lambda c: msg.read_messages(c, mailbox_id, uids, inline_max, budget))

    async def mailbox_counts(self, mailbox_ids: Sequence[int]) -> dict[int, MailboxCounts]:
        return await self._read(lambda c: pages.mailbox_counts(c, mailbox_ids))

    async def message_page(
        self,
        mailbox_id: int,
        *,
        offset: int,
        limit: int,
        filter: PageFilter = PageFilter.ALL,
        newest_first: bool = True,
        sort: PageSort = PageSort.ARRIVAL,
    ) -> MessagePage:
        return await self._read(
            lambda c: pages.message_page(c, mailbox_id, offset, limit, filter, newest_first, sort)
        )

    async def store_flags(
        self,
        mailbox_id: int,
        uids: Sequence[int],
        op: FlagOp,
        flags: frozenset[str],
        *,
        unchanged_since: int | None = None,
    ) -> list[FlagUpdate]:
        return await self._write(
            lambda c: msg.store_flags(c, mailbox_id, uids, op, flags, unchanged_since)
        )

    async def expunge(self, mailbox_id: int, uids: Sequence[int]) -> list[int]:
        return await self._write(lambda c: msg.expunge(c, mailbox_id, uids))

    async def copy(self, source_id: int, uids: Sequence[int], target_id: int) -> CopyResult:
        return await self._write(
            lambda c: msg.copy_messages(c, source_id, uids, target_id, move=False)
        )

    async def move(self, source_id: int, uids: Sequence[int], target_id: int) -> CopyResult:
        return await self._write(
            lambda c: msg.copy_messages(c, source_id, uids, target_id, move=True)
        )

    async def image_senders(self, account_id: int) -> list[str]:
        return await self._read(lambda c: images.senders(c, account_id))

    async def allow_images(self, account_id: int, sender: str) -> None:
        sender = normalize_sender(sender)
        await self._write(lambda c: images.allow(c, account_id, sender))

    async def disallow_images(self, account_id: int, sender: str) -> bool:
        sender = normalize_sender(sender)
        return await self._write(lambda c: images.disallow(c, account_id, sender))

    async def fulltext_candidates(
        self, mailbox_id: int, terms: Sequence[Term]
    ) -> Candidates | None:
        return await self._read(lambda c: fulltext.candidates(c, mailbox_id, terms))

    async def backfill_fulltext(self) -> None:
        """Index the blobs stored before schema version 11, one small write job at a
        time (other writes go between them); returns when none are left."""
        path_of = self.blobs.path_of
        if await self._read(fulltext.backfilled):
            return  # (without a write job: an idle open commits nothing)
        while not await self._write(lambda c: (fulltext.backfill_batch(c, path_of), [])):
            pass

    async def thread_messages(self, account_id: int, thread_id: str) -> list[Message]:
        return await self._read(lambda c: threads.thread_messages(c, account_id, thread_id))

    async def changes_since(self, mailbox_id: int, modseq: int) -> Changes:
        return await self._read(lambda c: msg.changes_since(c, mailbox_id, modseq))

    async def get_parsed(self, blob_id: str) -> bytes:
        def fetch(conn: sqlite3.Connection) -> bytes:
            row = conn.execute("SELECT data FROM parsed WHERE blob_id = ?", (blob_id,)).fetchone()
            if row is None:
                raise NotFound(f"no parse record for blob {blob_id}")
            return bytes(row[0])

        return await self._read(fetch)

    async def get_parsed_many(self, blob_ids: Sequence[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(blob_ids))

        def fetch(conn: sqlite3.Connection) -> dict[str, bytes]:
            found: dict[str, bytes] = {}
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for blob_id, data in conn.execute(
                    f"SELECT blob_id, data FROM parsed WHERE blob_id IN ({marks})", chunk
                ):
                    found[blob_id] = bytes(data)
            return found

        if len(wanted) <= LOOP_READ_ROWS:
            return self._read_now(fetch)  # one primary-key statement: cheaper than the hop
        return await self._read(fetch)

    async def blob_counts(self, mailbox_id: int) -> dict[str, int]:
        return await self._read(lambda c: msg.blob_counts(c, mailbox_id))

    async def line_sizes(self, blob_ids: Sequence[str]) -> dict[str, int]:
        ids = list(blob_ids)
        return await self._read(lambda c: msg.line_sizes(c, ids))

    async def account_modseq(self, account_id: int) -> int:
        def fetch(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT modseq FROM accounts WHERE id = ?", (account_id,)).fetchone()
            return int(row[0]) if row else 0

        return await self._read(fetch)

    # -- POP3 per-client state --------------------------------------------------------
    async def pop3_view(self, mailbox_id: int, device_id: int | None) -> Pop3View:
        return await self._read(lambda c: pop3.view(c, mailbox_id, device_id))

    async def pop3_record(
        self,
        mailbox_id: int,
        device_id: int | None,
        *,
        retrieved: Sequence[int] = (),
        hidden: Sequence[int] = (),
        at: datetime | None = None,
    ) -> None:
        when = at or datetime.now(UTC)
        await self._write(lambda c: pop3.record(c, mailbox_id, device_id, retrieved, hidden, when))

    async def pop3_retrieved_before(self, mailbox_id: int, cutoff: datetime) -> list[int]:
        return await self._read(lambda c: pop3.retrieved_before(c, mailbox_id, cutoff))

    async def set_pop3_uidls(self, mailbox_id: int, uidls: dict[int, str]) -> None:
        await self._write(lambda c: pop3.set_uidls(c, mailbox_id, uidls))

    async def get_pop3_uidls(self, mailbox_id: int) -> dict[int, str]:
        return await self._read(lambda c: pop3.get_uidls(c, mailbox_id))

    # -- maintenance -------------------------------------------------------------------
    async def gc_blobs(self, grace_seconds: int = BLOB_GC_GRACE_SECONDS) -> list[str]:
        """Delete blobs no message has used for `grace_seconds`; returns their ids."""
        blobs = self.blobs

        def job(conn: sqlite3.Connection) -> tuple[list[str], list[Change]]:
            cutoff = int(time.time()) - grace_seconds
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM blobs WHERE refcount <= 0 AND zero_since <= ?", (cutoff,)
                )
            ]
            for blob_id in ids:
                conn.execute("DELETE FROM blobs WHERE id = ?", (blob_id,))
                conn.execute("DELETE FROM parsed WHERE blob_id = ?", (blob_id,))
                conn.execute("DELETE FROM blob_data WHERE id = ?", (blob_id,))
                # Removing the file before COMMIT is safe: the row is gone either way, and
                # a crash here leaves a row-less file, which `check --repair` removes.
                blobs.files.delete_sync(blob_id)
            return ids, []

        return await self._write(job)

    async def check(self, repair: bool = False) -> IntegrityReport:
        from posteingang.store.sqlite.integrity import check

        return await check(self, repair)

    # used by integrity.py
    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._read(fn)

    async def write(self, fn: Callable[[sqlite3.Connection], tuple[T, list[Change]]]) -> T:
        return await self._write(fn)
