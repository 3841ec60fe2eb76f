"""What SEARCH reads from the blob when the parse record's text did not match.

The parse record's ``search_text`` holds the text/plain and text/html body
parts, those inside attached messages included.  BODY and TEXT also look at
(RFC 9051 §6.4.4 "in the body"/"in the header or body"):

* the other text/* leaves (attachments, calendars), decoded;
* message/global leaves (RFC 6532): an internationalised message that
  Dovecot 2.3, and so our BODYSTRUCTURE, shows as a leaf; its body is a whole
  message, parsed here on demand: its header goes to TEXT, its text to both;
* for TEXT only, the header of every attached message/rfc822 (``Subject:``
  of a forwarded message is "in the header or body" of the message that
  carries it).

Read in a worker thread, bounded by `EXTRA_TEXT_LIMIT` characters of text and
as many octets of header.  Pure apart from reading the open blob file; never
changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

from posteingang.mime import ParsedMessage, Part, parse_message
from posteingang.mime.text import decode_transfer, part_text
from posteingang.store import fulltext

__all__ = ["EXTRA_TEXT_LIMIT", "ExtraText", "Sources", "extra_sources", "read_extra"]

#: decoded characters of text (and octets of headers) searched per message
EXTRA_TEXT_LIMIT = 1 << 20


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a message's extra text is: leaves to decode, attached headers."""

    leaves: tuple[Part, ...]  # text/* not in search_text, message/global
    messages: tuple[Part, ...]  # root entities of attached message/rfc822 parts

    def any_for(self, *, headers: bool) -> bool:
        """Whether reading the blob can add anything (TEXT: ``headers=True``)."""
        return bool(self.leaves) or (headers and bool(self.messages))


@dataclass(slots=True)
class ExtraText:
    """The extra text of one message: body text, and header blocks for TEXT."""

    text: str = ""
    headers: list[bytes] = field(default_factory=list)


def _is_global(part: Part) -> bool:
    return part.type == "message" and part.subtype == "global"


def extra_sources(parsed: ParsedMessage) -> Sources:
    """The leaves and attached messages of `parsed` that `read_extra` reads (the full-text
    index's rule, `store.fulltext.extra_sources`, so both read the same text)."""
    leaves, messages = fulltext.extra_sources(parsed)
    return Sources(tuple(leaves), tuple(messages))


def read_extra(f: BinaryIO, sources: Sources) -> ExtraText:
    """The extra text of the message in `f` (its blob), within the limits."""
    out = ExtraText()
    texts: list[str] = []
    left = EXTRA_TEXT_LIMIT
    header_left = EXTRA_TEXT_LIMIT
    for part in sources.leaves:
        if left <= 0:
            break
        f.seek(part.body_start)
        body = f.read(part.body_end - part.body_start)
        if _is_global(part):
            inner = decode_transfer(body, part.encoding)
            if inner is None:
                inner = body
            parsed = parse_message(inner, text_limit=left)
            head = inner[: parsed.root.body_start][:header_left]
            out.headers.append(head)
            header_left -= len(head)
            text = parsed.search_text
        else:
            text = part_text(body, part.encoding, part.charset, part.subtype)[:left]
        texts.append(text)
        left -= len(text)
    for message in sources.messages:
        if header_left <= 0:
            break
        f.seek(message.header_start)
        head = f.read(min(message.body_start - message.header_start, header_left))
        out.headers.append(head)
        header_left -= len(head)
    out.text = "\n".join(texts)
    return out
