"""Name rules every backend shares: addresses, domains, mailbox names.

Backends call these before touching storage so that every backend accepts and
refuses exactly the same names (the contract suite checks it).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from posteingang.store.errors import InvalidName
from posteingang.store.model import HIERARCHY_DELIMITER

_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# RFC 5321 §4.1.2 dot-string local parts, with RFC 6531 §3.3's UTF8-non-ascii
# added to atext (`jürgen@`); quoted local parts are not accepted for hosted
# accounts (no real provider hands them out).
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~\x80-\U0010ffff-]"


@functools.cache
def _local_part() -> re.Pattern[str]:
    """Compiled on first use: the class up to U+10FFFF takes ~4 ms to compile, which
    every CLI command that imports the store (`user list`) would otherwise pay."""
    return re.compile(rf"^{_ATEXT}+(\.{_ATEXT}+)*$")


# Never in a local part even though they are not ASCII: controls, format characters
# (invisible joiners, direction marks), separators (no-break space), surrogates,
# unassigned and private-use code points. Unicode categories.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
MAX_MAILBOX_NAME = 1000  # octets of UTF-8, per path; generous but bounded


def normalize_domain(name: str) -> str:
    """Lower-case, IDNA-encode and validate a domain name."""
    raw = name.strip().rstrip(".").lower()
    try:
        ascii_name = raw.encode("idna").decode("ascii") if not raw.isascii() else raw
    except UnicodeError as exc:
        raise InvalidName(f"invalid domain name: {name!r}") from exc
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(_DOMAIN_LABEL.match(x) for x in labels):
        raise InvalidName(f"invalid domain name: {name!r}")
    return ascii_name


def normalize_address(address: str) -> str:
    """Lower-case and validate `local@domain`; returns the canonical form."""
    local, sep, domain = address.strip().rpartition("@")
    if not sep or not local:
        raise InvalidName(f"invalid address (expected local@domain): {address!r}")
    # RFC 6530 §10.1: compare UTF-8 local parts in NFC, so that "ü" typed as
    # u + U+0308 and as U+00FC is the same account.
    local = unicodedata.normalize("NFC", local).lower()
    if (
        len(local.encode("utf-8", "surrogatepass")) > 64  # RFC 5321 §4.5.3.1.1: octets
        or not _local_part().match(local)
        or any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in local if c > "\x7f")
    ):
        raise InvalidName(f"invalid local part in address: {address!r}")
    return f"{local}@{normalize_domain(domain)}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def normalize_mailbox_name(name: str) -> str:
    """Validate a mailbox name; INBOX (any case) becomes "INBOX", also as a prefix.

    Refused: empty names or path levels ("a//b", "/a", "a/"), control characters,
    names over MAX_MAILBOX_NAME octets.
    """
    if not name or len(name.encode("utf-8", "surrogatepass")) > MAX_MAILBOX_NAME:
        raise InvalidName("mailbox name is empty or too long")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidName("mailbox name contains control characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidName("mailbox name is not valid Unicode") from exc
    parts = name.split(HIERARCHY_DELIMITER)
    if any(p == "" for p in parts):
        raise InvalidName("mailbox name has an empty hierarchy level")
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return HIERARCHY_DELIMITER.join(parts)


def is_inferior(name: str, parent: str) -> bool:
    """True if `name` lies below `parent` in the hierarchy."""
    return name.startswith(parent + HIERARCHY_DELIMITER)
