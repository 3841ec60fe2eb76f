"""Import engine: messages from a source folder into one mailbox, resumable, in batches.

Theory of operation. A source (`MboxSource`, `MaildirSource`) yields
`SourceMessage`s in a fixed order; the engine decides for each one whether the
target mailbox already holds it, and appends the rest in batches through the
one delivery path (`delivery.ingest.prepare_message`, then
`Store.append_many`). A batch commits atomically, so a crash leaves whole
batches; re-running the same import then neither duplicates nor skips:

* A source message with a UID (``dovecot-uidlist``, or the mbox sidecar) that
  the mailbox holds under that UID with the same blob is already imported.
  Otherwise, if the UID is still free (>= uidnext) it is appended with it.
* Every other message follows the multiset rule: the k-th occurrence of a
  blob in the source is imported only if the mailbox holds fewer than k
  messages with that blob (`Store.blob_counts`), not counting the ones already
  claimed by UID. So two identical messages in the source give two messages,
  and an interrupted run's committed batches are recognised.

Pipeline: up to MAX_INFLIGHT messages are being prepared at once (each blob
put is a file write and two fsyncs in a worker thread; in parallel they share
the disk's flushes), results are collected in source order into batches, and
batch k commits in the store's writer while batch k+1 fills.

This module must never parse or alter message bytes itself, and never write
to the store except through `prepare_message` and `append_many`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from posteingang.delivery.ingest import prepare_message
from posteingang.store.interface import Conflict, NewMessage, Store
from posteingang.store.model import AppendResult, Mailbox

BATCH_MESSAGES = 200
BATCH_OCTETS = 16 << 20
MAX_UID = 2**32 - 1
# Messages being written and parsed at once: enough to keep the blob threads busy.
MAX_INFLIGHT = 64


@dataclass(frozen=True, slots=True)
class SourceMessage:
    raw: bytes
    digest: str | None  # SHA-256 hex of raw (the blob id it will get), if the source knows it
    flags: frozenset[str]
    internal_date: datetime
    uid: int | None
    label: str  # for messages to the user: "message 17" or a file name
    octets: int  # source octets this message accounts for (progress)
    unreadable: bool = False  # the source could not read it (and said so)
    pop3_uidl: str | None = None  # the UIDL POP3 clients know it by (Dovecot's uidlist)


class Source(Protocol):
    """One source folder, imported into one mailbox."""

    @property
    def mailbox(self) -> str: ...
    @property
    def uidvalidity(self) -> int | None: ...
    @property
    def uidnext(self) -> int | None:
        """The source's next UID (dovecot-uidlist ``N``, the sidecar's), if it records one."""
        ...

    @property
    def has_uids(self) -> bool: ...
    @property
    def total_octets(self) -> int: ...
    def uid_digests(self, uids: set[int]) -> dict[int, str]:
        """SHA-256 of the source messages with these UIDs (used only when resuming)."""
        ...

    def messages(self) -> Iterator[SourceMessage]: ...


@dataclass
class ImportStats:
    messages: int = 0  # source messages looked at
    imported: int = 0
    present: int = 0  # already in the mailbox (an earlier run, or duplicates there)
    empty: int = 0  # 0-byte messages, skipped
    unreadable: int = 0  # files that vanished or could not be read, skipped
    octets: int = 0  # source octets processed
    imported_octets: int = 0
    total_octets: int = 0
    folders: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def rate(self) -> float:
        """Messages looked at per second."""
        return self.messages / self.elapsed


class Reporter(Protocol):
    def progress(self, stats: ImportStats, folder: str) -> None: ...
    def warning(self, text: str) -> None: ...


async def target_mailbox(store: Store, account_id: int, source: Source) -> Mailbox:
    """The mailbox to import into, created (with the source's UIDVALIDITY) if missing."""
    mailbox = await store.get_mailbox(account_id, source.mailbox)
    if mailbox is None:
        mailbox = await store.create_mailbox(
            account_id, source.mailbox, uidvalidity=source.uidvalidity
        )
    return mailbox


async def _uid_blobs(store: Store, mailbox_id: int) -> dict[int, str]:
    index = await store.get_index(mailbox_id)
    out: dict[int, str] = {}
    for i in range(0, len(index.uids), 1000):
        for m in await store.get_messages(mailbox_id, index.uids[i : i + 1000]):
            out[m.uid] = m.blob_id
    return out


class FolderImport:
    """Imports one source into one mailbox; `run()` does it."""

    def __init__(
        self,
        store: Store,
        account_id: int,
        source: Source,
        stats: ImportStats,
        reporter: Reporter,
        *,
        batch_messages: int = BATCH_MESSAGES,
        batch_octets: int = BATCH_OCTETS,
    ) -> None:
        self.store = store
        self.account_id = account_id
        self.source = source
        self.stats = stats
        self.reporter = reporter
        self.batch_messages = batch_messages
        self.batch_octets = batch_octets
        self._pending: asyncio.Task[None] | None = None
        # Prepared (blob durable, parsed) in source order, waiting for a batch to fill.
        self._inflight: deque[tuple[int, asyncio.Task[NewMessage], str | None]] = deque()
        self._inflight_octets = 0
        self._ready: list[NewMessage] = []
        self._ready_uidls: list[str | None] = []  # POP3 UIDL of each ready message, if known
        self._ready_octets = 0
        self._keep_uids = True

    async def run(self) -> None:
        store, source = self.store, self.source
        mailbox = await target_mailbox(store, self.account_id, source)
        self.mailbox = mailbox
        remaining = Counter(await store.blob_counts(mailbox.id))
        matched: set[int] = set()
        if source.has_uids:
            held = await _uid_blobs(store, mailbox.id)
            if held:
                digests = await asyncio.to_thread(source.uid_digests, set(held))
                matched = {uid for uid, d in digests.items() if held.get(uid) == d}
                remaining.subtract(Counter(held[uid] for uid in matched))
        next_free = mailbox.uidnext
        any_present = any(n > 0 for n in remaining.values())
        stats = self.stats
        for message in source.messages():
            stats.messages += 1
            stats.octets += message.octets
            if message.unreadable:
                stats.unreadable += 1
                continue
            if message.uid is not None and message.uid in matched:
                stats.present += 1
                continue
            if not message.raw:
                stats.empty += 1
                self.reporter.warning(f"skipped empty (0-byte) message: {message.label}")
                continue
            uid = message.uid
            if uid is None or not self._keep_uids or not next_free <= uid <= MAX_UID:
                # Hashing costs ~10 µs a message: skip it while the mailbox has nothing
                # this source could match (a fresh import).
                digest = message.digest
                if digest is None and any_present:
                    digest = hashlib.sha256(message.raw).hexdigest()
                if digest is not None and remaining[digest] > 0:
                    remaining[digest] -= 1
                    stats.present += 1
                    continue
                uid = None
            next_free = (uid or next_free) + 1
            await self._submit(message, uid)
        while self._inflight:
            await self._take_one()
        await self._commit()
        if self._pending is not None:
            await self._pending
            self._pending = None
        if source.uidnext is not None and mailbox.uidvalidity == source.uidvalidity:
            # Same UIDVALIDITY as the source: the UIDs it used up to its next UID
            # stay used here too, whether or not their messages came along.
            await store.raise_uidnext(mailbox.id, source.uidnext)
        stats.folders += 1
        self.reporter.progress(stats, source.mailbox)

    async def _submit(self, m: SourceMessage, uid: int | None) -> None:
        """Start writing and parsing `m`; keep at most MAX_INFLIGHT (or a batch's octets) going."""
        task = asyncio.create_task(
            prepare_message(
                self.store, m.raw, flags=m.flags, internal_date=m.internal_date, uid=uid
            )
        )
        self._inflight.append((len(m.raw), task, m.pop3_uidl))
        self._inflight_octets += len(m.raw)
        while len(self._inflight) > MAX_INFLIGHT or self._inflight_octets > self.batch_octets:
            await self._take_one()

    async def _take_one(self) -> None:
        octets, task, uidl = self._inflight.popleft()
        self._inflight_octets -= octets
        self._ready.append(await task)
        self._ready_uidls.append(uidl)
        self._ready_octets += octets
        if len(self._ready) >= self.batch_messages or self._ready_octets >= self.batch_octets:
            await self._commit()

    async def _commit(self) -> None:
        """Hand the ready messages to the store; the previous batch must have committed."""
        if not self._ready:
            return
        if self._pending is not None:
            await self._pending
        batch, octets, uidls = self._ready, self._ready_octets, self._ready_uidls
        self._ready, self._ready_octets, self._ready_uidls = [], 0, []
        self._pending = asyncio.create_task(self._append(batch, octets, uidls))

    async def _append(
        self, prepared: Sequence[NewMessage], octets: int, uidls: Sequence[str | None] = ()
    ) -> None:
        results = await self._append_batch(prepared)
        # UIDLs POP3 clients already know (dovecot-uidlist "P"): kept, so they do not
        # download everything again. A crash between the two commits loses only these.
        known = {r.uid: u for r, u in zip(results, uidls, strict=False) if u}
        if known:
            await self.store.set_pop3_uidls(self.mailbox.id, known)
        self.stats.imported += len(prepared)
        self.stats.imported_octets += octets
        self.reporter.progress(self.stats, self.source.mailbox)

    async def _append_batch(self, prepared: Sequence[NewMessage]) -> list[AppendResult]:
        try:
            return await self.store.append_many(self.mailbox.id, prepared)
        except Conflict:
            # Someone appended to the mailbox meanwhile (a delivery into a live INBOX):
            # the source UIDs can no longer be kept. New UIDs, same messages.
            self._keep_uids = False
            self.reporter.warning(
                f"{self.source.mailbox}: the mailbox changed during the import;"
                " the remaining messages get new UIDs"
            )
            return await self.store.append_many(
                self.mailbox.id, [replace(m, uid=None) for m in prepared]
            )


async def import_sources(
    store: Store,
    account_id: int,
    sources: Sequence[Source],
    reporter: Reporter,
    *,
    batch_messages: int = BATCH_MESSAGES,
    batch_octets: int = BATCH_OCTETS,
) -> ImportStats:
    """Import every source in order; returns the counts."""
    stats = ImportStats(total_octets=sum(s.total_octets for s in sources))
    for source in sources:
        await FolderImport(
            store,
            account_id,
            source,
            stats,
            reporter,
            batch_messages=batch_messages,
            batch_octets=batch_octets,
        ).run()
    return stats
