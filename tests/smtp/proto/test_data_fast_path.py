"""The DotReader's fast path (whole clean lines in C) must decode exactly like the state machine."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.smtp.proto import data as data_mod
from posteingang.smtp.proto.data import DotReader

LINE = st.one_of(
    st.sampled_from([b"", b".", b"..", b".x", b"...", b"From x", b" .", b"\xc3\xa4"]),
    st.binary(max_size=30).filter(lambda b: b"\r" not in b and b"\n" not in b),
    st.just(b"y" * 1200),  # a long line
)
BREAK = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r"])


def decode(stream: bytes, cuts: list[int], fast: bool) -> tuple[bytes, int, tuple[bool, ...]]:
    saved = data_mod._FAST_MIN
    data_mod._FAST_MIN = 0 if fast else 1 << 60
    try:
        reader = DotReader()
        out = []
        pos = 0
        for cut in [*sorted(set(cuts)), len(stream)]:
            piece = stream[pos:cut]
            pos = max(pos, cut)
            start = 0
            while start < len(piece) and not reader.done:
                chunk, start = reader.feed(piece, start)
                out.append(chunk)
                if reader.done:
                    return (
                        b"".join(out),
                        pos - len(piece) + start,
                        (reader.eight_bit, reader.long_lines, reader.bare_cr, reader.bare_lf),
                    )
        flags = (reader.eight_bit, reader.long_lines, reader.bare_cr, reader.bare_lf)
        return b"".join(out), -1, flags
    finally:
        data_mod._FAST_MIN = saved


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(LINE, BREAK), min_size=1, max_size=40),
    st.booleans(),
    st.lists(st.integers(0, 4000), max_size=5),
)
def test_fast_path_equals_state_machine(
    lines: list[tuple[bytes, bytes]], end: bool, cuts: list[int]
) -> None:
    stream = b"".join(a + b for a, b in lines)
    if end:
        stream += b"\r\n.\r\nQUIT\r\n"
    assert decode(stream, cuts, fast=True) == decode(stream, cuts, fast=False)


def test_fast_path_takes_a_typical_message_in_one_go() -> None:
    body = b"".join(b"line %d with some text\r\n" % i for i in range(200))
    stream = b"Subject: x\r\n\r\n" + body + b"..stuffed\r\n.\r\n"
    reader = DotReader()
    out, consumed = reader.feed(stream)
    assert reader.done and consumed == len(stream)
    assert out == b"Subject: x\r\n\r\n" + body + b".stuffed\r\n"
