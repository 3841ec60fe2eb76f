"""The change feed: every committed mutation, delivered to subscribers in commit order.

Theory of operation
-------------------
A backend calls `Hub.publish(change)` once per committed mutation, after the
commit and in commit order, on the event loop thread. Each subscriber owns a
bounded queue. Publishing never blocks and never waits for a slow subscriber:
when a subscriber's queue is full its backlog is dropped and replaced by one
`Resync` marker carrying the last modseq it was given for each account, so the
subscriber reloads from the store (`Store.changes_since`) instead of the hub
holding memory for it without bound.

Subscriptions are per account: IMAP IDLE, POP3 and webmail sessions only ever
care about one account, so a delivery for alice never wakes bob's sessions.

The hub is in-process. Other processes writing the same store (the `deliver`
command, a second node) wake it through `Hub.poke`, which turns "something
changed in account N up to modseq M" into a `Resync` for every subscriber of N
that has not seen M yet.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


class ChangeKind(enum.Enum):
    APPEND = "append"  # new messages (delivery, APPEND, COPY/MOVE target, import)
    FLAGS = "flags"  # flags changed
    EXPUNGE = "expunge"  # messages removed (EXPUNGE, MOVE source, POP3 delete)
    MAILBOX_CREATE = "mailbox-create"
    MAILBOX_DELETE = "mailbox-delete"
    MAILBOX_RENAME = "mailbox-rename"
    MAILBOX_SUBSCRIBE = "mailbox-subscribe"


@dataclass(frozen=True, slots=True)
class Change:
    """One committed mutation. `uids` lists the affected messages, ascending."""

    account_id: int
    mailbox_id: int
    modseq: int
    kind: ChangeKind
    uids: tuple[int, ...] = ()
    # For FLAGS: the new flag set of each uid, same order as `uids`.
    flags: tuple[frozenset[str], ...] = ()
    # For MAILBOX_RENAME: the new name; for MAILBOX_CREATE: the name.
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Resync:
    """The subscriber missed changes: reload everything after `modseq`."""

    account_id: int
    modseq: int


Event = Change | Resync


@dataclass(eq=False)
class Subscription:
    """A subscriber's view of the feed. Iterate it, or call `get()`; close it when done."""

    hub: Hub
    account_id: int
    limit: int
    last_modseq: int = 0
    _queue: deque[Event] = field(default_factory=deque)
    _waiter: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def _offer(self, event: Event) -> None:
        if isinstance(event, Change):
            if event.modseq <= self.last_modseq:
                return
            if len(self._queue) >= self.limit:
                # Overflow: drop the backlog, keep one marker from where we stand.
                self._queue.clear()
                self._queue.append(Resync(self.account_id, self._delivered_upto()))
            elif not (self._queue and isinstance(self._queue[-1], Resync)):
                self._queue.append(event)
            # While a Resync is queued, later changes are covered by it.
        else:
            if self._queue and isinstance(self._queue[-1], Resync):
                return
            self._queue.append(Resync(self.account_id, self._delivered_upto()))
        self._waiter.set()

    def _delivered_upto(self) -> int:
        return self.last_modseq

    def pending(self) -> bool:
        return bool(self._queue)

    def get_nowait(self) -> Event | None:
        """The next event if one is queued, else None. Never waits."""
        if not self._queue:
            self._waiter.clear()
            return None
        event = self._queue.popleft()
        if isinstance(event, Change):
            self.last_modseq = max(self.last_modseq, event.modseq)
        if not self._queue:
            self._waiter.clear()
        return event

    def drain(self) -> list[Event]:
        """Every queued event, oldest first."""
        out: list[Event] = []
        while (event := self.get_nowait()) is not None:
            out.append(event)
        return out

    async def get(self) -> Event:
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            if self.closed:
                raise asyncio.CancelledError("subscription closed")
            await self._waiter.wait()

    def mark_seen(self, modseq: int) -> None:
        """Tell the feed the subscriber already knows everything up to `modseq`."""
        self.last_modseq = max(self.last_modseq, modseq)

    def close(self) -> None:
        self.closed = True
        self.hub._remove(self)
        self._waiter.set()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while not self.closed:
            try:
                yield await self.get()
            except asyncio.CancelledError:
                if self.closed:
                    return
                raise


class Hub:
    """Fans committed changes out to per-account subscribers. Event-loop thread only."""

    def __init__(self, queue_limit: int = 1024) -> None:
        self.queue_limit = queue_limit
        self._subs: dict[int, set[Subscription]] = {}
        self.published = 0

    def subscribe(self, account_id: int, since_modseq: int = 0) -> Subscription:
        sub = Subscription(self, account_id, self.queue_limit, last_modseq=since_modseq)
        self._subs.setdefault(account_id, set()).add(sub)
        return sub

    def publish(self, change: Change) -> None:
        self.published += 1
        for sub in tuple(self._subs.get(change.account_id, ())):
            sub._offer(change)

    def poke(self, account_id: int, modseq: int) -> None:
        """Another process committed up to `modseq` in this account: resync whoever is behind."""
        for sub in tuple(self._subs.get(account_id, ())):
            if sub.last_modseq < modseq:
                sub._offer(Resync(account_id, sub.last_modseq))

    def subscriber_count(self, account_id: int | None = None) -> int:
        if account_id is not None:
            return len(self._subs.get(account_id, ()))
        return sum(len(s) for s in self._subs.values())

    def _remove(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.account_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.account_id]
