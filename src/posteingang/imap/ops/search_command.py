"""The SEARCH command: ``$``, the result formats, and the saved result (RFC 5182).

The evaluation itself (which messages match) is in `ops/search.py`. What is here:
``$`` inside the criteria is the saved result; results are sent as ``* SEARCH``
(rev1 without RETURN), or ``* ESEARCH`` (RFC 4731; always in rev2, RFC 9051
§6.4.4, where no RETURN means ``RETURN (ALL)``); ``SAVE`` keeps the result for
``$`` (RFC 5182 §2.4: only MIN/MAX are saved when they are asked for without ALL
or COUNT).

What it must never do: send an EXPUNGE (the session holds them back during
SEARCH).
"""

from __future__ import annotations

from posteingang.imap.ops.common import Reply, no, ok
from posteingang.imap.ops.context import Context
from posteingang.imap.ops.search import BadCharset
from posteingang.imap.ops.search import search_uids as _search_uids
from posteingang.imap.proto import commands as c
from posteingang.imap.proto import responses
from posteingang.imap.proto import search as sk
from posteingang.imap.proto.responses import ResponseCode
from posteingang.imap.proto.sequence import SequenceSet
from posteingang.imap.state import Selected

__all__ = ["replace_saved", "search"]


def replace_saved(key: sk.SearchKey, saved: list[int] | None) -> sk.SearchKey:
    """The key with every ``$`` (RFC 5182) replaced by ``UID <saved uids>``.

    The replacement is built once and shared by every ``$`` (a program may
    hold a thousand; building it each time cost keys x saved uids).
    """
    replacement: list[sk.SearchUid] = []

    def walk(key: sk.SearchKey) -> sk.SearchKey:
        if isinstance(key, sk.SearchSequence | sk.SearchUid) and key.sequence_set.saved:
            if not replacement:
                replacement.append(sk.SearchUid(SequenceSet.from_numbers(saved or ())))
            return replacement[0]
        if isinstance(key, sk.SearchNot):
            return sk.SearchNot(walk(key.key))
        if isinstance(key, sk.SearchOr):
            return sk.SearchOr(walk(key.left), walk(key.right))
        if isinstance(key, sk.SearchAnd):
            return sk.SearchAnd(tuple(walk(k) for k in key.keys))
        return key

    return walk(key)


async def search(s: Context, sel: Selected, cmd: c.Search) -> Reply:
    view = sel.view
    criteria = replace_saved(cmd.criteria, sel.saved_uids)
    expunged: list[int] = []
    try:
        recent = () if s.rev2 else view.recent  # SEARCH RECENT/NEW/OLD (RFC 3501 §6.4.4)
        uids = await _search_uids(
            s.store, view, criteria, charset=cmd.charset, recent=recent, expunged=expunged
        )
    except BadCharset as exc:
        # RFC 9051 §6.4.4: NO [BADCHARSET (supported ...)]
        return no(str(exc), ResponseCode.badcharset(exc.supported))
    numbers = uids if cmd.uid else [n for u in uids if (n := view.seq_of(u)) is not None]
    returns = cmd.returns
    if returns is None and s.rev2:
        returns = ()
    if returns is None:
        s.emit(responses.search(numbers))
        return _search_done(expunged)
    options = set(returns) or {"ALL"}
    if options == {"SAVE"}:
        options = {"SAVE"}  # RFC 5182 §2.4: SAVE alone sends no ESEARCH
    if "SAVE" in options:
        if options & {"ALL", "COUNT"} or not options & {"MIN", "MAX"}:
            sel.saved_uids = list(uids)
        else:
            keep = set()
            if uids and "MIN" in options:
                keep.add(uids[0])
            if uids and "MAX" in options:
                keep.add(uids[-1])
            sel.saved_uids = sorted(keep)
    shown = options - {"SAVE"}
    if shown:
        s.emit(
            responses.esearch(
                cmd.tag,
                uid=cmd.uid,
                min=numbers[0] if numbers and "MIN" in shown else None,
                max=numbers[-1] if numbers and "MAX" in shown else None,
                all=SequenceSet.from_numbers(numbers) if "ALL" in shown and numbers else None,
                count=len(numbers) if "COUNT" in shown else None,
            )
        )
    return _search_done(expunged)


def _search_done(expunged: list[int]) -> Reply:
    """The tagged OK; with EXPUNGEISSUED when messages the client still sees could not
    be searched because another session expunged them (RFC 9051 §7.1: the client may
    want to NOOP soon; imaptest and Dovecot expect it on the OK)."""
    if expunged:
        return ok(
            "SEARCH completed (some messages were expunged meanwhile)",
            ResponseCode("EXPUNGEISSUED"),
        )
    return ok("SEARCH completed")
