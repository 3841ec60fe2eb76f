"""Typed IMAP command objects (RFC 9051 §6, RFC 3501 §6 and extensions).

Every command a client can send becomes one frozen dataclass, named as the
protocol names it.  Each carries its ``tag``; ``UID`` variants carry
``uid=True`` rather than being separate classes, because RFC 9051 §6.4.9 says
the UID form is the same command with UIDs in place of sequence numbers.

Mailbox names here are already decoded to Unicode (from modified UTF-7, or
UTF-8 after ENABLE UTF8=ACCEPT) and INBOX-normalised; strings that are not
names (passwords, search text, header names) stay ``bytes`` because only the
session knows their charset.

Search keys live in :mod:`.search`, fetch items in :mod:`.fetch`.

This module only defines data.  It must never parse, and never reach the
store.
"""

from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import dataclass

from .fetch import FetchItem
from .literals import LiteralData, SpooledLiteral
from .search import SearchKey
from .sequence import SequenceSet

__all__ = [
    "Append",
    "AppendMessage",
    "Authenticate",
    "Capability",
    "Check",
    "Close",
    "Command",
    "Copy",
    "Create",
    "Delete",
    "Enable",
    "Examine",
    "Expunge",
    "Fetch",
    "Id",
    "Idle",
    "List",
    "ListReturn",
    "Login",
    "Logout",
    "Lsub",
    "Move",
    "Namespace",
    "Noop",
    "QResync",
    "Rename",
    "Search",
    "Select",
    "SpooledLiteral",
    "StartTLS",
    "Status",
    "Store",
    "StoreMode",
    "Subscribe",
    "Unselect",
    "Unsubscribe",
]


# -- any state (RFC 9051 §6.1) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Capability:
    tag: bytes


@dataclass(frozen=True, slots=True)
class Noop:
    tag: bytes


@dataclass(frozen=True, slots=True)
class Logout:
    tag: bytes


# -- not authenticated (RFC 9051 §6.2) -------------------------------------


@dataclass(frozen=True, slots=True)
class StartTLS:
    tag: bytes


@dataclass(frozen=True, slots=True)
class Authenticate:
    """AUTHENTICATE; ``initial_response`` per RFC 4959 SASL-IR.

    ``None``: no initial response was sent (the server sends an empty "+").
    ``b""``: the client sent "=" (an empty initial response).  Otherwise the
    base64-decoded bytes.
    """

    tag: bytes
    mechanism: str  # upper-cased
    initial_response: bytes | None = None


@dataclass(frozen=True, slots=True)
class Login:
    tag: bytes
    username: bytes
    password: bytes


# -- authenticated (RFC 9051 §6.3) -----------------------------------------


@dataclass(frozen=True, slots=True)
class Enable:
    tag: bytes
    capabilities: tuple[str, ...]  # upper-cased, e.g. ("UTF8=ACCEPT", "CONDSTORE")


@dataclass(frozen=True, slots=True)
class QResync:
    """RFC 7162 §3.2.5 SELECT/EXAMINE (QRESYNC (uidvalidity modseq [uids [map]]))."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    # (known sequence numbers, corresponding UIDs)
    seq_match: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(frozen=True, slots=True)
class Select:
    tag: bytes
    mailbox: str
    condstore: bool = False  # RFC 7162 §3.1.8 (CONDSTORE) parameter
    qresync: QResync | None = None


@dataclass(frozen=True, slots=True)
class Examine:
    tag: bytes
    mailbox: str
    condstore: bool = False
    qresync: QResync | None = None


@dataclass(frozen=True, slots=True)
class Create:
    tag: bytes
    mailbox: str
    special_use: tuple[str, ...] = ()  # RFC 6154 §3 CREATE ... (USE (\Sent))


@dataclass(frozen=True, slots=True)
class Delete:
    tag: bytes
    mailbox: str


@dataclass(frozen=True, slots=True)
class Rename:
    tag: bytes
    mailbox: str
    new_name: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    tag: bytes
    mailbox: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    tag: bytes
    mailbox: str


@dataclass(frozen=True, slots=True)
class ListReturn:
    """RFC 5258 §3 return options (+ RFC 5819 STATUS, RFC 6154 SPECIAL-USE)."""

    subscribed: bool = False
    children: bool = False
    special_use: bool = False
    status: tuple[str, ...] | None = None  # STATUS (MESSAGES UNSEEN ...)


@dataclass(frozen=True, slots=True)
class List:
    """LIST, basic or extended (RFC 5258).

    ``selection`` holds upper-cased selection options (SUBSCRIBED, REMOTE,
    RECURSIVEMATCH, SPECIAL-USE).  ``extended`` is True when the client used
    any extended syntax (selection options, several patterns, RETURN), which
    changes what the response may contain (RFC 5258 §3).
    """

    tag: bytes
    reference: str
    patterns: tuple[str, ...]
    selection: frozenset[str] = frozenset()
    returns: ListReturn = ListReturn()
    extended: bool = False


@dataclass(frozen=True, slots=True)
class Lsub:
    tag: bytes
    reference: str
    pattern: str | None  # None: not a valid mailbox name, so nothing matches


@dataclass(frozen=True, slots=True)
class Namespace:
    tag: bytes


@dataclass(frozen=True, slots=True)
class Status:
    tag: bytes
    mailbox: str
    items: tuple[str, ...]  # upper-cased: MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN, ...


@dataclass(frozen=True, slots=True)
class AppendMessage:
    """One message of an APPEND (RFC 3502 MULTIAPPEND allows several)."""

    data: LiteralData
    flags: tuple[str, ...] = ()
    internal_date: _dt.datetime | None = None
    binary: bool = False  # sent as literal8 "~{n}" (RFC 3516 §4.4)
    utf8: bool = False  # sent as UTF8 (~{n}) (RFC 6855 §4)


@dataclass(frozen=True, slots=True)
class Append:
    tag: bytes
    mailbox: str
    messages: tuple[AppendMessage, ...]


@dataclass(frozen=True, slots=True)
class Idle:
    tag: bytes


@dataclass(frozen=True, slots=True)
class Id:
    """RFC 2971 ID: ``None`` for NIL, else (field, value-or-None) pairs."""

    tag: bytes
    params: tuple[tuple[bytes, bytes | None], ...] | None


# -- selected (RFC 9051 §6.4) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    tag: bytes


@dataclass(frozen=True, slots=True)
class Close:
    tag: bytes


@dataclass(frozen=True, slots=True)
class Unselect:
    tag: bytes


@dataclass(frozen=True, slots=True)
class Expunge:
    """EXPUNGE, or UID EXPUNGE (RFC 4315) when ``uids`` is set."""

    tag: bytes
    uids: SequenceSet | None = None


@dataclass(frozen=True, slots=True)
class Search:
    """SEARCH / UID SEARCH.

    ``returns`` is ``None`` for a plain SEARCH (answer with ``* SEARCH``),
    otherwise the upper-cased RETURN options; an empty tuple means
    ``RETURN ()``, i.e. ESEARCH with the default ALL (RFC 4731 §3.1).
    """

    tag: bytes
    criteria: SearchKey
    charset: str | None = None
    returns: tuple[str, ...] | None = None
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Fetch:
    tag: bytes
    sequence_set: SequenceSet
    items: tuple[FetchItem, ...]
    uid: bool = False
    changedsince: int | None = None  # RFC 7162 §3.1.4.1
    vanished: bool = False  # RFC 7162 §3.2.6 (UID FETCH only)


class StoreMode(enum.Enum):
    REPLACE = "FLAGS"
    ADD = "+FLAGS"
    REMOVE = "-FLAGS"


@dataclass(frozen=True, slots=True)
class Store:
    tag: bytes
    sequence_set: SequenceSet
    mode: StoreMode
    flags: tuple[str, ...]
    silent: bool = False
    uid: bool = False
    unchangedsince: int | None = None  # RFC 7162 §3.1.3


@dataclass(frozen=True, slots=True)
class Copy:
    tag: bytes
    sequence_set: SequenceSet
    mailbox: str
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Move:
    tag: bytes
    sequence_set: SequenceSet
    mailbox: str
    uid: bool = False


Command = (
    Capability
    | Noop
    | Logout
    | StartTLS
    | Authenticate
    | Login
    | Enable
    | Select
    | Examine
    | Create
    | Delete
    | Rename
    | Subscribe
    | Unsubscribe
    | List
    | Lsub
    | Namespace
    | Status
    | Append
    | Idle
    | Id
    | Check
    | Close
    | Unselect
    | Expunge
    | Search
    | Fetch
    | Store
    | Copy
    | Move
)
