"""FETCH of UID, FLAGS and MODSEQ alone, answered from the selected view: no store read.

The view holds every message's flags and modseq as its client was told them,
and, queued, every newer change: the session absorbs the change feed before each
command (`ImapSession.command`; the SQLite writer publishes a change before the
command that made it completes, and other processes' changes carry their flags
too), so `SelectedMailbox.latest_flags` is what the store holds as far as the
feed has told this process (as for SEARCH of flags). Reading the
rows again cost a thread hop and a query per command (``FETCH 1:* (FLAGS)`` was
540 µs of CPU against Dovecot's 40).

Not taken when a message entered the view without its flags (modseq 0: an IDLE
session defers reading them, `load_unknown_flags`): the general path reads the
rows then. A message whose expunge is pending is answered like one whose row
is gone in the general path: no response, its uid in ``expunged`` (the session
says NO [EXPUNGEISSUED], RFC 9051 §7.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Container

from posteingang.imap.proto.fetch import FetchAttr, FetchItem
from posteingang.imap.proto.responses import fetch_end, fetch_start
from posteingang.imap.selected import SelectedMailbox

from .fetch_items import Announce, flags_item
from .pacing import Pacer

__all__ = ["view_items_only", "view_knows", "view_responses"]

_VIEW_ITEMS = frozenset(("UID", "FLAGS", "MODSEQ"))


def view_items_only(items: tuple[FetchItem, ...]) -> bool:
    """Whether every item of the FETCH is one the view holds (UID, FLAGS, MODSEQ)."""
    return all(isinstance(i, FetchAttr) and i.name in _VIEW_ITEMS for i in items)


def view_knows(view: SelectedMailbox, uids: Collection[int]) -> bool:
    """Whether the view has read the flags of every message in `uids`."""
    modseqs = view.modseqs
    return all(modseqs.get(uid, 0) > 0 for uid in uids)


async def view_responses(
    view: SelectedMailbox,
    items: tuple[FetchItem, ...],
    uids: list[int],
    *,
    uid_first: bool,
    recent: Container[int],
    expunged: list[int],
    announce: Announce,
) -> AsyncIterator[bytes]:
    """The untagged FETCH responses of `items` for `uids`, from the view alone."""
    names = [i.name for i in items if isinstance(i, FetchAttr)]
    lead = uid_first and "UID" not in names
    pacer = Pacer()
    for uid in uids:
        await pacer.tick()
        seq = view.seq_of(uid)
        if seq is None or view.is_expunge_pending(uid):
            expunged.append(uid)
            continue
        flags, modseq = view.latest_flags(uid)
        out: list[bytes] = [b"UID %d" % uid] if lead else []
        for name in names:
            if name == "UID":
                out.append(b"UID %d" % uid)
            elif name == "FLAGS":
                if modseq > view.modseqs[uid]:
                    # The client learns the queued change now: no FETCH of it later.
                    view.accept_own_flags(uid, flags, modseq)
                news = announce(flags)
                if news:
                    yield news
                out.append(flags_item(flags, recent=uid in recent))
            else:
                out.append(b"MODSEQ (%d)" % modseq)  # RFC 7162 §3.1.4
        yield fetch_start(seq) + b" ".join(out) + fetch_end()
