"""The parse-once record: what `parse_message` computes and the store keeps.

Everything IMAP FETCH (ENVELOPE, BODYSTRUCTURE, BODY[section], BINARY[section]),
SEARCH, POP3 TOP and the webmail need about a message's structure lives here,
so that no reader ever parses the message again.

Two kinds of values appear side by side and must not be confused:

* *raw* values (type ``bytes``) are header octets exactly as the message has
  them, only unfolded (CR and LF removed, see `headers.unfold`).  IMAP renders
  them byte for byte (ENVELOPE, BODYSTRUCTURE), so they are never decoded.
* *display* values (type ``str``) are decoded for humans: RFC 2047
  encoded-words resolved, charsets converted.  They serve SEARCH, previews and
  the webmail.

Offsets are absolute positions in the raw message blob; slicing the blob with
them answers BODY[section] requests without parsing.

This module must never import the store, asyncio or anything that does I/O.
"""

from __future__ import annotations

import msgspec

# Bump when what a record holds changes (its shape, or a value the parser now
# derives differently): the SQLite store re-derives older records in the background
# (store/sqlite/derived.py), and readers re-parse a record they cannot decode.
# 2: ENVELOPE as fixed after version 1 (records written before carried the old one).
FORMAT_VERSION = 2


class Address(msgspec.Struct, frozen=True, array_like=True):
    """One IMAP address structure (RFC 9051 §7.5.2 "address").

    A group start is ``(None, None, group-name, None)`` and a group end is
    ``(None, None, None, None)`` (RFC 9051 §7.5.2, RFC 5322 §3.4 group syntax).
    """

    name: bytes | None
    adl: bytes | None
    mailbox: bytes | None
    host: bytes | None


class Envelope(msgspec.Struct, frozen=True, array_like=True):
    """Raw ENVELOPE data of one message (top level or message/rfc822 part).

    ``None`` means the header field is absent (IMAP NIL).  Sender and
    Reply-To are stored as they appear; the IMAP defaulting to From happens at
    render time (RFC 9051 §7.5.2).
    """

    date: bytes | None = None
    subject: bytes | None = None
    from_: tuple[Address, ...] | None = None
    sender: tuple[Address, ...] | None = None
    reply_to: tuple[Address, ...] | None = None
    to: tuple[Address, ...] | None = None
    cc: tuple[Address, ...] | None = None
    bcc: tuple[Address, ...] | None = None
    in_reply_to: bytes | None = None
    message_id: bytes | None = None


class HeaderField(msgspec.Struct, frozen=True, array_like=True):
    """One header field's position: ``raw[start:end]`` is the whole field
    including its final line break; ``name`` is lower-cased, and ``""`` for
    a header line without a colon (kept so HEADER.FIELDS.NOT returns it)."""

    name: str
    start: int
    end: int


class Part(msgspec.Struct, frozen=True, array_like=True):
    """One MIME entity.

    ``raw[header_start:body_start]`` is the part's header including the blank
    line that ends it (IMAP ``BODY[n.MIME]`` / ``BODY[HEADER]``);
    ``raw[body_start:body_end]`` is its body (IMAP ``BODY[n]`` /
    ``BODY[TEXT]``).  For a multipart child the body ends before the line
    break that precedes the next boundary delimiter (RFC 2046 §5.1.1: that
    CRLF belongs to the delimiter).

    ``type``/``subtype`` are lower-cased with the RFC 2045 §5.2 defaults
    applied; ``type_raw``/``subtype_raw`` keep the message's spelling for
    BODYSTRUCTURE (``None`` when the header gave none).  ``params`` keep RFC
    2231 continuations joined but still encoded, as BODYSTRUCTURE shows them;
    decoded values are in ``filename`` and ``charset``.
    """

    header_start: int
    body_start: int
    body_end: int
    type: str
    subtype: str
    type_raw: bytes | None = None
    subtype_raw: bytes | None = None
    params: tuple[tuple[bytes, bytes], ...] = ()
    content_id: bytes | None = None
    description: bytes | None = None
    encoding: bytes | None = None
    md5: bytes | None = None
    disposition: bytes | None = None
    disposition_params: tuple[tuple[bytes, bytes], ...] = ()
    language: tuple[bytes, ...] | None = None
    location: bytes | None = None
    lines: int = 0
    charset: str = "us-ascii"
    filename: str | None = None
    children: tuple[Part, ...] = ()
    # message/rfc822: the encapsulated message's envelope and root entity.
    envelope: Envelope | None = None
    message: Part | None = None
    # True when nesting went past the depth cap and this part was kept opaque
    # (its type is then application/octet-stream, whatever the header said).
    truncated: bool = False

    @property
    def size(self) -> int:
        """Body size in octets (BODYSTRUCTURE body-fld-octets)."""
        return self.body_end - self.body_start

    @property
    def is_multipart(self) -> bool:
        return self.type == "multipart" and not self.truncated

    @property
    def is_message(self) -> bool:
        return self.message is not None


class Attachment(msgspec.Struct, frozen=True, array_like=True):
    """An attachment as the webmail lists it."""

    part: tuple[int, ...]
    filename: str | None
    type: str
    size: int
    disposition: str | None


class ParsedMessage(msgspec.Struct, frozen=True, array_like=True):
    """Everything computed once per message blob (see module docstring)."""

    size: int
    root: Part
    envelope: Envelope
    headers: tuple[HeaderField, ...]
    subject: str
    from_display: str
    date: float | None
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    search_text: str
    preview: str
    attachments: tuple[Attachment, ...]
    version: int = FORMAT_VERSION


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(ParsedMessage)


def encode_parsed(parsed: ParsedMessage) -> bytes:
    """Serialise a parse record for the store (msgpack)."""
    return _ENCODER.encode(parsed)


def decode_parsed(data: bytes) -> ParsedMessage:
    """Inverse of `encode_parsed`; raises ``msgspec.DecodeError`` on garbage."""
    return _DECODER.decode(data)
