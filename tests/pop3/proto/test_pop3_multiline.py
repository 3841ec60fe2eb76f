"""Message bodies: dot-stuffing at every split point, sizes equal to what RETR sends, TOP."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.pop3.proto import (
    DotStuffer,
    OctetCounter,
    TopFilter,
    dot_stuff,
    find_body_offset,
    octet_count,
    top,
)

# (message as stored, exactly what follows "+OK ..." CRLF on the wire)
STUFFING_VECTORS = [
    (b"", b".\r\n"),
    (b"a", b"a\r\n.\r\n"),
    (b"a\r\n", b"a\r\n.\r\n"),
    (b"a\n", b"a\r\n.\r\n"),
    (b"\n", b"\r\n.\r\n"),
    (b"\r\n\r\n", b"\r\n\r\n.\r\n"),
    (b".", b"..\r\n.\r\n"),
    (b".\r\n", b"..\r\n.\r\n"),
    (b"..x", b"...x\r\n.\r\n"),
    (b"x.\n", b"x.\r\n.\r\n"),
    (b"a\r\n.", b"a\r\n..\r\n.\r\n"),
    (b"a\n.\nb", b"a\r\n..\r\n" + b"b\r\n.\r\n"),
    (b"a\n\n.\n", b"a\r\n\r\n..\r\n.\r\n"),
    (b"a\r.b", b"a\r.b\r\n.\r\n"),  # a bare CR is not a line end
    (b"a\r", b"a\r\r\n.\r\n"),
    (b"a\r\r\n", b"a\r\r\n.\r\n"),
    (b"H: v\r\n\r\n.\r\n..\r\nend\r\n", b"H: v\r\n\r\n..\r\n...\r\nend\r\n.\r\n"),
]


@pytest.mark.parametrize(("message", "wire"), STUFFING_VECTORS)
def test_dot_stuffing_vectors(message: bytes, wire: bytes) -> None:
    assert dot_stuff(message) == wire


@pytest.mark.parametrize(("message", "wire"), STUFFING_VECTORS)
def test_dot_stuffing_at_every_pair_of_split_points(message: bytes, wire: bytes) -> None:
    for i in range(len(message) + 1):
        for j in range(i, len(message) + 1):
            stuffer = DotStuffer()
            out = b"".join(stuffer.feed(part) for part in (message[:i], message[i:j], message[j:]))
            assert out + stuffer.finish() == wire, (i, j)


@pytest.mark.parametrize(("message", "wire"), STUFFING_VECTORS)
def test_sizes_match_the_wire_minus_stuffing(message: bytes, wire: bytes) -> None:
    assert octet_count(message) == len(unstuff(wire))


def test_dot_stuffer_refuses_use_after_finish() -> None:
    stuffer = DotStuffer()
    stuffer.finish()
    with pytest.raises(ValueError):
        stuffer.feed(b"x")
    with pytest.raises(ValueError):
        stuffer.finish()


def reference_stuff(message: bytes) -> bytes:
    """Byte-at-a-time encoding straight from RFC 1939 §3, to check the fast one against."""
    out = bytearray()
    previous = None
    at_line_start = True
    for byte in message:
        if byte == 0x0A and previous != 0x0D:
            out += b"\r"
        if at_line_start and byte == 0x2E:
            out += b"."
        out.append(byte)
        at_line_start = byte == 0x0A
        previous = byte
    if out and not out.endswith(b"\r\n"):
        out += b"\r\n"
    return bytes(out) + b".\r\n"


def unstuff(wire: bytes) -> bytes:
    """What a client (poplib, fetchmail) rebuilds: the message without stuffing or terminator."""
    assert wire.endswith(b".\r\n")
    body = wire[:-3]
    assert body == b"" or body.endswith(b"\r\n")
    lines = body.split(b"\r\n")
    # The terminator must not appear before the end: no line is a lone ".".
    assert b"." not in lines
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


messages = st.lists(
    st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"..", b"x.y", b" "]), max_size=40
).map(b"".join)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None)
@given(message=messages, data=st.data())
def test_stuffer_matches_reference_under_any_chunking(message: bytes, data: st.DataObject) -> None:
    chunks = data.draw(chunked(message))
    stuffer = DotStuffer()
    wire = b"".join(stuffer.feed(c) for c in chunks) + stuffer.finish()
    assert wire == reference_stuff(message)


@settings(max_examples=300, deadline=None)
@given(message=st.one_of(messages, st.binary(max_size=200)), data=st.data())
def test_size_equals_stuffer_output_minus_stuffing(message: bytes, data: st.DataObject) -> None:
    wire = dot_stuff(message)
    size = octet_count(message)
    assert size == len(unstuff(wire))
    counter = OctetCounter()
    for chunk in data.draw(chunked(message)):
        counter.feed(chunk)
    assert counter.finish() == size


# -- find_body_offset and TOP (RFC 1939 §7) ------------------------------------------------------

BODY_OFFSET_VECTORS = [
    (b"", None),
    (b"Subject: x", None),
    (b"Subject: x\r\n", None),
    (b"\r\nbody", 2),
    (b"\nbody", 1),
    (b"A: b\r\n\r\nbody", 8),
    (b"A: b\n\nbody", 6),
    (b"A: b\n\r\nbody", 7),
    (b"A: b\r\n\r\nx\r\n\r\ny", 8),
]


@pytest.mark.parametrize(("message", "offset"), BODY_OFFSET_VECTORS)
def test_find_body_offset(message: bytes, offset: int | None) -> None:
    assert find_body_offset(message) == offset


MESSAGE = b"Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\n.line 2\r\nline 3\r\n"
HEADER = b"Subject: hi\r\nFrom: a@b\r\n\r\n"

TOP_VECTORS = [
    (MESSAGE, len(HEADER), 0, HEADER),
    (MESSAGE, len(HEADER), 1, HEADER + b"line 1\r\n"),
    (MESSAGE, len(HEADER), 2, HEADER + b"line 1\r\n.line 2\r\n"),
    (MESSAGE, len(HEADER), 3, MESSAGE),
    (MESSAGE, len(HEADER), 1000, MESSAGE),
    # header only, with or without the separator
    (HEADER, len(HEADER), 5, HEADER),
    (b"Subject: x\r\n", None, 0, b"Subject: x\r\n"),
    (b"Subject: x\r\nno separator\r\n", None, 3, b"Subject: x\r\nno separator\r\n"),
    # last body line without a line end still counts as a line
    (b"H: v\n\nl1\nl2", 6, 1, b"H: v\n\nl1\n"),
    (b"H: v\n\nl1\nl2", 6, 2, b"H: v\n\nl1\nl2"),
    # empty header
    (b"\r\nonly body\r\nsecond\r\n", 2, 1, b"\r\nonly body\r\n"),
    (b"\r\nonly body\r\n", 2, 0, b"\r\n"),
    # an offset past the end (truncated message): everything there is
    (b"H: v\r\n", 50, 2, b"H: v\r\n"),
]


@pytest.mark.parametrize(("message", "offset", "lines", "expected"), TOP_VECTORS)
def test_top_vectors(message: bytes, offset: int | None, lines: int, expected: bytes) -> None:
    assert top(message, offset, lines) == expected


@pytest.mark.parametrize(("message", "offset", "lines", "expected"), TOP_VECTORS)
def test_top_at_every_split_point(
    message: bytes, offset: int | None, lines: int, expected: bytes
) -> None:
    for i in range(len(message) + 1):
        cut = TopFilter(offset, lines)
        out = cut.feed(message[:i])
        out += cut.feed(message[i:])
        assert out == expected, i


def test_top_says_when_the_rest_is_not_needed() -> None:
    cut = TopFilter(len(HEADER), 1)
    assert not cut.done
    out = cut.feed(MESSAGE[:10])
    assert not cut.done
    out += cut.feed(MESSAGE[10:40])
    assert cut.done
    assert cut.feed(MESSAGE[40:]) == b""
    assert out == HEADER + b"line 1\r\n"
    assert TopFilter(0, 0).done


def test_top_output_is_stuffed_like_any_body() -> None:
    stuffer = DotStuffer()
    wire = stuffer.feed(top(MESSAGE, len(HEADER), 2)) + stuffer.finish()
    assert wire == HEADER + b"line 1\r\n..line 2\r\n.\r\n"


def test_top_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TopFilter(0, -1)
    with pytest.raises(ValueError):
        TopFilter(-1, 0)


def reference_top(message: bytes, offset: int | None, lines: int) -> bytes:
    if offset is None:
        return message
    header, body = message[:offset], message[offset:]
    body_lines = body.split(b"\n")
    kept = [line + b"\n" for line in body_lines[:-1]] + ([body_lines[-1]] if body_lines[-1] else [])
    return header + b"".join(kept[:lines])


@settings(max_examples=300, deadline=None)
@given(message=messages, lines=st.integers(0, 8), data=st.data())
def test_top_matches_reference_under_any_chunking(
    message: bytes, lines: int, data: st.DataObject
) -> None:
    offset = find_body_offset(message)
    cut = TopFilter(offset, lines)
    out = b"".join(cut.feed(c) for c in data.draw(chunked(message)))
    assert out == reference_top(message, offset, lines)
