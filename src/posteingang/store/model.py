"""The store's data model: plain frozen records that every backend returns.

These records are what protocols see. They carry no behaviour that touches a
database, so a session can hold them without holding a connection. Message
*bytes* never live here: a `Message` names its blob, and bodies are streamed
from the blob store when a client asks for them.

Modseqs: one counter per account. Every committed mutation in an account takes
the next value, so a subscriber that knows "I have seen everything up to modseq
N in this account" can resync every mailbox from one number. Within a mailbox
that still gives what RFC 7162 needs: modseqs only grow, and a mailbox's
`highestmodseq` is the modseq of its last change.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

# System flags in their canonical spelling (RFC 9051 §2.3.2). Flag comparison is
# case-insensitive; the store always hands back this spelling.
SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DELETED = "\\Deleted"
DRAFT = "\\Draft"
SYSTEM_FLAGS: tuple[str, ...] = (SEEN, ANSWERED, FLAGGED, DELETED, DRAFT)

_SYSTEM_BY_LOWER = {f.lower(): f for f in SYSTEM_FLAGS}
_FLAG_BITS = {f: 1 << i for i, f in enumerate(SYSTEM_FLAGS)}


def canonical_flag(flag: str) -> str:
    """The stored spelling of a flag: system flags canonical, keywords as given."""
    return _SYSTEM_BY_LOWER.get(flag.lower(), flag)


def canonical_flags(flags: Iterable[str]) -> frozenset[str]:
    """Canonicalise an iterable of flag names."""
    assert not isinstance(flags, str | bytes)
    return frozenset(canonical_flag(f) for f in flags)


def flags_to_bits(flags: frozenset[str]) -> tuple[int, str]:
    """Split flags into a system-flag bitmask and a sorted, space-joined keyword string.

    The bitmask form is what backends persist: loading flags for a whole mailbox
    is then an integer per row, not a string parse.
    """
    bits = 0
    keywords = []
    for f in flags:
        bit = _FLAG_BITS.get(f)
        if bit is None:
            keywords.append(f)
        else:
            bits |= bit
    return bits, " ".join(sorted(keywords))


_FLAGS_CACHE: dict[tuple[int, str], frozenset[str]] = {}


def bits_to_flags(bits: int, keywords: str) -> frozenset[str]:
    """Inverse of `flags_to_bits`, interned: a mailbox has few distinct flag sets."""
    key = (bits, keywords)
    found = _FLAGS_CACHE.get(key)
    if found is not None:
        return found
    names = [f for f, b in _FLAG_BITS.items() if bits & b]
    if keywords:
        names.extend(keywords.split(" "))
    value = frozenset(names)
    if len(_FLAGS_CACHE) < 65536:
        _FLAGS_CACHE[key] = value
    return value


class SpecialUse(enum.StrEnum):
    """RFC 6154 special-use attributes (plus \\Inbox for the mailbox that is INBOX)."""

    INBOX = "\\Inbox"
    SENT = "\\Sent"
    DRAFTS = "\\Drafts"
    TRASH = "\\Trash"
    JUNK = "\\Junk"
    ARCHIVE = "\\Archive"


# Every account starts with these mailboxes (foundation issue, item 4).
DEFAULT_MAILBOXES: tuple[tuple[str, SpecialUse], ...] = (
    ("INBOX", SpecialUse.INBOX),
    ("Sent", SpecialUse.SENT),
    ("Drafts", SpecialUse.DRAFTS),
    ("Trash", SpecialUse.TRASH),
    ("Junk", SpecialUse.JUNK),
    ("Archive", SpecialUse.ARCHIVE),
)

HIERARCHY_DELIMITER = "/"


class DeletionPolicy(enum.StrEnum):
    """What a POP3 DELE does at QUIT (see DESIGN.md, "POP3 and IMAP on one mailbox")."""

    EXPUNGE = "expunge"
    TRASH = "trash"
    HIDE = "hide"


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    catch_all: str | None = None  # address that receives mail for unknown local parts


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """Per-account overrides; `None` means "use the server default from config"."""

    pop3_deletion_policy: DeletionPolicy | None = None
    pop3_retention_days: int | None = None
    pop3_uidl_format: str | None = None  # "default", "dovecot", "cyrus"
    pop3_login_delay: int | None = None


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    address: str  # the login name, lower-cased full address
    password_hash: str
    quota_bytes: int | None = None
    settings: AccountSettings = field(default_factory=AccountSettings)
    # SCRAM-SHA-256 stored keys ("salt$iterations$storedkey$serverkey", base64 parts),
    # derived when the password is set so the server never needs the plaintext again.
    scram_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class AccountUsage:
    """An account with what it holds: `posteingang user list`'s row."""

    account: Account
    used_bytes: int  # the sum of its messages' sizes (what the quota limits)
    mailboxes: int


@dataclass(frozen=True, slots=True)
class Alias:
    source: str  # full address, lower-cased
    target: str  # full address of an account, lower-cased


@dataclass(frozen=True, slots=True)
class Device:
    """An app password: one device's own credential for one account."""

    id: int
    account_id: int
    name: str
    password_hash: str
    created: datetime
    last_login: datetime | None = None
    last_protocol: str | None = None
    last_address: str | None = None
    last_client_id: str | None = None
    # The password's first group, in the clear: a login looks the device up by it and
    # verifies exactly one hash (None: a password made before selectors existed).
    selector: str | None = None


@dataclass(frozen=True, slots=True)
class Mailbox:
    id: int
    account_id: int
    name: str  # UTF-8, hierarchy delimiter "/", "INBOX" always spelled so
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    special_use: SpecialUse | None = None
    # \Recent (RFC 3501 §2.3.2): uids from here on were announced to no session yet.
    first_recent_uid: int = 1


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """Counts for STATUS and LIST-STATUS, computed by the backend."""

    mailbox: Mailbox
    messages: int
    unseen: int
    deleted: int
    size: int
    recent: int = 0  # messages no session has claimed as \Recent yet


@dataclass(frozen=True, slots=True)
class Message:
    """One message in one mailbox. The same blob may back messages in several mailboxes."""

    mailbox_id: int
    uid: int
    modseq: int
    flags: frozenset[str]
    internal_date: datetime  # timezone-aware
    size: int  # octets of the stored blob
    blob_id: str  # SHA-256 hex of the bytes
    email_id: str  # stable OBJECTID (RFC 8474): same across COPY/MOVE
    thread_id: str
    save_date: datetime


class MessageBody(NamedTuple):
    """What sending a whole message needs (`Store.read_messages`): part of its row, and
    its octets when they are small and stored with the metadata (else None: open the
    blob). A tuple, not a `Message`: FETCH of a whole mailbox builds one per message."""

    uid: int
    modseq: int
    flags: frozenset[str]
    size: int
    blob_id: str
    data: bytes | None


@dataclass(frozen=True, slots=True)
class MailboxIndex:
    """uid/modseq/flags of every message in a mailbox, in uid order.

    This is what SELECT loads. It is column-shaped so that a 1,000,000-message
    mailbox costs three flat sequences, not a million objects.
    """

    mailbox: Mailbox
    uids: list[int]
    modseqs: list[int]
    flags: list[frozenset[str]]


class FlagOp(enum.Enum):
    """STORE's three forms (RFC 9051 §6.4.6)."""

    SET = "set"
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class FlagUpdate:
    uid: int
    modseq: int
    flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class AppendResult:
    mailbox_id: int
    uidvalidity: int
    uid: int
    modseq: int


@dataclass(frozen=True, slots=True)
class CopyResult:
    """COPYUID data (RFC 4315): source uids and the uids they got in the target."""

    uidvalidity: int
    source_uids: list[int]
    target_uids: list[int]
    modseq: int


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed in a mailbox after a modseq: for resync after falling behind."""

    mailbox: Mailbox
    changed: list[FlagUpdate]  # messages added or whose flags changed, in uid order
    vanished: list[int]  # uids expunged since, in ascending order


@dataclass(frozen=True, slots=True)
class LoginRecord:
    account_id: int
    device_id: int | None
    protocol: str
    address: str
    client_id: str | None
    at: datetime
    # The source the login came from as the throttle counts it (IPv4 address, IPv6 /64):
    # a source with a recent login is trusted by smart lockout.  None: `address`.
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Pop3View:
    """What one POP3 client (an account login or one device) has done in a mailbox.

    `retrieved` maps uid -> when this client first retrieved it (RETR/TOP of the
    whole message); `hidden` are uids this client deleted under the `hide`
    policy: gone from its maildrop, still there for IMAP, webmail and others.
    """

    retrieved: dict[int, datetime]
    hidden: frozenset[int]


class PageFilter(enum.StrEnum):
    """Which messages a page of a mailbox's list shows (`Store.message_page`)."""

    ALL = "all"
    UNSEEN = "unseen"
    FLAGGED = "flagged"


class PageSort(enum.StrEnum):
    """The order of a mailbox's message list (`Store.message_page`)."""

    ARRIVAL = "arrival"  # by uid: the order messages arrived in
    SIZE = "size"  # by size, then uid
    DATE = "date"  # by the Date header (else arrival time), then uid
    FROM = "from"  # by the sender as the list shows it (store/sortkeys.py), then uid
    SUBJECT = "subject"  # by the base subject (no Re:/Fwd:), then uid


@dataclass(frozen=True, slots=True)
class MailboxCounts:
    """How many messages a mailbox holds, and how many are unread and flagged
    (`Store.mailbox_counts`: the folder list and every live update need them)."""

    messages: int
    unseen: int
    flagged: int


@dataclass(frozen=True, slots=True)
class MessagePage:
    """One page of a mailbox's message list (the webmail's list view).

    `total` counts the messages that match the filter, so a page knows how many
    pages there are without loading the others.
    """

    total: int
    messages: list[Message]
