"""The keys a message list sorts by (date sent, sender, subject), from the parse record.

Both backends keep them per message at append time (SQLite in indexed columns,
so the first page sorted by subject of a 100,000-message INBOX walks an index
instead of sorting the mailbox), computed here once from the parse-once record.

* date: the Date header (seconds since the epoch); a message without a usable
  one sorts by its arrival time (as RFC 5256 §2.2 says for SORT DATE).
* sender: the From display name, else the address, as the list shows it.
* subject: the base subject, roughly RFC 5256 §2.1: leading ``Re:``, ``Fwd:``,
  ``Fw:`` (and the German ``AW:``, ``WG:``), ``[list]`` tags and a trailing
  ``(fwd)`` removed, so a reply sorts next to its original.

Texts are compared in a folded form: NFKD without combining marks, case-folded,
so "Müller" sorts with "Muller" and not after "Z".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import msgspec

from posteingang.mime import ParsedMessage, decode_parsed

__all__ = ["SortKeys", "base_subject", "keys_of", "sort_keys", "sort_text"]

_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|aw|wg)\s*(?:\[\d+\])?\s*:|\[[^\]]*\])\s*", re.IGNORECASE)
_TRAILER = re.compile(r"\s*\(fwd\)\s*$", re.IGNORECASE)
#: longest key kept (an index entry, not the text the list shows)
_MAX = 200


@dataclass(frozen=True, slots=True)
class SortKeys:
    sent: int | None  # None: no usable Date header (sort by arrival)
    sender: str
    subject: str


def sort_text(text: str) -> str:
    """`text` in the form keys are compared in."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(text.casefold().split())[:_MAX]


def base_subject(subject: str) -> str:
    while True:
        stripped = _TRAILER.sub("", _PREFIX.sub("", subject, count=1))
        if stripped == subject:
            return subject.strip()
        subject = stripped


def keys_of(record: ParsedMessage) -> SortKeys:
    """The sort keys of a parsed message (delivery computes them with the parse:
    `NewMessage.sort_keys`)."""
    sent = int(record.date) if record.date is not None else None
    return SortKeys(sent, sort_text(record.from_display), sort_text(base_subject(record.subject)))


def sort_keys(parsed: bytes) -> SortKeys:
    """The sort keys of a message, from its encoded parse record (rows stored before
    the keys existed, and a `NewMessage` made without them)."""
    try:
        record = decode_parsed(parsed)
    except msgspec.DecodeError:  # opaque to the store: whatever it is, it sorts first
        return SortKeys(None, "", "")
    return keys_of(record)
