"""SELECT, EXAMINE, CLOSE, UNSELECT and CHECK (RFC 9051 §6.3.2, §6.3.3, §6.4.1, §6.4.2).

SELECT loads the mailbox index once (`Store.get_index`) into a `SelectedMailbox`:
from then on sequence numbers are the session's own view, changed only as the
protocol allows (see `imap.session`). What this module must never do: leave a
previous selection in place when a SELECT fails (RFC 9051 §6.3.2: the session is
then in AUTHENTICATED state), or expunge on CLOSE of a read-only (EXAMINEd) mailbox.
"""

from __future__ import annotations

from posteingang.imap.ops.common import Reply, bad, no, ok
from posteingang.imap.ops.context import Context
from posteingang.imap.proto import commands as c
from posteingang.imap.proto import responses
from posteingang.imap.proto.responses import ResponseCode
from posteingang.imap.selected import SelectedMailbox
from posteingang.imap.state import Authenticated, Selected
from posteingang.store.model import SEEN, SYSTEM_FLAGS

__all__ = ["check", "close", "select", "unselect"]

PERMANENT = (*SYSTEM_FLAGS, "\\*")  # keywords may be created (RFC 9051 §7.1)
_NEVER = 1 << 63  # beyond every uid


async def select(s: Context, auth: Authenticated, cmd: c.Select | c.Examine) -> Reply:
    readonly = isinstance(cmd, c.Examine)
    if cmd.condstore or cmd.qresync is not None:
        # Not advertised yet (the next issue): a client must not use them (RFC 7162 §3).
        return bad("CONDSTORE and QRESYNC are not supported")
    if isinstance(auth, Selected):
        # RFC 9051 §6.3.2 / RFC 7162 §3.2.11: the old mailbox is closed (no expunge).
        s.deselect()
        s.emit(responses.untagged("OK", "Previous mailbox closed", ResponseCode("CLOSED")))
    # Whatever the feed holds happened before the index is loaded below, so the
    # index includes it: none of it may be applied to the new view (a queued
    # DELETE of a mailbox would become phantom EXPUNGEs in the next one selected).
    auth.subscription.drain()
    mailbox = await s.store.get_mailbox(auth.account.id, cmd.mailbox)
    if mailbox is None:
        return no("Mailbox does not exist", "NONEXISTENT")
    index = await s.store.get_index(mailbox.id)
    mb = index.mailbox
    view = SelectedMailbox(
        mb.id,
        mb.uidvalidity,
        index.uids,
        index.flags,
        index.modseqs,
        mb.highestmodseq,
        readonly=readonly,
    )
    keywords: set[str] = set()
    for flags in set(index.flags):
        keywords.update(f for f in flags if f not in SYSTEM_FLAGS)
    selected = s.select(auth, view, mb.name, keywords)
    s.emit(responses.flags(selected.live.flag_list()))
    s.emit(responses.exists(view.exists))
    if not s.rev2:
        # RFC 3501 §2.3.2: \Recent for exactly one session, the first to be told of
        # the message. SELECT claims what no session was told of yet; EXAMINE must
        # not take \Recent away (§6.3.2), so it claims nothing and shows every
        # unclaimed message as recent. IMAP4rev2 has no \Recent: those sessions
        # neither claim nor show it.
        if readonly:
            view.recent.add(mb.first_recent_uid, _NEVER)
        elif mb.first_recent_uid < mb.uidnext:
            low, high = await s.store.claim_recent(mb.id)
            view.recent.add(low, high)
        else:
            view.recent.add(mb.uidnext, mb.uidnext)
        view.recent.announced = view.recent.count(view.uids)
        s.emit(responses.recent(view.recent.announced))
        first_unseen = next(
            (i + 1 for i, flags in enumerate(index.flags) if SEEN not in flags), None
        )
        if first_unseen is not None:
            s.emit(responses.untagged("OK", "First unseen", ResponseCode.unseen(first_unseen)))
    else:
        # RFC 9051 §6.3.2: a LIST response with the mailbox's canonical name.
        s.emit(responses.list_response((), "/", mb.name, utf8=s.utf8))
    s.emit(responses.untagged("OK", "UIDs valid", ResponseCode.uidvalidity(mb.uidvalidity)))
    s.emit(responses.untagged("OK", "Predicted next UID", ResponseCode.uidnext(mb.uidnext)))
    permanent = () if readonly else (*PERMANENT[:-1], *sorted(keywords), "\\*")
    s.emit(
        responses.untagged(
            "OK",
            "Read-only mailbox" if readonly else "Flags permitted",
            ResponseCode.permanentflags(permanent),
        )
    )
    code = ResponseCode("READ-ONLY" if readonly else "READ-WRITE")
    return ok("EXAMINE completed" if readonly else "SELECT completed", code)


async def close(s: Context, sel: Selected, cmd: c.Close) -> Reply:
    """RFC 9051 §6.4.1: expunge \\Deleted silently (not when read-only), then deselect."""
    view = sel.view
    if not view.readonly and view.uids:
        await s.store.expunge_deleted(view.mailbox_id, up_to_uid=view.max_uid)
    s.deselect()
    return ok("CLOSE completed")


async def unselect(s: Context, sel: Selected, cmd: c.Unselect) -> Reply:
    """RFC 3691: like CLOSE without the expunge."""
    s.deselect()
    return ok("UNSELECT completed")


async def check(s: Context, sel: Selected, cmd: c.Check) -> Reply:
    # Every change is committed when its command completes: nothing to checkpoint.
    return ok("CHECK completed")
