"""SEARCH evaluation: which messages of the selected view match a `SearchKey` tree.

Theory of operation
-------------------
Keys differ wildly in cost.  Flags, sequence numbers, uids and modseqs are in
the session's view already; sizes and dates need the message rows; header
keys, SENT* dates and the header half of TEXT need the header block (read
from the blob, in one thread hop per chunk, no parse record needed); BODY and
TEXT need the parse record's text; text attachments need the blob again.  The
view is walked in chunks of `CHUNK` uids, and each chunk goes through five
*levels* of knowledge, loading the next only for the messages still
undecided:

    VIEW -> META (Store.get_messages) -> HEADER (blob prefix)
         -> PARSED (Store.get_parsed: search_text) -> EXTRA (text attachments)

At each level the tree is evaluated in three-valued (Kleene) logic: a leaf
that needs a higher level is *unknown*; ``AND`` is false as soon as one
operand is false, ``OR`` true as soon as one is true, ``NOT`` keeps unknown.
So ``SEEN FROM x`` never reads a header of an unseen message, ``FROM x``
loads no parse record, and ``LARGER 100000 BODY y`` loads parse records only
for the large ones.

Matching rules (RFC 9051 §6.4.4):

* strings are compared as case-insensitive substrings (Unicode case
  folding) on decoded text: header values with RFC 2047 encoded-words
  resolved and folding removed; BODY on the decoded text of the message's
  text parts (the parse record's ``search_text``, then, only if that did not
  match, the text/* attachments decoded from the blob, as Dovecot searches
  them too, and message/global bodies, see `search_extra`), TEXT on the
  top-level header, the body and the headers of attached messages;
* ``HEADER name ""`` (and an empty FROM/TO/... string) matches every
  message that has the field;
* BEFORE/ON/SINCE compare the internal date's calendar date and
  SENTBEFORE/SENTON/SENTSINCE the Date header's, each in its own time zone
  ("disregarding time and timezone"); a message without a usable Date
  header counts as sent on 1 Jan 1970, as in Dovecot;
* RECENT is the ``recent`` uids the session passes (none in IMAP4rev2).

Never changes anything: no flags, no view.
"""

from __future__ import annotations

import asyncio
import bisect
import codecs
import datetime as _dt
import time
from collections.abc import Collection, Container, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_tz

from posteingang.imap.proto.search import (
    SearchAll,
    SearchAnd,
    SearchBody,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchObjectId,
    SearchOr,
    SearchSequence,
    SearchSize,
    SearchText,
    SearchUid,
    SearchWithin,
)
from posteingang.imap.proto.sequence import SequenceSet
from posteingang.imap.selected import SelectedMailbox
from posteingang.mime import ParsedMessage
from posteingang.mime.address import parse_address_list
from posteingang.mime.headers import decode_words, field_value, find_body_start, split_fields
from posteingang.store.fulltext import addresses_text, fold
from posteingang.store.interface import NotFound, Store
from posteingang.store.model import Message

from .pacing import Pacer
from .parse_cache import ParseCache
from .search_extra import ExtraText, Sources, extra_sources, read_extra

__all__ = ["SUPPORTED_CHARSETS", "BadCharset", "search_uids"]

#: what ``[BADCHARSET (...)]`` lists; any other charset Python knows works too.
SUPPORTED_CHARSETS = ("UTF-8", "US-ASCII")
#: view uids evaluated per round
CHUNK = 512

VIEW, META, HEADER, PARSED, EXTRA = 0, 1, 2, 3, 4
#: octets read first for a header block; longer headers are read on up to MAX_HEADER
HEADER_PREFIX = 16 * 1024
MAX_HEADER = 1024 * 1024
_EPOCH = _dt.date(1970, 1, 1)


class BadCharset(Exception):
    """SEARCH CHARSET names a charset we cannot decode: ``NO [BADCHARSET (...)]``."""

    def __init__(self, charset: str) -> None:
        super().__init__(f"unsupported charset {charset}")
        self.charset = charset
        self.supported = SUPPORTED_CHARSETS


def _key_text(value: bytes, codec: str) -> str:
    return fold(value.decode(codec, "replace"))


def _codec(charset: str | None) -> str:
    if charset is None:
        # RFC 9051 §6.4.4: without CHARSET the strings are UTF-8 (RFC 3501:
        # US-ASCII, which UTF-8 contains).
        return "utf-8"
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError):
        raise BadCharset(charset) from None
    if not getattr(info, "_is_text_encoding", True):
        raise BadCharset(charset)
    return info.name


# ---------------------------------------------------------------------------
# The compiled tree: key strings decoded and folded, sets resolved.


@dataclass(frozen=True, slots=True)
class _Spans:
    """Resolved sequence or uid set: merged ascending intervals."""

    lows: tuple[int, ...]
    highs: tuple[int, ...]

    @classmethod
    def of(cls, spans: Sequence[tuple[int, int]]) -> _Spans:
        return cls(tuple(a for a, _ in spans), tuple(b for _, b in spans))

    def __contains__(self, n: object) -> bool:
        assert isinstance(n, int)
        i = bisect.bisect_right(self.lows, n) - 1
        return i >= 0 and n <= self.highs[i]


@dataclass(frozen=True, slots=True)
class _InSet:
    uid: bool  # True: uids; False: sequence numbers
    members: _Spans | frozenset[int]


@dataclass(frozen=True, slots=True)
class _Str:
    kind: str  # "HEADER", "BODY", "TEXT"
    field: str  # lower-cased header name (HEADER only)
    needle: str


@dataclass(frozen=True, slots=True)
class _And:
    keys: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Or:
    left: _Node
    right: _Node


@dataclass(frozen=True, slots=True)
class _Not:
    key: _Node


# The compiled tree: leaves that need no compiling are kept as they are.
_Node = (
    _And
    | _Or
    | _Not
    | _InSet
    | _Str
    | SearchAll
    | SearchFlag
    | SearchModSeq
    | SearchSize
    | SearchDate
    | SearchWithin
    | SearchObjectId
)


@dataclass(frozen=True, slots=True)
class _Ctx:
    view: SelectedMailbox
    recent: Container[int]
    now: float


def _compile(
    key: SearchKey,
    codec: str,
    view: SelectedMailbox,
    saved: Collection[int] | None,
    sets: dict[tuple[int, bool], _Spans | frozenset[int]],
) -> _Node:
    """`key` compiled; `sets` keeps each resolved set by identity, so a set shared
    by many keys (every ``$`` after `replace_saved`) is resolved once."""
    if isinstance(key, SearchAnd):
        return _And(tuple(_compile(k, codec, view, saved, sets) for k in key.keys))
    if isinstance(key, SearchOr):
        left = _compile(key.left, codec, view, saved, sets)
        return _Or(left, _compile(key.right, codec, view, saved, sets))
    if isinstance(key, SearchNot):
        return _Not(_compile(key.key, codec, view, saved, sets))
    if isinstance(key, SearchSequence | SearchUid):
        is_uid = isinstance(key, SearchUid)
        # Keyed by id(): hashing a frozen set of 10,000 ranges costs as much as resolving it.
        memo = (id(key.sequence_set), is_uid)
        members = sets.get(memo)
        if members is None:
            members = sets[memo] = _resolve(key.sequence_set, view, is_uid, saved)
        return _InSet(is_uid, members)
    if isinstance(key, SearchHeader):
        return _Str("HEADER", key.field.lower(), _key_text(key.value, codec))
    if isinstance(key, SearchBody):
        return _Str("BODY", "", _key_text(key.value, codec))
    if isinstance(key, SearchText):
        return _Str("TEXT", "", _key_text(key.value, codec))
    return key


def _resolve(
    seqset: SequenceSet, view: SelectedMailbox, uid: bool, saved: Collection[int] | None
) -> _Spans | frozenset[int]:
    if seqset.saved:
        # RFC 5182: "$" is the saved result (uids); without one it matches nothing.
        uids = frozenset(saved or ())
        if uid:
            return uids
        return frozenset(s for u in uids if (s := view.seq_of(u)) is not None)
    return _Spans.of(seqset.resolve(view.max_uid if uid else view.exists))


@dataclass(slots=True)
class _Msg:
    uid: int
    seq: int
    flags: frozenset[str]
    modseq: int
    meta: Message | None = None
    parsed: ParsedMessage | None = None
    body: str | None = None  # folded search_text
    header: Header | None = None
    extra: str | None = None  # folded text of text/* parts not in search_text
    extra_headers: str | None = None  # folded headers of attached messages (TEXT)
    sources: Sources | None = None  # where `extra` comes from (search_extra)
    lower_flags: frozenset[str] = field(default_factory=frozenset)
    gone: bool = False  # expunged meanwhile: its row or octets could not be read


# Complex on purpose: one case per SEARCH key (RFC 9051 §6.4.4), three-valued; one call per node on
# the hot path.
def _eval(node: _Node, m: _Msg, level: int, ctx: _Ctx) -> bool | None:  # noqa: C901 (see above)
    """Three-valued: None when `node` needs more than `level` knows."""
    if isinstance(node, _And):
        unknown = False
        for k in node.keys:
            r = _eval(k, m, level, ctx)
            if r is False:
                return False
            if r is None:
                unknown = True
        return None if unknown else True
    if isinstance(node, _Or):
        left = _eval(node.left, m, level, ctx)
        if left is True:
            return True
        right = _eval(node.right, m, level, ctx)
        if right is True:
            return True
        return None if left is None or right is None else False
    if isinstance(node, _Not):
        r = _eval(node.key, m, level, ctx)
        return None if r is None else not r
    if isinstance(node, SearchAll):
        return True
    if isinstance(node, SearchFlag):
        if node.flag == "\\Recent":
            has = m.uid in ctx.recent
        else:
            if not m.lower_flags:
                m.lower_flags = frozenset(f.lower() for f in m.flags) or frozenset(("",))
            has = node.flag.lower() in m.lower_flags
        return has == node.present
    if isinstance(node, _InSet):
        return (m.uid if node.uid else m.seq) in node.members
    if isinstance(node, SearchModSeq):
        return m.modseq >= node.modseq
    if level < META:
        return None
    if isinstance(node, _Str):
        return _match(node, m, level)
    meta = m.meta
    assert meta is not None
    if isinstance(node, SearchSize):
        return meta.size > node.size if node.relation == "LARGER" else meta.size < node.size
    if isinstance(node, SearchWithin):
        age = ctx.now - meta.internal_date.timestamp()
        return age >= node.seconds if node.relation == "OLDER" else age <= node.seconds
    if isinstance(node, SearchObjectId):
        value = meta.email_id if node.kind == "EMAILID" else meta.thread_id
        return value == node.object_id
    assert isinstance(node, SearchDate)
    if node.field == "INTERNAL":
        day = meta.internal_date.date()
    elif node.field == "SAVED":
        day = meta.save_date.date()
    elif level < HEADER:
        return None
    else:
        assert m.header is not None
        day = sent_date(m.header.first_raw("date"))
    if node.relation == "BEFORE":
        return day < node.date
    if node.relation == "ON":
        return day == node.date
    return day >= node.date


def _match(node: _Str, m: _Msg, level: int) -> bool | None:
    """A string key at `level`: headers first, then the parsed text, then attachments."""
    if level < HEADER:
        return None
    assert m.header is not None
    if node.kind == "HEADER":
        # RFC 9051 §6.4.4: an empty string matches every message with the field.
        return any(node.needle in v for v in m.header.values(node.field))
    if node.kind == "TEXT" and node.needle in m.header.text():
        return True
    if level < PARSED:
        return None
    if node.needle in _body(m):
        return True
    is_text = node.kind == "TEXT"
    if level < EXTRA:
        # Attachments are read from the blob only when the parsed text fails.
        if m.parsed is None or not _sources(m).any_for(headers=is_text):
            return False
        return None
    if node.needle in (m.extra or ""):
        return True
    # RFC 9051 §6.4.4 TEXT: "in the header or body"; an attached message's
    # header is in the body of the message that carries it.
    return is_text and node.needle in (m.extra_headers or "")


def _body(m: _Msg) -> str:
    if m.body is None:
        m.body = fold(m.parsed.search_text) if m.parsed is not None else ""
    return m.body


def sent_date(value: bytes | None) -> _dt.date:
    """The calendar date of a Date header as written (its own time zone)."""
    if value is None:
        return _EPOCH
    try:
        t = parsedate_tz(value.decode("latin-1").replace("\n", " ").replace("\r", " "))
        if t is None:
            return _EPOCH
        return _dt.date(t[0], t[1], t[2])
    except (ValueError, TypeError, IndexError, OverflowError):
        return _EPOCH


_ADDRESS_FIELDS = frozenset(("from", "sender", "reply-to", "to", "cc", "bcc"))


class Header:
    """A header block whose fields are decoded and folded only when a key asks."""

    __slots__ = ("_text", "_values", "raw", "spans")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.spans = split_fields(raw, 0, len(raw))
        self._values: dict[str, list[str]] = {}
        self._text: str | None = None

    def _decode(self, vstart: int, end: int) -> str:
        return fold(" ".join(decode_words(field_value(self.raw, vstart, end)).split()))

    def _decode_addresses(self, vstart: int, end: int) -> str:
        """An address field as written, then as parsed: ``name <local@domain>, ...``.

        The parsed form is what a client searches for: comments and white
        space inside an angle-addr (``<user (c)@ (c) example.org>``) are
        gone from it (Dovecot matches address headers the same way).
        """
        written = self._decode(vstart, end)
        parsed = parse_address_list(field_value(self.raw, vstart, end))
        if not parsed:
            return written
        return written + "\n" + fold(addresses_text(parsed))

    def values(self, name: str) -> list[str]:
        """Folded, decoded values of every field called `name` (lower-case)."""
        found = self._values.get(name)
        if found is None:
            decode = self._decode_addresses if name in _ADDRESS_FIELDS else self._decode
            found = [decode(v, e) for n, _s, v, e in self.spans if n == name]
            self._values[name] = found
        return found

    def first_raw(self, name: str) -> bytes | None:
        for n, _s, v, e in self.spans:
            if n == name:
                return field_value(self.raw, v, e)
        return None

    def text(self) -> str:
        """The whole block, decoded and folded, one "name: value" line per field."""
        if self._text is None:
            self._text = "\n".join(f"{n}: {self._decode(v, e)}" for n, _s, v, e in self.spans)
        return self._text


def _read_headers(store: Store, wanted: list[_Msg]) -> None:
    """In a worker thread: each message's header block, decoded.

    The header ends at the first empty line (found here, so that header keys
    need no parse record); a header longer than `HEADER_PREFIX` is read on up
    to `MAX_HEADER`.
    """
    for m in wanted:
        assert m.meta is not None
        header = b""
        try:
            with store.blobs.open(m.meta.blob_id) as f:
                data = f.read(HEADER_PREFIX)
                end = find_body_start(data, 0, len(data))
                if end == len(data) and len(data) == HEADER_PREFIX:
                    data += f.read(MAX_HEADER - len(data))
                    end = find_body_start(data, 0, len(data))
                header = data[:end]
        except (OSError, NotFound):
            m.gone = True  # expunged meanwhile: no header matches
        m.header = Header(header)


def _read_extra(store: Store, wanted: list[_Msg]) -> None:
    """In a worker thread: what each message offers beyond its parse record's text
    (`search_extra`): other text parts, message/global, attached headers."""
    for m in wanted:
        assert m.meta is not None
        extra = ExtraText()
        try:
            with store.blobs.open(m.meta.blob_id) as f:
                extra = read_extra(f, _sources(m))
        except (OSError, NotFound):
            m.gone = True  # expunged meanwhile: nothing more matches
        m.extra = fold(extra.text)
        m.extra_headers = "\n".join(Header(h).text() for h in extra.headers)


def _sources(m: _Msg) -> Sources:
    if m.sources is None:
        assert m.parsed is not None
        m.sources = extra_sources(m.parsed)
    return m.sources


async def search_uids(
    store: Store,
    view: SelectedMailbox,
    key: SearchKey,
    *,
    charset: str | None,
    recent: Container[int] = (),
    saved: Collection[int] | None = None,
    expunged: list[int] | None = None,
) -> list[int]:
    """The uids (ascending) of the messages in `view` that match `key`.

    ``charset`` is the SEARCH CHARSET argument (None when absent); an unknown
    one raises `BadCharset`.  ``recent`` are the uids the session reports as
    \\Recent (IMAP4rev1), ``saved`` the RFC 5182 saved result that ``$``
    stands for.  A message expunged meanwhile does not match (keys that need
    only the view still see it); when its data was needed and gone, its uid is
    appended to ``expunged`` (the session then says OK [EXPUNGEISSUED]).
    """
    gone = expunged if expunged is not None else []
    codec = _codec(charset)
    node = _compile(key, codec, view, saved, {})
    ctx = _Ctx(view, recent, time.time())
    out: list[int] = []
    cache = ParseCache(store)
    # A program of up to max_search_keys keys over every message: other clients
    # are served between slices of this loop (ops/pacing.py).
    pacer = Pacer()
    uids = list(view.uids)  # the view may change while we yield
    for i in range(0, len(uids), CHUNK):
        chunk = uids[i : i + CHUNK]
        todo: list[_Msg] = []
        for j, uid in enumerate(chunk):
            await pacer.tick()
            m = _Msg(uid, i + j + 1, view.flags.get(uid, frozenset()), view.modseqs.get(uid, 0))
            r = _eval(node, m, VIEW, ctx)
            if r is True:
                out.append(uid)
            elif r is None:
                todo.append(m)
        if not todo:
            continue
        metas = {x.uid: x for x in await store.get_messages(view.mailbox_id, [m.uid for m in todo])}
        gone.extend(m.uid for m in todo if m.uid not in metas)
        todo = [m for m in todo if m.uid in metas]
        for m in todo:
            m.meta = metas[m.uid]
        todo = await _settle(node, todo, META, ctx, out, pacer, gone)
        if not todo:
            continue
        await asyncio.to_thread(_read_headers, store, todo)
        todo = await _settle(node, todo, HEADER, ctx, out, pacer, gone)
        if not todo:
            continue
        await cache.load([metas[m.uid].blob_id for m in todo])
        for m in todo:
            m.parsed = cache.get(metas[m.uid].blob_id)
        gone.extend(m.uid for m in todo if m.parsed is None)
        todo = [m for m in todo if m.parsed is not None]
        todo = await _settle(node, todo, PARSED, ctx, out, pacer, gone)
        if not todo:
            continue
        await asyncio.to_thread(_read_extra, store, todo)
        await _settle(node, todo, EXTRA, ctx, out, pacer, gone)
    out.sort()
    gone.sort()
    return out


async def _settle(
    node: _Node,
    todo: list[_Msg],
    level: int,
    ctx: _Ctx,
    out: list[int],
    pacer: Pacer,
    gone: list[int] | None = None,
) -> list[_Msg]:
    undecided = []
    for m in todo:
        await pacer.tick()
        if m.gone and gone is not None:
            gone.append(m.uid)  # whatever it would have matched, it was not searched
            continue
        r = _eval(node, m, level, ctx)
        if r is True:
            out.append(m.uid)
        elif r is None:
            undecided.append(m)
    return undecided
