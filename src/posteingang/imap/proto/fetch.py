"""FETCH data items (RFC 9051 §6.4.5, RFC 3501 §6.4.5, RFC 3516 BINARY) and their parser.

A FETCH names items; each becomes one of

* :class:`FetchAttr` — a plain item: ENVELOPE, FLAGS, INTERNALDATE,
  RFC822.SIZE, BODY (non-extensible structure), BODYSTRUCTURE, UID, RFC822,
  RFC822.HEADER, RFC822.TEXT, MODSEQ (RFC 7162), EMAILID/THREADID (RFC 8474),
  SAVEDATE (RFC 8514), PREVIEW (RFC 8970);
* :class:`FetchBody` — ``BODY[section]<partial>`` / ``BODY.PEEK[...]``;
* :class:`FetchBinary` — ``BINARY[part]<partial>`` / ``BINARY.PEEK[...]``;
* :class:`FetchBinarySize` — ``BINARY.SIZE[part]``.

The macros ALL, FAST and FULL are expanded here (RFC 9051 §6.4.5), so the
executor sees only items.  Each item knows the name the response must use
(:meth:`FetchBody.response_name`): e.g. a request for ``BODY.PEEK[1]<0.10>``
is answered as ``BODY[1]<0>`` (RFC 9051 §7.5.2).

Parsing only: never reads a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as _L

from .tokens import Cursor, ParseError

__all__ = [
    "FetchAttr",
    "FetchBinary",
    "FetchBinarySize",
    "FetchBody",
    "FetchItem",
    "Section",
    "parse_fetch_items",
]

SIMPLE_ATTRS = frozenset(
    (
        "ENVELOPE",
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "BODY",
        "BODYSTRUCTURE",
        "UID",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "MODSEQ",
        "EMAILID",
        "THREADID",
        "SAVEDATE",
        "PREVIEW",  # RFC 8970 (without the LAZY modifier)
    )
)


@dataclass(frozen=True, slots=True)
class FetchAttr:
    name: str  # one of SIMPLE_ATTRS

    def response_name(self) -> bytes:
        return self.name.encode("ascii")


SectionText = _L["HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"]


@dataclass(frozen=True, slots=True)
class Section:
    """``section-spec``: a part path and an optional text selector.

    ``Section()`` is the whole message (``BODY[]``).  ``fields`` holds the
    header names of HEADER.FIELDS[.NOT] as the client wrote them.
    """

    part: tuple[int, ...] = ()
    text: SectionText | None = None
    fields: tuple[str, ...] = ()

    def to_bytes(self) -> bytes:
        out = ".".join(str(p) for p in self.part)
        if self.text is not None:
            out = f"{out}.{self.text}" if out else self.text
        if self.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            out += " (" + " ".join(self.fields) + ")"
        return out.encode("ascii")


@dataclass(frozen=True, slots=True)
class FetchBody:
    section: Section
    partial: tuple[int, int] | None = None  # (offset, length)
    peek: bool = False

    def response_name(self) -> bytes:
        name = b"BODY[" + self.section.to_bytes() + b"]"
        if self.partial is not None:
            name += b"<%d>" % self.partial[0]
        return name


@dataclass(frozen=True, slots=True)
class FetchBinary:
    part: tuple[int, ...]
    partial: tuple[int, int] | None = None
    peek: bool = False

    def response_name(self) -> bytes:
        name = b"BINARY[" + ".".join(str(p) for p in self.part).encode("ascii") + b"]"
        if self.partial is not None:
            name += b"<%d>" % self.partial[0]
        return name


@dataclass(frozen=True, slots=True)
class FetchBinarySize:
    part: tuple[int, ...]

    def response_name(self) -> bytes:
        return b"BINARY.SIZE[" + ".".join(str(p) for p in self.part).encode("ascii") + b"]"


FetchItem = FetchAttr | FetchBody | FetchBinary | FetchBinarySize

_MACROS: dict[bytes, tuple[FetchItem, ...]] = {
    b"FAST": (FetchAttr("FLAGS"), FetchAttr("INTERNALDATE"), FetchAttr("RFC822.SIZE")),
    b"ALL": (
        FetchAttr("FLAGS"),
        FetchAttr("INTERNALDATE"),
        FetchAttr("RFC822.SIZE"),
        FetchAttr("ENVELOPE"),
    ),
    b"FULL": (
        FetchAttr("FLAGS"),
        FetchAttr("INTERNALDATE"),
        FetchAttr("RFC822.SIZE"),
        FetchAttr("ENVELOPE"),
        FetchAttr("BODY"),
    ),
}

#: No real message has parts nested deeper than this; a longer path is abuse.
MAX_PART_DEPTH = 64
MAX_HEADER_FIELDS = 1000


def parse_fetch_items(cur: Cursor) -> tuple[FetchItem, ...]:
    """The FETCH argument after the sequence set: macro, one item or a list."""
    if cur.peek() == 0x28:
        cur.open_paren()
        items: list[FetchItem] = []
        if cur.close_paren():
            raise ParseError("empty fetch item list")
        while True:
            items.append(_fetch_att(cur))
            if cur.close_paren():
                return tuple(items)
            cur.sp()
    start = cur.checkpoint()
    word = cur.take_while(_ITEM_CHARS).upper()
    if word in _MACROS and cur.peek() in (-1, 0x20):
        return _MACROS[word]
    cur.restore(start)
    return (_fetch_att(cur),)


def _fetch_att(cur: Cursor) -> FetchItem:
    name = _item_name(cur)
    if name in (b"BODY", b"BODY.PEEK") and cur.peek() == 0x5B:  # "["
        section = _section(cur)
        return FetchBody(section, _partial(cur), peek=name == b"BODY.PEEK")
    if name in (b"BINARY", b"BINARY.PEEK", b"BINARY.SIZE"):
        if cur.peek() != 0x5B:
            raise ParseError(f"{name.decode()} needs a section, e.g. {name.decode()}[1]")
        part = _binary_section(cur)
        if name == b"BINARY.SIZE":
            return FetchBinarySize(part)
        return FetchBinary(part, _partial(cur), peek=name == b"BINARY.PEEK")
    text = name.decode("ascii")
    if text in SIMPLE_ATTRS:
        return FetchAttr(text)
    if name == b"BODY.PEEK":
        raise ParseError("BODY.PEEK needs a section, e.g. BODY.PEEK[]")
    raise ParseError(f"unknown fetch item {text[:40]}")


_ITEM_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.")


def _item_name(cur: Cursor) -> bytes:
    name = cur.take_while(_ITEM_CHARS)
    if not name:
        raise ParseError("expected a fetch item")
    return name.upper()


def _part_path(cur: Cursor) -> tuple[int, ...]:
    parts = [cur.nz_number("a part number")]
    while cur.peek() == 0x2E:  # "."
        # A "." may also introduce HEADER/TEXT/MIME; only digits continue the path.
        save = cur.checkpoint()
        cur.expect(b".")
        if not 0x30 <= cur.peek() <= 0x39:
            cur.restore(save)
            break
        parts.append(cur.nz_number("a part number"))
        if len(parts) > MAX_PART_DEPTH:
            raise ParseError("section part path too deep")
    return tuple(parts)


def _section(cur: Cursor) -> Section:
    cur.expect(b"[")
    if cur.try_take(b"]"):
        return Section()
    part: tuple[int, ...] = ()
    if 0x30 <= cur.peek() <= 0x39:
        part = _part_path(cur)
        if cur.try_take(b"]"):
            return Section(part)
        cur.expect(b".", "'.' or ']' after the part number")
    text: SectionText
    fields: tuple[str, ...] = ()
    if cur.try_take(b"HEADER.FIELDS.NOT"):
        text = "HEADER.FIELDS.NOT"
        fields = _header_list(cur)
    elif cur.try_take(b"HEADER.FIELDS"):
        text = "HEADER.FIELDS"
        fields = _header_list(cur)
    elif cur.try_take(b"HEADER"):
        text = "HEADER"
    elif cur.try_take(b"TEXT"):
        text = "TEXT"
    elif part and cur.try_take(b"MIME"):
        # RFC 9051 §6.4.5: MIME only after a part number.
        text = "MIME"
    else:
        raise ParseError("invalid section: expected HEADER, HEADER.FIELDS, TEXT or MIME")
    cur.expect(b"]", "']' to close the section")
    return Section(part, text, fields)


def _header_list(cur: Cursor) -> tuple[str, ...]:
    cur.sp()
    cur.open_paren("'(' starting the header field list")
    fields: list[str] = []
    while True:
        raw = cur.astring("a header field name")
        if any(c < 0x21 or c > 0x7E or c == 0x3A for c in raw):
            raise ParseError("invalid header field name")
        fields.append(raw.decode("ascii"))
        if len(fields) > MAX_HEADER_FIELDS:
            raise ParseError("too many header fields")
        if cur.close_paren():
            return tuple(fields)
        cur.sp()


def _binary_section(cur: Cursor) -> tuple[int, ...]:
    cur.expect(b"[")
    if cur.try_take(b"]"):
        return ()
    part = _part_path(cur)
    cur.expect(b"]", "']' to close the binary section")
    return part


def _partial(cur: Cursor) -> tuple[int, int] | None:
    if cur.peek() != 0x3C:  # "<"
        return None
    cur.expect(b"<")
    offset = cur.number64("a partial offset")
    cur.expect(b".", "'.' in the partial range <offset.length>")
    length = cur.number64("a partial length")
    if length == 0:
        raise ParseError("partial length must not be zero")
    cur.expect(b">", "'>' to close the partial range")
    return (offset, length)
