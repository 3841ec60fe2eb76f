"""parse_message over real mail: the stdlib email test data and bench.mbox."""

from __future__ import annotations

import pytest

from posteingang.imap.proto.bodystructure import render_bodystructure, render_envelope
from posteingang.imap.proto.fetch import Section
from posteingang.imap.proto.sections import section_bytes
from posteingang.mime import (
    decode_parsed,
    encode_parsed,
    find_section,
    parse_message,
)
from posteingang.mime.structure import parse_message_strict

from .checks import check_offsets, iter_parts
from .corpus import bench_messages, crlf, stdlib_messages

STDLIB = stdlib_messages()


@pytest.mark.parametrize(("name", "raw"), STDLIB, ids=[n for n, _ in STDLIB])
def test_stdlib_message_offsets_consistent(name: str, raw: bytes) -> None:
    for variant in (raw, crlf(raw)):
        p = parse_message_strict(variant)
        check_offsets(variant, p)
        assert decode_parsed(encode_parsed(p)) == p
        render_envelope(p)
        render_bodystructure(p, True)
        render_bodystructure(p, False)


def test_bench_corpus_all_messages() -> None:
    msgs = bench_messages()
    if not msgs:
        pytest.skip("bench.mbox not available")
    assert len(msgs) == 3000
    kinds: dict[str, int] = {}
    for raw in msgs:
        p = parse_message_strict(raw)
        check_offsets(raw, p)
        top = f"{p.root.type}/{p.root.subtype}"
        kinds[top] = kinds.get(top, 0) + 1
        assert p.envelope.from_ is not None
        assert p.message_id is not None
        assert p.date is not None
        assert p.subject
    # The generator's mix: plain, alternative, mixed with attachments, HTML only.
    for expected in ("text/plain", "multipart/alternative", "multipart/mixed", "text/html"):
        assert kinds.get(expected, 0) > 50, kinds


def test_bench_roundtrip_encode_sample() -> None:
    for raw in bench_messages()[:200]:
        p = parse_message(raw)
        assert decode_parsed(encode_parsed(p)) == p


def test_msg_02_digest_structure() -> None:
    """msg_02.txt: masthead, contents, a multipart/digest of five messages, footer."""
    raw = dict(STDLIB)["msg_02.txt"]
    p = parse_message(raw)
    assert (p.root.type, p.root.subtype) == ("multipart", "mixed")
    assert [(c.type, c.subtype) for c in p.root.children] == [
        ("text", "plain"),
        ("text", "plain"),
        ("multipart", "digest"),
        ("text", "plain"),
    ]
    digest = p.root.children[2]
    # RFC 2046 §5.1.5: digest children without Content-Type are message/rfc822.
    assert len(digest.children) == 5
    assert all(c.message is not None and c.type_raw is None for c in digest.children)
    assert [a.part for a in p.attachments] == [(3, i) for i in range(1, 6)]
    header = section_bytes(raw, p, Section((3, 1), "HEADER"))
    assert header is not None and header.endswith(b"\n\n")
    text = section_bytes(raw, p, Section((3, 1), "TEXT"))
    assert text is not None and raw.count(text) >= 1
    # Part 3.1.1 is the body of the first digest message (non-multipart).
    assert find_section(p, (3, 1, 1)) is digest.children[0].message


def test_msg_10_transfer_encodings_decoded_for_search() -> None:
    raw = dict(STDLIB)["msg_10.txt"]
    p = parse_message(raw)
    assert len(p.root.children) == 5
    assert [c.charset for c in p.root.children] == ["us-ascii"] + ["iso-8859-1"] * 4
    assert "\u00a1This is a Quoted Printable encoded message!" in p.search_text
    assert "This is a Base64 encoded message." in p.search_text
    assert "This has no Content-Transfer-Encoding: header." in p.search_text
    assert p.preview == "This is a 7bit encoded message."
    assert p.attachments == ()


def test_msg_07_attachment_listed() -> None:
    raw = dict(STDLIB)["msg_07.txt"]
    p = parse_message(raw)
    assert p.subject == "Here is your dingus fish"
    (att,) = p.attachments
    assert (att.part, att.filename, att.type, att.disposition) == (
        (2,),
        "dingusfish.gif",
        "image/gif",
        "attachment",
    )


def test_bench_forwarded_message_is_nested() -> None:
    for raw in bench_messages():
        p = parse_message(raw)
        nested = [x for x in iter_parts(p.root) if x.message is not None]
        if nested:
            part = nested[0]
            assert part.envelope is not None
            assert part.lines == raw.count(b"\n", part.body_start, part.body_end)
            assert any(a.type == "message/rfc822" for a in p.attachments)
            return
    pytest.fail("no forwarded message in the corpus")
