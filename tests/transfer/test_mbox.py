"""The mbox splitter and writer: vectors, chunking independence, round trips, fuzz."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.transfer.mbox import (
    MboxError,
    MboxSplitter,
    escape_mboxrd,
    format_message,
    from_line_date,
    iter_mbox,
    unescape_mboxrd,
)

F1 = b"From a@example.test Mon Jan  2 08:18:00 2023"
F2 = b"From b@example.test Tue Jan  3 09:00:00 2023"


def split(data: bytes, chunk: int = 1 << 20) -> list[tuple[bytes, bytes]]:
    return [(m.from_line, m.raw) for m in iter_mbox(io.BytesIO(data), chunk)]


VECTORS = [
    # (mbox bytes, [(from line, message bytes)])
    (b"", []),
    (F1 + b"\nS: 1\n\nbody\n\n", [(F1, b"S: 1\n\nbody\n")]),
    # no final empty line: the message keeps its own last line ending
    (F1 + b"\nS: 1\n\nbody\n", [(F1, b"S: 1\n\nbody\n")]),
    (
        F1 + b"\nS: 1\n\nbody\n\n" + F2 + b"\nS: 2\n\nzwei\n\n",
        [(F1, b"S: 1\n\nbody\n"), (F2, b"S: 2\n\nzwei\n")],
    ),
    # CRLF throughout: the separator's empty line is CRLF too
    (
        F1 + b"\r\nS: 1\r\n\r\nbody\r\n\r\n" + F2 + b"\r\nS: 2\r\n\r\nx\r\n\r\n",
        [(F1, b"S: 1\r\n\r\nbody\r\n"), (F2, b"S: 2\r\n\r\nx\r\n")],
    ),
    # a "From " line not after an empty line is body text, not a separator
    (F1 + b"\nS: 1\n\nline\nFrom here on\n\n", [(F1, b"S: 1\n\nline\nFrom here on\n")]),
    # escaped lines are left alone by the splitter
    (F1 + b"\nS: 1\n\n>From x\n\n", [(F1, b"S: 1\n\n>From x\n")]),
    # an empty message between two separators
    (F1 + b"\n\n" + F2 + b"\nS: 2\n\nx\n", [(F1, b""), (F2, b"S: 2\n\nx\n")]),
    # a message ending with empty lines keeps all but the separator's
    (F1 + b"\nS: 1\n\nbody\n\n\n\n", [(F1, b"S: 1\n\nbody\n\n\n")]),
]


@pytest.mark.parametrize(("data", "expected"), VECTORS)
def test_split_vectors(data: bytes, expected: list[tuple[bytes, bytes]]) -> None:
    assert split(data) == expected


@pytest.mark.parametrize(("data", "expected"), VECTORS)
@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_split_is_independent_of_chunking(
    data: bytes, expected: list[tuple[bytes, bytes]], chunk: int
) -> None:
    assert split(data, chunk) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"Subject: not an mbox\n\nhello\n",
        b"\nFrom a Mon Jan  2 08:18:00 2023\n",
        b"<html>",
    ],
)
def test_not_an_mbox(data: bytes) -> None:
    with pytest.raises(MboxError, match="not an mbox"):
        split(data)


@pytest.mark.parametrize("data", [F1 + b"\nS: 1\n\ncut in the midd", F1])
def test_truncated(data: bytes) -> None:
    with pytest.raises(MboxError, match="truncated"):
        split(data)


def test_offsets_and_indexes() -> None:
    data = F1 + b"\nS: 1\n\nbody\n\n" + F2 + b"\nS: 2\n\nx\n"
    got = list(iter_mbox(io.BytesIO(data), 5))
    assert [m.index for m in got] == [1, 2]
    assert [m.offset for m in got] == [0, data.index(F2)]


MBOXRD = [
    (b"From x\n", b">From x\n"),
    (b">From x\n", b">>From x\n"),
    (b"a\n>>From x\nFrom y\n", b"a\n>>>From x\n>From y\n"),
    (b"a From x\n", b"a From x\n"),
    (b"\r\nFrom x\r\n", b"\r\n>From x\r\n"),
]


@pytest.mark.parametrize(("plain", "escaped"), MBOXRD)
def test_mboxrd_vectors(plain: bytes, escaped: bytes) -> None:
    assert escape_mboxrd(plain) == escaped
    assert unescape_mboxrd(escaped) == plain


lines = st.lists(
    st.one_of(
        st.sampled_from([b"From x", b">From y", b">>From z", b"", b"From", b"\r"]),
        st.binary(max_size=20).filter(lambda b: b"\n" not in b),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(lines, min_size=1, max_size=4), st.sampled_from([b"\n", b"\r\n"]))
def test_written_mbox_reads_back_exactly(bodies: list[list[bytes]], eol: bytes) -> None:
    """What `format_message` writes, the splitter plus mboxrd un-escaping gives back.

    Messages that end with a line ending round-trip exactly; for the others the
    writer added one (the sidecar records the size to drop it again).
    """
    messages = [b"Subject: t" + eol + eol + eol.join(body) + eol for body in bodies]
    date = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    data = b"".join(format_message(m, date) for m in messages)
    got = [unescape_mboxrd(m.raw) for m in iter_mbox(io.BytesIO(data), 13)]
    assert got == messages


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=1, max_value=64))
def test_arbitrary_bytes_give_messages_or_an_mbox_error(data: bytes, chunk: int) -> None:
    try:
        got = split(data, chunk)
    except MboxError:
        return
    assert got == split(data)  # and chunking does not matter
    total = sum(len(raw) for _, raw in got)
    assert total <= len(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=6))
def test_mbox_like_input_from_fragments(parts: list[bytes]) -> None:
    data = b"From x Mon Jan  2 08:18:00 2023\n" + b"\n\nFrom y\n".join(parts) + b"\n"
    for chunk in (1, 5, 1 << 20):
        try:
            split(data, chunk)
        except MboxError:
            pass


DATES = [
    (b"From a Mon Jan  2 08:18:00 2023", datetime(2023, 1, 2, 8, 18, tzinfo=UTC)),
    (b"From a@b Sat Jan 3 01:05:34 1996", datetime(1996, 1, 3, 1, 5, 34, tzinfo=UTC)),
    (b"From a Mon Jan  2 08:18 2023", datetime(2023, 1, 2, 8, 18, tzinfo=UTC)),
    (b"From a Mon Jan  2 08:18:00 CET 2023", datetime(2023, 1, 2, 8, 18, tzinfo=UTC)),
    (
        b"From a Mon Jan  2 08:18:00 2023 +0100",
        datetime(2023, 1, 2, 8, 18, tzinfo=timezone(timedelta(hours=1))),
    ),
    (b"From a Mon Foo  2 08:18:00 2023", None),
    (b"From a Mon Feb 30 08:18:00 2023", None),
    (b"From a", None),
    (b"From MAILER-DAEMON", None),
]


@pytest.mark.parametrize(("line", "expected"), DATES)
def test_from_line_dates(line: bytes, expected: datetime | None) -> None:
    assert from_line_date(line) == expected


def test_from_line_written_in_utc() -> None:
    d = datetime(2024, 5, 1, 14, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    line = format_message(b"x\n", d).split(b"\n")[0]
    assert line == b"From MAILER-DAEMON Wed May  1 12:00:05 2024"
    assert from_line_date(line) == d


def test_splitter_feed_end_api() -> None:
    s = MboxSplitter()
    assert s.feed(F1[:3]) == []
    assert s.feed(F1[3:] + b"\nx\n\n" + F2[:4]) == []
    out = s.feed(F2[4:] + b"\ny\n")
    assert [m.raw for m in out] == [b"x\n"]
    assert [m.raw for m in s.end()] == [b"y\n"]
