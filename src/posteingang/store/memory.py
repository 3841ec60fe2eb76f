"""The in-memory reference backend: the Store contract in its plainest form.

(Domains, accounts, aliases and devices live in `memory_accounts.py`.)

It exists so the contract suite has a backend whose correctness is easy to read,
and so protocol tests can run without files. It is not durable. Every method
runs to completion without awaiting in the middle, which on one event loop makes
each mutation atomic; the change is published after the mutation is complete.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from posteingang.store import names, threads
from posteingang.store.blobs.memory import MemoryBlobStore
from posteingang.store.fulltext import Candidates, Term
from posteingang.store.hub import Change, ChangeKind, Hub, credentials_change
from posteingang.store.interface import (
    AlreadyExists,
    Conflict,
    IntegrityReport,
    InvalidName,
    NewMessage,
    NotFound,
    QuotaExceeded,
)
from posteingang.store.memory_accounts import MemoryAccounts
from posteingang.store.memory_fulltext import MemoryFulltext
from posteingang.store.memory_images import MemoryImageSenders
from posteingang.store.model import (
    DEFAULT_MAILBOXES,
    Account,
    AccountSettings,
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
    Pop3View,
    SpecialUse,
    canonical_flags,
)
from posteingang.store.model import (
    DELETED as DELETED_FLAG,
)
from posteingang.store.model import (
    FLAGGED as FLAGGED_FLAG,
)
from posteingang.store.model import (
    SEEN as SEEN_FLAG,
)
from posteingang.store.sortkeys import SortKeys, sort_keys


def new_object_id(prefix: str) -> str:
    """A stable, unguessable id for OBJECTID (RFC 8474 §4: 1-255 of A-Za-z0-9_-)."""
    return prefix + secrets.token_hex(12)


@dataclass
class _Box:
    mailbox: Mailbox
    messages: dict[int, Message] = field(default_factory=dict)
    expunged: dict[int, int] = field(default_factory=dict)  # uid -> modseq


class MemoryStore(MemoryAccounts, MemoryImageSenders):
    def __init__(self) -> None:
        MemoryAccounts.__init__(self)
        MemoryImageSenders.__init__(self)
        self.hub = Hub()
        self.blobs = MemoryBlobStore()
        self._boxes: dict[int, _Box] = {}
        self._parsed: dict[str, bytes] = {}
        self._sort_keys: dict[str, SortKeys] = {}  # by blob id, computed when first sorted
        self._fulltext = MemoryFulltext()
        self._modseq: dict[int, int] = {}
        self._refs: dict[str, int] = {}  # blob id -> messages using it
        self._line_sizes: dict[str, int] = {}  # blob id -> NewMessage.line_size
        self._subscriptions: dict[int, set[str]] = {}  # account -> subscribed names
        self._unused: set[str] = set()  # blobs put for an append that was deduplicated
        # (mailbox, device or 0) -> uid -> [retrieved_at | None, hidden]
        self._pop3: dict[tuple[int, int], dict[int, list[object]]] = {}
        self._uidls: dict[int, dict[int, str]] = {}
        self._delivery_keys: dict[tuple[int, str], tuple[int, int, float]] = {}
        self._thread_keys: dict[tuple[int, str], str] = {}  # (account, Message-ID) -> thread
        self._uidvalidity = int(time.time())

    async def close(self) -> None:
        return None

    async def listen_external(self) -> None:
        return None  # nothing outside this process can write here

    # -- helpers ------------------------------------------------------------------
    def _next_modseq(self, account_id: int) -> int:
        value = self._modseq.get(account_id, 0) + 1
        self._modseq[account_id] = value
        return value

    def _next_uidvalidity(self) -> int:
        self._uidvalidity = max(self._uidvalidity + 1, int(time.time()))
        return self._uidvalidity

    def _box(self, mailbox_id: int) -> _Box:
        box = self._boxes.get(mailbox_id)
        if box is None:
            raise NotFound(f"mailbox {mailbox_id} does not exist")
        return box

    def _box_by_name(self, account_id: int, name: str) -> _Box | None:
        name = names.normalize_mailbox_name(name)
        for box in self._boxes.values():
            if box.mailbox.account_id == account_id and box.mailbox.name == name:
                return box
        return None

    def _box_nocase(self, account_id: int, name: str) -> _Box | None:
        """A mailbox whose name differs from `name` only in ASCII case (first in byte order)."""
        key = _ascii_lower(names.normalize_mailbox_name(name))
        found = sorted(
            (box.mailbox.name, box.mailbox.id)
            for box in self._boxes.values()
            if box.mailbox.account_id == account_id and _ascii_lower(box.mailbox.name) == key
        )
        return self._boxes[found[0][1]] if found else None

    def _usage(self, account_id: int) -> int:
        return sum(
            m.size
            for box in self._boxes.values()
            if box.mailbox.account_id == account_id
            for m in box.messages.values()
        )

    def _check_quota(self, account_id: int, extra: int) -> None:
        quota = self._account(account_id).quota_bytes
        if quota is not None and self._usage(account_id) + extra > quota:
            raise QuotaExceeded("quota exceeded")

    def _set_box(self, box: _Box, **changes: object) -> None:
        box.mailbox = replace(box.mailbox, **changes)  # type: ignore[arg-type]

    # -- accounts: creating and deleting them touches their mailboxes -------------------
    async def create_account(
        self,
        address: str,
        password_hash: str,
        *,
        scram_sha256: str | None = None,
        quota_bytes: int | None = None,
    ) -> Account:
        address = names.normalize_address(address)
        if names.domain_of(address) not in self._domains:
            raise NotFound(f"domain {names.domain_of(address)} is not hosted here")
        if any(a.address == address for a in self._accounts.values()):
            raise AlreadyExists(f"user {address} already exists")
        if any(a.source == address for a in self._aliases):
            raise AlreadyExists(f"{address} is already an alias")
        account = Account(
            next(self._ids), address, password_hash, quota_bytes, AccountSettings(), scram_sha256
        )
        self._accounts[account.id] = account
        for name, use in DEFAULT_MAILBOXES:
            await self.create_mailbox(account.id, name, special_use=use)
        self._subscriptions[account.id] = {name for name, _ in DEFAULT_MAILBOXES}
        return account

    async def delete_account(self, address: str) -> None:
        account = self._account_by_address(address)
        for box in [b for b in self._boxes.values() if b.mailbox.account_id == account.id]:
            for msg in box.messages.values():
                self._unref(msg.blob_id)
            del self._boxes[box.mailbox.id]
        self._aliases = [a for a in self._aliases if a.target != account.address]
        for dom, d in list(self._domains.items()):
            if d.catch_all == account.address:
                self._domains[dom] = replace(d, catch_all=None)
        self._devices = {k: d for k, d in self._devices.items() if d.account_id != account.id}
        self._subscriptions.pop(account.id, None)
        self._thread_keys = {k: t for k, t in self._thread_keys.items() if k[0] != account.id}
        self._image_senders.pop(account.id, None)
        del self._accounts[account.id]
        self.hub.publish(credentials_change(account.id, "account"))

    async def usage(self, account_id: int) -> int:
        return self._usage(account_id)

    # -- mailboxes -----------------------------------------------------------------
    async def list_mailboxes(self, account_id: int) -> list[Mailbox]:
        return sorted(
            (b.mailbox for b in self._boxes.values() if b.mailbox.account_id == account_id),
            key=lambda m: m.name,
        )

    async def get_mailbox(self, account_id: int, name: str) -> Mailbox | None:
        box = self._box_by_name(account_id, name)
        return box.mailbox if box else None

    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        box = self._boxes.get(mailbox_id)
        return box.mailbox if box else None

    async def create_mailbox(
        self,
        account_id: int,
        name: str,
        *,
        special_use: SpecialUse | None = None,
        uidvalidity: int | None = None,
    ) -> Mailbox:
        self._account(account_id)
        name = names.normalize_mailbox_name(name)
        if self._box_by_name(account_id, name) is not None:
            raise AlreadyExists(f"mailbox {name} already exists")
        modseq = self._next_modseq(account_id)
        mailbox = Mailbox(
            next(self._ids),
            account_id,
            name,
            uidvalidity or self._next_uidvalidity(),
            1,
            modseq,
            special_use,
        )
        self._boxes[mailbox.id] = _Box(mailbox)
        self.hub.publish(
            Change(account_id, mailbox.id, modseq, ChangeKind.MAILBOX_CREATE, name=name)
        )
        return mailbox

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

    async def raise_uidnext(self, mailbox_id: int, uidnext: int) -> Mailbox:
        box = self._boxes.get(mailbox_id)
        if box is None:
            raise NotFound(f"mailbox {mailbox_id} does not exist")
        if uidnext > box.mailbox.uidnext:
            self._set_box(box, uidnext=min(uidnext, 2**32))
        return box.mailbox

    async def set_subscribed(self, account_id: int, name: str, subscribed: bool) -> None:
        self._account(account_id)
        name = names.normalize_mailbox_name(name)
        subs = self._subscriptions.setdefault(account_id, set())
        if subscribed:
            subs.add(name)
        else:
            subs.discard(name)
        modseq = self._next_modseq(account_id)
        box = self._box_by_name(account_id, name)
        mailbox_id = box.mailbox.id if box is not None else 0
        self.hub.publish(
            Change(account_id, mailbox_id, modseq, ChangeKind.MAILBOX_SUBSCRIBE, name=name)
        )

    async def list_subscriptions(self, account_id: int) -> list[str]:
        return sorted(self._subscriptions.get(account_id, ()))

    async def mailbox_status(self, mailbox_id: int) -> MailboxStatus:
        box = self._box(mailbox_id)
        msgs = box.messages.values()
        return MailboxStatus(
            box.mailbox,
            messages=len(box.messages),
            unseen=sum(1 for m in msgs if SEEN_FLAG not in m.flags),
            deleted=sum(1 for m in msgs if DELETED_FLAG in m.flags),
            size=sum(m.size for m in msgs),
            recent=sum(1 for m in msgs if m.uid >= box.mailbox.first_recent_uid),
        )

    async def claim_recent(self, mailbox_id: int) -> tuple[int, int]:
        box = self._box(mailbox_id)
        low, high = box.mailbox.first_recent_uid, box.mailbox.uidnext
        self._set_box(box, first_recent_uid=high)
        return low, high

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

    async def append_many(
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
                # A retry's own blob that nothing uses is known, not an orphan (issue
                # 10, item 11; the SQLite backend hands it to its blob GC).
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
            self._fulltext.add(m.blob_id, m.parsed, self.blobs._blobs.get(m.blob_id, b""))
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

    def _remove(self, box: _Box, uids: list[int], modseq: int) -> None:
        for uid in uids:
            self._unref(box.messages.pop(uid).blob_id)
            box.expunged[uid] = modseq
            self._uidls.get(box.mailbox.id, {}).pop(uid, None)
            for (mailbox_id, _), state in self._pop3.items():
                if mailbox_id == box.mailbox.id:
                    state.pop(uid, None)
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
        self._fulltext.forget(blob_id)
        self.blobs._blobs.pop(blob_id, None)

    async def fulltext_candidates(
        self, mailbox_id: int, terms: Sequence[Term]
    ) -> Candidates | None:
        return self._fulltext.candidates(self._box(mailbox_id).messages.values(), terms)

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

    async def account_modseq(self, account_id: int) -> int:
        return self._modseq.get(account_id, 0)

    # -- POP3 per-client state --------------------------------------------------------
    async def pop3_view(self, mailbox_id: int, device_id: int | None) -> Pop3View:
        state = self._pop3.get((mailbox_id, device_id or 0), {})
        retrieved = {u: v[0] for u, v in state.items() if isinstance(v[0], datetime)}
        return Pop3View(retrieved, frozenset(u for u, v in state.items() if v[1]))

    async def pop3_record(
        self,
        mailbox_id: int,
        device_id: int | None,
        *,
        retrieved: Sequence[int] = (),
        hidden: Sequence[int] = (),
        at: datetime | None = None,
    ) -> None:
        box = self._box(mailbox_id)
        state = self._pop3.setdefault((mailbox_id, device_id or 0), {})
        when = at or datetime.now(UTC)
        for uid in retrieved:
            if uid in box.messages:
                entry = state.setdefault(uid, [None, False])
                if entry[0] is None:
                    entry[0] = when
        for uid in hidden:
            if uid in box.messages:
                state.setdefault(uid, [None, False])[1] = True

    async def pop3_retrieved_before(self, mailbox_id: int, cutoff: datetime) -> list[int]:
        first: dict[int, datetime] = {}
        for (mid, _), state in self._pop3.items():
            if mid != mailbox_id:
                continue
            for uid, (at, _hidden) in state.items():
                if isinstance(at, datetime) and (uid not in first or at < first[uid]):
                    first[uid] = at
        return sorted(u for u, at in first.items() if at < cutoff)

    async def set_pop3_uidls(self, mailbox_id: int, uidls: dict[int, str]) -> None:
        self._box(mailbox_id)
        self._uidls.setdefault(mailbox_id, {}).update(uidls)

    async def get_pop3_uidls(self, mailbox_id: int) -> dict[int, str]:
        return dict(self._uidls.get(mailbox_id, {}))

    async def check(self, repair: bool = False) -> IntegrityReport:
        referenced = {m.blob_id for b in self._boxes.values() for m in b.messages.values()}
        stored = set(await self.blobs.list_ids())
        orphaned = sorted(stored - referenced - self._unused)
        missing = sorted(referenced - stored)
        repaired = []
        if repair:
            for blob_id in orphaned:
                await self.blobs.delete(blob_id)
                repaired.append(f"deleted orphaned blob {blob_id}")
            orphaned = []
        return IntegrityReport(orphaned, missing, [], repaired)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only, as SQLite's NOCASE collation does."""
    return text.translate(_ASCII_LOWER)
