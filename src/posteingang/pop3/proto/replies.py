"""POP3 replies: status lines, response codes, SASL challenges and short listings, as bytes.

A POP3 reply is a status line (``+OK`` / ``-ERR``, RFC 1939 §3), optionally
followed by a multi-line body ending in ``.`` CRLF. This module builds the
status lines and the small multi-line listings (CAPA, LIST, UIDL, LANG) whose
bodies are built from a handful of short lines. Message bodies (RETR, TOP) are
large and are streamed through `multiline.DotStuffer` instead.

Every builder refuses text that could break the framing (CR, LF, NUL) or the
512-octet limit on a first response line (RFC 2449 §4), raising
`LocalProtocolError`: that is our mistake, never the client's.

This module must never import sockets, asyncio or the store, and never put
client-supplied bytes into a reply without the checks above.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

# RFC 2449 §4: the first line of a response, greeting included, is at most 512
# octets including CRLF.
MAX_RESPONSE_LINE = 512

# RFC 1939 §7 (UIDL): a unique-id is 1 to 70 characters in the range 0x21..0x7E.
_UNIQUE_ID = re.compile(rb"[\x21-\x7e]{1,70}")
# RFC 1939 §7 (APOP) and RFC 5322 msg-id: the timestamp looks like <...@...>.
_APOP_TIMESTAMP = re.compile(r"<[\x21-\x3d\x3f-\x7e]+@[\x21-\x3d\x3f-\x7e]+>")


class LocalProtocolError(Exception):
    """Our side tried to do something the protocol does not allow (a bug in the caller)."""


class ResponseCode(enum.Enum):
    """Extended response codes, sent in brackets after ``-ERR`` (RFC 2449 §8)."""

    IN_USE = "IN-USE"  # RFC 2449 §8.1.1: the maildrop is locked by another session
    LOGIN_DELAY = "LOGIN-DELAY"  # RFC 2449 §8.1.2: logged in too recently
    SYS_TEMP = "SYS/TEMP"  # RFC 3206 §4: a temporary system problem, try later
    SYS_PERM = "SYS/PERM"  # RFC 3206 §4: a permanent system problem, do not retry
    AUTH = "AUTH"  # RFC 3206 §5: the credentials are wrong (not a system problem)
    UTF8 = "UTF8"  # RFC 6856 §2: the maildrop needs UTF8 mode, which the client did not enable


def _check_text(text: str) -> bytes:
    encoded = text.encode("utf-8")
    if b"\r" in encoded or b"\n" in encoded or b"\x00" in encoded:
        raise LocalProtocolError(f"reply text must not contain CR, LF or NUL: {text!r}")
    return encoded


def _finish_line(line: bytes) -> bytes:
    line += b"\r\n"
    if len(line) > MAX_RESPONSE_LINE:
        raise LocalProtocolError(f"response line of {len(line)} octets exceeds {MAX_RESPONSE_LINE}")
    return line


@dataclass(frozen=True, slots=True)
class Ok:
    """A ``+OK`` status line. For a multi-line reply, send this and then the body."""

    text: str = ""

    def to_bytes(self) -> bytes:
        encoded = _check_text(self.text)
        return _finish_line(b"+OK " + encoded if encoded else b"+OK")


@dataclass(frozen=True, slots=True)
class Err:
    """A ``-ERR`` status line, with an optional RFC 2449/3206/6856 response code."""

    text: str = ""
    code: ResponseCode | None = None

    def to_bytes(self) -> bytes:
        encoded = _check_text(self.text)
        line = b"-ERR"
        if self.code is not None:
            line += b" [" + self.code.value.encode("ascii") + b"]"
        if encoded:
            line += b" " + encoded
        return _finish_line(line)


@dataclass(frozen=True, slots=True)
class Continuation:
    """A SASL server challenge: ``+`` SP base64 CRLF (RFC 5034 §4).

    Challenges may be longer than 512 octets; the limit only binds status lines.
    """

    challenge: bytes = b""

    def to_bytes(self) -> bytes:
        return b"+ " + base64.b64encode(self.challenge) + b"\r\n"

    def __repr__(self) -> str:
        return f"Continuation(<{len(self.challenge)} octets>)"


Reply = Ok | Err | Continuation


def ok(text: str = "") -> bytes:
    """``+OK text`` CRLF."""
    return Ok(text).to_bytes()


def err(text: str = "", code: ResponseCode | None = None) -> bytes:
    """``-ERR [CODE] text`` CRLF."""
    return Err(text, code).to_bytes()


def continuation(challenge: bytes = b"") -> bytes:
    """``+ base64(challenge)`` CRLF."""
    return Continuation(challenge).to_bytes()


def greeting(text: str = "POP3 server ready", apop_timestamp: str | None = None) -> bytes:
    """The server greeting (RFC 1939 §4), with the APOP timestamp appended if given.

    A server offering APOP must put a fresh timestamp (unique per connection,
    e.g. ``<pid.clock@hostname>``) into every greeting (RFC 1939 §7).
    """
    if apop_timestamp is not None:
        if not _APOP_TIMESTAMP.fullmatch(apop_timestamp):
            raise LocalProtocolError(f"malformed APOP timestamp: {apop_timestamp!r}")
        text = f"{text} {apop_timestamp}" if text else apop_timestamp
    return ok(text)


def apop_digest(timestamp: str, secret: str) -> str:
    """MD5(timestamp + secret) in lower-case hex, as the APOP client computes it (RFC 1939 §7).

    Compare it with `Apop.digest` using `hmac.compare_digest`.
    """
    # MD5 is what RFC 1939 specifies; it is a protocol requirement, not our choice.
    return hashlib.md5((timestamp + secret).encode("utf-8"), usedforsecurity=False).hexdigest()


def listing(lines: Iterable[str | bytes]) -> bytes:
    """The body of a short multi-line reply: the lines dot-stuffed, then ``.`` CRLF (RFC 1939 §3).

    Send it right after the ``+OK`` from `POP3Connection.send`. For CAPA, LIST,
    UIDL and LANG listings; message bodies stream through `DotStuffer`.
    Each line must be a single line without CR or LF.
    """
    parts = []
    for line in lines:
        encoded = line.encode("utf-8") if isinstance(line, str) else line
        if b"\r" in encoded or b"\n" in encoded:
            raise LocalProtocolError(f"listing line must not contain CR or LF: {line!r}")
        if encoded.startswith(b"."):
            encoded = b"." + encoded
        parts.append(encoded + b"\r\n")
    parts.append(b".\r\n")
    return b"".join(parts)


def scan_line(msg: int, size: int) -> str:
    """One scan listing line, ``msg size`` (RFC 1939 §5, LIST)."""
    if msg < 1 or size < 0:
        raise LocalProtocolError(f"bad scan listing: msg={msg} size={size}")
    return f"{msg} {size}"


def uidl_line(msg: int, unique_id: str) -> str:
    """One unique-id listing line, ``msg unique-id`` (RFC 1939 §7, UIDL)."""
    if msg < 1 or not _UNIQUE_ID.fullmatch(unique_id.encode("utf-8")):
        raise LocalProtocolError(f"bad unique-id listing: msg={msg} uid={unique_id!r}")
    return f"{msg} {unique_id}"
