"""Message commands: APPEND, EXPUNGE / UID EXPUNGE, STORE, COPY and MOVE (and UID forms).

APPEND goes through the one delivery path (`delivery.ingest.prepare_message`:
durable blob, parse once) and one `Store.append` (`append_many` for MULTIAPPEND,
RFC 3502: all or none). UIDPLUS (RFC 4315): APPENDUID and COPYUID codes.
MOVE (RFC 6851 §4.3): an untagged ``OK [COPYUID ...]`` first, then the EXPUNGEs.

This session's own changes are applied to its view at once (`accept_own_flags`,
`apply_own_expunge`, `note_appended`), so their echo from the change feed is
recognised and never reported twice.

What it must never do: change a read-only (EXAMINEd) mailbox, or send an
EXPUNGE from STORE (RFC 9051 §7.5.1).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from posteingang.delivery.ingest import prepare_file, prepare_message
from posteingang.imap.ops.common import Reply, bad, check_flags, no, ok, resolve_uids
from posteingang.imap.ops.context import Context
from posteingang.imap.ops.pacing import Pacer
from posteingang.imap.proto import commands as c
from posteingang.imap.proto import responses
from posteingang.imap.proto.literals import SpooledLiteral
from posteingang.imap.proto.responses import ResponseCode
from posteingang.imap.proto.sequence import SequenceSet
from posteingang.imap.state import Authenticated, Selected
from posteingang.store.interface import NewMessage, Store
from posteingang.store.model import FlagOp, canonical_flags

__all__ = ["append", "copy_or_move", "expunge", "store"]

_READ_ONLY = "Mailbox is read-only (EXAMINE)"
_FLAG_OPS = {
    c.StoreMode.REPLACE: FlagOp.SET,
    c.StoreMode.ADD: FlagOp.ADD,
    c.StoreMode.REMOVE: FlagOp.REMOVE,
}


# -- APPEND -------------------------------------------------------------------------------


async def _prepare(store: Store, message: c.AppendMessage) -> NewMessage:
    flags = check_flags(message.flags)
    data = message.data
    if isinstance(data, SpooledLiteral):
        data.file.flush()
        path = getattr(data.file, "name", None)
        if isinstance(path, str):
            return await prepare_file(store, path, flags=flags, internal_date=message.internal_date)

        def read_all() -> bytes:
            data.file.seek(0)
            return data.file.read()

        raw = await asyncio.to_thread(read_all)
    else:
        raw = data
    return await prepare_message(store, raw, flags=flags, internal_date=message.internal_date)


def _size(message: c.AppendMessage) -> int:
    data = message.data
    return data.size if isinstance(data, SpooledLiteral) else len(data)


async def append(s: Context, auth: Authenticated, cmd: c.Append) -> Reply:
    try:
        mailbox = await s.store.get_mailbox(auth.account.id, cmd.mailbox)
        if mailbox is None:
            # RFC 9051 §6.3.12: TRYCREATE tells the client to CREATE and retry.
            return no("Mailbox does not exist", "TRYCREATE")
        for message in cmd.messages:
            size = _size(message)
            if size == 0:
                return no("Empty messages cannot be saved", "CANNOT")
            if size > s.settings.max_message_size:
                return no("Message larger than APPENDLIMIT", "TOOBIG")
        prepared = [await _prepare(s.store, m) for m in cmd.messages]
    finally:
        for message in cmd.messages:
            if isinstance(message.data, SpooledLiteral):
                with contextlib.suppress(OSError):
                    message.data.file.close()
    if len(prepared) == 1:
        results = [await s.store.append(mailbox.id, prepared[0])]
    else:
        results = await s.store.append_many(mailbox.id, prepared)
    uids = [r.uid for r in results]
    if isinstance(auth, Selected) and auth.view.mailbox_id == mailbox.id:
        # (one modseq for all: MULTIAPPEND is one commit; a deduplicated retry cannot
        # happen here, APPEND sets no dedupe key)
        flags = [canonical_flags(p.flags) for p in prepared]
        auth.live.note_own_append(uids, flags, max(r.modseq for r in results))
    code = ResponseCode.appenduid(results[0].uidvalidity, SequenceSet.from_numbers(uids))
    return ok("APPEND completed", code)


# -- EXPUNGE ------------------------------------------------------------------------------


async def expunge(s: Context, sel: Selected, cmd: c.Expunge) -> Reply:
    """EXPUNGE, or UID EXPUNGE (RFC 4315 §2.1) limited to the given uids."""
    view = sel.view
    if view.readonly:
        return no(_READ_ONLY, "CANNOT")
    # Everything pending may be told now; then our EXPUNGEs number the same view.
    await sel.live.send_updates(expunge_allowed=True)
    # Which messages have \Deleted is decided in the expunge's own commit (one write
    # job, no read of the mailbox first); up to the view's highest uid, so a message
    # the client was not told of yet stays.
    wanted = None
    if cmd.uids is not None:
        wanted = resolve_uids(view, cmd.uids, uid=True, saved=sel.saved_uids)
        if not wanted:
            return ok("EXPUNGE completed")
    removed = await s.store.expunge_deleted(view.mailbox_id, up_to_uid=view.max_uid, uids=wanted)
    sel.live.emit_own_expunge(removed)
    return ok("EXPUNGE completed")


# -- STORE --------------------------------------------------------------------------------


async def store(s: Context, sel: Selected, cmd: c.Store) -> Reply:
    view = sel.view
    live = sel.live
    uids = resolve_uids(view, cmd.sequence_set, uid=cmd.uid, saved=sel.saved_uids)
    flags = check_flags(cmd.flags)
    if view.readonly:
        return no(_READ_ONLY, "CANNOT")
    if cmd.unchangedsince is not None:
        return bad("CONDSTORE is not supported")
    updates = await s.store.store_flags(view.mailbox_id, uids, _FLAG_OPS[cmd.mode], flags)
    # RFC 9051 §6.4.6: "regardless of whether or not the .SILENT suffix was used,
    # the server SHOULD send an untagged FETCH response if a change to a message's
    # flags from an external source is observed" -- a silent STORE must not swallow
    # another session's change that this one has not told yet.
    surprised = [
        u.uid for u in updates if not _as_expected(view.flags.get(u.uid), cmd, flags, u.flags)
    ]
    for update in updates:
        view.accept_own_flags(update.uid, update.flags, update.modseq)
    new_keywords = False
    for update in updates:  # every update: any() would stop learning at the first new keyword
        new_keywords |= live.learn_keywords(update.flags)
    if new_keywords:
        s.emit(responses.flags(live.flag_list()))
        permanent = (*live.flag_list(), "\\*")
        s.emit(responses.untagged("OK", "Flags permitted", ResponseCode.permanentflags(permanent)))
    # RFC 9051 §6.4.6: the new flags of every message in the set (SILENT: of those
    # changed by someone else too).
    told = surprised if cmd.silent else uids
    if told:
        pacer = Pacer()  # other clients are served between slices (ops/pacing.py)
        for uid in told:
            await pacer.tick()
            seq = view.seq_of(uid)
            if seq is None:
                continue
            line = responses.fetch_flags(live.shown_flags(uid, view.flags.get(uid, frozenset())))
            items = [line, responses.fetch_uid(uid)] if cmd.uid else [line]
            await s.send(responses.fetch(seq, items))
    return ok("STORE completed")


def _as_expected(
    before: frozenset[str] | None, cmd: c.Store, flags: Iterable[str], after: frozenset[str]
) -> bool:
    """Whether ``after`` is what the client expects: the flags it was told, changed by
    its own STORE (flag names compared without case, RFC 9051 §2.3.2)."""
    if before is None:
        return True  # not in the client's view: nothing to tell
    mine = {f.lower() for f in flags} - {"\\recent"}  # \Recent is the session's own
    told = {f.lower() for f in before} - {"\\recent"}
    if cmd.mode is c.StoreMode.ADD:
        expected = told | mine
    elif cmd.mode is c.StoreMode.REMOVE:
        expected = told - mine
    else:
        expected = mine
    return {f.lower() for f in after} - {"\\recent"} == expected


# -- COPY / MOVE --------------------------------------------------------------------------


async def copy_or_move(s: Context, sel: Selected, cmd: c.Copy | c.Move) -> Reply:
    view = sel.view
    moving = isinstance(cmd, c.Move)
    word = "MOVE" if moving else "COPY"
    uids = resolve_uids(view, cmd.sequence_set, uid=cmd.uid, saved=sel.saved_uids)
    if moving and view.readonly:
        return no(_READ_ONLY, "CANNOT")
    target = await s.store.get_mailbox(sel.account.id, cmd.mailbox)
    if target is None:
        return no("Target mailbox does not exist", "TRYCREATE")
    if not uids:
        return ok(f"{word} completed (no messages)")
    if moving:
        result = await s.store.move(view.mailbox_id, uids, target.id)
    else:
        result = await s.store.copy(view.mailbox_id, uids, target.id)
    if target.id == view.mailbox_id:
        view.note_appended(result.target_uids, result.modseq)
    code = None
    if result.source_uids:
        code = ResponseCode.copyuid(
            result.uidvalidity,
            SequenceSet.from_numbers(result.source_uids),
            SequenceSet.from_numbers(result.target_uids),
        )
    if not moving:
        return ok("COPY completed", code)
    if code is not None:
        s.emit(responses.untagged("OK", "Moved", code))  # RFC 6851 §4.3
    # A MOVE into the selected mailbox itself (Dovecot allows it: the message gets a
    # new uid) shows the EXPUNGE of the old uid and the EXISTS of the new one.
    sel.live.emit_own_expunge(result.source_uids)
    return ok("MOVE completed")
