"""Vector tests: ENVELOPE and BODY/BODYSTRUCTURE rendering (RFC 9051 §7.5.2).

Expected values are written out by hand from the RFC grammar; the Dovecot
differential test checks the same code against a reference server.
"""

from __future__ import annotations

import pytest

from posteingang.imap.proto.bodystructure import (
    header_nstring,
    header_string,
    nstring_nolf,
    render_bodystructure,
    render_envelope,
    string_for_humans,
)
from posteingang.imap.proto.responses import nul_free
from posteingang.mime import parse_message


def crlf(*lines: str) -> bytes:
    return "\r\n".join(lines).encode("utf-8")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"plain", b'"plain"'),
        (b"", b'""'),
        (b'say "hi"', b'"say \\"hi\\""'),
        (b"back\\slash", b'"back\\\\slash"'),
        # More than four quote-specials: a literal is cheaper (as Dovecot).
        (b'"""""', b'{5}\r\n"""""'),
        (b"line\r\nbreak", b"{11}\r\nline\r\nbreak"),
        ("Grüße".encode(), b"{7}\r\n" + "Grüße".encode()),
    ],
)
def test_string_quoted_or_literal(value: bytes, expected: bytes) -> None:
    assert header_string(value) == expected


def test_nstring_nil_and_nolf() -> None:
    assert header_nstring(None) == b"NIL"
    assert nstring_nolf(None) == b"NIL"
    # Folding disappears; a break not followed by white space becomes a space.
    assert nstring_nolf(b"a\n b") == b'"a b"'
    assert nstring_nolf(b"a\nb") == b'"a b"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"Hello", b'"Hello"'),
        (b"  ", b'""'),
        (b"a\n\tfolded  subject ", b"{16}\r\na folded subject"),
        (b'quote"d', b'{7}\r\nquote"d'),
    ],
)
def test_string_for_humans(value: bytes, expected: bytes) -> None:
    assert string_for_humans(value) == expected


SIMPLE = crlf(
    "From: Alice <alice@example.com>",
    "To: bob@example.com",
    "Subject: Hello",
    "Date: Mon, 2 Jan 2023 10:00:00 +0000",
    "Message-ID: <m1@example.com>",
    "",
    "Hi Bob",
    "",
)


def test_simple_message() -> None:
    p = parse_message(SIMPLE)
    alice = b'(("Alice" NIL "alice" "example.com"))'
    assert render_envelope(p) == (
        b'("Mon, 2 Jan 2023 10:00:00 +0000" "Hello" '
        + alice + b" " + alice + b" " + alice
        + b' ((NIL NIL "bob" "example.com")) NIL NIL NIL "<m1@example.com>")'
    )  # fmt: skip
    # No MIME headers: text/plain; charset=us-ascii, 7bit (RFC 2045 §5.2, §6.1).
    # Body "Hi Bob\r\n" is 8 octets, 1 line.
    assert render_bodystructure(p, extensible=False) == (
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 8 1)'
    )
    assert render_bodystructure(p, extensible=True) == (
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 8 1 NIL NIL NIL NIL)'
    )


def test_envelope_defaults_and_groups() -> None:
    raw = crlf(
        "From: a@example.com",
        "Sender: s@example.com",
        "To: undisclosed-recipients:;",
        "Cc: Team: x@example.com, y@example.com;",
        "",
        "",
    )
    env = render_envelope(parse_message(raw))
    # No Date, Subject, Reply-To (defaults to From), Bcc, In-Reply-To, Message-ID.
    assert env == (
        b'(NIL NIL ((NIL NIL "a" "example.com")) ((NIL NIL "s" "example.com")) '
        b'((NIL NIL "a" "example.com")) '
        b'((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) '
        b'((NIL NIL "Team" NIL)(NIL NIL "x" "example.com")(NIL NIL "y" "example.com")'
        b"(NIL NIL NIL NIL)) NIL NIL NIL)"
    )


def test_envelope_raw_values_are_not_decoded() -> None:
    raw = crlf(
        "From: =?utf-8?q?J=C3=B6rg?= <j@example.de>",
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=",
        "Reply-To: <@hop.example:r@example.com>",
        "",
        "",
    )
    p = parse_message(raw)
    assert render_envelope(p) == (
        b'(NIL "=?utf-8?q?Gr=C3=BC=C3=9Fe?=" (("=?utf-8?q?J=C3=B6rg?=" NIL "j" "example.de")) '
        b'(("=?utf-8?q?J=C3=B6rg?=" NIL "j" "example.de")) '
        b'((NIL "@hop.example" "r" "example.com")) NIL NIL NIL NIL NIL)'
    )
    # ...while the display values are decoded.
    assert p.subject == "Grüße"
    assert p.from_display == "Jörg"


def test_eight_bit_subject_is_a_literal() -> None:
    raw = crlf("Subject: Grüße", "", "")
    env = render_envelope(parse_message(raw))
    assert env.startswith(b"(NIL {7}\r\n" + "Grüße".encode() + b" NIL")


MULTI = crlf(
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="XYZ"',
    "Content-Language: de",
    "",
    "preamble",
    "--XYZ",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "Gr=C3=BC=C3=9Fe",
    "zwei",
    "--XYZ",
    "Content-Type: application/pdf; name=doc.pdf",
    "Content-Transfer-Encoding: base64",
    "Content-Disposition: attachment; filename=doc.pdf",
    "Content-ID: <c1@example.com>",
    "Content-Description: The document",
    "Content-MD5: AAAA",
    "Content-Location: http://example.com/doc.pdf",
    "",
    "JVBERi0=",
    "--XYZ--",
    "",
)


def test_multipart_bodystructure_with_extension_data() -> None:
    p = parse_message(MULTI)
    text = b'("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 21 1'
    pdf = b'("application" "pdf" ("name" "doc.pdf") "<c1@example.com>" "The document" "base64" 8'
    assert render_bodystructure(p, extensible=False) == b"(" + text + b")" + pdf + b') "mixed")'
    assert render_bodystructure(p, extensible=True) == (
        b"("
        + text + b" NIL NIL NIL NIL)"
        + pdf + b' "AAAA" ("attachment" ("filename" "doc.pdf")) NIL "http://example.com/doc.pdf")'
        + b' "mixed" ("boundary" "XYZ") NIL ("de") NIL)'
    )  # fmt: skip


def test_message_rfc822_part() -> None:
    raw = crlf(
        "MIME-Version: 1.0",
        "Content-Type: message/rfc822",
        "",
        "Subject: inner",
        "From: i@example.com",
        "",
        "inner body",
        "",
    )
    p = parse_message(raw)
    inner_env = (
        b'(NIL "inner" ((NIL NIL "i" "example.com")) ((NIL NIL "i" "example.com")) '
        b'((NIL NIL "i" "example.com")) NIL NIL NIL NIL NIL)'
    )
    body = raw[raw.index(b"\r\n\r\n") + 4 :]
    # body-type-msg: type, params, id, desc, enc, size, envelope, body, lines.
    assert render_bodystructure(p, extensible=False) == (
        b'("message" "rfc822" NIL NIL NIL "7bit" %d ' % len(body)
        + inner_env
        + b' ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1) 4)'
    )


def test_multipart_without_parts_renders_an_empty_text_part() -> None:
    raw = crlf("MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=q", "", "no parts", "")
    p = parse_message(raw)
    assert render_bodystructure(p, extensible=False) == (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")'
    )


def test_header_values_with_nul_go_out_without_nul() -> None:
    # RFC 9051 §4.3: no NUL in an ordinary literal; mapped to 0x80, length kept.
    assert header_string(b"a\0b") == b"{3}\r\na\x80b"
    assert nul_free(b"\0x\0") == b"\x80x\x80"
