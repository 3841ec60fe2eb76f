"""DotReader: dot-unstuffing and end-of-data detection, including every split point."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.smtp.proto.data import DotReader


def decode(pieces: list[bytes]) -> tuple[bytes, bytes | None, DotReader]:
    """Feed pieces in order; return (message, rest after the end or None, reader)."""
    reader = DotReader()
    out = bytearray()
    for n, piece in enumerate(pieces):
        chunk, used = reader.feed(piece)
        out += chunk
        if reader.done:
            return bytes(out), piece[used:] + b"".join(pieces[n + 1 :]), reader
        assert used == len(piece)
    return bytes(out), None, reader


# (wire bytes after "354", message delivered, what follows the end)
VECTORS = [
    (b".\r\n", b"", b""),
    (b"a\r\n.\r\n", b"a\r\n", b""),
    (b"a\r\n.\r\nQUIT\r\n", b"a\r\n", b"QUIT\r\n"),
    (b"..\r\n.\r\n", b".\r\n", b""),  # a stuffed lone dot
    (b"...\r\n.\r\n", b"..\r\n", b""),
    (b".x\r\n.\r\n", b"x\r\n", b""),  # RFC 5321 §4.5.2: the leading dot is deleted
    (b"a.\r\n.\r\n", b"a.\r\n", b""),  # only at line start
    (b"a\r\n..b\r\n.\r\n", b"a\r\n.b\r\n", b""),
    (b"\r\n\r\n.\r\n", b"\r\n\r\n", b""),
    (b"a\r\n. \r\n.\r\n", b"a\r\n \r\n", b""),  # ". " is not the end
    (b"a\r\n.\r\n.\r\n", b"a\r\n", b".\r\n"),  # the first end wins
    (b"caf\xc3\xa9\r\n.\r\n", b"caf\xc3\xa9\r\n", b""),
]


@pytest.mark.parametrize(("wire", "message", "rest"), VECTORS)
def test_vectors(wire: bytes, message: bytes, rest: bytes) -> None:
    assert decode([wire])[:2] == (message, rest)


@pytest.mark.parametrize(("wire", "message", "rest"), VECTORS)
def test_vectors_byte_by_byte(wire: bytes, message: bytes, rest: bytes) -> None:
    pieces = [wire[i : i + 1] for i in range(len(wire))]
    assert decode(pieces)[:2] == (message, rest)


TRICKY = (
    b"Subject: split\r\n\r\n..a\r\n.b\r\nc\rd\ne.\r\n. \r\n..\r\n"
    b"\n.\n\r.\r\r\n.\rx\r\n.\n\r\n\r\n.\r\nNOOP\r\n"
)


def test_every_single_and_double_split_point_gives_the_same_result() -> None:
    whole = decode([TRICKY])
    assert whole[0].endswith(b"\r\n\r\n")
    assert whole[1] == b"NOOP\r\n"
    n = len(TRICKY)
    for i in range(n + 1):
        for j in range(i, n + 1):
            got = decode([TRICKY[:i], TRICKY[i:j], TRICKY[j:]])
            assert got[:2] == whole[:2], (i, j)


def test_terminator_split_at_each_point() -> None:
    wire = b"body\r\n.\r\n"
    for i in range(len(wire) + 1):
        message, rest, _ = decode([wire[:i], wire[i:]])
        assert (message, rest) == (b"body\r\n", b""), i


def test_empty_pieces_change_nothing() -> None:
    message, rest, _ = decode([b"a\r\n.", b"", b"\r", b"", b"\n"])
    assert (message, rest) == (b"a\r\n", b"")


def test_no_end_without_terminator() -> None:
    message, rest, reader = decode([b"a\r\nb\r\n.", b"\r"])
    assert rest is None and not reader.done
    assert message == b"a\r\nb\r\n"  # the held-back CR is not delivered yet


# The 2023 SMTP smuggling vectors (SEC Consult and follow-ups): none of them
# may end the data.  Each is followed by a smuggled command and the real end.
SMUGGLING = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r.\r",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n.\n",
    b"\n.\r",
    b"\r.\n",
    b"\n..\n",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\r\n \r\n.\n",
]


@pytest.mark.parametrize("vector", SMUGGLING)
def test_smuggling_vectors_do_not_end_data(vector: bytes) -> None:
    wire = b"Subject: x\r\n\r\nhello" + vector + b"MAIL FROM:<evil@example.com>\r\n\r\n.\r\n"
    message, rest, reader = decode([wire])
    assert rest == b""
    assert b"MAIL FROM:<evil@example.com>" in message
    if vector not in (b"\r\n\x00.\r\n", b"\r\n.\x00\r\n"):
        assert reader.bare_line_break


@pytest.mark.parametrize("vector", SMUGGLING)
def test_smuggling_vectors_at_every_split_point(vector: bytes) -> None:
    wire = b"x" + vector + b"y\r\n.\r\n"
    whole = decode([wire])[:2]
    for i in range(len(wire) + 1):
        assert decode([wire[:i], wire[i:]])[:2] == whole


def test_flags() -> None:
    _, _, reader = decode([b"plain\r\n.\r\n"])
    assert not (reader.eight_bit or reader.long_lines or reader.bare_line_break)
    _, _, reader = decode([b"\xff\r\n.\r\n"])
    assert reader.eight_bit
    _, _, reader = decode([b"a" * 998 + b"\r\n.\r\n"])
    assert not reader.long_lines  # 998 + CRLF = 1000, the RFC 5321 limit
    _, _, reader = decode([b"a" * 999 + b"\r\n.\r\n"])
    assert reader.long_lines
    _, _, reader = decode([b"a\rb\r\n.\r\n"])
    assert reader.bare_cr and not reader.bare_lf
    _, _, reader = decode([b"a\nb\r\n.\r\n"])
    assert reader.bare_lf and not reader.bare_cr


def test_size_counts_delivered_octets() -> None:
    message, _, reader = decode([b"..a\r\n.\r\n"])
    assert reader.size == len(message) == 4


def test_feed_after_done_is_our_bug() -> None:
    reader = DotReader()
    reader.feed(b".\r\n")
    with pytest.raises(RuntimeError):
        reader.feed(b"x")


def test_large_input_is_linear() -> None:
    # 4 MB in 64 KB pieces; a quadratic reader would take minutes.
    line = b"x" * 76 + b"\r\n"
    body = line * (4 * 1024 * 1024 // len(line))
    wire = body + b".\r\n"
    pieces = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]
    message, rest, _ = decode(pieces)
    assert message == body and rest == b""


def stuff(lines: list[bytes]) -> bytes:
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


lines_strategy = st.lists(
    st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    max_size=15,
).map(lambda ls: [b"." * (len(x) % 3) + x for x in ls])


@settings(max_examples=300, deadline=None)
@given(lines=lines_strategy, cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_roundtrip_any_split(lines: list[bytes], cuts: list[int]) -> None:
    body = b"".join(line + b"\r\n" for line in lines)
    wire = stuff(lines) + b".\r\nRSET\r\n"
    points = sorted({c % (len(wire) + 1) for c in cuts})
    pieces = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    message, rest, reader = decode(pieces)
    assert message == body
    assert rest == b"RSET\r\n"
    assert not reader.bare_line_break


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), cut=st.integers(min_value=0, max_value=200))
def test_arbitrary_bytes_never_crash(data: bytes, cut: int) -> None:
    message, rest, _ = decode([data[:cut], data[cut:]])
    assert len(message) <= len(data)
    if rest is not None:
        consumed = data[: len(data) - len(rest)]
        assert consumed == b".\r\n" or consumed.endswith(b"\r\n.\r\n")
    else:
        assert b"\r\n.\r\n" not in data and not data.startswith(b".\r\n")
