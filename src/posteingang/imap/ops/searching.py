"""FETCH and SEARCH as the session sees them: sequence checks, ``$``, and result formats.

The evaluation itself (which messages match, what a FETCH item contains) is in
`ops/search.py` and `ops/fetch.py`. What is here:

* FETCH: a sequence number beyond EXISTS is a BAD (RFC 9051 §9 ``seq-number``);
  ``$`` (RFC 5182) becomes the saved uids; responses are streamed to the client
  with back-pressure, never collected.
* SEARCH: ``$`` inside the criteria is the saved result; results are sent as
  ``* SEARCH`` (rev1 without RETURN), or ``* ESEARCH`` (RFC 4731; always in rev2,
  RFC 9051 §6.4.4, where no RETURN means ``RETURN (ALL)``); ``SAVE`` keeps the
  result for ``$`` (RFC 5182 §2.4: only MIN/MAX are saved when they are asked
  for without ALL or COUNT).

What it must never do: send an EXPUNGE (the session holds them back during
FETCH/STORE/SEARCH), or build a whole FETCH response in memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING

from posteingang.imap.ops.common import Reply, bad, no, ok, resolve_uids
from posteingang.imap.ops.fetch import FetchError, FetchOutcome, expunge_issued_response
from posteingang.imap.ops.fetch import fetch_responses as _fetch_responses
from posteingang.imap.ops.search import BadCharset
from posteingang.imap.ops.search import search_uids as _search_uids
from posteingang.imap.proto import commands as c
from posteingang.imap.proto import responses
from posteingang.imap.proto import search as sk
from posteingang.imap.proto.responses import ResponseCode
from posteingang.imap.proto.sequence import SequenceSet

if TYPE_CHECKING:
    from posteingang.imap.session import ImapSession

__all__ = ["fetch", "replace_saved", "search"]


async def fetch(s: ImapSession, cmd: c.Fetch) -> Reply:
    view = s.selected
    assert view is not None
    if cmd.changedsince is not None or cmd.vanished:
        return bad("CONDSTORE is not supported")
    seqset = cmd.sequence_set
    # Raises BadSequence (-> BAD) for a number beyond EXISTS.
    uids = resolve_uids(view, seqset, uid=cmd.uid, saved=s.saved_uids)
    if seqset.saved:
        numbers = uids if cmd.uid else [n for u in uids if (n := view.seq_of(u)) is not None]
        if not numbers:
            return ok("FETCH completed")
        cmd = dataclasses.replace(cmd, sequence_set=SequenceSet.from_numbers(numbers))
    if not uids:
        return ok("FETCH completed")
    outcome = FetchOutcome()
    responses_ = _fetch_responses(
        s.store,
        view,
        cmd,
        rev2=s.rev2,
        outcome=outcome,
        recent=view.recent,
        announce=s.announce_keywords,
    )
    try:
        # aclosing: a client gone mid-FETCH closes the blob files at once.
        async with contextlib.aclosing(responses_):
            async for chunk in responses_:
                await s.send(chunk)
    except FetchError as exc:
        return no(exc.text, exc.code)
    if outcome.expunge_issued and not cmd.uid:
        # RFC 2180 §4.1.2/§4.1.3 allow both answers; for UID FETCH we do what Dovecot
        # does: the messages that still exist, then OK (the EXPUNGE follows before it,
        # since a UID command may report expunges). Clients cope with OK far better.
        code, text = expunge_issued_response()
        return no(text, code)
    return ok("FETCH completed")


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


async def search(s: ImapSession, cmd: c.Search) -> Reply:
    view = s.selected
    assert view is not None
    criteria = replace_saved(cmd.criteria, s.saved_uids)
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
            s.saved_uids = list(uids)
        else:
            keep = set()
            if uids and "MIN" in options:
                keep.add(uids[0])
            if uids and "MAX" in options:
                keep.add(uids[-1])
            s.saved_uids = sorted(keep)
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
