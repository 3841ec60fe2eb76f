"""Live updates for one IMAP session: the change feed, the selected view, the client.

Theory of operation
-------------------
From login on, a session holds one change-feed subscription for its account
(`store/hub.py`). `absorb_feed` queues every change for the selected mailbox in
the `SelectedMailbox` view without showing it; `send_updates` flushes the view
to the client at the moments RFC 9051 §7.5.1 allows (the session calls it before
every tagged response, with expunges held back during FETCH, STORE and SEARCH).
A `Resync` from the feed (overflow, another process) reloads from
`Store.changes_since`.

IDLE (RFC 2177, `idle_until_line`): while the session waits for the client's
DONE it is a *listener* of its subscription (`Subscription.listen`). The hub
calls `push_idle_updates` in its fan-out right after the commit; that applies
the change (which carries the uids and flags, so no store read is needed) to
this session's view and hands ``* n EXISTS`` (or FETCH/EXPUNGE) to the socket
at once (`Transport.write_now`). The idling coroutine is not woken at all: a
delivery to a mailbox with a thousand idlers costs one short callback each, not
a thousand task switches. Only what cannot be done synchronously wakes the
coroutine, which then does it the ordinary way: a `Resync` (a store read), or
a socket that cannot take the bytes without waiting (back-pressure; while it
waits, changes pile up in the subscription and overflow into a `Resync`).

A selected mailbox deleted or renamed by another session (or process) ends the
session with BYE at the next moment the session may speak (`end_if_selected_gone`,
as Dovecot): mailbox ids are never reused, so no other mailbox's news is ever
applied to the view.

New messages enter the view with unknown flags; they are read from the store in
one call when the moment allows (at once after a command, at the idler's next
command during IDLE, so a delivery costs each idler no store read). That is also
when an IMAP4rev1 read-write session claims them as \\Recent (`_claim_recent`,
RFC 3501 §2.3.2).

This is a mixin of `ImapSession`: it must never read commands or write tagged
responses, and never poll the store on a timer.
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

from posteingang.imap.ops.common import Disconnected, Transport
from posteingang.imap.proto import responses
from posteingang.imap.proto.reader import CommandReader, ContinuationLine, NeedData
from posteingang.imap.selected import Exists, Expunge, FlagsChanged, SelectedMailbox, Update
from posteingang.imap.settings import ImapSettings
from posteingang.store.hub import Change, ChangeKind, Resync, Subscription
from posteingang.store.interface import NotFound, Store, StoreError
from posteingang.store.model import SYSTEM_FLAGS

__all__ = ["LiveUpdates", "format_flags"]


def format_flags(flags: frozenset[str]) -> list[str]:
    """Flags in a stable order: system flags as RFC 9051 lists them, then keywords."""
    system = [f for f in SYSTEM_FLAGS if f in flags]
    return system + sorted(f for f in flags if f not in SYSTEM_FLAGS)


class LiveUpdates:
    """The change-feed half of `ImapSession` (see the module docstring)."""

    # Provided by ImapSession.
    store: Store
    transport: Transport
    settings: ImapSettings
    reader: CommandReader
    selected: SelectedMailbox | None
    selected_name: str | None
    subscription: Subscription | None
    keywords: set[str]
    rev2: bool
    _resync_base: int
    _unknown_flags: list[int]
    _resync_pending: bool
    _recent_due: bool
    selected_gone: str | None
    _pending_read: asyncio.Future[bytes] | None
    _stopping: asyncio.Event | None
    _out: bytearray
    _idle_wake: asyncio.Future[None] | None

    def emit(self, data: bytes) -> None:
        raise NotImplementedError

    async def flush(self) -> None:
        raise NotImplementedError

    def take_read(self, task: asyncio.Future[bytes]) -> bytes:
        raise NotImplementedError

    async def autologout(self) -> NoReturn:
        raise NotImplementedError

    def discard_feed(self) -> None:
        """Forget what the feed queued (SELECT: the index it loads next includes it)."""
        if self.subscription is not None:
            self.subscription.drain()
        self._resync_pending = False

    async def absorb_feed(self) -> None:
        """Queue in the view every change the feed has for the selected mailbox."""
        sub = self.subscription
        if sub is None:
            return
        resync, self._resync_pending = self._resync_pending, False
        for event in sub.drain():
            if isinstance(event, Resync):
                resync = True
            else:
                self.apply_change(event)
        if resync:
            await self.resync()

    def apply_change(self, change: Change) -> None:
        view = self.selected
        if view is None or change.mailbox_id != view.mailbox_id:
            return
        kind = change.kind
        if kind is ChangeKind.APPEND:
            view.note_appended(change.uids, change.modseq)
        elif kind is ChangeKind.FLAGS:
            for uid, flags in zip(change.uids, change.flags, strict=False):
                view.note_flags(uid, flags, change.modseq)
        elif kind is ChangeKind.EXPUNGE:
            view.note_expunged(change.uids, change.modseq)
        elif kind is ChangeKind.MAILBOX_DELETE:
            self.selected_gone = "Selected mailbox was deleted, have to disconnect"
        elif kind is ChangeKind.MAILBOX_RENAME and change.name != self.selected_name:
            # (This session's own RENAME already updated `selected_name`.)
            self.selected_gone = "Selected mailbox was renamed, have to disconnect"

    async def end_if_selected_gone(self) -> None:
        """Another session deleted or renamed the selected mailbox: say BYE and close.

        RFC 9051 §7.1 (BYE) and Dovecot ("Selected mailbox was deleted, have to
        disconnect."): the session can neither go on showing a mailbox that is not
        there (or not there by the name the client knows), nor quietly show another.
        Mailbox ids are never reused (docs/store.md), so no change of another
        mailbox is ever taken for one of the selected mailbox.
        """
        reason = self.selected_gone
        if reason is None:
            return
        self.emit(responses.bye(reason))
        await self.flush()
        raise Disconnected

    async def resync(self) -> None:
        """The feed lost track (overflow, another process): reload from the store."""
        view = self.selected
        if view is None:
            return
        try:
            changes = await self.store.changes_since(view.mailbox_id, self._resync_base)
        except NotFound:
            self.selected_gone = "Selected mailbox was deleted, have to disconnect"
            return
        except StoreError:
            return
        if changes.mailbox.name != self.selected_name:
            self.selected_gone = "Selected mailbox was renamed, have to disconnect"
            return
        known_max = view.max_uid
        for update in changes.changed:
            if update.uid > known_max:
                view.note_appended((update.uid,), update.modseq)
            else:
                view.note_flags(update.uid, update.flags, update.modseq)
        if changes.vanished:
            view.note_expunged(changes.vanished, changes.mailbox.highestmodseq)
        self._resync_base = max(self._resync_base, changes.mailbox.highestmodseq)

    async def send_updates(self, *, expunge_allowed: bool, load_flags: bool = True) -> None:
        """Absorb the feed and tell the client what the moment allows (RFC 9051 §7.5.1).

        New messages enter the view with unknown flags. With ``load_flags`` they are
        read from the store now; IDLE passes False so that a delivery reaches every
        idler without one store read each, and the flags are read at the idler's
        next command (`load_unknown_flags`).
        """
        view = self.selected
        if view is None:
            if self.subscription is not None:
                self.subscription.drain()  # nothing selected: nothing to tell
            return
        await self.absorb_feed()
        await self.end_if_selected_gone()
        updates = self._flush_view(view, expunge_allowed=expunge_allowed)
        if not updates:
            return
        learned = await self.load_unknown_flags(announce=False) if load_flags else False
        self.emit_updates(updates, new_keywords=learned, recent=load_flags)

    def _flush_view(self, view: SelectedMailbox, *, expunge_allowed: bool) -> list[Update]:
        """The view's pending news as updates to send; new uids join `_unknown_flags`."""
        if not view.has_pending():
            return []
        updates = view.flush(expunge_allowed=expunge_allowed)
        for update in updates:
            if isinstance(update, Exists):
                self._unknown_flags.extend(update.uids)
        return updates

    def emit_own_expunge(self, view: SelectedMailbox, uids: list[int]) -> None:
        """This session's EXPUNGE/MOVE: tell the client now, with whatever else is queued
        (a MOVE into the selected mailbox itself brings new uids: their flags are read
        at the next moment, like any other new message's)."""
        updates = view.apply_own_expunge(uids)
        for update in updates:
            if isinstance(update, Exists):
                self._unknown_flags.extend(update.uids)
        self.emit_updates(updates)

    async def load_unknown_flags(self, *, announce: bool = True) -> bool:
        """Read the flags of messages that entered the view without them.

        Returns True if they brought keywords the client has not seen in FLAGS
        (with ``announce``, the untagged FLAGS is sent here).
        """
        view = self.selected
        unknown, self._unknown_flags = self._unknown_flags, []
        if view is None or not unknown:
            return False
        await self._claim_recent(view, unknown)
        if announce and self._recent_due:
            # The EXISTS went out during IDLE; the RECENT count follows now if it moved.
            self._recent_due = False
            count = view.recent.count(view.uids)
            if count != view.recent.announced:
                view.recent.announced = count
                self.emit(responses.recent(count))
        try:
            messages = await self.store.get_messages(view.mailbox_id, unknown)
        except StoreError:
            return False
        learned = False
        for msg in messages:
            if view.modseqs.get(msg.uid) == 0:
                view.flags[msg.uid] = msg.flags
                view.modseqs[msg.uid] = msg.modseq
                learned |= self.learn_keywords(msg.flags)
        if learned and announce:
            self.emit(responses.flags(self.flag_list()))
        return learned

    async def _claim_recent(self, view: SelectedMailbox, new_uids: list[int]) -> None:
        """New messages in a read-write IMAP4rev1 view: claim those no session was
        told of yet (RFC 3501 §2.3.2); they are \\Recent here and nowhere else."""
        if self.rev2 or view.readonly or max(new_uids) < view.recent.claimed_upto:
            return
        try:
            low, high = await self.store.claim_recent(view.mailbox_id)
        except StoreError:
            return
        view.recent.add(low, high)

    def emit_updates(
        self, updates: list[Update], *, new_keywords: bool = False, recent: bool = False
    ) -> None:
        """Send `updates`. With ``recent`` (IMAP4rev1, new messages' recency known) a
        ``* n RECENT`` follows an EXISTS (RFC 3501 §7.3.2); without, it is due at the
        next command."""
        for update in updates:
            if isinstance(update, FlagsChanged):
                new_keywords |= self.learn_keywords(update.flags)
        if new_keywords:
            self.emit(responses.flags(self.flag_list()))
        view = self.selected
        for update in updates:
            if isinstance(update, Expunge):
                self.emit(responses.expunge(update.seq))
            elif isinstance(update, Exists):
                self.emit(responses.exists(update.count))
                if not self.rev2 and view is not None:
                    if recent:
                        self._recent_due = False
                        view.recent.announced = view.recent.count(view.uids)
                        self.emit(responses.recent(view.recent.announced))
                    else:
                        self._recent_due = True
            elif isinstance(update, FlagsChanged):
                self.emit(self.fetch_flags_line(update.seq, update.uid, update.flags))

    def learn_keywords(self, flags: frozenset[str]) -> bool:
        new = {f for f in flags if f not in SYSTEM_FLAGS and f not in self.keywords}
        if not new:
            return False
        self.keywords |= new
        return True

    def announce_keywords(self, flags: frozenset[str]) -> bytes:
        """``* FLAGS`` to send before a response showing `flags`, if they hold a keyword
        the client has not been told of (RFC 9051 §7.3.5), else b"".

        A FETCH reads flags from the store, which may already hold a keyword another
        session set that the change feed has not brought to this view yet.
        """
        if not self.learn_keywords(flags):
            return b""
        return responses.flags(self.flag_list())

    def flag_list(self) -> list[str]:
        return list(SYSTEM_FLAGS) + sorted(self.keywords)

    def shown_flags(self, uid: int, flags: frozenset[str]) -> list[str]:
        """The flags of a message as this session shows them: ``\\Recent`` after the
        system flags if it is recent here (IMAP4rev1 only), as FETCH FLAGS does."""
        names = format_flags(flags)
        view = self.selected
        if not self.rev2 and view is not None and uid in view.recent:
            names.insert(sum(1 for f in names if f in SYSTEM_FLAGS), "\\Recent")
        return names

    def fetch_flags_line(self, seq: int, uid: int, flags: frozenset[str]) -> bytes:
        """``* seq FETCH (FLAGS (...) UID uid)`` — with UID so clients can match it."""
        return responses.fetch(
            seq, [responses.fetch_flags(self.shown_flags(uid, flags)), responses.fetch_uid(uid)]
        )

    # -- IDLE -------------------------------------------------------------------------------

    def push_idle_updates(self) -> None:
        """The subscription's listener during IDLE: apply and send what the feed brought.

        Runs inside the hub's fan-out (module docstring), so it never waits:
        whatever needs waiting is left to the idling coroutine, woken through
        `_idle_wake`: a `Resync`, or output the socket cannot take now. An
        exception (a bug) wakes the coroutine too, and the hub reports it.
        """
        sub = self.subscription
        if sub is None:
            return
        try:
            view = self.selected
            if view is None:
                sub.drain()  # IDLE without a selected mailbox: nothing to tell
                return
            for event in sub.drain():
                if isinstance(event, Resync):
                    self._resync_pending = True
                else:
                    self.apply_change(event)
            if self._resync_pending or self._out or self.selected_gone is not None:
                self._wake_idler()
                return
            updates = self._flush_view(view, expunge_allowed=True)
            if not updates:
                return
            self.emit_updates(updates)
            if self.transport.write_now(bytes(self._out)):
                self._out.clear()
            else:
                self._wake_idler()  # the coroutine writes it, waiting for the client
        except Exception:
            self._wake_idler()  # the hub reports the exception; the coroutine carries on
            raise

    def _wake_idler(self) -> None:
        wake = self._idle_wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def idle_until_line(self) -> bytes | None:
        """RFC 2177: push updates as the feed brings them until the client sends a line.

        No polling: the session waits on the socket, its wake-up future and the
        server's shutdown at once, and the feed reaches the client through
        `push_idle_updates` without waking this coroutine. Returns the line (CRLF
        removed), or None if it was too long.
        """
        self.reader.expect_continuation()
        loop = asyncio.get_running_loop()
        sub = self.subscription
        stop: asyncio.Future[Any] | None = None
        try:
            while True:
                event = self.reader.next_event()
                if isinstance(event, ContinuationLine):
                    return event.line
                if not isinstance(event, NeedData):  # a line too long (ProtocolError)
                    return None
                await self.send_updates(expunge_allowed=True)
                await self.flush()
                deadline = loop.time() + self.settings.idle_timeout
                while True:
                    read: asyncio.Future[bytes] = self._pending_read or asyncio.ensure_future(
                        self.transport.read()
                    )
                    self._pending_read = read
                    wake: asyncio.Future[None] = loop.create_future()
                    self._idle_wake = wake
                    waiters: set[asyncio.Future[Any]] = {read, wake}
                    if stop is None and self._stopping is not None:
                        stop = asyncio.ensure_future(self._stopping.wait())
                    if stop is not None:
                        waiters.add(stop)
                    if sub is not None:
                        sub.listen(self.push_idle_updates)  # announces what is queued
                    try:
                        done, _ = await asyncio.wait(
                            waiters,
                            timeout=max(deadline - loop.time(), 0),
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    finally:
                        if sub is not None:
                            sub.listen(None)
                        self._idle_wake = None
                    if wake.done():
                        # A resync, output to wait for, or a failed push: the ordinary way.
                        await self.send_updates(expunge_allowed=True, load_flags=False)
                        await self.flush()
                    else:
                        wake.cancel()
                    if read in done:
                        self._pending_read = None
                        self.reader.feed(self.take_read(read))
                        break
                    if stop is not None and stop in done:
                        self.emit(
                            responses.bye(
                                "Server shutting down", responses.ResponseCode("UNAVAILABLE")
                            )
                        )
                        await self.flush()
                        raise Disconnected
                    if not done:
                        await self.autologout()
        finally:
            if stop is not None and not stop.done():
                stop.cancel()
