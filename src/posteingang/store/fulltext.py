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
search: the parse record's `search_text`, and what the engine reads from the
blob besides (text attachments, message/global parts, the headers of attached
messages: imap/ops/search_extra.py), none of it cut at `MAX_COLUMN` characters.
Incomplete documents are always candidates.

What it must never do: decide a search by itself, or read anything but the
parse record and the header octets it is handed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

import msgspec

from posteingang.mime import Address, ParsedMessage, Part, decode_parsed, parse_message
from posteingang.mime.address import parse_address_list
from posteingang.mime.headers import Field as FieldSpan
from posteingang.mime.headers import (
    decode_words,
    field_value,
    find_body_start,
    split_fields,
)
from posteingang.mime.model import FORMAT_VERSION
from posteingang.mime.structure import MAX_HEADER_FIELDS, MAX_HEADER_OCTETS
from posteingang.mime.text import decode_transfer, part_text

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
    "addresses_text",
    "document",
    "extra_sources",
    "fold",
    "head_of",
    "message_document",
    "read_head",
    "record_document",
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

#: reads (offset, length) of the blob
Reader = Callable[[int, int], bytes]

_ADDRESS_FIELDS = frozenset(("from", "sender", "reply-to", "to", "cc", "bcc"))


def fold(text: str) -> str:
    """The comparison form of text: NFKC, case-folded (ASCII: just lower-cased).

    The one rule for the index and for IMAP SEARCH's substring matching
    (`imap.ops.search` uses this function), so the index never misses what the
    engine would find."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True, slots=True)
class Term:
    """One needle (as typed; backends fold it) to be found in one field."""

    field: Field
    needle: str

    @property
    def usable(self) -> bool:
        """Whether an index can look it up: three characters or more, folded, and
        no NUL (SQLite's FTS5 strings end there). Other terms narrow nothing."""
        needle = fold(self.needle)
        return len(needle) >= MIN_NEEDLE and "\x00" not in needle


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


def addresses_text(addresses: Sequence[Address]) -> str:
    """Parsed addresses as one line (decoded display names, ``local@domain``): what the
    index stores and what the IMAP engine matches address fields against (one rule for
    both, so a message the engine finds is always a candidate)."""
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
    """A field's value as the engine compares it: decoded, whitespace collapsed, folded."""
    value = field_value(raw, vstart, end)
    if value.isascii() and b"=?" not in value:
        # Most fields (hot: every field of every delivered message): what the general
        # line gives. `field_value` leaves no CR and only LFs followed by SP/HTAB, so
        # `decode_words` dropping them changes nothing `split` sees; ASCII text
        # decodes as itself and folds by lower-casing (`fold`).
        return " ".join(value.decode("ascii").split()).lower()
    return fold(" ".join(decode_words(value).split()))


def _value(
    raw: bytes,
    name: str,
    written: str,
    vstart: int,
    end: int,
    known: Mapping[str, tuple[Address, ...] | None] | None = None,
) -> str:
    """A field as the engine compares it (`written`: its `_decode`); an address
    field also in its parsed form (from `known`, the field's `parse_address_list`
    the caller has already, if it has it)."""
    if name not in _ADDRESS_FIELDS:
        return written
    if known is not None and name in known:
        parsed = known[name]
    else:
        parsed = parse_address_list(field_value(raw, vstart, end))
    return written + "\n" + fold(addresses_text(parsed)) if parsed else written


def _head_fields(record: ParsedMessage, head: bytes) -> list[FieldSpan] | None:
    """`split_fields` of `head`, from the parse's own split of the same block (the
    record's header index) when it is one; None when it may not be (a header at the
    parser's caps, a record that indexed no fields, or an older record not yet
    re-derived, whose envelope today's parser would not make: then split `head`).

    The parse split ``raw[0:root.body_start]`` with the same `split_fields`; when
    `head` is that block, only each field's value start is missing, and it is the
    octet after the field's first colon (the name cannot hold one)."""
    headers = record.headers
    if (
        not headers
        or record.version < FORMAT_VERSION  # a stored record from before: its own rules
        or record.root.header_start != 0
        or record.root.body_start != len(head)
        or len(head) > MAX_HEADER_OCTETS
        or len(headers) >= MAX_HEADER_FIELDS
    ):
        return None
    find = head.find
    return [
        (h.name, h.start, find(b":", h.start, h.end) + 1 if h.name else h.end, h.end)
        for h in headers
    ]


def _envelope_addresses(record: ParsedMessage) -> dict[str, tuple[Address, ...] | None]:
    """The envelope's parsed From, To and Cc: each is `parse_address_list` of the
    field's value when the header has that field once (`_envelope` concatenates
    repeated ones)."""
    e = record.envelope
    return {"from": e.from_, "to": e.to, "cc": e.cc}


def _header_text(head: bytes) -> str:
    """A header block as TEXT compares it: one folded "name: value" line per field."""
    return "\n".join(
        f"{name}: {_decode(head, vstart, end)}"
        for name, _start, vstart, end in split_fields(head, 0, len(head))
    )


def _in_search_text(part: Part) -> bool:
    # The rule by which the parser collects search_text (mime/structure.py).
    disposition = (part.disposition or b"").lower()
    return (
        part.subtype in ("plain", "html") and disposition != b"attachment" and part.filename is None
    )


def extra_sources(record: ParsedMessage) -> tuple[list[Part], list[Part]]:
    """The text/* leaves not in `search_text` and message/global leaves, and the
    root entities of attached messages: what the index and the IMAP engine
    (imap/ops/search_extra.py) read from the blob beyond the parse record (one rule
    for both)."""
    leaves: list[Part] = []
    messages: list[Part] = []
    stack = [record.root]
    while stack:
        part = stack.pop()
        if part.message is not None:
            messages.append(part.message)
            stack.append(part.message)
        elif part.is_multipart:
            stack.extend(reversed(part.children))
        elif (part.type == "text" and not _in_search_text(part)) or (
            part.type == "message" and part.subtype == "global"
        ):
            leaves.append(part)
    return leaves, messages


def _extra(record: ParsedMessage, read: Reader) -> tuple[str, list[str]]:
    """The folded extra body text and the attached headers' texts (as `_header_text`)
    of a message, read as the engine reads them, up to `MAX_COLUMN` characters
    (more only make the document incomplete)."""
    leaves, messages = extra_sources(record)
    texts: list[str] = []
    headers: list[str] = []
    left = MAX_COLUMN + 1
    for part in leaves:
        if left <= 0:
            break
        body = read(part.body_start, part.body_end - part.body_start)
        if part.type == "message":  # message/global: a whole message as the body
            inner = decode_transfer(body, part.encoding)
            inner = body if inner is None else inner
            parsed = parse_message(inner, text_limit=left)
            headers.append(_header_text(inner[: parsed.root.body_start][:MAX_HEADER]))
            text = parsed.search_text
        else:
            text = part_text(body, part.encoding, part.charset, part.subtype)[:left]
        texts.append(text)
        left -= len(text)
    for message in messages:
        size = min(message.body_start - message.header_start, MAX_HEADER)
        headers.append(_header_text(read(message.header_start, size)))
    return fold("\n".join(texts)), headers


def document(parsed: bytes, head: bytes, read: Reader | None = None) -> Document:
    """The document of a blob from its parse record, its header block (`head_of`
    or `read_head`) and, for messages with text beyond the record (text
    attachments, attached messages), a reader of the blob's octets; without one
    such a document is incomplete."""
    try:
        record = decode_parsed(parsed)
    except msgspec.DecodeError:  # a broken record: index nothing, always a candidate
        return Document(("",) * len(COLUMNS), complete=False)
    return record_document(record, head, read)


def message_document(record: ParsedMessage, raw: bytes) -> Document:
    """The document of the message `raw` whose parse is `record`: what delivery
    makes with its one parse, so the indexer need not read or decode anything
    (the same as `document` of the stored blob)."""
    return record_document(record, head_of(raw), lambda offset, n: raw[offset : offset + n])


def record_document(record: ParsedMessage, head: bytes, read: Reader | None = None) -> Document:
    """`document`, from the decoded parse record."""
    found: dict[str, list[tuple[str, int, int]]] = {n: [] for n in ("from", "to", "cc", "subject")}
    spans = _head_fields(record, head)
    # The addresses the parse made already: only with its split (the same block),
    # and for a field the header has once.
    known = _envelope_addresses(record) if spans is not None else {}
    if spans is None:
        spans = split_fields(head, 0, len(head))
    lines = []
    for name, _start, vstart, end in spans:
        value = _decode(head, vstart, end)
        lines.append(f"{name}: {value}")
        if name in found:
            found[name].append((value, vstart, end))
    fields = {
        name: [
            _value(head, name, v, vs, e, known if len(spans_of) == 1 else None)
            for v, vs, e in spans_of
        ]
        for name, spans_of in found.items()
    }
    header = "\n".join(lines)
    body = fold(record.search_text)
    complete = True
    leaves, messages = extra_sources(record)
    if leaves or messages:
        if read is None:
            complete = False
        else:
            try:
                text, headers = _extra(record, read)
            except OSError:
                complete = False
            else:
                body = "\n".join((body, text)) if text else body
                header = "\n".join((header, *headers))
    columns = (*("\n".join(fields[n]) for n in ("from", "to", "cc", "subject")), header, body)
    if any(len(c) > MAX_COLUMN for c in columns):
        complete = False
        columns = tuple(c[:MAX_COLUMN] for c in columns)
    return Document(columns, complete)
