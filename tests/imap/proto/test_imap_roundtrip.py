"""Round trips: typed SEARCH trees and FETCH items, written to the wire with
the response encoders, must parse back to the same objects."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.imap.proto import commands as c
from posteingang.imap.proto import fetch as f
from posteingang.imap.proto import search as s
from posteingang.imap.proto.dates import format_date
from posteingang.imap.proto.reader import CommandReader, CommandReady, LiteralExpected
from posteingang.imap.proto.responses import astring
from posteingang.imap.proto.sequence import SequenceSet
from posteingang.imap.proto.tokens import ATOM_CHARS


def parse_one(data: bytes) -> c.Command:
    reader = CommandReader(max_depth=64)
    reader.feed(data)
    while isinstance(ev := reader.next_event(), LiteralExpected):
        pass
    assert isinstance(ev, CommandReady), ev
    return ev.command


_FLAG_NAMES = {
    ("\\Answered", True): b"ANSWERED",
    ("\\Deleted", True): b"DELETED",
    ("\\Draft", True): b"DRAFT",
    ("\\Flagged", True): b"FLAGGED",
    ("\\Seen", True): b"SEEN",
    ("\\Recent", True): b"RECENT",
    ("\\Answered", False): b"UNANSWERED",
    ("\\Deleted", False): b"UNDELETED",
    ("\\Draft", False): b"UNDRAFT",
    ("\\Flagged", False): b"UNFLAGGED",
    ("\\Seen", False): b"UNSEEN",
}
_DATE_PREFIX = {"INTERNAL": b"", "SENT": b"SENT", "SAVED": b"SAVED"}


def wire(key: s.SearchKey, *, top: bool = False) -> bytes:
    match key:
        case s.SearchAll():
            return b"ALL"
        case s.SearchFlag(flag, present):
            if (flag, present) in _FLAG_NAMES:
                return _FLAG_NAMES[(flag, present)]
            return (b"KEYWORD " if present else b"UNKEYWORD ") + flag.encode()
        case s.SearchHeader(field, value):
            return b"HEADER " + astring(field) + b" " + astring(value)
        case s.SearchBody(value):
            return b"BODY " + astring(value)
        case s.SearchText(value):
            return b"TEXT " + astring(value)
        case s.SearchDate(field, relation, date):
            return _DATE_PREFIX[field] + relation.encode() + b" " + format_date(date)
        case s.SearchSize(relation, size):
            return relation.encode() + b" %d" % size
        case s.SearchSequence(seqset):
            return seqset.to_bytes()
        case s.SearchUid(seqset):
            return b"UID " + seqset.to_bytes()
        case s.SearchModSeq(modseq, None, None):
            return b"MODSEQ %d" % modseq
        case s.SearchNot(inner):
            return b"NOT " + wire(inner)
        case s.SearchOr(left, right):
            return b"OR " + wire(left) + b" " + wire(right)
        case s.SearchAnd(keys):
            body = b" ".join(wire(k) for k in keys)
            return body if top else b"(" + body + b")"
    raise AssertionError(key)


_text = st.binary(min_size=0, max_size=20).filter(lambda b: b"\0" not in b)
_keyword = st.text(alphabet=sorted(chr(ch) for ch in ATOM_CHARS), min_size=1, max_size=8).filter(
    lambda k: not k.startswith("\\")
)
_field = st.text(
    alphabet=[chr(ch) for ch in range(0x21, 0x7F) if ch != 0x3A], min_size=1, max_size=10
).map(str.upper)
_seqset = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(1, 2**32 - 1)),
        st.one_of(st.none(), st.integers(1, 2**32 - 1)),
    ),
    min_size=1,
    max_size=4,
).map(lambda r: SequenceSet(tuple(r)))
_leaf = st.one_of(
    st.just(s.SearchAll()),
    st.sampled_from([s.SearchFlag(f, p) for f, p in _FLAG_NAMES]),
    st.builds(s.SearchFlag, _keyword, st.booleans()),
    st.builds(s.SearchHeader, _field, _text),
    st.builds(s.SearchBody, _text),
    st.builds(s.SearchText, _text),
    st.builds(
        s.SearchDate,
        st.sampled_from(["INTERNAL", "SENT", "SAVED"]),
        st.sampled_from(["BEFORE", "ON", "SINCE"]),
        st.dates(min_value=dt.date(1000, 1, 1)),
    ),
    st.builds(s.SearchSize, st.sampled_from(["LARGER", "SMALLER"]), st.integers(0, 2**63 - 1)),
    st.builds(s.SearchSequence, _seqset),
    st.builds(s.SearchUid, _seqset),
    st.builds(s.SearchModSeq, st.integers(0, 2**63 - 1)),
)
_keys = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.builds(s.SearchNot, inner),
        st.builds(s.SearchOr, inner, inner),
        st.lists(inner, min_size=2, max_size=4).map(lambda ks: s.SearchAnd(tuple(ks))),
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(_keys, st.booleans())
def test_search_trees_round_trip(key: s.SearchKey, uid: bool) -> None:
    line = (b"t UID SEARCH " if uid else b"t SEARCH ") + wire(key, top=True) + b"\r\n"
    assert parse_one(line) == c.Search(b"t", key, uid=uid)


_part = st.lists(st.integers(1, 99), min_size=0, max_size=3).map(tuple)
_partial = st.one_of(st.none(), st.tuples(st.integers(0, 2**40), st.integers(1, 2**40)))
_header_name = st.text(
    alphabet=[chr(ch) for ch in range(0x21, 0x7F) if ch not in b':()"\\{%*]'],
    min_size=1,
    max_size=10,
)


@st.composite
def _sections(draw: st.DrawFn) -> f.Section:
    part = draw(_part)
    choices: list[str | None] = [None, "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT"]
    if part:
        choices.append("MIME")
    text = draw(st.sampled_from(choices))
    fields: tuple[str, ...] = ()
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        fields = tuple(draw(st.lists(_header_name, min_size=1, max_size=3)))
    return f.Section(part, text, fields)  # type: ignore[arg-type]


_items = st.one_of(
    st.sampled_from([f.FetchAttr(n) for n in sorted(f.SIMPLE_ATTRS)]),
    st.builds(f.FetchBody, _sections(), _partial, st.booleans()),
    st.builds(f.FetchBinary, _part, _partial, st.booleans()),
    st.builds(f.FetchBinarySize, _part),
)


def item_wire(item: f.FetchItem) -> bytes:
    match item:
        case f.FetchAttr(name):
            return name.encode()
        case f.FetchBody(section, partial, peek):
            out = (b"BODY.PEEK[" if peek else b"BODY[") + section.to_bytes() + b"]"
        case f.FetchBinary(part, partial, peek):
            out = (b"BINARY.PEEK[" if peek else b"BINARY[") + ".".join(map(str, part)).encode()
            out += b"]"
        case f.FetchBinarySize(part):
            return b"BINARY.SIZE[" + ".".join(map(str, part)).encode() + b"]"
    if partial is not None:
        out += b"<%d.%d>" % partial
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(_items, min_size=1, max_size=5), _seqset)
def test_fetch_items_round_trip(items: list[f.FetchItem], seqset: SequenceSet) -> None:
    line = b"t FETCH " + seqset.to_bytes() + b" (" + b" ".join(map(item_wire, items)) + b")\r\n"
    assert parse_one(line) == c.Fetch(b"t", seqset, tuple(items))
