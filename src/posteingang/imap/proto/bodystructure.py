"""ENVELOPE and BODY/BODYSTRUCTURE of a parse-once record, as IMAP bytes (RFC 9051 §7.5.2).

The input is a `mime.ParsedMessage`; the output is ready to be placed after
``ENVELOPE `` or ``BODYSTRUCTURE `` in a FETCH response. Nothing here parses
the message again, touches the store or does I/O (the FETCH code caches the
rendered bytes per blob).

The string rules follow RFC 9051 §4.3 / RFC 3501 §4.3 and, where the RFCs
leave a choice, Dovecot (so that clients see what they are used to, and the
differential tests can demand byte equality). Quoting itself is
`responses.quoted` and literals are `responses.literal_header` + `nul_free`;
what is chosen here is the form of a value taken from a message header:

* `header_string`: quoted when it can be (no CR, LF, NUL or 8-bit octets), but
  a string with more than four ``"`` or ``\\`` becomes a literal (cheaper than
  many escapes);
* ``nolf`` values (Date, Message-ID, In-Reply-To, Content-ID ...) lose the
  line breaks of folding; a line break not followed by white space becomes
  one space;
* "for humans" values (Subject and display names) have every run of white
  space (including folding) collapsed to one space and are trimmed; if that
  changes anything, or the value has 8-bit octets or quote characters, it is
  sent as a literal.
"""

from __future__ import annotations

import re

from posteingang.mime import Address, Envelope, ParsedMessage, Part

from .responses import literal_header, nul_free, quoted

__all__ = [
    "envelope_bytes",
    "header_nstring",
    "header_string",
    "nstring_nolf",
    "render_bodystructure",
    "render_envelope",
    "string_for_humans",
]

NIL = b"NIL"
_LWSP_RUN = re.compile(rb"[ \t\r\n]+")
_QUOTED_MAX_ESCAPES = 4
_EMPTY_BODYSTRUCTURE = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)'
_EMPTY_BODYSTRUCTURE_EXT = _EMPTY_BODYSTRUCTURE[:-1] + b" NIL NIL NIL NIL)"


# -- strings from headers (module docstring) ----------------------------------


def _literal(value: bytes) -> bytes:
    return literal_header(len(value)) + nul_free(value)


def header_string(value: bytes) -> bytes:
    """An IMAP string for a header-derived value: quoted when possible, else a literal."""
    escapes = 0
    for c in value:
        if c == 0x22 or c == 0x5C:
            escapes += 1
            if escapes > _QUOTED_MAX_ESCAPES:
                return _literal(value)
        elif c in (0x0A, 0x0D, 0x00) or c >= 0x80:
            return _literal(value)
    if escapes:
        return quoted(value)
    return b'"' + value + b'"'


def header_nstring(value: bytes | None) -> bytes:
    """`header_string`, or NIL for an absent value."""
    return NIL if value is None else header_string(value)


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
    return header_string(value)


def string_for_humans(value: bytes) -> bytes:
    """A string with white space normalised for display (module docstring)."""
    cleaned = _LWSP_RUN.sub(b" ", value.replace(b"\x00", b"\x80")).strip(b" ")
    if cleaned == value and not any(c >= 0x80 or c in (0x22, 0x5C) for c in value):
        return b'"' + value + b'"'
    if not cleaned:
        return b'""'
    return _literal(cleaned)


# -- ENVELOPE (RFC 9051 §7.5.2) ----------------------------------------------


def _address_list(addrs: tuple[Address, ...] | None) -> bytes:
    if addrs is None:
        return NIL
    out = [b"("]
    for a in addrs:
        out.append(b"(")
        out.append(NIL if a.name is None else string_for_humans(a.name))
        out.append(b" ")
        out.append(header_nstring(a.adl))
        out.append(b" ")
        out.append(header_nstring(a.mailbox))
        out.append(b" ")
        out.append(header_nstring(a.host))
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


# -- BODY / BODYSTRUCTURE (RFC 9051 §7.5.2, RFC 3501 §7.4.2) ----------------


def _params(params: tuple[tuple[bytes, bytes], ...], default_charset: bool) -> bytes:
    if not params and not default_charset:
        return NIL
    items = []
    seen_charset = False
    for name, value in params:
        if name.lower() == b"charset":
            seen_charset = True
        items.append(header_string(name) + b" " + header_string(value))
    if default_charset and not seen_charset:
        items.append(b'"charset" "us-ascii"')
    return b"(" + b" ".join(items) + b")"


def _extension_common(part: Part) -> bytes:
    if part.disposition is None:
        disp = NIL
    else:
        params = _params(part.disposition_params, False)
        disp = b"(" + header_string(part.disposition) + b" " + params + b")"
    if part.language is None:
        lang = NIL
    else:
        lang = b"(" + b" ".join(header_string(x) for x in part.language) + b")"
    return b" " + disp + b" " + lang + b" " + nstring_nolf(part.location)


def _body(part: Part, extensible: bool) -> bytes:
    if part.is_multipart:
        if part.children:
            kids = b"".join(b"(" + _body(c, extensible) + b")" for c in part.children)
        else:
            # RFC 9051 requires at least one part; say "one empty text part".
            kids = _EMPTY_BODYSTRUCTURE if not extensible else _EMPTY_BODYSTRUCTURE_EXT
        out = (
            kids + b" " + (header_string(part.subtype_raw) if part.subtype_raw else b'"x-unknown"')
        )
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
            head = header_string(part.type_raw)
        if part.subtype_raw is not None:
            head += b" " + header_string(part.subtype_raw)
        else:
            head += b' "plain"' if text else b' "unknown"'
    fields = [
        head,
        _params(part.params, text),
        nstring_nolf(part.content_id),
        nstring_nolf(part.description),
        header_string(part.encoding) if part.encoding is not None else b'"7bit"',
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
