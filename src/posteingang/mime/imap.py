"""IMAP views of the parse-once record: ENVELOPE, BODY/BODYSTRUCTURE,
BODY[section] slicing and BINARY decoding.

Pure rendering: the inputs are a `ParsedMessage` (and for sections the raw
blob), the output is IMAP bytes ready to be placed after ``ENVELOPE `` or
``BODYSTRUCTURE `` in a FETCH response.  Nothing here parses the message
again, touches the store or does I/O.

The string rules follow RFC 9051 §4.3 / RFC 3501 §4.3 and, where the RFCs
leave a choice, Dovecot (so that clients see what they are used to, and the
differential tests can demand byte equality):

* a string is quoted when it can be: no CR, LF, NUL or 8-bit octets; ``"``
  and ``\\`` are escaped, but a string with more than four of them becomes a
  literal (cheaper than many escapes);
* ``nolf`` values (Date, Message-ID, In-Reply-To, Content-ID ...) lose the
  line breaks of folding; a line break not followed by white space becomes
  one space;
* "for humans" values (Subject and display names) have every run of white
  space (including folding) collapsed to one space and are trimmed; if that
  changes anything, or the value has 8-bit octets or quote characters, it is
  sent as a literal.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .headers import split_fields
from .model import Address, Envelope, ParsedMessage, Part
from .text import decode_transfer

NIL = b"NIL"
_LWSP_RUN = re.compile(rb"[ \t\r\n]+")
_QUOTED_MAX_ESCAPES = 4
_EMPTY_BODYSTRUCTURE = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)'
_EMPTY_BODYSTRUCTURE_EXT = _EMPTY_BODYSTRUCTURE[:-1] + b" NIL NIL NIL NIL)"


# ---------------------------------------------------------------------------
# Strings (RFC 9051 §4.3)


# RFC 9051 §4.3: a literal may hold any octet but NUL; only literal8 (BINARY,
# RFC 3516) may.  Like Dovecot, a NUL in anything sent in an ordinary literal
# (BODY[...], RFC822*, header values) goes out as 0x80: one octet for one, so
# every size already announced (RFC822.SIZE, BODYSTRUCTURE, partial offsets)
# stays true.  BINARY[...] sends the exact octets in a literal8.


def nul_free(data: bytes) -> bytes:
    """``data`` with each NUL octet mapped to 0x80 (same length), for ``{n}`` literals."""
    if b"\x00" in data:
        return data.replace(b"\x00", b"\x80")
    return data


def _literal(value: bytes) -> bytes:
    return b"{%d}\r\n" % len(value) + nul_free(value)


def string(value: bytes) -> bytes:
    """An IMAP string: quoted when possible, else a literal."""
    escapes = 0
    for c in value:
        if c == 0x22 or c == 0x5C:
            escapes += 1
            if escapes > _QUOTED_MAX_ESCAPES:
                return _literal(value)
        elif c in (0x0A, 0x0D, 0x00) or c >= 0x80:
            return _literal(value)
    if escapes:
        value = value.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b'"' + value + b'"'


def nstring(value: bytes | None) -> bytes:
    """An IMAP nstring: NIL for an absent value."""
    return NIL if value is None else string(value)


def nstring_nolf(value: bytes | None) -> bytes:
    """An nstring with folding line breaks removed (see module docstring)."""
    if value is None:
        return NIL
    if b"\n" in value or b"\r" in value:
        out = bytearray()
        n = len(value)
        for i, c in enumerate(value):
            if c not in (0x0A, 0x0D):
                out.append(c)
            elif i + 1 < n and value[i + 1] not in (0x20, 0x09, 0x0A, 0x0D):
                out.append(0x20)
        value = bytes(out)
    return string(value)


def string_for_humans(value: bytes) -> bytes:
    """A string with white space normalised for display (module docstring)."""
    cleaned = _LWSP_RUN.sub(b" ", value.replace(b"\x00", b"\x80")).strip(b" ")
    if cleaned == value and not any(c >= 0x80 or c in (0x22, 0x5C) for c in value):
        return b'"' + value + b'"'
    if not cleaned:
        return b'""'
    return _literal(cleaned)


# ---------------------------------------------------------------------------
# ENVELOPE (RFC 9051 §7.5.2)


def _address_list(addrs: tuple[Address, ...] | None) -> bytes:
    if addrs is None:
        return NIL
    out = [b"("]
    for a in addrs:
        out.append(b"(")
        out.append(NIL if a.name is None else string_for_humans(a.name))
        out.append(b" ")
        out.append(nstring(a.adl))
        out.append(b" ")
        out.append(nstring(a.mailbox))
        out.append(b" ")
        out.append(nstring(a.host))
        out.append(b")")
    out.append(b")")
    return b"".join(out)


def envelope_bytes(env: Envelope) -> bytes:
    """One envelope as a parenthesised IMAP list."""
    from_ = _address_list(env.from_)
    return b"".join(
        (
            b"(",
            nstring_nolf(env.date),
            b" ",
            NIL if env.subject is None else string_for_humans(env.subject),
            b" ",
            from_,
            b" ",
            from_ if env.sender is None else _address_list(env.sender),
            b" ",
            from_ if env.reply_to is None else _address_list(env.reply_to),
            b" ",
            _address_list(env.to),
            b" ",
            _address_list(env.cc),
            b" ",
            _address_list(env.bcc),
            b" ",
            nstring_nolf(env.in_reply_to),
            b" ",
            nstring_nolf(env.message_id),
            b")",
        )
    )


def render_envelope(parsed: ParsedMessage) -> bytes:
    """FETCH ENVELOPE value, e.g. ``("date" "subject" ((...)) ...)``."""
    return envelope_bytes(parsed.envelope)


# ---------------------------------------------------------------------------
# BODY / BODYSTRUCTURE (RFC 9051 §7.5.2, RFC 3501 §7.4.2)


def _params(params: tuple[tuple[bytes, bytes], ...], default_charset: bool) -> bytes:
    if not params and not default_charset:
        return NIL
    items = []
    seen_charset = False
    for name, value in params:
        if name.lower() == b"charset":
            seen_charset = True
        items.append(string(name) + b" " + string(value))
    if default_charset and not seen_charset:
        items.append(b'"charset" "us-ascii"')
    return b"(" + b" ".join(items) + b")"


def _extension_common(part: Part) -> bytes:
    if part.disposition is None:
        disp = NIL
    else:
        disp = (
            b"(" + string(part.disposition) + b" " + _params(part.disposition_params, False) + b")"
        )
    if part.language is None:
        lang = NIL
    else:
        lang = b"(" + b" ".join(string(x) for x in part.language) + b")"
    return b" " + disp + b" " + lang + b" " + nstring_nolf(part.location)


def _body(part: Part, extensible: bool) -> bytes:
    if part.is_multipart:
        if part.children:
            kids = b"".join(b"(" + _body(c, extensible) + b")" for c in part.children)
        else:
            # RFC 9051 requires at least one part; say "one empty text part".
            kids = _EMPTY_BODYSTRUCTURE if not extensible else _EMPTY_BODYSTRUCTURE_EXT
        out = kids + b" " + (string(part.subtype_raw) if part.subtype_raw else b'"x-unknown"')
        if extensible:
            out += b" " + _params(part.params, False) + _extension_common(part)
        return out

    if part.message is not None:
        head = b'"message" "rfc822"'
        text = False
    else:
        if part.type_raw is None:
            text = True
            head = b'"text"'
        else:
            text = part.type_raw.lower() == b"text"
            head = string(part.type_raw)
        if part.subtype_raw is not None:
            head += b" " + string(part.subtype_raw)
        else:
            head += b' "plain"' if text else b' "unknown"'
    fields = [
        head,
        _params(part.params, text),
        nstring_nolf(part.content_id),
        nstring_nolf(part.description),
        string(part.encoding) if part.encoding is not None else b'"7bit"',
        b"%d" % part.size,
    ]
    if text:
        fields.append(b"%d" % part.lines)
    elif part.message is not None:
        env = part.envelope if part.envelope is not None else Envelope()
        fields.append(envelope_bytes(env))
        fields.append(b"(" + _body(part.message, extensible) + b")")
        fields.append(b"%d" % part.lines)
    out = b" ".join(fields)
    if extensible:
        out += b" " + nstring_nolf(part.md5) + _extension_common(part)
    return out


def render_bodystructure(parsed: ParsedMessage, extensible: bool = True) -> bytes:
    """FETCH BODYSTRUCTURE (``extensible=True``) or BODY value, parenthesised."""
    return b"(" + _body(parsed.root, extensible) + b")"


# ---------------------------------------------------------------------------
# Sections (RFC 9051 §6.4.5)


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


class SectionText(enum.Enum):
    """The section-text of a BODY[...] request (RFC 9051 §6.4.5)."""

    HEADER = "HEADER"
    HEADER_FIELDS = "HEADER.FIELDS"
    HEADER_FIELDS_NOT = "HEADER.FIELDS.NOT"
    TEXT = "TEXT"
    MIME = "MIME"


@dataclass(frozen=True, slots=True)
class Section:
    """A BODY[...] / BINARY[...] section: part numbers plus an optional text
    specifier; ``fields`` (lower or any case) for the HEADER.FIELDS forms."""

    part: tuple[int, ...] = ()
    text: SectionText | None = None
    fields: tuple[str, ...] = ()


def _message_for(parsed: ParsedMessage, part_numbers: tuple[int, ...]) -> Part | None:
    """The message whose HEADER/TEXT a section names (top or message/rfc822)."""
    if not part_numbers:
        return parsed.root
    p = find_section(parsed, part_numbers)
    if p is None or p.message is None:
        return None
    return p.message


def section_range(parsed: ParsedMessage, section: Section) -> tuple[int, int] | None:
    """Blob offsets of a contiguous section (all but HEADER.FIELDS[.NOT]).

    None when the section does not exist.  Lets the server stream
    ``BODY[...]`` straight from the blob file.
    """
    t = section.text
    if t is None:
        if not section.part:
            return (0, parsed.size)
        p = find_section(parsed, section.part)
        return None if p is None else (p.body_start, p.body_end)
    if t is SectionText.MIME:
        if not section.part:
            return None
        p = find_section(parsed, section.part)
        return None if p is None else (p.header_start, p.body_start)
    m = _message_for(parsed, section.part)
    if m is None:
        return None
    if t is SectionText.HEADER:
        return (m.header_start, m.body_start)
    if t is SectionText.TEXT:
        return (m.body_start, m.body_end)
    return None


def section_bytes(raw: bytes | memoryview, parsed: ParsedMessage, section: Section) -> bytes | None:
    """The octets of a BODY[section]; None when the section does not exist."""
    rng = section_range(parsed, section)
    if rng is not None:
        return bytes(raw[rng[0] : rng[1]])
    if section.text not in (SectionText.HEADER_FIELDS, SectionText.HEADER_FIELDS_NOT):
        return None
    m = _message_for(parsed, section.part)
    if m is None:
        return None
    wanted = {f.lower() for f in section.fields}
    keep = section.text is SectionText.HEADER_FIELDS
    if m is parsed.root:
        spans = [(h.name, h.start, h.end) for h in parsed.headers]
    else:
        blob = bytes(raw[: m.body_start])
        spans = [(n, s, e) for n, s, _v, e in split_fields(blob, m.header_start, m.body_start)]
    out = [bytes(raw[s:e]) for name, s, e in spans if (name in wanted) == keep]
    # RFC 9051 §6.4.5: the subset still ends with the blank line of a header.
    # Like Dovecot, HEADER.FIELDS.NOT adds it only when the header had one.
    if keep or _ends_with_blank_line(bytes(raw[m.header_start : m.body_start])):
        out.append(b"\r\n")
    return b"".join(out)


def _ends_with_blank_line(block: bytes) -> bool:
    return block in (b"\n", b"\r\n") or block.endswith((b"\n\n", b"\n\r\n"))


def decode_part_body(raw: bytes | memoryview, part: Part) -> bytes | None:
    """BINARY[section] content (RFC 3516): the part body with its
    Content-Transfer-Encoding removed; None for an unknown encoding
    (the server answers ``[UNKNOWN-CTE]``)."""
    return decode_transfer(bytes(raw[part.body_start : part.body_end]), part.encoding)
