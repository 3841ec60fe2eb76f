"""Finding a part of a parsed message by its IMAP part number, and its decoded content.

IMAP's part numbering (RFC 9051 §6.4.5) is also how the webmail names an
attachment, so it lives with the part tree. Pure: no I/O; never parses again.
"""

from __future__ import annotations

from .model import ParsedMessage, Part
from .text import decode_transfer

__all__ = ["decode_part_body", "find_section"]


def find_section(parsed: ParsedMessage, part_numbers: tuple[int, ...]) -> Part | None:
    """The entity a section part specifier names, or None if there is none.

    ``()`` is the message itself.  A non-multipart message has one part, its
    body, numbered 1; a multipart's children are 1..n; a message/rfc822 part
    has the numbering of the message it encapsulates.  The `Part` returned
    for "part 1 of a non-multipart message" is that message's own entity:
    its body is the part's content.
    """
    cur = parsed.root
    in_message = True  # is `cur` a message (top level or encapsulated)?
    for n in part_numbers:
        if not in_message and cur.message is not None:
            cur = cur.message
            in_message = True
        if cur.is_multipart:
            if not 1 <= n <= len(cur.children):
                return None
            cur = cur.children[n - 1]
        elif n != 1 or not in_message:
            return None
        in_message = False
    return cur


def decode_part_body(raw: bytes | memoryview, part: Part) -> bytes | None:
    """BINARY[section] content (RFC 3516): the part body with its
    Content-Transfer-Encoding removed; None for an unknown encoding
    (the server answers ``[UNKNOWN-CTE]``)."""
    return decode_transfer(bytes(raw[part.body_start : part.body_end]), part.encoding)
