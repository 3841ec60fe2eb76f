"""The full-text search index's documents and queries, shared by every backend.

What it is for: the webmail's search must not read every message of a
100,000-message folder. Each stored blob gets one *document*: the texts IMAP
``SEARCH`` compares (RFC 9051 §6.4.4), decoded and folded exactly as the IMAP
engine (`imap/ops/search.py`) folds them, one column per kind of key. A backend
answers `Term`\\ s with *candidates*: every message whose document contains
each needle as a substring, plus every message it cannot vouch for (a document
that is not `complete`, or none yet). The caller then confirms the candidates
with the IMAP engine, so what the index may get wrong costs time, never results.

A document is *complete* when its columns hold all the text the engine would
search: no text part beyond `search_text` (text attachments, calendars), no
attached message (its header counts for TEXT), no message/global part (the
engine reads those from the blob), no column cut at `MAX_COLUMN` characters.
Incomplete documents are always candidates.

What it must never do: decide a search by itself, or read anything but the
parse record and the header octets it is handed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

import msgspec

from posteingang.mime import Address, ParsedMessage, decode_parsed
from posteingang.mime.address import parse_address_list
from posteingang.mime.headers import decode_words, field_value, find_body_start, split_fields

__all__ = [
    "COLUMNS",
    "HEADER_PREFIX",
    "MAX_COLUMN",
    "MAX_HEADER",
    "MIN_NEEDLE",
    "Candidates",
    "Document",
    "Field",
    "Term",
    "document",
    "fold",
    "head_of",
    "read_head",
]

#: a term's field: a header field the form searches, all headers + body (TEXT), body
Field = Literal["from", "to", "cc", "subject", "text", "body"]
#: the document's columns, in storage order
COLUMNS = ("f_from", "f_to", "f_cc", "f_subject", "header", "body")
#: which columns a field's needle is looked for in
FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "from": ("f_from",),
    "to": ("f_to",),
    "cc": ("f_cc",),
    "subject": ("f_subject",),
    "text": ("header", "body"),
    "body": ("body",),
}
#: characters kept per column; a longer column makes the document incomplete
MAX_COLUMN = 64 * 1024
#: shortest needle an index must answer (SQLite's trigram tokenizer needs three)
MIN_NEEDLE = 3
#: header octets read as the IMAP engine reads them: a prefix, then up to the limit
HEADER_PREFIX = 16 * 1024
MAX_HEADER = 1024 * 1024

_ADDRESS_FIELDS = frozenset(("from", "sender", "reply-to", "to", "cc", "bcc"))


def fold(text: str) -> str:
    """The comparison form of text: NFKC, case-folded (ASCII: just lower-cased).

    The same rule as `imap.ops.search.fold` (the store may not import imap;
    tests/store/test_contract_fulltext.py holds the two equal)."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True, slots=True)
class Term:
    """One needle (as typed; backends fold it) to be found in one field."""

    field: Field
    needle: str


@dataclass(frozen=True, slots=True)
class Candidates:
    """A mailbox's messages that may match (uids, ascending, the two lists disjoint).

    `matched`: their complete documents contain every needle (what IMAP SEARCH
    finds, up to the rare case of a needle spanning two values of one field);
    `unsure`: no complete document yet, so only the IMAP engine can tell."""

    matched: list[int]
    unsure: list[int]

    def uids(self) -> list[int]:
        return sorted((*self.matched, *self.unsure))


@dataclass(frozen=True, slots=True)
class Document:
    """One blob's folded search texts, in `COLUMNS` order."""

    columns: tuple[str, ...]
    complete: bool

    def matches(self, term: Term) -> bool:
        """Whether `term`'s folded needle is in one of its columns (the reference
        rule: the memory backend applies it as is, SQLite's trigram index finds a
        superset of it)."""
        needle = fold(term.needle)
        return any(needle in self.columns[COLUMNS.index(c)] for c in FIELD_COLUMNS[term.field])


def head_of(data: bytes) -> bytes:
    """The header block at the start of `data` (the message, or at least its first
    `MAX_HEADER` octets), as the IMAP engine reads it: a header without an end
    within `MAX_HEADER` octets is cut there."""
    data = data[:MAX_HEADER]
    return data[: find_body_start(data, 0, len(data))]


def read_head(f: BinaryIO) -> bytes:
    """`head_of` a blob file, reading no more than the header needs."""
    data = f.read(HEADER_PREFIX)
    if len(data) == HEADER_PREFIX and find_body_start(data, 0, len(data)) == len(data):
        data += f.read(MAX_HEADER - len(data))
    return head_of(data)


def _addresses_text(addresses: Sequence[Address]) -> str:
    """Parsed addresses as one line, as the IMAP engine matches address fields."""
    out: list[str] = []
    for a in addresses:
        if a.host is None:
            if a.mailbox:  # a group's name
                out.append(decode_words(a.mailbox) + ":")
            continue
        spec = decode_words((a.mailbox or b"") + b"@" + a.host)
        if a.name:
            out.append(" ".join(decode_words(a.name).split()) + " <" + spec + ">")
        else:
            out.append(spec)
    return ", ".join(out)


def _decode(raw: bytes, vstart: int, end: int) -> str:
    return fold(" ".join(decode_words(field_value(raw, vstart, end)).split()))


def _value(raw: bytes, name: str, vstart: int, end: int) -> str:
    """A field as the engine compares it; an address field also in its parsed form."""
    written = _decode(raw, vstart, end)
    if name not in _ADDRESS_FIELDS:
        return written
    parsed = parse_address_list(field_value(raw, vstart, end))
    return written + "\n" + fold(_addresses_text(parsed)) if parsed else written


def _only_search_text(parsed: ParsedMessage) -> bool:
    """Whether the engine finds all of the body in `search_text` (no part it would
    read from the blob: see imap/ops/search_extra.py, whose rule this mirrors)."""
    stack = [parsed.root]
    while stack:
        part = stack.pop()
        if part.message is not None:
            return False
        if part.is_multipart:
            stack.extend(part.children)
            continue
        if part.type == "message" and part.subtype == "global":
            return False
        if part.type == "text":
            disposition = (part.disposition or b"").lower()
            in_text = part.subtype in ("plain", "html") and disposition != b"attachment"
            if not (in_text and part.filename is None):
                return False
    return True


def document(parsed: bytes, head: bytes) -> Document:
    """The document of a blob from its parse record and its header block
    (`head_of` or `read_head`)."""
    try:
        record = decode_parsed(parsed)
    except msgspec.DecodeError:  # a broken record: index nothing, always a candidate
        return Document(("",) * len(COLUMNS), complete=False)
    fields: dict[str, list[str]] = {"from": [], "to": [], "cc": [], "subject": []}
    lines: list[str] = []
    for name, _start, vstart, end in split_fields(head, 0, len(head)):
        if name in fields:
            fields[name].append(_value(head, name, vstart, end))
        lines.append(f"{name}: {_decode(head, vstart, end)}")
    columns = (
        *("\n".join(fields[n]) for n in ("from", "to", "cc", "subject")),
        "\n".join(lines),
        fold(record.search_text),
    )
    complete = _only_search_text(record)
    if any(len(c) > MAX_COLUMN for c in columns):
        complete = False
        columns = tuple(c[:MAX_COLUMN] for c in columns)
    return Document(columns, complete)
