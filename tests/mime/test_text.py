"""Search text, previews (RFC 8970), attachments and display fields."""

from __future__ import annotations

from posteingang.mime import parse_message
from posteingang.mime.text import PREVIEW_LENGTH, html_to_text, make_preview

from .edge_messages import EDGE_MESSAGES

EDGE = dict(EDGE_MESSAGES)


def crlf(*lines: str) -> bytes:
    return "\r\n".join(lines).encode()


def test_html_reduced_to_text() -> None:
    html = (
        "<html><head><style>p{}</style><title>T</title></head>"
        "<body><p>Gr&uuml;&szlig;e<br>zwei</p><script>x()</script></body></html>"
    )
    assert html_to_text(html) == "Grüße\nzwei"


def test_preview_skips_quotes_and_signature_and_is_capped() -> None:
    text = "> quoted line\nHello there,\n\n  how   are you?\n-- \nSignature"
    assert make_preview(text) == "Hello there, how are you?"
    assert len(make_preview("word " * 200)) == PREVIEW_LENGTH


def test_html_only_message_preview_and_search() -> None:
    raw = crlf(
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=iso-8859-1",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "<p>Gr=FC=DFe <b>aus</b> K=F6ln</p><blockquote>old</blockquote>",
    )
    p = parse_message(raw)
    assert "Grüße aus Köln" in p.search_text
    assert "<b>" not in p.search_text
    assert p.preview.startswith("Grüße aus Köln")


def test_alternative_prefers_first_text_for_preview() -> None:
    raw = EDGE["nested-rfc822"]
    p = parse_message(raw)
    assert p.preview == "see below"
    # The forwarded message's text is searchable too.
    assert "inner text" in p.search_text and "inner html" in p.search_text
    assert [(a.part, a.filename, a.type) for a in p.attachments] == [
        ((2,), "fwd.eml", "message/rfc822")
    ]


def test_attachment_filenames_decoded() -> None:
    p = parse_message(EDGE["rfc2231"])
    assert [(a.part, a.filename, a.type, a.size, a.disposition) for a in p.attachments] == [
        ((1,), "long file name.txt", "application/octet-stream", 8, "attachment"),
    ]


def test_search_text_cap() -> None:
    raw = crlf("Subject: big", "", "x" * 5000)
    p = parse_message(raw, text_limit=1000)
    assert len(p.search_text) == 1000


def test_display_fields() -> None:
    raw = crlf(
        "From: =?utf-8?q?Zo=C3=AB?= Smith <zoe@example.com>, other@example.com",
        "Subject: =?utf-8?q?Hallo_W=C3=B6rld?=",
        "Date: Tue, 3 Jan 2023 10:00:00 +0100",
        "Message-ID: <id1@example.com>",
        "In-Reply-To: <id0@example.com>",
        "References: <r1@example.com>",
        "  <id0@example.com>",
        "",
        "",
    )
    p = parse_message(raw)
    assert p.subject == "Hallo Wörld"
    assert p.from_display == "Zoë Smith, other@example.com"
    assert p.date == 1672736400.0
    assert p.message_id == "id1@example.com"
    assert p.in_reply_to == ("id0@example.com",)
    assert p.references == ("r1@example.com", "id0@example.com")
