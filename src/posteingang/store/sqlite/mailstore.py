"""The SQLite backend's `Mailstore` (store/mailstore.py): jobs in mailboxes.py,
messages.py, pages.py and threads.py."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from posteingang.store import names
from posteingang.store.errors import InvalidName, NotFound
from posteingang.store.hub import Change
from posteingang.store.mailstore import NewMessage
from posteingang.store.model import (
    AppendResult,
    Changes,
    CopyResult,
    FlagOp,
    FlagUpdate,
    Mailbox,
    MailboxCounts,
    MailboxIndex,
    MailboxStatus,
    Message,
    MessageBody,
    MessagePage,
    PageFilter,
    PageSort,
    SpecialUse,
)
from posteingang.store.sqlite import accounts as acc
from posteingang.store.sqlite import fulltext, pages, shared, threads
from posteingang.store.sqlite import mailboxes as mbx
from posteingang.store.sqlite import messages as msg
from posteingang.store.sqlite.access import LOOP_READ_MAILBOX, LOOP_READ_ROWS, SqliteAccess
from posteingang.store.sqlite.blobs import SqliteBlobStore


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
    """Hand the blob files an append did not use to blob GC, in its commit.

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


class SqliteMailstore(SqliteAccess):
    async def usage(self, account_id: int) -> int:
        return await self._read(lambda c: shared.usage(c, account_id))

    # -- mailboxes -----------------------------------------------------------------------
    # One indexed statement each (an account's mailboxes): on the loop, no hop.
    async def list_mailboxes(self, account_id: int) -> list[Mailbox]:
        found = self._read_cached(
            ("mailboxes", account_id), lambda c: tuple(mbx.list_mailboxes(c, account_id))
        )
        return list(found)

    async def get_mailbox(self, account_id: int, name: str) -> Mailbox | None:
        name = names.normalize_mailbox_name(name)
        return self._read_cached(
            ("mailbox", account_id, name), lambda c: mbx.get_mailbox(c, account_id, name)
        )

    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        return self._read_now(lambda c: shared.get_mailbox_by_id(c, mailbox_id))

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
            return shared.require_mailbox(conn, mailbox_id), []

        return await self._write(job)

    async def set_subscribed(self, account_id: int, name: str, subscribed: bool) -> None:
        name = names.normalize_mailbox_name(name)
        await self._write(lambda c: mbx.set_subscribed(c, account_id, name, subscribed))

    async def list_subscriptions(self, account_id: int) -> list[str]:
        found = self._read_cached(  # LIST: no hop
            ("subscriptions", account_id), lambda c: tuple(mbx.list_subscriptions(c, account_id))
        )
        return list(found)

    async def mailbox_status(self, mailbox_id: int) -> MailboxStatus:
        found = self._read_cached(
            ("status", mailbox_id),
            lambda c: mbx.mailbox_status_small(c, mailbox_id, LOOP_READ_MAILBOX),
        )
        if found is not None:
            return found
        return await self._read(lambda c: mbx.mailbox_status(c, mailbox_id))

    async def claim_recent(self, mailbox_id: int) -> tuple[int, int]:
        return await self._write(lambda c: mbx.claim_recent(c, mailbox_id), durable=False)

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
            fulltext.note_new(conn, [message])
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
            fulltext.note_new(conn, messages)
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
        # Flag changes and expunges commit without fsync (writer.py, "Durability").
        return await self._write(
            lambda c: msg.store_flags(c, mailbox_id, uids, op, flags, unchanged_since),
            durable=False,
        )

    async def expunge(self, mailbox_id: int, uids: Sequence[int]) -> list[int]:
        return await self._write(lambda c: msg.expunge(c, mailbox_id, uids), durable=False)

    async def expunge_deleted(
        self, mailbox_id: int, *, up_to_uid: int, uids: Sequence[int] | None = None
    ) -> list[int]:
        return await self._write(
            lambda c: msg.expunge_deleted(c, mailbox_id, up_to_uid, uids), durable=False
        )

    async def copy(self, source_id: int, uids: Sequence[int], target_id: int) -> CopyResult:
        return await self._write(
            lambda c: msg.copy_messages(c, source_id, uids, target_id, move=False)
        )

    async def move(self, source_id: int, uids: Sequence[int], target_id: int) -> CopyResult:
        return await self._write(
            lambda c: msg.copy_messages(c, source_id, uids, target_id, move=True)
        )

    async def thread_messages(self, account_id: int, thread_id: str) -> list[Message]:
        return await self._read(lambda c: threads.thread_messages(c, account_id, thread_id))

    async def thread_size(self, account_id: int, thread_id: str) -> int:
        return await self._read(lambda c: threads.thread_size(c, account_id, thread_id))

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
