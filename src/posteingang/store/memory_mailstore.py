"""The in-memory reference backend's `Mailstore`: mailboxes, messages, changes, threads.

Every method runs to completion without awaiting in the middle, which on one
event loop makes each mutation atomic; the change is published after the
mutation is complete. Accounts are `MemoryDirectory`'s (memory_directory.py),
the mailboxes' names, counters and subscriptions `MemoryMailboxes`'
(memory_mailboxes.py); `MemoryStore` (memory.py) combines them with the POP3
client state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from posteingang.store import names, threads
from posteingang.store.blobs.memory import MemoryBlobStore
from posteingang.store.errors import AlreadyExists, Conflict, InvalidName, NotFound
from posteingang.store.hub import Change, ChangeKind
from posteingang.store.ids import new_object_id
from posteingang.store.mailstore import NewMessage
from posteingang.store.memory_mailboxes import Box, MemoryMailboxes
from posteingang.store.model import (
    DELETED,
    AppendResult,
    Changes,
    CopyResult,
    FlagOp,
    FlagUpdate,
    Mailbox,
    MailboxCounts,
    MailboxIndex,
    Message,
    MessageBody,
    MessagePage,
    PageFilter,
    PageSort,
    canonical_flags,
)
from posteingang.store.model import FLAGGED as FLAGGED_FLAG
from posteingang.store.model import SEEN as SEEN_FLAG
from posteingang.store.sortkeys import SortKeys, sort_keys


class MemoryMailstore(MemoryMailboxes):
    """Messages, and the mailbox operations that move or drop them (DELETE, RENAME)."""

    def __init__(self) -> None:
        super().__init__()
        self.blobs = MemoryBlobStore()
        self._parsed: dict[str, bytes] = {}
        self._sort_keys: dict[str, SortKeys] = {}  # by blob id, computed when first sorted
        self._refs: dict[str, int] = {}  # blob id -> messages using it
        self._line_sizes: dict[str, int] = {}  # blob id -> NewMessage.line_size
        self._unused: set[str] = set()  # blobs put for an append that was deduplicated
        self._delivery_keys: dict[tuple[int, str], tuple[int, int, float]] = {}
        self._thread_keys: dict[tuple[int, str], str] = {}  # (account, Message-ID) -> thread

    def _forget(self, box: Box, uids: Sequence[int]) -> None:
        """Expunged messages leave no per-client state (MemoryClientState's)."""

    async def delete_mailbox(self, account_id: int, name: str) -> None:
        box = self._box_by_name(account_id, name)
        if box is None:
            raise NotFound(f"mailbox {name} does not exist")
        if box.mailbox.name == "INBOX":
            raise Conflict("INBOX cannot be deleted")
        modseq = self._next_modseq(account_id)
        for msg in box.messages.values():
            self._unref(msg.blob_id)
        del self._boxes[box.mailbox.id]
        self.hub.publish(Change(account_id, box.mailbox.id, modseq, ChangeKind.MAILBOX_DELETE))

    async def rename_mailbox(self, account_id: int, old: str, new: str) -> Mailbox:
        box = self._box_by_name(account_id, old)
        if box is None:
            raise NotFound(f"mailbox {old} does not exist")
        new = names.normalize_mailbox_name(new)
        if self._box_by_name(account_id, new) is not None:
            raise AlreadyExists(f"mailbox {new} already exists")
        old_name = box.mailbox.name
        if old_name == "INBOX":
            # RFC 9051 §6.3.6: move INBOX's messages into a new mailbox; INBOX stays.
            target = await self.create_mailbox(account_id, new)
            uids = sorted(box.messages)
            if uids:
                await self.move(box.mailbox.id, uids, target.id)
            return self._box(target.id).mailbox
        if names.is_inferior(new, old_name):
            raise Conflict("cannot rename a mailbox into its own child")
        renamed: Mailbox | None = None
        for other in list(self._boxes.values()):
            mb = other.mailbox
            if mb.account_id != account_id:
                continue
            if mb.name == old_name or names.is_inferior(mb.name, old_name):
                modseq = self._next_modseq(account_id)
                new_name = new + mb.name[len(old_name) :]
                self._set_box(other, name=new_name, highestmodseq=modseq)
                self.hub.publish(
                    Change(account_id, mb.id, modseq, ChangeKind.MAILBOX_RENAME, name=new_name)
                )
                if mb.id == box.mailbox.id:
                    renamed = other.mailbox
        subs = self._subscriptions.setdefault(account_id, set())
        for name in [n for n in subs if n == old_name or names.is_inferior(n, old_name)]:
            subs.discard(name)
            subs.add(new + name[len(old_name) :])
        assert renamed is not None
        return renamed

    # -- messages ------------------------------------------------------------------
    async def append(self, mailbox_id: int, message: NewMessage) -> AppendResult:
        return (await self.append_many(mailbox_id, [message]))[0]

    async def append_first(
        self, account_id: int, mailboxes: Sequence[str], message: NewMessage
    ) -> AppendResult:
        for name in mailboxes:
            try:
                box = self._box_by_name(account_id, name) or self._box_nocase(account_id, name)
            except InvalidName:
                continue
            if box is not None:
                return await self.append(box.mailbox.id, message)
        raise NotFound(f"none of the mailboxes {list(mailboxes)} exists")

    # Complex on purpose: the reference backend spells out every append rule of the contract in one
    # place.
    async def append_many(  # noqa: C901 (see above)
        self, mailbox_id: int, messages: Sequence[NewMessage]
    ) -> list[AppendResult]:
        box = self._box(mailbox_id)
        account_id = box.mailbox.account_id
        now_ts = datetime.now(UTC).timestamp()
        found: dict[int, AppendResult] = {}
        for i, m in enumerate(messages):
            if m.dedupe_seconds is None:
                continue
            if m.dedupe_key is not None:
                hit = self._delivery_keys.get((mailbox_id, m.dedupe_key))
                if hit and hit[0] in box.messages and hit[2] >= now_ts - m.dedupe_seconds:
                    found[i] = AppendResult(mailbox_id, box.mailbox.uidvalidity, hit[0], hit[1])
                continue
            for old in sorted(box.messages.values(), key=lambda x: -x.uid):
                recent = old.save_date.timestamp() >= now_ts - m.dedupe_seconds
                if old.blob_id == m.blob_id and recent:
                    found[i] = AppendResult(
                        mailbox_id, box.mailbox.uidvalidity, old.uid, old.modseq
                    )
                    break
        if found:
            fresh = [m for i, m in enumerate(messages) if i not in found]
            stored = iter(await self.append_many(mailbox_id, fresh) if fresh else [])
            for i in found:
                # A retry's own blob that nothing uses is known, not an orphan (the
                # SQLite backend hands it to its blob GC).
                if messages[i].blob_id not in self._refs:
                    self._unused.add(messages[i].blob_id)
            return [found[i] if i in found else next(stored) for i in range(len(messages))]
        self._check_quota(account_id, sum(m.size for m in messages))
        uidnext = box.mailbox.uidnext
        for m in messages:
            if m.data is None and not await self.blobs.exists(m.blob_id):
                raise NotFound(f"blob {m.blob_id} is not stored")
            if m.uid is not None:
                if m.uid < uidnext:
                    raise Conflict(f"uid {m.uid} is below uidnext {uidnext}")
                uidnext = m.uid + 1
            else:
                uidnext += 1
        if not messages:
            return []
        modseq = self._next_modseq(account_id)
        now = datetime.now(UTC)
        results = []
        uid = box.mailbox.uidnext
        for m in messages:
            uid = m.uid if m.uid is not None else uid
            email_id = new_object_id("M")
            thread_id = self._thread_of(account_id, m, email_id)
            box.messages[uid] = Message(
                mailbox_id,
                uid,
                modseq,
                canonical_flags(m.flags),
                m.internal_date,
                m.size,
                m.blob_id,
                email_id,
                thread_id,
                now,
            )
            self._parsed.setdefault(m.blob_id, m.parsed)
            if m.sort_keys is not None:
                self._sort_keys.setdefault(m.blob_id, m.sort_keys)
            if m.data is not None:
                self.blobs._blobs.setdefault(m.blob_id, m.data)
            self._refs[m.blob_id] = self._refs.get(m.blob_id, 0) + 1
            if m.line_size is not None:
                self._line_sizes.setdefault(m.blob_id, m.line_size)
            results.append(AppendResult(mailbox_id, box.mailbox.uidvalidity, uid, modseq))
            if m.dedupe_key:
                self._delivery_keys[(mailbox_id, m.dedupe_key)] = (uid, modseq, now.timestamp())
            uid += 1
        self._set_box(box, uidnext=uid, highestmodseq=modseq)
        self.hub.publish(
            Change(
                account_id,
                mailbox_id,
                modseq,
                ChangeKind.APPEND,
                uids=tuple(r.uid for r in results),
            )
        )
        return results

    def _thread_of(self, account_id: int, message: NewMessage, email_id: str) -> str:
        """The thread of a new message (store/threads.py); records its keys."""
        keys = threads.thread_keys(message.message_id, message.parent_ids)

        def lookup(wanted: Sequence[str]) -> dict[str, str]:
            found = ((k, self._thread_keys.get((account_id, k))) for k in wanted)
            return {k: t for k, t in found if t is not None}

        thread_id, new_keys = threads.assign(keys, email_id, lookup)
        for key in new_keys:
            self._thread_keys[(account_id, key)] = thread_id
        return thread_id

    async def thread_messages(self, account_id: int, thread_id: str) -> list[Message]:
        found = [
            m
            for box in self._boxes.values()
            if box.mailbox.account_id == account_id
            for m in box.messages.values()
            if m.thread_id == thread_id
        ]
        return sorted(found, key=lambda m: (m.internal_date, m.mailbox_id, m.uid))

    async def thread_size(self, account_id: int, thread_id: str) -> int:
        return sum(
            m.thread_id == thread_id
            for box in self._boxes.values()
            if box.mailbox.account_id == account_id
            for m in box.messages.values()
        )

    async def get_index(self, mailbox_id: int) -> MailboxIndex:
        box = self._box(mailbox_id)
        msgs = [box.messages[u] for u in sorted(box.messages)]
        return MailboxIndex(
            box.mailbox, [m.uid for m in msgs], [m.modseq for m in msgs], [m.flags for m in msgs]
        )

    async def get_messages(self, mailbox_id: int, uids: Sequence[int]) -> list[Message]:
        box = self._box(mailbox_id)
        return [box.messages[u] for u in sorted(set(uids)) if u in box.messages]

    async def read_messages(
        self, mailbox_id: int, uids: Sequence[int], inline_max: int, budget: int
    ) -> list[MessageBody]:
        out: list[MessageBody] = []
        total = 0
        for m in await self.get_messages(mailbox_id, uids):
            data = self.blobs._blobs.get(m.blob_id) if m.size <= inline_max else None
            octets = len(data) if data is not None else 0
            if out and total + octets > budget:
                break
            total += octets
            out.append(MessageBody(m.uid, m.modseq, m.flags, m.size, m.blob_id, data))
        return out

    async def mailbox_counts(self, mailbox_ids: Sequence[int]) -> dict[int, MailboxCounts]:
        out = {}
        for mailbox_id in mailbox_ids:
            box = self._boxes.get(mailbox_id)
            if box is None:
                continue
            messages = box.messages.values()
            out[mailbox_id] = MailboxCounts(
                len(messages),
                sum(SEEN_FLAG not in m.flags for m in messages),
                sum(FLAGGED_FLAG in m.flags for m in messages),
            )
        return out

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
        box = self._box(mailbox_id)
        wanted = {PageFilter.UNSEEN: SEEN_FLAG, PageFilter.FLAGGED: FLAGGED_FLAG}.get(filter)
        matching = [
            m
            for m in box.messages.values()
            if wanted is None or ((wanted in m.flags) == (filter is PageFilter.FLAGGED))
        ]
        if sort is PageSort.SIZE:
            matching.sort(key=lambda m: (m.size, m.uid), reverse=newest_first)
        elif sort is PageSort.ARRIVAL:
            matching.sort(key=lambda m: m.uid, reverse=newest_first)
        else:
            matching.sort(key=lambda m: self._sort_key(m, sort), reverse=newest_first)
        start = max(offset, 0)
        return MessagePage(len(matching), matching[start : start + max(limit, 0)])

    def _sort_key(self, m: Message, sort: PageSort) -> tuple[int | str, int]:
        keys = self._sort_keys.get(m.blob_id)
        if keys is None:
            keys = self._sort_keys[m.blob_id] = sort_keys(self._parsed[m.blob_id])
        if sort is PageSort.DATE:
            sent = keys.sent if keys.sent is not None else int(m.internal_date.timestamp())
            return sent, m.uid
        return (keys.sender if sort is PageSort.FROM else keys.subject), m.uid

    async def store_flags(
        self,
        mailbox_id: int,
        uids: Sequence[int],
        op: FlagOp,
        flags: frozenset[str],
        *,
        unchanged_since: int | None = None,
    ) -> list[FlagUpdate]:
        box = self._box(mailbox_id)
        flags = canonical_flags(flags)
        pending = []
        for uid in sorted(set(uids)):
            msg = box.messages.get(uid)
            if msg is None or (unchanged_since is not None and msg.modseq > unchanged_since):
                continue
            if op is FlagOp.SET:
                new = flags
            elif op is FlagOp.ADD:
                new = msg.flags | flags
            else:
                new = msg.flags - flags
            if new != msg.flags:
                pending.append((msg, new))
        if not pending:
            return []
        modseq = self._next_modseq(box.mailbox.account_id)
        updates = []
        for msg, new in pending:
            box.messages[msg.uid] = replace(msg, flags=new, modseq=modseq)
            updates.append(FlagUpdate(msg.uid, modseq, new))
        self._set_box(box, highestmodseq=modseq)
        self.hub.publish(
            Change(
                box.mailbox.account_id,
                mailbox_id,
                modseq,
                ChangeKind.FLAGS,
                uids=tuple(u.uid for u in updates),
                flags=tuple(u.flags for u in updates),
            )
        )
        return updates

    async def expunge(self, mailbox_id: int, uids: Sequence[int]) -> list[int]:
        box = self._box(mailbox_id)
        gone = sorted(u for u in set(uids) if u in box.messages)
        if not gone:
            return []
        modseq = self._next_modseq(box.mailbox.account_id)
        self._remove(box, gone, modseq)
        self.hub.publish(
            Change(box.mailbox.account_id, mailbox_id, modseq, ChangeKind.EXPUNGE, uids=tuple(gone))
        )
        return gone

    async def expunge_deleted(
        self, mailbox_id: int, *, up_to_uid: int, uids: Sequence[int] | None = None
    ) -> list[int]:
        box = self._box(mailbox_id)
        wanted = None if uids is None else set(uids)
        gone = [
            uid
            for uid, m in box.messages.items()
            if uid <= up_to_uid and DELETED in m.flags and (wanted is None or uid in wanted)
        ]
        return await self.expunge(mailbox_id, gone)

    def _remove(self, box: Box, uids: list[int], modseq: int) -> None:
        for uid in uids:
            self._unref(box.messages.pop(uid).blob_id)
            box.expunged[uid] = modseq
        self._forget(box, uids)
        self._set_box(box, highestmodseq=modseq)

    def _unref(self, blob_id: str) -> None:
        left = self._refs.get(blob_id, 1) - 1
        if left > 0:
            self._refs[blob_id] = left
            return
        self._refs.pop(blob_id, None)
        self._line_sizes.pop(blob_id, None)
        self._parsed.pop(blob_id, None)
        self._sort_keys.pop(blob_id, None)
        self.blobs._blobs.pop(blob_id, None)

    async def copy(self, source_id: int, uids: Sequence[int], target_id: int) -> CopyResult:
        return self._copy(source_id, uids, target_id, move=False)

    async def move(self, source_id: int, uids: Sequence[int], target_id: int) -> CopyResult:
        return self._copy(source_id, uids, target_id, move=True)

    def _copy(self, source_id: int, uids: Sequence[int], target_id: int, move: bool) -> CopyResult:
        src, dst = self._box(source_id), self._box(target_id)
        if src.mailbox.account_id != dst.mailbox.account_id:
            raise Conflict("copy between accounts is not supported")
        account_id = src.mailbox.account_id
        msgs = [src.messages[u] for u in sorted(set(uids)) if u in src.messages]
        if not msgs:
            return CopyResult(dst.mailbox.uidvalidity, [], [], self._modseq.get(account_id, 0))
        if not move:
            self._check_quota(account_id, sum(m.size for m in msgs))
        modseq = self._next_modseq(account_id)
        uid = dst.mailbox.uidnext
        target_uids = []
        now = datetime.now(UTC)
        for m in msgs:
            dst.messages[uid] = replace(
                m, mailbox_id=target_id, uid=uid, modseq=modseq, save_date=now
            )
            self._refs[m.blob_id] = self._refs.get(m.blob_id, 0) + 1
            target_uids.append(uid)
            uid += 1
        self._set_box(dst, uidnext=uid, highestmodseq=modseq)
        source_uids = [m.uid for m in msgs]
        if move:
            self._remove(src, source_uids, modseq)
        self.hub.publish(
            Change(account_id, target_id, modseq, ChangeKind.APPEND, uids=tuple(target_uids))
        )
        if move:
            self.hub.publish(
                Change(account_id, source_id, modseq, ChangeKind.EXPUNGE, uids=tuple(source_uids))
            )
        return CopyResult(dst.mailbox.uidvalidity, source_uids, target_uids, modseq)

    async def changes_since(self, mailbox_id: int, modseq: int) -> Changes:
        box = self._box(mailbox_id)
        changed = [
            FlagUpdate(m.uid, m.modseq, m.flags)
            for u, m in sorted(box.messages.items())
            if m.modseq > modseq
        ]
        vanished = sorted(u for u, ms in box.expunged.items() if ms > modseq)
        return Changes(box.mailbox, changed, vanished)

    async def get_parsed(self, blob_id: str) -> bytes:
        try:
            return self._parsed[blob_id]
        except KeyError:
            raise NotFound(f"no parse record for blob {blob_id}") from None

    async def get_parsed_many(self, blob_ids: Sequence[str]) -> dict[str, bytes]:
        return {b: self._parsed[b] for b in blob_ids if b in self._parsed}

    async def blob_counts(self, mailbox_id: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in self._box(mailbox_id).messages.values():
            counts[m.blob_id] = counts.get(m.blob_id, 0) + 1
        return counts

    async def line_sizes(self, blob_ids: Sequence[str]) -> dict[str, int]:
        return {b: self._line_sizes[b] for b in blob_ids if b in self._line_sizes}
