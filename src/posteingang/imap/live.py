"""Live updates of the selected mailbox: the change feed, the selected view, the client.

Theory of operation
-------------------
From login on, a session holds one change-feed subscription for its account
(`store/hub.py`, kept by the `Authenticated` state). `absorb_feed` queues every
change for the selected mailbox in the `SelectedMailbox` view without showing
it; `send_updates` flushes the view to the client at the moments RFC 9051
§7.5.1 allows (the session calls it before every tagged response, with
expunges held back during FETCH, STORE and SEARCH). A `Resync` from the feed
(overflow, another process) reloads from `Store.changes_since`.

IDLE (RFC 2177, `ImapSession.start_idle`): while the session waits for the
client's DONE it is a *listener* of its subscription (`Subscription.listen`). The
hub calls `push_idle_updates` in its fan-out right after the commit; that applies
the change (which carries the uids and flags, so no store read is needed) to
this session's view and hands ``* n EXISTS`` (or FETCH/EXPUNGE) to the socket
at once (`Output.write_queued_now`). The session loop is not woken at all: a
delivery to a mailbox with a thousand idlers costs one short callback each, not
a thousand task switches. Only what cannot be done synchronously wakes the
loop (`net.session.Wake`), and the session then does it the ordinary way: a
`Resync` (a store read), or a socket that cannot take the bytes without waiting
(back-pressure; while it waits, changes pile up in the subscription and
overflow into a `Resync`).

A selected mailbox deleted or renamed by another session (or process) ends the
session with BYE at the next moment the session may speak (`end_if_gone`, as
Dovecot): mailbox ids are never reused, so no other mailbox's news is ever
applied to the view.

New messages enter the view with unknown flags; they are read from the store in
one call when the moment allows (at once after a command, at the idler's next
command during IDLE, so a delivery costs each idler no store read). That is also
when an IMAP4rev1 read-write session claims them as \\Recent (`_claim_recent`,
RFC 3501 §2.3.2).

`LiveUpdates` is a component of the `Selected` state (`imap/state.py`): made at
SELECT, gone with the selection. What it uses is explicit: the store, the
selection it belongs to (view, name, keywords, subscription) and an `Output`
(emit, flush, and an immediate write for IDLE pushes). It must never read
commands or write tagged responses, and never poll the store on a timer.
"""

from __future__ import annotations

from typing import Protocol

from posteingang.imap.ops.common import Disconnected
from posteingang.imap.proto import responses
from posteingang.imap.selected import Exists, Expunge, FlagsChanged, SelectedMailbox, Update
from posteingang.imap.state import Selected
from posteingang.store.hub import Change, ChangeKind, Resync
from posteingang.store.interface import NotFound, Store, StoreError
from posteingang.store.model import SYSTEM_FLAGS

__all__ = ["LiveUpdates", "Output", "format_flags"]


def format_flags(flags: frozenset[str]) -> list[str]:
    """Flags in a stable order: system flags as RFC 9051 lists them, then keywords."""
    system = [f for f in SYSTEM_FLAGS if f in flags]
    return system + sorted(f for f in flags if f not in SYSTEM_FLAGS)


class Output(Protocol):
    """How live updates reach the client (the session implements it)."""

    def emit(self, data: bytes) -> None:
        """Queue ``data`` for the client."""
        ...

    async def flush(self) -> None:
        """Write what is queued, waiting for the client if need be."""
        ...

    def queued(self) -> bool:
        """Whether output is queued and not written yet."""
        ...

    def write_queued_now(self) -> bool:
        """Write what is queued now if the connection takes it without waiting
        (IDLE pushes); False, with nothing written, if it does not."""
        ...


_DELETED = "Selected mailbox was deleted, have to disconnect"
_RENAMED = "Selected mailbox was renamed, have to disconnect"


class LiveUpdates:
    """The change feed brought into one selection's view (see the module docstring)."""

    __slots__ = (
        "_out",
        "_own_flags",
        "_recent_due",
        "_resync_base",
        "_resync_pending",
        "_sel",
        "_store",
        "_unknown_flags",
        "rev2",
    )

    def __init__(self, selection: Selected, store: Store, output: Output, *, rev2: bool) -> None:
        self._sel = selection
        self._store = store
        self._out = output
        self.rev2 = rev2  # fixed for the selection: ENABLE is not valid once selected
        self._resync_base = selection.view.highestmodseq  # changes_since base after a Resync
        self._unknown_flags: list[int] = []  # uids in the view whose flags are not read yet
        self._resync_pending = False
        self._recent_due = False  # a * n RECENT owed after an EXISTS sent during IDLE
        # uid -> (flags, modseq) of messages this session appended to the selected
        # mailbox: known without a store read when they join the view
        self._own_flags: dict[int, tuple[frozenset[str], int]] = {}

    def has_unknown_flags(self) -> bool:
        return bool(self._unknown_flags)

    async def absorb_feed(self) -> None:
        """Queue in the view every change the feed has for the selected mailbox.

        Another process's change that a client saw acknowledged is here before that
        client's next command: its datagram (notify.py) left before the
        acknowledgement, so it became readable before the command did, and the
        loop's epoll reports ready sockets in that order; the listener publishes it
        in its own callback, while the command's bytes only wake the session for a
        later step. (Reading the socket again here cost a GIL hand-off per command:
        3.7 % of the stress profile, issue 12.)"""
        resync, self._resync_pending = self._resync_pending, False
        for event in self._sel.subscription.drain():
            if isinstance(event, Resync):
                resync = True
            else:
                self.apply_change(event)
        if resync:
            await self.resync()

    def apply_change(self, change: Change) -> None:
        sel = self._sel
        view = sel.view
        if change.mailbox_id != view.mailbox_id:
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
            sel.gone = _DELETED
        elif kind is ChangeKind.MAILBOX_RENAME and change.name != sel.name:
            # (This session's own RENAME already updated `Selected.name`.)
            sel.gone = _RENAMED

    async def end_if_gone(self) -> None:
        """Another session deleted or renamed the selected mailbox: say BYE and close.

        RFC 9051 §7.1 (BYE) and Dovecot ("Selected mailbox was deleted, have to
        disconnect."): the session can neither go on showing a mailbox that is not
        there (or not there by the name the client knows), nor quietly show another.
        Mailbox ids are never reused (docs/store.md), so no change of another
        mailbox is ever taken for one of the selected mailbox.
        """
        reason = self._sel.gone
        if reason is None:
            return
        self._out.emit(responses.bye(reason))
        await self._out.flush()
        raise Disconnected

    async def resync(self) -> None:
        """The feed lost track (overflow, another process): reload from the store."""
        sel = self._sel
        view = sel.view
        try:
            changes = await self._store.changes_since(view.mailbox_id, self._resync_base)
        except NotFound:
            sel.gone = _DELETED
            return
        except StoreError:
            return
        if changes.mailbox.name != sel.name:
            sel.gone = _RENAMED
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
        await self.absorb_feed()
        await self.end_if_gone()
        updates = self._flush_view(expunge_allowed=expunge_allowed)
        if not updates:
            return
        learned = await self.load_unknown_flags(announce=False) if load_flags else False
        self.emit_updates(updates, new_keywords=learned, recent=load_flags)

    def _flush_view(self, *, expunge_allowed: bool) -> list[Update]:
        """The view's pending news as updates to send; new uids join `_unknown_flags`."""
        view = self._sel.view
        if not view.has_pending():
            return []
        updates = view.flush(expunge_allowed=expunge_allowed)
        for update in updates:
            if isinstance(update, Exists):
                self._unknown_flags.extend(update.uids)
        return updates

    def note_own_append(self, uids: list[int], flags: list[frozenset[str]], modseq: int) -> None:
        """This session's APPEND/COPY into the selected mailbox: the new uids join the
        view at the next moment allowed, their flags known (`load_unknown_flags`
        reads only the others; a later change from the feed still wins by modseq)."""
        if len(self._own_flags) > 4096:  # never read (expunged first): do not grow
            self._own_flags.clear()
        for uid, f in zip(uids, flags, strict=True):
            self._own_flags[uid] = (f, modseq)
        self._sel.view.note_appended(uids, modseq)

    def emit_own_expunge(self, uids: list[int]) -> None:
        """This session's EXPUNGE/MOVE: tell the client now, with whatever else is queued
        (a MOVE into the selected mailbox itself brings new uids: their flags are read
        at the next moment, like any other new message's)."""
        updates = self._sel.view.apply_own_expunge(uids)
        for update in updates:
            if isinstance(update, Exists):
                self._unknown_flags.extend(update.uids)
        self.emit_updates(updates)

    async def load_unknown_flags(self, *, announce: bool = True) -> bool:
        """Read the flags of messages that entered the view without them.

        Returns True if they brought keywords the client has not seen in FLAGS
        (with ``announce``, the untagged FLAGS is sent here).
        """
        unknown, self._unknown_flags = self._unknown_flags, []
        if not unknown:
            return False
        view = self._sel.view
        await self._claim_recent(view, unknown)
        if announce and self._recent_due:
            # The EXISTS went out during IDLE; the RECENT count follows now if it moved.
            self._recent_due = False
            count = view.recent.count(view.uids)
            if count != view.recent.announced:
                view.recent.announced = count
                self._out.emit(responses.recent(count))
        learned = False
        if self._own_flags:
            rest = []
            for uid in unknown:
                own = self._own_flags.pop(uid, None)
                if own is None:
                    rest.append(uid)
                elif view.modseqs.get(uid) == 0:
                    view.flags[uid], view.modseqs[uid] = own
                    learned |= self.learn_keywords(own[0])
            unknown = rest
        try:
            messages = await self._store.get_messages(view.mailbox_id, unknown) if unknown else []
        except StoreError:
            return False
        for msg in messages:
            if view.modseqs.get(msg.uid) == 0:
                view.flags[msg.uid] = msg.flags
                view.modseqs[msg.uid] = msg.modseq
                learned |= self.learn_keywords(msg.flags)
        if learned and announce:
            self._out.emit(responses.flags(self.flag_list()))
        return learned

    async def _claim_recent(self, view: SelectedMailbox, new_uids: list[int]) -> None:
        """New messages in a read-write IMAP4rev1 view: claim those no session was
        told of yet (RFC 3501 §2.3.2); they are \\Recent here and nowhere else."""
        if self.rev2 or view.readonly or max(new_uids) < view.recent.claimed_upto:
            return
        try:
            low, high = await self._store.claim_recent(view.mailbox_id)
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
        emit = self._out.emit
        if new_keywords:
            emit(responses.flags(self.flag_list()))
        view = self._sel.view
        for update in updates:
            if isinstance(update, Expunge):
                emit(responses.expunge(update.seq))
            elif isinstance(update, Exists):
                emit(responses.exists(update.count))
                if not self.rev2:
                    if recent:
                        self._recent_due = False
                        view.recent.announced = view.recent.count(view.uids)
                        emit(responses.recent(view.recent.announced))
                    else:
                        self._recent_due = True
            elif isinstance(update, FlagsChanged):
                emit(self.fetch_flags_line(update.seq, update.uid, update.flags))

    def learn_keywords(self, flags: frozenset[str]) -> bool:
        keywords = self._sel.keywords
        new = {f for f in flags if f not in SYSTEM_FLAGS and f not in keywords}
        if not new:
            return False
        keywords |= new
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
        return list(SYSTEM_FLAGS) + sorted(self._sel.keywords)

    def shown_flags(self, uid: int, flags: frozenset[str]) -> list[str]:
        """The flags of a message as this session shows them: ``\\Recent`` after the
        system flags if it is recent here (IMAP4rev1 only), as FETCH FLAGS does."""
        names = format_flags(flags)
        if not self.rev2 and uid in self._sel.view.recent:
            names.insert(sum(1 for f in names if f in SYSTEM_FLAGS), "\\Recent")
        return names

    def fetch_flags_line(self, seq: int, uid: int, flags: frozenset[str]) -> bytes:
        """``* seq FETCH (FLAGS (...) UID uid)`` — with UID so clients can match it."""
        return responses.fetch(
            seq, [responses.fetch_flags(self.shown_flags(uid, flags)), responses.fetch_uid(uid)]
        )

    # -- IDLE -------------------------------------------------------------------------------

    def push_idle_updates(self) -> bool:
        """During IDLE: apply and send what the feed brought; False if the idling
        coroutine must take over.

        Runs inside the hub's fan-out (module docstring), so it never waits:
        whatever needs waiting is left to the idling coroutine (the session wakes
        it when this returns False): a `Resync`, or output the socket cannot take
        now. An exception (a bug) must wake the coroutine too.
        """
        for event in self._sel.subscription.drain():
            if isinstance(event, Resync):
                self._resync_pending = True
            else:
                self.apply_change(event)
        if self._resync_pending or self._out.queued() or self._sel.gone is not None:
            return False
        updates = self._flush_view(expunge_allowed=True)
        if not updates:
            return True
        self.emit_updates(updates)
        return self._out.write_queued_now()
