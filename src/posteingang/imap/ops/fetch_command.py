"""The FETCH command as the session sees it: sequence checks, ``$``, the tagged result.

The responses themselves are built in `ops/fetch.py` (and its fast paths); what is
here: a sequence number beyond EXISTS is a BAD (RFC 9051 §9 ``seq-number``), ``$``
(RFC 5182) becomes the saved uids, the responses are streamed to the client with
back-pressure (never collected), and a FETCH that met expunged messages ends with
NO [EXPUNGEISSUED] or, for UID FETCH, OK (RFC 2180 §4.1.2).

What it must never do: send an EXPUNGE (the session holds them back during FETCH).
"""

from __future__ import annotations

import contextlib
import dataclasses

from posteingang.imap.ops import common
from posteingang.imap.ops.common import Reply, bad, no, ok
from posteingang.imap.ops.context import Context
from posteingang.imap.proto.commands import Fetch
from posteingang.imap.proto.sequence import SequenceSet
from posteingang.imap.state import Selected

from .fetch import FetchError, FetchOutcome, expunge_issued_response, fetch_responses

__all__ = ["fetch"]


async def fetch(s: Context, sel: Selected, cmd: Fetch) -> Reply:
    """FETCH / UID FETCH as the session sees it: a sequence number beyond EXISTS is a
    BAD (RFC 9051 §9 ``seq-number``), ``$`` (RFC 5182) becomes the saved uids, and
    the responses are streamed to the client with back-pressure, never collected."""
    view = sel.view
    if cmd.changedsince is not None or cmd.vanished:
        return bad("CONDSTORE is not supported")
    seqset = cmd.sequence_set
    # Raises BadSequence (-> BAD) for a number beyond EXISTS.
    uids = common.resolve_uids(view, seqset, uid=cmd.uid, saved=sel.saved_uids)
    if seqset.saved:
        numbers = uids if cmd.uid else [n for u in uids if (n := view.seq_of(u)) is not None]
        if not numbers:
            return ok("FETCH completed")
        cmd = dataclasses.replace(cmd, sequence_set=SequenceSet.from_numbers(numbers))
    if not uids:
        return ok("FETCH completed")
    outcome = FetchOutcome()
    responses_ = fetch_responses(
        s.store,
        view,
        cmd,
        rev2=s.rev2,
        outcome=outcome,
        recent=view.recent,
        announce=sel.live.announce_keywords,
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
