"""SMTP replies: the typed form the application hands to the core, and their wire bytes.

A reply is a three-digit code, an optional RFC 3463 enhanced status code and
one or more lines of text.  This module formats replies (RFC 5321 §4.2,
multiline replies with ``250-`` … ``250 ``) and holds the fixed replies the
core sends on its own.  It must never do I/O, and must never let the
application's text break the framing: a CR or LF inside reply text would let
one reply forge another, so it is refused as *our* mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LocalProtocolError", "Reply"]


class LocalProtocolError(Exception):
    """The application (not the peer) broke the protocol: our bug, never the client's.

    Raised, for example, when a reply is given while no command awaits one,
    or a reply's text contains a line break.
    """


# RFC 3463 §2: class.subject.detail; class is 2, 4 or 5; subject and detail
# are 1-3 digits without leading zeros (we accept what the registry uses).
_ENHANCED_RE = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}")


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply, possibly multiline.

    ``enhanced`` is the RFC 3463 status code (``"2.1.0"``); it is written
    on every line, as RFC 2034 §3 asks.  Its class must match the first
    digit of ``code`` (RFC 3463 §2).  Replies in the 3yz range (``354``)
    carry no enhanced code (RFC 2034 §3 defines them only for 2yz/4yz/5yz).
    """

    code: int
    enhanced: str | None
    lines: tuple[str, ...]

    def __init__(self, code: int, enhanced: str | None, text: str | tuple[str, ...] = "") -> None:
        lines = (text,) if isinstance(text, str) else tuple(text)
        if not lines:
            lines = ("",)
        if not 200 <= code <= 599:
            raise LocalProtocolError(f"reply code {code} out of range 200..599")
        if enhanced is not None:
            if not _ENHANCED_RE.fullmatch(enhanced):
                raise LocalProtocolError(f"malformed enhanced status code {enhanced!r}")
            if enhanced[0] != str(code)[0]:
                raise LocalProtocolError(f"enhanced code {enhanced} does not match {code}")
        for line in lines:
            # A CR or LF in the text would end the reply early and let the
            # rest of the text be read as another reply (reply injection).
            if any(ch in line for ch in "\r\n\x00"):
                raise LocalProtocolError(f"reply text contains a line break: {line!r}")
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "enhanced", enhanced)
        object.__setattr__(self, "lines", lines)

    @property
    def is_positive(self) -> bool:
        """True for 2yz and 3yz replies."""
        return self.code < 400

    @property
    def is_transient(self) -> bool:
        """True for 4yz replies (the client should try again later)."""
        return 400 <= self.code < 500

    @property
    def text(self) -> str:
        """The text lines joined with newlines (for logs)."""
        return "\n".join(self.lines)

    def to_bytes(self) -> bytes:
        """The reply on the wire: every line but the last uses ``code-``.

        RFC 5321 §4.2.1: each line of a multiline reply begins with the
        code followed by a hyphen, the last with the code followed by a
        space.
        """
        prefix = str(self.code)
        out: list[str] = []
        last = len(self.lines) - 1
        for i, line in enumerate(self.lines):
            sep = " " if i == last else "-"
            body = f"{self.enhanced} {line}" if self.enhanced else line
            out.append(f"{prefix}{sep}{body}".rstrip(" ") + "\r\n")
        return "".join(out).encode("utf-8")

    def __str__(self) -> str:
        return self.to_bytes().decode("utf-8").rstrip("\r\n")
