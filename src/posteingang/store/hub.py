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

Waking a subscriber: by default `get()` waits on an `asyncio.Event`, which
costs the subscriber a task wake-up per change. A subscriber that must react to
many changes at once cheaply (an IMAP session in IDLE, one of a thousand on the
same mailbox) installs a listener instead (`Subscription.listen`): a plain
callback that the hub calls on the event loop soon after the publish, which
drains the queue itself and, say, writes ``* 5 EXISTS`` straight to its socket.
`publish` only queues and marks such subscribers ready; the callbacks run in
turns of at most `NOTIFY_BATCH` per pass of the event loop, so a fan-out to
thousands of sessions does not hold the loop for more than a few milliseconds
at a time, and a slow or failing listener never delays `publish` itself.

The hub is in-process. Other processes writing the same store (delivery
workers, the `deliver` command) send it their committed changes
(`store/sqlite/notify.py`), which `publish_external` fans out like the
process's own, so an IDLE session sees a worker's delivery without a store
read. What matters then is order: an IMAP client is told new UIDs in ascending
order, so each account's changes must reach subscribers in modseq order,
whichever process committed them. Every committed operation takes the account's
next modseq, so the modseqs of an account are consecutive, and the hub tracks
the last one it published (`_latest`). Writers hand their changes on (to other
processes and to their own loop) before they release the write lock, so when a
change arrives with a gap before it, the missing ones are already waiting in
the cross-process socket: the hub reads them first (`catch_up`). A gap that is
still there (a datagram lost to a full buffer), or a change from before one
already published, becomes a `Resync` for the account's subscribers, who reload
from the store. Changes too large for one datagram arrive as `Hub.poke`
("account N changed up to modseq M"), which is a `Resync` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

#: Listeners the hub calls per pass of the event loop during one fan-out.
NOTIFY_BATCH = 128


class ChangeKind(enum.Enum):
    APPEND = "append"  # new messages (delivery, APPEND, COPY/MOVE target, import)
    FLAGS = "flags"  # flags changed
    EXPUNGE = "expunge"  # messages removed (EXPUNGE, MOVE source, POP3 delete)
    MAILBOX_CREATE = "mailbox-create"
    MAILBOX_DELETE = "mailbox-delete"
    MAILBOX_RENAME = "mailbox-rename"
    MAILBOX_SUBSCRIBE = "mailbox-subscribe"
    # Credentials withdrawn: open sessions that used them must end.
    # Not about mail: `mailbox_id` and `modseq` are 0, and the hub hands it to its
    # credential listeners (`Hub.on_credentials`) at once, never to subscribers.
    CREDENTIALS = "credentials"


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
    # For MAILBOX_RENAME: the new name; for MAILBOX_CREATE: the name; for CREDENTIALS
    # the scope: "device" (the sessions of device `uids[0]`), "password" (sessions that
    # logged in with the account password) or "account" (every session).
    name: str | None = None


def credentials_change(account_id: int, scope: str, device_id: int | None = None) -> Change:
    """The change that ends the sessions of a revoked device, of an old account
    password, or of a removed account (``Change.name``)."""
    uids = (device_id,) if device_id is not None else ()
    return Change(account_id, 0, 0, ChangeKind.CREDENTIALS, uids=uids, name=scope)


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
    _listener: Callable[[], None] | None = None
    _ready: bool = False  # in the hub's list of listeners to call

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
        if self._listener is not None:
            self.hub._ready_to_listen(self)
        else:
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
        queue = self._queue
        self._waiter.clear()
        if not queue:
            return []
        out = list(queue)
        queue.clear()
        for event in out:
            if isinstance(event, Change) and event.modseq > self.last_modseq:
                self.last_modseq = event.modseq
        return out

    async def get(self) -> Event:
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            if self.closed:
                raise asyncio.CancelledError("subscription closed")
            await self._waiter.wait()

    def listen(self, callback: Callable[[], None] | None) -> None:
        """Have the hub call `callback()` when events are queued, instead of waking `get()`.

        The callback runs on the event-loop thread soon after the publish (module
        docstring), drains the subscription itself, and must neither block nor
        raise: it runs inside the hub's fan-out to every other subscriber. ``None``
        stops it. Events already queued are announced at once.
        """
        self._listener = callback
        if self._queue:
            if callback is not None:
                self.hub._ready_to_listen(self)
            else:
                self._waiter.set()

    def mark_seen(self, modseq: int) -> None:
        """Tell the feed the subscriber already knows everything up to `modseq`."""
        self.last_modseq = max(self.last_modseq, modseq)

    def close(self) -> None:
        self.closed = True
        self._listener = None
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
        self._ready: deque[Subscription] = deque()  # listeners to call, oldest first
        self._fanning_out = False
        self._latest: dict[int, int] = {}  # account -> highest modseq published
        # Reads (and publishes) what other processes already sent; set by the backend.
        self.catch_up: Callable[[], None] | None = None
        self._catching_up = False
        self._credential_listeners: list[Callable[[Change], object]] = []

    def on_credentials(self, callback: Callable[[Change], object]) -> Callable[[], None]:
        """Call ``callback(change)`` for every CREDENTIALS change, from this process or
        another; returns a function that stops it.  The callback must not block."""
        self._credential_listeners.append(callback)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._credential_listeners.remove(callback)

        return stop

    def _credentials(self, change: Change) -> None:
        # Outside the modseq order on purpose: ending sessions must not wait for a
        # gap to be filled, and a lost ordering slot must not swallow it.
        self.published += 1
        for callback in tuple(self._credential_listeners):
            try:
                callback(change)
            except Exception as exc:
                _report(exc)

    def subscribe(self, account_id: int, since_modseq: int = 0) -> Subscription:
        sub = Subscription(self, account_id, self.queue_limit, last_modseq=since_modseq)
        self._subs.setdefault(account_id, set()).add(sub)
        return sub

    def publish(self, change: Change) -> None:
        """A change this process committed (called in commit order)."""
        if change.kind is ChangeKind.CREDENTIALS:
            self._credentials(change)
            return
        if self._in_order(change):
            self._fan(change)

    def publish_external(self, changes: Iterable[Change]) -> None:
        """Changes another process committed, in its commit order (notify.py)."""
        for change in changes:
            if change.kind is ChangeKind.CREDENTIALS:
                self._credentials(change)
                continue
            latest = self._latest.get(change.account_id)
            if latest is not None and change.modseq < latest:
                continue  # older than what went out: the Resync sent then covers it
            if self._in_order(change):
                self._fan(change)

    def poke(self, account_id: int, modseq: int) -> None:
        """Another process committed up to `modseq` in this account: subscribers reload."""
        self._latest[account_id] = max(self._latest.get(account_id, 0), modseq)
        self._resync(account_id)

    def _in_order(self, change: Change) -> bool:
        """Whether `change` may go out now (module docstring); if not, a Resync went."""
        account = change.account_id
        latest = self._latest.get(account)
        if latest is None or latest <= change.modseq <= latest + 1:
            self._latest[account] = change.modseq
            return True
        if change.modseq > latest + 1 and self.catch_up is not None and not self._catching_up:
            self._catching_up = True
            try:
                self.catch_up()
            finally:
                self._catching_up = False
            latest = self._latest[account]
            if latest <= change.modseq <= latest + 1:
                self._latest[account] = change.modseq
                return True
        self._latest[account] = max(latest, change.modseq)
        self._resync(account)
        return False

    def _fan(self, change: Change) -> None:
        self.published += 1
        for sub in tuple(self._subs.get(change.account_id, ())):
            sub._offer(change)

    def _resync(self, account_id: int) -> None:
        for sub in tuple(self._subs.get(account_id, ())):
            sub._offer(Resync(account_id, sub.last_modseq))

    def _ready_to_listen(self, sub: Subscription) -> None:
        if sub._ready:
            return
        sub._ready = True
        self._ready.append(sub)
        if self._fanning_out:
            return
        self._fanning_out = True
        try:
            asyncio.get_running_loop().call_soon(self._fan_out)
        except RuntimeError:  # no event loop (a synchronous caller): call them all now
            try:
                while self._ready:
                    self._call_listeners(len(self._ready))
            finally:
                self._fanning_out = False

    def _fan_out(self) -> None:
        """One turn of the fan-out: `NOTIFY_BATCH` listeners, then the loop's other work."""
        self._call_listeners(NOTIFY_BATCH)
        if self._ready:
            asyncio.get_running_loop().call_soon(self._fan_out)
        else:
            self._fanning_out = False

    def _call_listeners(self, count: int) -> None:
        ready = self._ready
        for _ in range(min(len(ready), count)):
            sub = ready.popleft()
            sub._ready = False
            listener = sub._listener
            if listener is None:  # stopped listening meanwhile: wake get() instead
                if sub._queue:
                    sub._waiter.set()
                continue
            try:
                listener()
            except Exception as exc:  # a bug of that listener's; the others still get theirs
                _report(exc)

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


def _report(exc: Exception) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise exc from None
    loop.call_exception_handler({"message": "change-feed listener failed", "exception": exc})
