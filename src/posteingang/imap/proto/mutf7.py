"""Mailbox names on the wire: the modified UTF-7 codec (`mime.mutf7`) and INBOX normalisation."""

from __future__ import annotations

from posteingang.mime.mutf7 import MUTF7Error, decode, encode

__all__ = [
    "MUTF7Error",
    "decode",
    "encode",
    "normalize_mailbox",
]


def normalize_mailbox(name: str) -> str:
    """Return the canonical form of a decoded mailbox name.

    RFC 9051 §5.1: "INBOX" is case-insensitive; every other name is
    case-sensitive.  "inbox", "Inbox" → "INBOX", and so do hierarchy children:
    "inbox/Sub" → "INBOX/Sub" (the delimiter is "/").
    """
    if name.upper() == "INBOX":
        return "INBOX"
    if name[:6].upper() == "INBOX/":
        return "INBOX" + name[5:]
    return name
