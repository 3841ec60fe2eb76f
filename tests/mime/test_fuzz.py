"""Property tests: parse_message never raises and its offsets always hold."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posteingang.imap.proto.bodystructure import render_bodystructure, render_envelope
from posteingang.imap.proto.fetch import Section
from posteingang.imap.proto.sections import section_bytes
from posteingang.mime import (
    decode_parsed,
    decode_part_body,
    encode_parsed,
    find_section,
    parse_message,
)
from posteingang.mime.address import _parse_simple, _Parser, _tokenize
from posteingang.mime.structure import MAX_DEPTH, parse_message_strict

from .checks import check_offsets, iter_parts
from .corpus import bench_messages, stdlib_messages
from .edge_messages import EDGE_MESSAGES

SEEDS = [m for _, m in EDGE_MESSAGES] + [m for _, m in stdlib_messages()] + bench_messages()[:50]

# Fragments that steer random input towards MIME structure.
TOKENS = [
    b"\r\n", b"\n", b"\r\n\r\n", b"--b", b"--b--", b"--", b":", b" ", b"\t", b";",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: multipart/digest; boundary=\"b\"\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"MIME-Version: 1.0\r\n",
    b"From: \"x\" <a@b>, g:;\r\n",
    b"=?utf-8?q?=C3?=", b"*0*=", b"'", b'"', b"(", b")", b"<", b">", b"@", b",",
    b"\x00", b"\xff", b"\xc3\xa4",
    b"Content-Transfer-Encoding: base64 (c)\r\n", b"name*1=", b"name*=utf-8''", b":;",
]  # fmt: skip


def exercise(raw: bytes) -> None:
    p = parse_message_strict(raw)
    check_offsets(raw, p)
    render_envelope(p)
    render_bodystructure(p, True)
    render_bodystructure(p, False)
    assert decode_parsed(encode_parsed(p)) == p
    for path in _paths(p.root, ()):
        part = find_section(p, path)
        assert part is not None
        section_bytes(raw, p, Section(path))
        section_bytes(raw, p, Section(path, "MIME"))
        section_bytes(raw, p, Section(path, "HEADER.FIELDS", ("subject",)))
        decode_part_body(raw, part)


def _paths(part, prefix: tuple[int, ...]):  # type: ignore[no-untyped-def]
    if part.is_multipart:
        for i, c in enumerate(part.children, 1):
            yield (*prefix, i)
            if c.message is not None or c.is_multipart:
                yield from _paths(c.message if c.message is not None else c, (*prefix, i))
    else:
        yield (*prefix, 1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes(raw: bytes) -> None:
    exercise(raw)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS) | st.binary(max_size=8), max_size=60))
def test_mime_shaped_garbage(chunks: list[bytes]) -> None:
    exercise(b"".join(chunks))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(
        st.tuples(st.integers(0, 1 << 16), st.integers(0, 64), st.sampled_from(TOKENS)), max_size=6
    ),
)
def test_mutated_real_messages(seed: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    raw = bytearray(seed)
    for pos, cut, insert in edits:
        pos = pos % (len(raw) + 1)
        raw[pos : pos + cut] = insert
    exercise(bytes(raw))


def test_deep_nesting_is_capped() -> None:
    depth = 500
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    raw = b"MIME-Version: 1.0\r\n" + head + b"\r\nleaf\r\n"
    p = parse_message(raw)
    check_offsets(raw, p)
    deepest = max(len(_ancestors(p.root, x)) for x in iter_parts(p.root))
    assert deepest <= MAX_DEPTH + 1
    assert any(x.truncated for x in iter_parts(p.root))
    render_bodystructure(p)


def _ancestors(root, target, trail=()):  # type: ignore[no-untyped-def]
    if root is target:
        return (*trail, root)
    for c in (*root.children, *([root.message] if root.message else [])):
        found = _ancestors(c, target, (*trail, root))
        if found:
            return found
    return ()


def test_many_parts_are_capped() -> None:
    raw = (
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        + b"--b\r\n\r\nx\r\n" * 20000
    )
    p = parse_message(raw)
    check_offsets(raw, p)
    assert len(p.root.children) < 20000


ADDRESS_PIECES = [
    b"a@example.com", b"Name", b'"Quoted, Name"', b"<", b">", b"@", b",", b" ", b"\r\n ",
    b"x.y", b"=?utf-8?q?=C3=A4?=", b"(c)", b":", b";", b"\xc3\xa4", b"[1.2.3.4]", b'"',
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ADDRESS_PIECES), max_size=12))
def test_address_fast_path_agrees_with_full_parser(pieces: list[bytes]) -> None:
    value = b"".join(pieces)
    fast = _parse_simple(value)
    if fast is not None:
        full = _Parser(_tokenize(value))
        full.address_list()
        assert fast == full.out
