"""BODY[section] slicing, part numbering (RFC 9051 §6.4.5) and BINARY (RFC 3516)."""

from __future__ import annotations

from posteingang.imap.proto.fetch import Section
from posteingang.imap.proto.sections import section_bytes, section_range
from posteingang.mime import decode_part_body, find_section, parse_message
from tests.mime.edge_messages import EDGE_MESSAGES

EDGE = dict(EDGE_MESSAGES)


def crlf(*lines: str) -> bytes:
    return "\r\n".join(lines).encode()


PLAIN = crlf("From: a@example.com", "Subject: s", "X-Other: o", "", "body line", "")


def test_non_multipart_message_sections() -> None:
    p = parse_message(PLAIN)
    header = b"From: a@example.com\r\nSubject: s\r\nX-Other: o\r\n\r\n"
    assert section_bytes(PLAIN, p, Section()) == PLAIN
    assert section_bytes(PLAIN, p, Section(text="HEADER")) == header
    assert section_bytes(PLAIN, p, Section(text="TEXT")) == b"body line\r\n"
    # A non-multipart message has exactly one part: its body.
    assert section_bytes(PLAIN, p, Section((1,))) == b"body line\r\n"
    assert find_section(p, (2,)) is None
    assert find_section(p, (1, 1)) is None


def test_header_fields_and_not() -> None:
    p = parse_message(PLAIN)
    got = section_bytes(PLAIN, p, Section(text="HEADER.FIELDS", fields=("SUBJECT", "from")))
    assert got == b"From: a@example.com\r\nSubject: s\r\n\r\n"
    got = section_bytes(PLAIN, p, Section(text="HEADER.FIELDS.NOT", fields=("subject",)))
    assert got == b"From: a@example.com\r\nX-Other: o\r\n\r\n"
    # No match still gives the terminating blank line.
    got = section_bytes(PLAIN, p, Section(text="HEADER.FIELDS", fields=("cc",)))
    assert got == b"\r\n"


def test_nested_sections() -> None:
    raw = EDGE["nested-rfc822"]
    p = parse_message(raw)
    # 1 = text, 2 = message/rfc822 containing multipart/alternative (2.1, 2.2).
    assert section_bytes(raw, p, Section((1,))) == b"see below"
    mime = section_bytes(raw, p, Section((2,), "MIME"))
    assert mime is not None and mime.startswith(b"Content-Type: message/rfc822\r\n")
    assert mime.endswith(b"\r\n\r\n")
    whole = section_bytes(raw, p, Section((2,)))
    assert whole is not None and whole.startswith(b"From: Inner Person")
    assert whole.endswith(b"--i--\r\n")
    head = section_bytes(raw, p, Section((2,), "HEADER"))
    assert head is not None and head.startswith(b"From: Inner") and head.endswith(b"\r\n\r\n")
    fields = section_bytes(raw, p, Section((2,), "HEADER.FIELDS", fields=("subject", "to")))
    assert fields == b"To: x@example.com\r\nSubject: inner\r\n\r\n"
    text = section_bytes(raw, p, Section((2,), "TEXT"))
    assert text is not None and text.startswith(b"--i\r\n")
    assert section_bytes(raw, p, Section((2, 1))) == b"inner text"
    assert section_bytes(raw, p, Section((2, 2))) == b"<p>inner html</p>"
    inner_mime = section_bytes(raw, p, Section((2, 2), "MIME"))
    assert inner_mime == b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    # HEADER/TEXT only exist for messages, not for other parts.
    assert section_bytes(raw, p, Section((1,), "HEADER")) is None
    assert section_bytes(raw, p, Section((3,))) is None
    assert section_bytes(raw, p, Section((2, 3))) is None


def test_encapsulated_non_multipart_body_is_part_1() -> None:
    raw = EDGE["rfc822-plain"]
    p = parse_message(raw)
    assert section_bytes(raw, p, Section((1,))) == raw[raw.index(b"Subject: inside") :]
    assert section_bytes(raw, p, Section((1, 1))) == b"inner body line 1\r\ninner body line 2\r\n"


def test_section_range_matches_bytes() -> None:
    raw = EDGE["nested-rfc822"]
    p = parse_message(raw)
    for sec in (
        Section(),
        Section((2,)),
        Section((2, 1), "MIME"),
        Section(text="TEXT"),
    ):
        rng = section_range(p, sec)
        assert rng is not None
        assert raw[rng[0] : rng[1]] == section_bytes(memoryview(raw), p, sec)


def test_binary_decoding() -> None:
    raw = EDGE["rfc2231"]
    p = parse_message(raw)
    part = find_section(p, (1,))
    assert part is not None
    assert decode_part_body(raw, part) == b"hello"
    qp = crlf("MIME-Version: 1.0", "Content-Transfer-Encoding: quoted-printable", "", "a=3Db=", "c")
    p = parse_message(qp)
    assert decode_part_body(qp, p.root) == b"a=bc"
    uu = EDGE["uuencode"]
    p = parse_message(uu)
    assert decode_part_body(uu, p.root) is None  # RFC 3516: [UNKNOWN-CTE]


def test_crlf_before_boundary_belongs_to_the_delimiter() -> None:
    raw = crlf(
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=b",
        "",
        "--b",
        "",
        "ends with blank line",
        "",
        "--b--",
        "",
    )
    p = parse_message(raw)
    # RFC 2046 §5.1.1: only the CRLF right before "--b" belongs to the delimiter.
    assert section_bytes(raw, p, Section((1,))) == b"ends with blank line\r\n"
    assert p.root.children[0].lines == 1
