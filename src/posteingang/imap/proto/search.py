"""SEARCH criteria as a typed tree, and their parser (RFC 9051 §6.4.4, RFC 3501 §6.4.4).

A search program is a list of keys joined by an implicit AND.  The parser
returns one :data:`SearchKey`: a single key stays itself, several become
:class:`SearchAnd`.  ``OR a b``, ``NOT a`` and ``( ... )`` nest; the nesting
depth is capped (a deep ``NOT NOT NOT ...`` must not exhaust the stack).

Mapping decisions (so the executor need not know the wire spelling):

* ANSWERED/DELETED/DRAFT/FLAGGED/SEEN/RECENT, their UN- forms and
  KEYWORD/UNKEYWORD all become :class:`SearchFlag`.
* NEW is ``RECENT UNSEEN`` and OLD is ``NOT RECENT`` (RFC 3501 §6.4.4).
* BCC/CC/FROM/SUBJECT/TO become :class:`SearchHeader` with that field name.
* MODSEQ (RFC 7162 §3.1.5), OLDER/YOUNGER (RFC 5032), EMAILID/THREADID
  (RFC 8474) and SAVEDBEFORE/SAVEDON/SAVEDSINCE (RFC 8514) are parsed so
  later issues only add behaviour.

Never evaluates anything; evaluation belongs to the ops layer.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Literal as _L

from .sequence import SequenceSet
from .tokens import Cursor, ParseError

__all__ = [
    "DEFAULT_MAX_SEARCH_KEYS",
    "SearchAll",
    "SearchAnd",
    "SearchBody",
    "SearchDate",
    "SearchFlag",
    "SearchHeader",
    "SearchKey",
    "SearchModSeq",
    "SearchNot",
    "SearchObjectId",
    "SearchOr",
    "SearchSequence",
    "SearchSize",
    "SearchText",
    "SearchUid",
    "SearchWithin",
    "parse_search_key",
    "parse_search_program",
]


@dataclass(frozen=True, slots=True)
class SearchAll:
    pass


@dataclass(frozen=True, slots=True)
class SearchFlag:
    """Messages that have (``present``) or lack the flag or keyword."""

    flag: str
    present: bool = True


@dataclass(frozen=True, slots=True)
class SearchHeader:
    """Header ``field`` (upper-cased) contains ``value``; empty value: has the field."""

    field: str
    value: bytes


@dataclass(frozen=True, slots=True)
class SearchBody:
    value: bytes


@dataclass(frozen=True, slots=True)
class SearchText:
    value: bytes


@dataclass(frozen=True, slots=True)
class SearchDate:
    """BEFORE/ON/SINCE (internal date), SENTBEFORE/SENTON/SENTSINCE (Date: header),
    SAVEDBEFORE/SAVEDON/SAVEDSINCE (RFC 8514 save date)."""

    field: _L["INTERNAL", "SENT", "SAVED"]
    relation: _L["BEFORE", "ON", "SINCE"]
    date: _dt.date


@dataclass(frozen=True, slots=True)
class SearchSize:
    relation: _L["LARGER", "SMALLER"]
    size: int


@dataclass(frozen=True, slots=True)
class SearchSequence:
    sequence_set: SequenceSet


@dataclass(frozen=True, slots=True)
class SearchUid:
    sequence_set: SequenceSet


@dataclass(frozen=True, slots=True)
class SearchModSeq:
    """RFC 7162 §3.1.5 MODSEQ [entry-name entry-type] mod-sequence."""

    modseq: int
    entry_name: bytes | None = None
    entry_type: str | None = None  # "PRIV" / "SHARED" / "ALL"


@dataclass(frozen=True, slots=True)
class SearchWithin:
    """RFC 5032 OLDER/YOUNGER n seconds (by internal date)."""

    relation: _L["OLDER", "YOUNGER"]
    seconds: int


@dataclass(frozen=True, slots=True)
class SearchObjectId:
    """RFC 8474 §5 EMAILID/THREADID."""

    kind: _L["EMAILID", "THREADID"]
    object_id: str


@dataclass(frozen=True, slots=True)
class SearchNot:
    key: SearchKey


@dataclass(frozen=True, slots=True)
class SearchOr:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class SearchAnd:
    keys: tuple[SearchKey, ...]


SearchKey = (
    SearchAll
    | SearchFlag
    | SearchHeader
    | SearchBody
    | SearchText
    | SearchDate
    | SearchSize
    | SearchSequence
    | SearchUid
    | SearchModSeq
    | SearchWithin
    | SearchObjectId
    | SearchNot
    | SearchOr
    | SearchAnd
)

_FLAG_KEYS = {
    b"ANSWERED": ("\\Answered", True),
    b"DELETED": ("\\Deleted", True),
    b"DRAFT": ("\\Draft", True),
    b"FLAGGED": ("\\Flagged", True),
    b"SEEN": ("\\Seen", True),
    b"RECENT": ("\\Recent", True),
    b"UNANSWERED": ("\\Answered", False),
    b"UNDELETED": ("\\Deleted", False),
    b"UNDRAFT": ("\\Draft", False),
    b"UNFLAGGED": ("\\Flagged", False),
    b"UNSEEN": ("\\Seen", False),
}
_HEADER_KEYS = frozenset((b"BCC", b"CC", b"FROM", b"SUBJECT", b"TO"))
_DATE_KEYS: dict[bytes, tuple[_L["INTERNAL", "SENT", "SAVED"], _L["BEFORE", "ON", "SINCE"]]] = {
    b"BEFORE": ("INTERNAL", "BEFORE"),
    b"ON": ("INTERNAL", "ON"),
    b"SINCE": ("INTERNAL", "SINCE"),
    b"SENTBEFORE": ("SENT", "BEFORE"),
    b"SENTON": ("SENT", "ON"),
    b"SENTSINCE": ("SENT", "SINCE"),
    b"SAVEDBEFORE": ("SAVED", "BEFORE"),
    b"SAVEDON": ("SAVED", "ON"),
    b"SAVEDSINCE": ("SAVED", "SINCE"),
}
_SEQ_START = frozenset(b"0123456789*$")
_OBJECTID_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


#: Keys in one SEARCH program (``imap.max_search_keys``): the cost of a SEARCH
#: is keys × messages, so the key count is what must be bounded.
DEFAULT_MAX_SEARCH_KEYS = 1000


def parse_search_program(
    cur: Cursor, *, max_depth: int, max_keys: int = DEFAULT_MAX_SEARCH_KEYS
) -> SearchKey:
    """``search-key *(SP search-key)`` up to the end of the command."""
    program = _Program(cur, max_depth, max_keys)
    keys = [program.key(0)]
    while not cur.at_end():
        cur.sp()
        keys.append(program.key(0))
    return keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))


def parse_search_key(
    cur: Cursor, *, max_depth: int, depth: int = 0, max_keys: int = DEFAULT_MAX_SEARCH_KEYS
) -> SearchKey:
    return _Program(cur, max_depth, max_keys).key(depth)


class _Program:
    """One SEARCH program being parsed: counts its keys against ``max_keys``."""

    __slots__ = ("count", "cur", "max_depth", "max_keys")

    def __init__(self, cur: Cursor, max_depth: int, max_keys: int) -> None:
        self.cur = cur
        self.max_depth = max_depth
        self.max_keys = max_keys
        self.count = 0

    def key(self, depth: int) -> SearchKey:
        if depth >= self.max_depth:
            raise ParseError("search criteria nested too deeply")
        self.count += 1
        if self.count > self.max_keys:
            raise ParseError(f"too many search keys (at most {self.max_keys})")
        return self._key(depth)

    # Complex on purpose: the search-key grammar (RFC 9051 §9), one branch per alternative.
    def _key(self, depth: int) -> SearchKey:  # noqa: C901 (see above)
        cur = self.cur
        c = cur.peek()
        if c == 0x28:  # "(" search-key *(SP search-key) ")"
            cur.open_paren()
            keys = [self.key(depth + 1)]
            while not cur.close_paren():
                cur.sp()
                keys.append(self.key(depth + 1))
            return keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))
        if c in _SEQ_START:
            return SearchSequence(cur.sequence_set())
        if c == -1:
            raise ParseError("missing search criteria")
        name = cur.keyword("a search key")
        if name == b"ALL":
            return SearchAll()
        if name in _FLAG_KEYS:
            flag, present = _FLAG_KEYS[name]
            return SearchFlag(flag, present)
        if name == b"NEW":
            return SearchAnd((SearchFlag("\\Recent"), SearchFlag("\\Seen", False)))
        if name == b"OLD":
            return SearchFlag("\\Recent", False)
        if name in (b"KEYWORD", b"UNKEYWORD"):
            cur.sp()
            return SearchFlag(cur.atom("a keyword").decode("ascii"), name == b"KEYWORD")
        if name in _HEADER_KEYS:
            cur.sp()
            return SearchHeader(name.decode("ascii"), cur.astring())
        if name == b"HEADER":
            cur.sp()
            field = cur.astring("a header field name")
            cur.sp()
            return SearchHeader(_header_name(field), cur.astring())
        if name == b"BODY":
            cur.sp()
            return SearchBody(cur.astring())
        if name == b"TEXT":
            cur.sp()
            return SearchText(cur.astring())
        if name in _DATE_KEYS:
            cur.sp()
            which, relation = _DATE_KEYS[name]
            return SearchDate(which, relation, cur.date())
        if name in (b"LARGER", b"SMALLER"):
            cur.sp()
            return SearchSize("LARGER" if name == b"LARGER" else "SMALLER", cur.number64("a size"))
        if name == b"UID":
            cur.sp()
            return SearchUid(cur.sequence_set())
        if name == b"NOT":
            cur.sp()
            return SearchNot(self.key(depth + 1))
        if name == b"OR":
            cur.sp()
            left = self.key(depth + 1)
            cur.sp()
            right = self.key(depth + 1)
            return SearchOr(left, right)
        if name == b"MODSEQ":
            return _modseq(cur)
        if name in (b"OLDER", b"YOUNGER"):
            cur.sp()
            return SearchWithin(
                "OLDER" if name == b"OLDER" else "YOUNGER", cur.nz_number("a number of seconds")
            )
        if name in (b"EMAILID", b"THREADID"):
            cur.sp()
            raw = cur.atom("an object id")
            if len(raw) > 255 or any(ch not in _OBJECTID_CHARS for ch in raw):
                raise ParseError("invalid object id")
            return SearchObjectId("EMAILID" if name == b"EMAILID" else "THREADID", raw.decode())
        raise ParseError(f"unknown search key {name[:40].decode('ascii', 'replace')}")


def _header_name(field: bytes) -> str:
    # RFC 5322 §3.6.8: field-name = 1*ftext, printable ASCII except ":".
    if not field or any(c < 0x21 or c > 0x7E or c == 0x3A for c in field):
        raise ParseError("invalid header field name")
    return field.decode("ascii").upper()


def _modseq(cur: Cursor) -> SearchModSeq:
    cur.sp()
    entry_name: bytes | None = None
    entry_type: str | None = None
    if cur.peek() == 0x22:
        # RFC 7162 §3.1.5: entry-name is a quoted "/flags/<flag>".
        entry_name = cur.quoted()
        if not entry_name.startswith(b"/flags/"):
            raise ParseError('MODSEQ entry name must be "/flags/<flag>"')
        cur.sp()
        kind = cur.keyword("priv, shared or all")
        if kind not in (b"PRIV", b"SHARED", b"ALL"):
            raise ParseError("MODSEQ entry type must be priv, shared or all")
        entry_type = kind.decode("ascii")
        cur.sp()
    # mod-sequence-valzer allows 0.
    return SearchModSeq(cur.number64("a mod-sequence"), entry_name, entry_type)
