"""The in-memory reference backend's mailboxes: names, subscriptions, counters, status.

The part of `MemoryMailstore` (memory_mailstore.py) that moves no message; it
holds the mailboxes, whose messages the mailstore keeps in them (`Box`).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from typing import Any

from posteingang.store import names
from posteingang.store.errors import AlreadyExists, NotFound, QuotaExceeded
from posteingang.store.hub import Change, ChangeKind, Hub
from posteingang.store.model import DELETED as DELETED_FLAG
from posteingang.store.model import SEEN as SEEN_FLAG
from posteingang.store.model import Account, Mailbox, MailboxStatus, Message, SpecialUse


@dataclass
class Box:
    """A mailbox with its messages and the tombstones of its expunged uids."""

    mailbox: Mailbox
    messages: dict[int, Message] = field(default_factory=dict)
    expunged: dict[int, int] = field(default_factory=dict)  # uid -> modseq


class MemoryMailboxes:
    # MemoryDirectory's, in MemoryStore: the accounts and the id counter they share
    # (mailbox ids, like account ids, are never reused).
    _accounts: dict[int, Account]
    _ids: itertools.count[int]

    def __init__(self) -> None:
        super().__init__()
        self.hub = Hub()
        self._boxes: dict[int, Box] = {}
        self._modseq: dict[int, int] = {}  # account -> its last modseq
        self._subscriptions: dict[int, set[str]] = {}  # account -> subscribed names
        self._uidvalidity = int(time.time())

    def _owner(self, account_id: int) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            raise NotFound(f"account {account_id} does not exist")
        return account

    def _next_modseq(self, account_id: int) -> int:
        value = self._modseq.get(account_id, 0) + 1
        self._modseq[account_id] = value
        return value

    def _next_uidvalidity(self) -> int:
        self._uidvalidity = max(self._uidvalidity + 1, int(time.time()))
        return self._uidvalidity

    def _box(self, mailbox_id: int) -> Box:
        box = self._boxes.get(mailbox_id)
        if box is None:
            raise NotFound(f"mailbox {mailbox_id} does not exist")
        return box

    def _box_by_name(self, account_id: int, name: str) -> Box | None:
        name = names.normalize_mailbox_name(name)
        for box in self._boxes.values():
            if box.mailbox.account_id == account_id and box.mailbox.name == name:
                return box
        return None

    def _box_nocase(self, account_id: int, name: str) -> Box | None:
        """A mailbox whose name differs from `name` only in ASCII case (first in byte order)."""
        key = ascii_lower(names.normalize_mailbox_name(name))
        found = sorted(
            (box.mailbox.name, box.mailbox.id)
            for box in self._boxes.values()
            if box.mailbox.account_id == account_id and ascii_lower(box.mailbox.name) == key
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
        quota = self._owner(account_id).quota_bytes
        if quota is not None and self._usage(account_id) + extra > quota:
            raise QuotaExceeded("quota exceeded")

    def _set_box(self, box: Box, **changes: Any) -> None:
        box.mailbox = replace(box.mailbox, **changes)

    async def usage(self, account_id: int) -> int:
        return self._usage(account_id)

    async def account_modseq(self, account_id: int) -> int:
        return self._modseq.get(account_id, 0)

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
        self._owner(account_id)
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
        self._boxes[mailbox.id] = Box(mailbox)
        self.hub.publish(
            Change(account_id, mailbox.id, modseq, ChangeKind.MAILBOX_CREATE, name=name)
        )
        return mailbox

    async def raise_uidnext(self, mailbox_id: int, uidnext: int) -> Mailbox:
        box = self._boxes.get(mailbox_id)
        if box is None:
            raise NotFound(f"mailbox {mailbox_id} does not exist")
        if uidnext > box.mailbox.uidnext:
            self._set_box(box, uidnext=min(uidnext, 2**32))
        return box.mailbox

    async def set_subscribed(self, account_id: int, name: str, subscribed: bool) -> None:
        self._owner(account_id)
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


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only, as SQLite's NOCASE collation does."""
    return text.translate(_ASCII_LOWER)
