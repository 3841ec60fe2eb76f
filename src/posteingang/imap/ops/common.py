"""What every command handler shares: the tagged reply, store-error mapping, sequence sets.

What it must never do: write to the client (it only computes), or turn an error of
ours into a client-visible success.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from posteingang.imap.proto.responses import ResponseCode
from posteingang.imap.proto.sequence import SequenceSet
from posteingang.imap.selected import SelectedMailbox
from posteingang.net.transport import Transport  # the one every session talks through
from posteingang.store.interface import (
    AlreadyExists,
    Conflict,
    InvalidName,
    NotFound,
    QuotaExceeded,
    StoreError,
)
from posteingang.store.model import SYSTEM_FLAGS, canonical_flag

__all__ = [
    "BadSequence",
    "Disconnected",
    "FlagError",
    "Reply",
    "Transport",
    "bad",
    "check_flags",
    "no",
    "ok",
    "resolve_uids",
    "store_error",
]


class Disconnected(Exception):
    """The client went away (EOF, timeout, failed write) in the middle of an exchange."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The tagged status line a command ends with."""

    status: Literal["OK", "NO", "BAD"]
    text: str
    code: ResponseCode | None = None


def ok(text: str, code: ResponseCode | None = None) -> Reply:
    return Reply("OK", text, code)


def no(text: str, code: str | ResponseCode | None = None) -> Reply:
    return Reply("NO", text, ResponseCode(code) if isinstance(code, str) else code)


def bad(text: str, code: str | None = None) -> Reply:
    return Reply("BAD", text, ResponseCode(code) if code else None)


def store_error(exc: StoreError) -> Reply:
    """A store refusal as the NO the client sees (RFC 5530 response codes)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, NotFound):
        return no(text, "NONEXISTENT")
    if isinstance(exc, AlreadyExists):
        return no(text, "ALREADYEXISTS")
    if isinstance(exc, QuotaExceeded):
        return no(text, "OVERQUOTA")
    if isinstance(exc, InvalidName):
        return no(text, "CANNOT")
    if isinstance(exc, Conflict):
        return no(text, "CANNOT")
    return no(text, "CANNOT")


class BadSequence(Exception):
    """A message sequence number beyond EXISTS (RFC 9051 §9 seq-number: BAD)."""


def resolve_uids(
    view: SelectedMailbox,
    sequence_set: SequenceSet,
    *,
    uid: bool,
    saved: Sequence[int] | None,
) -> list[int]:
    """The uids in the view that ``sequence_set`` names, ascending.

    UID sets: ``*`` is the highest uid in the view and uids that do not exist are
    ignored (RFC 9051 §6.4.9). Sequence sets: a number beyond EXISTS is an error
    (raises `BadSequence`), and so is any set, ``*`` included, in an empty mailbox
    (there is no message ``*`` could name; Dovecot answers the same). ``$`` is the
    saved search result (RFC 5182 §2.1: empty until a SEARCH saved one).
    """
    if sequence_set.saved:
        if not saved:
            return []
        existing = set(view.uids)
        return [u for u in saved if u in existing]
    if uid:
        out: list[int] = []
        for lo, hi in sequence_set.resolve(view.max_uid):
            out.extend(view.uids_in_range(lo, hi))
        return out
    exists = view.exists
    if exists == 0:
        raise BadSequence("no messages in the mailbox (invalid message sequence set)")
    if sequence_set.highest_explicit > exists:
        raise BadSequence(
            f"message sequence number {sequence_set.highest_explicit} > EXISTS ({exists})"
        )
    out = []
    for lo, hi in sequence_set.resolve(exists):
        out.extend(view.uids[lo - 1 : hi])
    return out


class FlagError(Exception):
    """A flag the client may not set (\\Recent, an unknown system flag)."""


_SYSTEM_LOWER = {f.lower() for f in SYSTEM_FLAGS}


def check_flags(flags: Sequence[str]) -> frozenset[str]:
    """Canonical flags for STORE/APPEND; raises `FlagError`.

    RFC 9051 §2.3.2: \\Recent cannot be set by a client; other backslash names are
    not flags we know (flag-extension is reserved for future RFCs).
    """
    out: set[str] = set()
    for flag in flags:
        if flag.startswith("\\"):
            if flag.lower() not in _SYSTEM_LOWER:
                raise FlagError(f"cannot set flag {flag}")
            out.add(canonical_flag(flag))
        else:
            out.add(flag)
    return frozenset(out)
