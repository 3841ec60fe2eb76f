"""Malformed but common header fields (issue 10 item 9): each must keep the
information a client needs.

* Content-Transfer-Encoding with RFC 2045 comments is still that encoding
  (BODYSTRUCTURE shows it, BINARY and search decode it);
* an element of an address list that is not an address keeps a placeholder
  and never hides the addresses after it;
* a comment inside (or around) an angle-addr is never the display name;
* RFC 2231 segments that cannot be joined are kept, not dropped;
* a part past the nesting cap is an opaque application/octet-stream leaf.
"""

from __future__ import annotations

import time

from posteingang.imap.proto.bodystructure import render_bodystructure, render_envelope
from posteingang.mime import (
    MAX_DEPTH,
    Address,
    decode_part_body,
    find_section,
    parse_message,
)
from posteingang.mime.address import parse_address_list

from .edge_messages import EDGE_MESSAGES

EDGE = dict(EDGE_MESSAGES)
MISSING = Address(None, None, b"MISSING_MAILBOX", b"MISSING_DOMAIN")


def _m(*lines: str) -> bytes:
    return "\r\n".join(lines).encode()


def test_transfer_encoding_with_comments_is_recognised() -> None:
    raw = EDGE["cte-with-comments"]
    p = parse_message(raw)
    assert b'"application" "octet-stream" NIL NIL NIL "base64" 8' in render_bodystructure(p)
    assert b'"Quoted-Printable"' in render_bodystructure(p)
    b64 = find_section(p, (1,))
    assert b64 is not None and b64.encoding == b"base64"
    assert decode_part_body(raw, b64) == b"hello"
    assert "café" in p.search_text  # QP undone, then UTF-8


def test_transfer_encoding_that_is_not_one_token_is_ignored() -> None:
    raw = _m("MIME-Version: 1.0", "Content-Transfer-Encoding: base64; x", "", "aGVsbG8=", "")
    assert parse_message(raw).root.encoding is None


def test_group_without_a_name_keeps_the_later_addresses() -> None:
    p = parse_message(EDGE["address-list-empty-groups"])
    assert p.envelope.cc == (
        Address(None, None, b"", None),
        Address(None, None, None, None),
        Address(None, None, b"Empty Group", None),
        Address(None, None, None, None),
        Address(None, None, b"z", b"example.com"),
    )
    assert p.envelope.to is not None
    assert p.envelope.to[-1] == Address(None, None, b"y", b"example.com")


def test_an_element_that_is_not_an_address_keeps_a_placeholder() -> None:
    x = Address(None, None, b"x", b"example.com")
    y = Address(None, None, b"y", b"example.com")
    for junk in (b";", b">", b"<>", b"@"):
        assert parse_address_list(b"x@example.com, " + junk + b", y@example.com") == (x, MISSING, y)
    # Junk after an address: the address stays, the junk up to the comma goes.
    got = parse_address_list(b"x@example.com =?utf-8?q?=2C?= Ben <b@example.com>, y@example.com")
    assert got == (x, y)
    # Inside a group too.
    got = parse_address_list(b"G: a@b.org, ;, c@d.org; , y@example.com")
    assert got is not None and got[-1] == y


def test_comments_are_never_the_name_of_an_angle_addr() -> None:
    p = parse_message(EDGE["address-comments-in-angle-addr"])
    assert p.envelope.from_ == (Address(None, None, b"user-from", b"domain.org"),)
    assert p.envelope.to == (
        Address(None, None, b"c", b"d.org"),
        Address(b"Name", None, b"a", b"b.org"),
    )
    # A bare addr-spec still takes its trailing comment as the name.
    assert p.envelope.cc == (
        Address(None, None, b"u", b"d.org"),
        Address(b"Vee", None, b"v", b"d.org"),
    )
    assert b'(NIL NIL "user-from" "domain.org")' in render_envelope(p)
    assert p.from_display == "user-from@domain.org"


def test_rfc2231_segments_that_cannot_be_joined_are_kept() -> None:
    p = parse_message(EDGE["rfc2231-without-section-zero"])
    first, second = p.root.children
    assert first.params == ((b"x", b"y"), (b"name*1", b"second"))
    assert first.filename == "ä.txt"
    assert second.params == ((b"name*0", b"a"), (b"name*2", b"c"))
    assert second.disposition_params == ((b"filename*1*", b"utf-8''x"), (b"filename*2", b"y"))
    assert second.filename is not None  # from the segments there are
    out = render_bodystructure(p)
    assert b'("x" "y" "name*1" "second")' in out
    assert b'("name*0" "a" "name*2" "c")' in out


def test_rfc2231_continuation_only_section_one_names_the_file() -> None:
    raw = _m(
        "MIME-Version: 1.0",
        "Content-Type: application/pdf; name*1*=%C3%A4.pdf; name*2=x",
        "",
        "b",
        "",
    )
    p = parse_message(raw)
    assert p.root.params == ((b"name*1*", b"%C3%A4.pdf"), (b"name*2", b"x"))
    assert p.root.filename is not None and p.root.filename.endswith("x")


def _nested(depth: int) -> bytes:
    lines = ["From: a@example.com", "MIME-Version: 1.0"]
    for i in range(depth):
        lines += [f"Content-Type: multipart/mixed; boundary=b{i}", "", f"--b{i}"]
    lines += ["Content-Type: text/plain", "", "deep"]
    lines += [f"--b{i}--" for i in reversed(range(depth))]
    return _m(*lines, "")


def test_a_part_past_the_nesting_cap_is_an_opaque_octet_stream_leaf() -> None:
    p = parse_message(_nested(MAX_DEPTH + 5))
    part = p.root
    while part.children:
        part = part.children[0]
    assert part.truncated
    assert (part.type, part.subtype) == ("application", "octet-stream")
    assert not part.is_multipart
    out = render_bodystructure(p)
    leaf = b'("application" "octet-stream" ("boundary" "b%d") NIL NIL "7bit" ' % MAX_DEPTH
    assert leaf in out
    # No basic (leaf) body anywhere claims to be a multipart.
    assert b'("multipart"' not in out


def test_rfc2231_value_wins_over_the_plain_fallback() -> None:
    raw = _m(
        "MIME-Version: 1.0",
        "Content-Type: application/pdf; name=fallback.pdf; name*=utf-8''%C3%A4.pdf",
        "",
        "b",
        "",
    )
    assert parse_message(raw).root.filename == "ä.pdf"


def test_junk_in_a_long_address_list_costs_linear_time() -> None:
    z = Address(None, None, b"z", b"example.com")
    for junk in (b";", b">", b"G: ;, x@y (c) junk", b"<a (c)@ (c) b>"):
        value = b", ".join([junk] * 20_000) + b", z@example.com"
        start = time.perf_counter()
        got = parse_address_list(value)
        # Generous for a loaded CI machine; a quadratic parser takes minutes.
        assert time.perf_counter() - start < 5.0, junk
        assert got is not None and got[-1] == z
