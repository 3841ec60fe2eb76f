"""FETCH items of one message: which bytes each needs, and how each is rendered.

`plan_items` turns the requested items (already macro-expanded by the parser)
into a list of *pieces*: ready bytes (``UID 7``, ``ENVELOPE (...)``), the
FLAGS slot (filled in last, after the implicit ``\\Seen``), or a `BodyRead` —
a range of the message blob plus what to do with it (nothing, keep only some
header fields, undo the Content-Transfer-Encoding, or just count the decoded
octets).  The executor (`fetch.py`) reads the ranges, in batches or streamed,
and `finish_body` turns a read into the item's bytes.

Everything here is pure: no store, no asyncio, no blob access.  ENVELOPE,
BODYSTRUCTURE and every section offset come from the parse-once record; this
module must never parse a message.
"""

from __future__ import annotations

import collections
import datetime as _dt
import enum
from collections.abc import Callable
from dataclasses import dataclass

from posteingang.imap.proto.bodystructure import envelope_bytes, render_bodystructure
from posteingang.imap.proto.dates import format_datetime
from posteingang.imap.proto.fetch import (
    FetchAttr,
    FetchBinary,
    FetchBinarySize,
    FetchBody,
    FetchItem,
    Section,
)
from posteingang.imap.proto.responses import literal_header, nul_free, string
from posteingang.imap.proto.sections import section_range
from posteingang.mime import ParsedMessage, Part, find_section
from posteingang.mime.headers import split_fields
from posteingang.mime.model import FORMAT_VERSION
from posteingang.store.model import SYSTEM_FLAGS, Message

from .fetch_binary import UnknownCte, binary_message, decode_cte, encoded_entities

__all__ = [
    "FLAGS_SLOT",
    "HEADERS",
    "MODSEQ_SLOT",
    "RENDERED",
    "Announce",
    "BodyRead",
    "HeaderCache",
    "HeaderSplit",
    "RenderedCache",
    "Transform",
    "UnknownCte",
    "attr_piece",
    "clip",
    "fields_value",
    "finish_body",
    "flags_item",
    "needs_parse",
    "no_announcement",
    "plan_items",
    "renderable_only",
    "sets_seen",
    "split_header",
]


class Transform(enum.Enum):
    RAW = "raw"  # the octets as they are (BODY[...], RFC822*)
    FIELDS = "fields"  # HEADER.FIELDS / HEADER.FIELDS.NOT of a header block
    BINARY = "binary"  # BINARY[...]: Content-Transfer-Encoding removed
    BINARY_SIZE = "binary_size"  # BINARY.SIZE[...]: only the decoded length


@dataclass(slots=True)
class BodyRead:
    """One item whose value comes from ``blob[start:end]``."""

    name: bytes  # the response name, e.g. b"BODY[1]<0>" or b"RFC822"
    start: int
    end: int
    transform: Transform = Transform.RAW
    partial: tuple[int, int] | None = None
    fields: frozenset[str] = frozenset()  # lower-cased, for FIELDS
    keep: bool = True  # FIELDS: keep the named fields (False: drop them)
    encoding: bytes | None = None  # BINARY: the part's Content-Transfer-Encoding
    # BINARY[] of a whole message: (header_start, body_start, body_end, encoding)
    # of every entity whose body must be decoded (see `_binary_message`).
    rewrite: tuple[tuple[int, int, int, bytes], ...] | None = None
    header: bool = False  # RAW: the span is a whole header block (kept in `HEADERS`)

    @property
    def raw_span(self) -> tuple[int, int]:
        """The blob octets to read: for RAW the partial range only, else the whole span."""
        if self.transform is Transform.RAW and self.partial is not None:
            off, length = self.partial
            start = min(self.start + off, self.end)
            return start, min(self.end, start + length)
        return self.start, self.end


class _Slot:
    """Marks where FLAGS or MODSEQ go: filled in after the implicit \\Seen is applied."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"{self.name}_SLOT"


FLAGS_SLOT = _Slot("FLAGS")
MODSEQ_SLOT = _Slot("MODSEQ")
Piece = bytes | BodyRead | _Slot

_PARSE_FREE = frozenset(
    [
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "UID",
        "RFC822",
        "MODSEQ",
        "EMAILID",
        "THREADID",
        "SAVEDATE",
    ]
)


#: items whose whole value can come from `RENDERED` instead of the parse record
RENDERABLE = frozenset(("ENVELOPE", "BODYSTRUCTURE", "BODY"))


class RenderedCache:
    """ENVELOPE / BODYSTRUCTURE / BODY values by (blob id, item), process-wide.

    Blobs are content-addressed and their current parse records
    (`mime.FORMAT_VERSION`) never change, so a value rendered from a current
    record never goes stale; one rendered from a record in an older format (which
    the store re-derives after open) is not kept.  Clients fetch these items for the same
    messages again and again (every device, every resync); a hit saves the
    parse record's load and decode and the rendering.  Bounded by octets, first in
    first out.
    """

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._size = 0
        self._items: collections.OrderedDict[tuple[str, str], bytes] = collections.OrderedDict()

    def get(self, blob_id: str, name: str) -> bytes | None:
        # First in, first out: no reordering per hit (a FETCH asks twice per message
        # and item); a working set that fits stays, one that does not cycles anyway.
        return self._items.get((blob_id, name))

    def put(self, blob_id: str, name: str, value: bytes) -> None:
        key = (blob_id, name)
        if key in self._items or len(value) > self.max_bytes // 64:
            return
        self._items[key] = value
        self._size += len(value) + 100
        while self._size > self.max_bytes:
            _k, old = self._items.popitem(last=False)
            self._size -= len(old) + 100

    def clear(self) -> None:
        self._items.clear()
        self._size = 0


RENDERED = RenderedCache()


class HeaderCache:
    """Header blocks split into fields (`split_header`) by (blob id, start, end),
    process-wide, LRU, bounded by octets.

    Clients ask for a few fields of the same messages again and again, each time
    another list (imaptest picks 1-4 of 7 at random), and a blob's bytes never change
    (content-addressed): a hit reads no blob and splits nothing, the item is a join of
    the wanted fields (the read and the split were ~10 % of such a FETCH, issue 12).
    """

    def __init__(self, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._size = 0
        self._items: collections.OrderedDict[tuple[str, int, int], tuple[HeaderSplit, int]] = (
            collections.OrderedDict()
        )
        # blob id -> the span of its message's own header (``BODY[HEADER]``): what a
        # FETCH answered from memory (`fetch_cached`) looks up without the parse record
        self._roots: dict[str, tuple[int, int]] = {}
        self._finished: dict[tuple[str, bytes, tuple[int, int] | None], bytes] = {}

    def note_root(self, blob_id: str, start: int, end: int) -> None:
        """The message of `blob_id` has its header at ``blob[start:end]``."""
        if len(self._roots) >= ROOT_SPANS:
            self._roots.clear()
        self._roots[blob_id] = (start, end)

    def get_item(self, blob_id: str, name: bytes, partial: tuple[int, int] | None) -> bytes | None:
        """A finished item of the message's own header (``BODY[HEADER.FIELDS (...)]``,
        ``BODY[HEADER]<n>``, RFC822.HEADER: `name` and `partial` say which)."""
        return self._finished.get((blob_id, name, partial))

    def put_item(
        self, blob_id: str, name: bytes, partial: tuple[int, int] | None, item: bytes
    ) -> None:
        # Clients repeat the same FETCH of the same messages' fields: picking them
        # out of the header was a third of such a FETCH answered from memory.
        if len(self._finished) >= FINISHED_ITEMS:
            self._finished.clear()
        self._finished[(blob_id, name, partial)] = item

    def get_root(self, blob_id: str) -> HeaderSplit | None:
        """The split header of the message itself, if its span is noted and it is kept."""
        span = self._roots.get(blob_id)
        return None if span is None else self.get(blob_id, span[0], span[1])

    def get(self, blob_id: str, start: int, end: int) -> HeaderSplit | None:
        key = (blob_id, start, end)
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def put(self, blob_id: str, start: int, end: int, split: HeaderSplit) -> None:
        key = (blob_id, start, end)
        size = 2 * (end - start) + 64 * len(split[0]) + 200
        if key in self._items or size > self.max_bytes // 64:
            return
        self._items[key] = (split, size)
        self._size += size
        while self._size > self.max_bytes:
            _k, (_old, old_size) = self._items.popitem(last=False)
            self._size -= old_size

    def clear(self) -> None:
        self._items.clear()
        self._roots.clear()
        self._finished.clear()
        self._size = 0


#: root header spans `HeaderCache` keeps (then it starts afresh; ~100 octets each)
ROOT_SPANS = 65536
#: finished items of root headers it keeps (then it starts afresh; ~300 octets each)
FINISHED_ITEMS = 16384
HEADERS = HeaderCache()


def renderable_only(items: tuple[FetchItem, ...]) -> bool:
    """Whether every item that needs the parse record can come from `RENDERED`."""
    return all(
        isinstance(i, FetchAttr) and (i.name in RENDERABLE or i.name in _PARSE_FREE) for i in items
    )


def needs_parse(items: tuple[FetchItem, ...]) -> bool:
    """Whether any item needs the parse-once record (else metadata and the blob do)."""
    for item in items:
        if isinstance(item, FetchAttr):
            if item.name not in _PARSE_FREE:
                return True
        elif isinstance(item, FetchBody):
            if item.section != Section():
                return True
        else:
            return True
    return False


def sets_seen(items: tuple[FetchItem, ...]) -> bool:
    """RFC 9051 §6.4.5: BODY[...], BINARY[...], RFC822 and RFC822.TEXT set \\Seen."""
    for item in items:
        if isinstance(item, FetchBody | FetchBinary) and not item.peek:
            return True
        if isinstance(item, FetchAttr) and item.name in ("RFC822", "RFC822.TEXT"):
            return True
    return False


#: The session's untagged ``* FLAGS (...)`` when `flags` hold a keyword its client has
#: not been told of yet, else b"" (RFC 9051 §7.3.5: FLAGS introduces a keyword
#: before any FETCH shows it).
Announce = Callable[[frozenset[str]], bytes]


def no_announcement(flags: frozenset[str]) -> bytes:
    """An `Announce` for callers without a client to tell (tests, tools)."""
    return b""


#: rendered ``FLAGS (...)`` items: a mailbox has few distinct flag sets (and the store
#: interns them), and rendering one per message per FETCH was ~1.5 µs
_FLAGS_ITEMS: dict[tuple[frozenset[str], bool], bytes] = {}


def flags_item(flags: frozenset[str], *, recent: bool) -> bytes:
    """``FLAGS (...)``: system flags in their usual order, then keywords sorted."""
    key = (flags, recent)
    done = _FLAGS_ITEMS.get(key)
    if done is not None:
        return done
    names = [f for f in SYSTEM_FLAGS if f in flags]
    if recent:
        names.append("\\Recent")
    names.extend(sorted(f for f in flags if f not in SYSTEM_FLAGS))
    done = b"FLAGS (" + " ".join(names).encode("utf-8") + b")"
    if len(_FLAGS_ITEMS) >= 4096:
        _FLAGS_ITEMS.clear()
    _FLAGS_ITEMS[key] = done
    return done


#: rendered ``INTERNALDATE "..."`` / ``SAVEDATE "..."`` items by (name, date): the same
#: messages' dates are fetched again and again, and formatting one was ~2 µs (issue 12)
#: (the zone is part of the key: equal instants in two zones are equal datetimes)
_DATE_ITEMS: dict[tuple[bytes, _dt.datetime, _dt.tzinfo | None], bytes] = {}


def _date_item(name: bytes, value: _dt.datetime) -> bytes:
    key = (name, value, value.tzinfo)
    done = _DATE_ITEMS.get(key)
    if done is None:
        done = name + b' "' + format_datetime(value) + b'"'
        if len(_DATE_ITEMS) >= 65536:
            _DATE_ITEMS.clear()
        _DATE_ITEMS[key] = done
    return done


def plan_items(
    items: tuple[FetchItem, ...],
    msg: Message,
    parsed: ParsedMessage | None,
    *,
    uid_first: bool,
) -> list[Piece]:
    """The pieces of one message's FETCH response, in the order requested.

    ``parsed`` may be None only when `needs_parse(items)` is false.  A section
    that does not exist yields an empty string (as Dovecot answers; RFC 9051
    leaves it open).  With ``uid_first`` (UID FETCH) the UID item leads unless
    it was requested (RFC 9051 §6.4.9).
    """
    has_uid, prepared = _prepared(items)
    out: list[Piece] = []
    if uid_first and not has_uid:
        out.append(b"UID %d" % msg.uid)
    for kind, what in prepared:
        if kind is _ATTR:
            out.append(attr_piece(what, msg, parsed))  # type: ignore[arg-type]
        elif kind is _BODY:
            out.append(_body_item(what, msg, parsed))  # type: ignore[arg-type]
        elif kind is _BINARY:
            item = what
            assert isinstance(item, FetchBinary)
            out.append(_binary_item(item.response_name(), item.part, item.partial, msg, parsed))
        else:
            assert isinstance(what, FetchBinarySize)
            read = _binary_item(what.response_name(), what.part, None, msg, parsed)
            read.transform = Transform.BINARY_SIZE
            out.append(read)
    return out


@dataclass(slots=True)
class _BodyInfo:
    """What a ``BODY[...]`` item needs of its request, worked out once per command."""

    name: bytes  # the response name
    partial: tuple[int, int] | None
    whole: bool  # BODY[]
    span: Section  # the section whose range is read (a header's for HEADER.FIELDS)
    fields: frozenset[str] | None  # lower-cased names, for HEADER.FIELDS[.NOT]
    keep: bool
    header: bool = False  # BODY[HEADER] / BODY[n.HEADER]


_ATTR, _BODY, _BINARY, _BINARY_SIZE = "attr", "body", "binary", "binary size"
_Prepared = tuple[bool, tuple[tuple[str, object], ...]]
#: per items tuple (by identity; the tuple is held, so its id is not reused meanwhile):
#: whether UID is among them, and each item's kind and what planning it needs. A
#: FETCH plans every message with the same items; working them out per message
#: (response names, lower-cased field sets, a `Section` per header) was ~15 % of a
#: ``FETCH n:m (BODY.PEEK[HEADER.FIELDS (...)])`` (issue 12).
_PREPARED: dict[int, tuple[tuple[FetchItem, ...], _Prepared]] = {}


def _prepared(items: tuple[FetchItem, ...]) -> _Prepared:
    found = _PREPARED.get(id(items))
    if found is not None and found[0] is items:
        return found[1]
    has_uid = False
    out: list[tuple[str, object]] = []
    for item in items:
        if isinstance(item, FetchAttr):
            has_uid = has_uid or item.name == "UID"
            out.append((_ATTR, item.name))
        elif isinstance(item, FetchBody):
            out.append((_BODY, _body_info(item)))
        elif isinstance(item, FetchBinary):
            out.append((_BINARY, item))
        else:
            out.append((_BINARY_SIZE, item))
    done = (has_uid, tuple(out))
    if len(_PREPARED) >= 256:
        _PREPARED.clear()
    _PREPARED[id(items)] = (items, done)
    return done


def _body_info(item: FetchBody) -> _BodyInfo:
    section = item.section
    name = item.response_name()
    if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return _BodyInfo(
            name,
            item.partial,
            False,
            Section(section.part, "HEADER"),
            frozenset(f.lower() for f in section.fields),
            section.text == "HEADER.FIELDS",
        )
    whole = section == Section()
    return _BodyInfo(name, item.partial, whole, section, None, True, section.text == "HEADER")


# Complex on purpose: a dispatch over the FETCH attribute names (RFC 9051 §6.4.5), one return each.
def attr_piece(name: str, msg: Message, parsed: ParsedMessage | None) -> Piece:  # noqa: C901 (see above)
    if name == "FLAGS":
        return FLAGS_SLOT
    if name == "UID":
        return b"UID %d" % msg.uid
    if name == "INTERNALDATE":
        return _date_item(b"INTERNALDATE", msg.internal_date)
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % msg.size
    if name == "MODSEQ":
        return MODSEQ_SLOT
    if name == "EMAILID":
        return b"EMAILID (" + msg.email_id.encode("ascii") + b")"
    if name == "THREADID":
        if not msg.thread_id:
            return b"THREADID NIL"
        return b"THREADID (" + msg.thread_id.encode("ascii") + b")"
    if name == "SAVEDATE":
        return _date_item(b"SAVEDATE", msg.save_date)
    if name == "RFC822":
        return BodyRead(b"RFC822", 0, msg.size)
    if name in RENDERABLE:
        cached = RENDERED.get(msg.blob_id, name)
        if cached is None:
            assert parsed is not None
            if name == "ENVELOPE":
                cached = b"ENVELOPE " + envelope_bytes(parsed.envelope)
            else:
                cached = name.encode() + b" " + render_bodystructure(parsed, name != "BODY")
            if parsed.version >= FORMAT_VERSION:
                RENDERED.put(msg.blob_id, name, cached)
        return cached
    assert parsed is not None
    if name == "RFC822.HEADER":
        root = parsed.root
        return BodyRead(b"RFC822.HEADER", root.header_start, root.body_start, header=True)
    if name == "RFC822.TEXT":
        return BodyRead(b"RFC822.TEXT", parsed.root.body_start, parsed.root.body_end)
    if name == "PREVIEW":
        # RFC 8970 §3.2: the preview is UTF-8; a literal carries it safely.
        return b"PREVIEW " + string(nul_free(parsed.preview.encode("utf-8")))
    raise AssertionError(f"unknown fetch attribute {name}")


def _body_item(info: _BodyInfo, msg: Message, parsed: ParsedMessage | None) -> BodyRead:
    if info.whole:
        return BodyRead(info.name, 0, msg.size, partial=info.partial)
    assert parsed is not None
    span = section_range(parsed, info.span)
    if span is None:
        return BodyRead(info.name, 0, 0, partial=info.partial)
    if info.fields is not None:
        return BodyRead(
            info.name, span[0], span[1], Transform.FIELDS, info.partial, info.fields, info.keep
        )
    return BodyRead(info.name, span[0], span[1], partial=info.partial, header=info.header)


def _binary_item(
    name: bytes,
    part_numbers: tuple[int, ...],
    partial: tuple[int, int] | None,
    msg: Message,
    parsed: ParsedMessage | None,
) -> BodyRead:
    assert parsed is not None
    if not part_numbers:
        # BINARY[]: the whole message with every body decoded (as Dovecot does).
        return BodyRead(
            name, 0, msg.size, Transform.BINARY, partial, rewrite=encoded_entities(parsed)
        )
    part: Part | None = find_section(parsed, part_numbers)
    if part is None:
        return BodyRead(name, 0, 0, Transform.BINARY, partial)
    encoding = None if part.is_multipart or part.is_message else part.encoding
    return BodyRead(
        name, part.body_start, part.body_end, Transform.BINARY, partial, encoding=encoding
    )


#: A header block split into its fields, once: ((lower-cased name, the field's octets),
#: ...), whether the block ends with the blank line that ends a header, and the block.
HeaderSplit = tuple[tuple[tuple[str, bytes], ...], bool, bytes]


def split_header(header: bytes) -> HeaderSplit:
    """The header block ``header`` as `fields_value` needs it."""
    fields = tuple((name, header[s:e]) for name, s, _v, e in split_fields(header, 0, len(header)))
    ends = header in (b"\r\n", b"\n") or header.endswith((b"\n\r\n", b"\n\n"))
    return fields, ends, header


def fields_value(read: BodyRead, split: HeaderSplit) -> bytes:
    """A HEADER.FIELDS / HEADER.FIELDS.NOT item from its header block's `split_header`."""
    fields, terminated, _block = split
    wanted, keep = read.fields, read.keep
    out = [raw for name, raw in fields if (name in wanted) == keep]
    # RFC 9051 §6.4.5: the subset ends with the blank line that ends a header.
    # A header without one (a message with no body and no blank line) gets it
    # for HEADER.FIELDS but not for .NOT, exactly as Dovecot answers.
    if keep or terminated:
        out.append(b"\r\n")
    value = clip(b"".join(out), read.partial)
    return read.name + b" " + literal_header(len(value)) + nul_free(value)


def clip(data: bytes, partial: tuple[int, int] | None) -> bytes:
    """The octets of a partial fetch ``<off.len>`` of `data` (all without one)."""
    if partial is None:
        return data
    off, length = partial
    # RFC 9051 §6.4.5: an origin beyond the end gives an empty string.
    return data[off : off + length]


def decoded(read: BodyRead, data: bytes) -> bytes:
    """The full value of a BINARY read (before any partial); raises UnknownCte."""
    if read.rewrite is not None:
        return binary_message(data, read.rewrite)
    out = decode_cte(data, read.encoding)
    if out is None:
        raise UnknownCte(read.encoding)
    return out


def finish_body(read: BodyRead, data: bytes) -> bytes:
    """The item's bytes, given the octets of `read.raw_span`.

    BINARY values with a NUL go out as literal8 (RFC 3516 §4.2); every other
    literal has its NULs mapped to 0x80 (`nul_free`, RFC 9051 §4.3).
    """
    if read.transform is Transform.RAW:
        return read.name + b" " + literal_header(len(data)) + nul_free(data)
    if read.transform is Transform.FIELDS:
        return fields_value(read, split_header(data))
    value = decoded(read, data)
    if read.transform is Transform.BINARY_SIZE:
        return read.name + b" %d" % len(value)
    value = clip(value, read.partial)
    return read.name + b" " + literal_header(len(value), binary=b"\0" in value) + value
