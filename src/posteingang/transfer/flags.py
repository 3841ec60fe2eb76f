"""Flags and dates as other mail stores keep them: mbox status headers, Maildir file names.

* mbox: ``Status:`` and ``X-Status:`` header fields (written by mutt, Pine,
  Thunderbird and Dovecot's mbox driver): R read, O old (not recent: no IMAP
  flag), A answered, F flagged, D deleted, T draft.
* Maildir: the info part after ``:2,`` (https://cr.yp.to/proto/maildir.html):
  P passed (we store ``$Forwarded``), R replied, S seen, T trashed, D draft,
  F flagged; lowercase letters a-z are Dovecot keywords, indexes into the
  folder's ``dovecot-keywords`` file (a=0 ... z=25).

Header lookups here read only the header block, field by field, and never
raise: a message is bytes we store, not something we must understand. This
module must never change message bytes, and never parse a message beyond
the few fields named here (the parse-once step in `delivery.ingest` does that).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from posteingang.store.model import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN

FORWARDED = "$Forwarded"

_STATUS_FLAGS = {"R": SEEN, "A": ANSWERED, "F": FLAGGED, "D": DELETED, "T": DRAFT}

# Maildir info letters, in the ASCII order a writer must use (maildir spec).
MAILDIR_FLAGS: dict[str, str] = {
    "D": DRAFT,
    "F": FLAGGED,
    "P": FORWARDED,
    "R": ANSWERED,
    "S": SEEN,
    "T": DELETED,
}
_MAILDIR_LETTER = {flag.lower(): letter for letter, flag in MAILDIR_FLAGS.items()}
MAX_MAILDIR_KEYWORDS = 26

_STATUS_FIELD = re.compile(rb"(?im)^(?:x-)?status:[ \t]*([A-Za-z \t]*)\r?$")
_DATE_FIELD = re.compile(rb"(?im)^date:[ \t]*(.*(?:\r?\n[ \t].*)*)")


def header_block(raw: bytes) -> bytes:
    """The header section: everything before the first empty line (LF or CRLF)."""
    if raw.startswith(b"\n") or raw.startswith(b"\r\n"):
        return b""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    return raw[: min(ends) + 1] if ends else raw


def status_flags(header: bytes) -> frozenset[str]:
    """IMAP flags from ``Status:``/``X-Status:`` fields of a header block."""
    letters: set[str] = set()
    for m in _STATUS_FIELD.finditer(header):
        letters.update(m.group(1).decode("ascii"))
    return frozenset(_STATUS_FLAGS[c] for c in letters if c in _STATUS_FLAGS)


def date_field(header: bytes) -> datetime | None:
    """The ``Date:`` field as an aware datetime, or None if absent or unreadable."""
    m = _DATE_FIELD.search(header)
    if m is None:
        return None
    text = re.sub(rb"\r?\n[ \t]", b" ", m.group(1)).decode("latin-1").strip()
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if value.tzinfo is None:  # "-0000": the zone is unknown (RFC 5322 §3.3); take UTC
        value = value.replace(tzinfo=UTC)
    return value


# -- Maildir ---------------------------------------------------------------------------


def split_info(filename: str) -> tuple[str, str | None]:
    """``base:2,FS`` -> (``base``, ``FS``); a name without ``:2,`` has no info."""
    base, sep, info = filename.partition(":2,")
    return (base, info) if sep else (filename, None)


def maildir_flags(info: str, keywords: dict[int, str]) -> tuple[frozenset[str], list[str]]:
    """IMAP flags of an info string, and the keyword letters that `keywords` lacks."""
    flags: set[str] = set()
    unknown: list[str] = []
    for c in info:
        if c in MAILDIR_FLAGS:
            flags.add(MAILDIR_FLAGS[c])
        elif "a" <= c <= "z":
            name = keywords.get(ord(c) - ord("a"))
            if name is None:
                unknown.append(c)
            else:
                flags.add(name)
    return frozenset(flags), unknown


def maildir_info(flags: frozenset[str], keyword_index: dict[str, int]) -> tuple[str, list[str]]:
    """The info letters for `flags` (sorted), and the keywords that have no letter."""
    letters: list[str] = []
    lost: list[str] = []
    for flag in flags:
        letter = _MAILDIR_LETTER.get(flag.lower())
        if letter is not None:
            letters.append(letter)
        elif flag in keyword_index:
            letters.append(chr(ord("a") + keyword_index[flag]))
        elif not flag.startswith("\\"):
            lost.append(flag)
    return "".join(sorted(letters)), lost
