"""Modified UTF-7, sequence sets, dates: vectors and properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.imap.proto import dates, mutf7
from posteingang.imap.proto.sequence import SequenceSet, SequenceSetError

# -- modified UTF-7 (RFC 3501 §5.1.3) --------------------------------------

MUTF7_VECTORS = [
    ("INBOX", b"INBOX"),
    ("", b""),
    ("&", b"&-"),
    ("a&b", b"a&-b"),
    # The RFC 3501 §5.1.3 example.
    ("~peter/mail/日本語/台北", b"~peter/mail/&ZeVnLIqe-/&U,BTFw-"),
    ("Entwürfe", b"Entw&APw-rfe"),
    ("Gesendete Objekte", b"Gesendete Objekte"),
    ("Corbeille/été", b"Corbeille/&AOk-t&AOk-"),
    ("😀", b"&2D3eAA-"),
    ("Ω&ß", b"&A6k-&-&AN8-"),
]


@pytest.mark.parametrize(("text", "wire"), MUTF7_VECTORS)
def test_mutf7_vectors(text: str, wire: bytes) -> None:
    assert mutf7.encode(text) == wire
    assert mutf7.decode(wire) == text


@pytest.mark.parametrize(
    "wire",
    [
        b"&Jjo!",  # unterminated shift
        b"&Jjo",
        b"&U,BTFw-&ZeVnLIqe-",  # two adjacent shifts must have been one
        b"&AGE-",  # base64 for printable "a"
        b"&ACY-",  # base64 for "&" itself
        b"caf\xc3\xa9",  # raw 8-bit
        b"tab\there",  # control character
        b"&2D0-",  # lone high surrogate
        b"&AOk",  # unterminated
        b"&AOl-",  # nonzero padding bits
        b"&AOkA-",  # an extra sextet
        b"&Jj/-",  # "/" is not in the modified alphabet
    ],
)
def test_mutf7_strict_decoder_rejects(wire: bytes) -> None:
    with pytest.raises(mutf7.MUTF7Error):
        mutf7.decode(wire)


@given(st.text(max_size=40))
def test_mutf7_round_trip(text: str) -> None:
    assert mutf7.decode(mutf7.encode(text)) == text


@given(st.binary(max_size=40))
def test_mutf7_decoder_accepts_only_canonical_forms(data: bytes) -> None:
    try:
        text = mutf7.decode(data)
    except mutf7.MUTF7Error:
        return
    assert mutf7.encode(text) == data


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("inbox", "INBOX"),
        ("InBoX", "INBOX"),
        ("inbox/Sub", "INBOX/Sub"),
        ("INBOXES", "INBOXES"),
        ("Archive/inbox", "Archive/inbox"),
    ],
)
def test_inbox_is_case_insensitive_only_at_the_top(name: str, normal: str) -> None:
    assert mutf7.normalize_mailbox(name) == normal


# -- sequence sets (RFC 9051 §9 sequence-set) -------------------------------


@pytest.mark.parametrize(
    ("text", "max_value", "numbers"),
    [
        (b"1", 5, [1]),
        (b"2:4", 5, [2, 3, 4]),
        (b"4:2", 5, [2, 3, 4]),  # reversed range
        (b"*", 5, [5]),
        (b"*:4", 5, [4, 5]),
        (b"*:4", 3, [3]),  # RFC 9051 §9: n:* with n > max covers max
        (b"7:*", 3, [3]),
        (b"1,3,2,3", 5, [1, 2, 3]),
        (b"1:3,2:5", 9, [1, 2, 3, 4, 5]),
        (b"9", 5, []),
        (b"1:*", 0, []),  # empty mailbox
        (b"4294967295", 4294967295, [4294967295]),
    ],
)
def test_sequence_set_resolution(text: bytes, max_value: int, numbers: list[int]) -> None:
    assert list(SequenceSet.parse(text).iter_numbers(max_value)) == numbers


@pytest.mark.parametrize(
    "text", [b"", b"0", b"01", b"1:", b":1", b"1,,2", b"1:2:3", b"4294967296", b"a", b"$,1"]
)
def test_sequence_set_rejects(text: bytes) -> None:
    with pytest.raises(SequenceSetError):
        SequenceSet.parse(text)


def test_sequence_set_limits_ranges_and_needs_saved_result_substituted() -> None:
    with pytest.raises(SequenceSetError):
        SequenceSet.parse(b",".join([b"1"] * 11), max_ranges=10)
    saved = SequenceSet.parse(b"$")
    assert saved.saved and saved.to_bytes() == b"$"
    with pytest.raises(SequenceSetError):
        saved.resolve(10)


def test_sequence_set_serialisation_and_highest_explicit() -> None:
    s = SequenceSet.parse(b"5:3,*,9")
    assert s.to_bytes() == b"5:3,*,9"
    assert s.has_star
    assert s.highest_explicit == 9
    assert SequenceSet.from_numbers([7, 1, 2, 3, 9, 8]).to_bytes() == b"1:3,7:9"


_ends = st.one_of(st.none(), st.integers(min_value=1, max_value=60))


@settings(max_examples=200)
@given(st.lists(st.tuples(_ends, _ends), min_size=1, max_size=6), st.integers(0, 50))
def test_sequence_set_matches_the_definition(
    ranges: list[tuple[int | None, int | None]], max_value: int
) -> None:
    s = SequenceSet(tuple(ranges))
    expected: set[int] = set()
    if max_value:
        for a, b in ranges:
            x = max_value if a is None else a
            y = max_value if b is None else b
            expected |= {n for n in range(min(x, y), max(x, y) + 1) if n <= max_value}
    assert list(s.iter_numbers(max_value)) == sorted(expected)
    assert SequenceSet.parse(s.to_bytes()) == s
    assert list(SequenceSet.from_numbers(expected).iter_numbers(max_value)) == sorted(expected)


# -- dates -------------------------------------------------------------------


def test_date_and_datetime_parsing() -> None:
    assert dates.parse_date(b"1-Feb-1994") == dt.date(1994, 2, 1)
    assert dates.parse_date(b"01-feb-1994") == dt.date(1994, 2, 1)
    got = dates.parse_datetime(b" 7-Jul-2024 23:59:60 -0130".replace(b":60", b":59"))
    assert got == dt.datetime(
        2024, 7, 7, 23, 59, 59, tzinfo=dt.timezone(-dt.timedelta(hours=1, minutes=30))
    )
    for bad in (b"1-Feb-94", b"32-Jan-2024", b"1-Fab-2024", b"1 Feb 2024", b""):
        with pytest.raises(dates.DateError):
            dates.parse_date(bad)
    for bad in (b"7-Jul-2024 23:59:59 +0000", b"07-Jul-2024 24:00:00 +0000",
                b"07-Jul-2024 23:59:59 +0060", b"07-Jul-2024 23:59:59"):  # fmt: skip
        with pytest.raises(dates.DateError):
            dates.parse_datetime(bad)


@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), timezones=st.just(dt.UTC)))
def test_datetime_format_round_trip(value: dt.datetime) -> None:
    value = value.replace(microsecond=0)
    assert dates.parse_datetime(dates.format_datetime(value)) == value
    assert dates.parse_date(dates.format_date(value.date())) == value.date()
