"""Vectors for header-level parsing: RFC 2047, RFC 2231, addresses, charsets."""

from __future__ import annotations

import pytest

from posteingang.mime.address import parse_address_list
from posteingang.mime.charsets import decode_bytes
from posteingang.mime.headers import (
    decode_words,
    message_ids,
    param_value,
    parse_content_type,
    parse_date,
    parse_disposition,
    split_fields,
)
from posteingang.mime.model import Address


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"plain ascii", "plain ascii"),
        (b"=?utf-8?q?M=C3=BCller?=", "Müller"),
        (b"=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"),
        # RFC 2047 §8: white space between adjacent encoded-words is dropped.
        (b"=?utf-8?b?w6Q=?= =?utf-8?b?w7Y=?=", "äö"),
        (b"(=?ISO-8859-1?Q?a?= b)", "(a b)"),
        (b"=?utf-8?q?a_b?=", "a b"),
        # RFC 2231 §5 language suffix in the charset.
        (b"=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore"),
        # Unknown charset and broken base64 do not raise.
        (b"=?x-nonsense?q?abc?=", "abc"),
        (b"=?utf-8?b?!!!?=", ""),
        (b"raw \xc3\xa4 utf8", "raw ä utf8"),
        (b"latin \xe4", "latin ä"),
    ],
)
def test_decode_words(raw: bytes, expected: str) -> None:
    assert decode_words(raw) == expected


def test_content_type_params_and_rfc2231() -> None:
    t, s, params = parse_content_type(
        b'Text/Plain; CharSet="utf-8" (comment); format=flowed;'
        b" title*0*=us-ascii'en'This%20is%20; title*1=\"fun\""
    )
    assert (t, s) == (b"Text", b"Plain")
    # Names keep their spelling; RFC 2231 segments are joined, still encoded.
    assert params == [
        (b"CharSet", b"utf-8"),
        (b"format", b"flowed"),
        (b"title*", b"us-ascii'en'This%20is%20fun"),
    ]
    assert param_value(tuple(params), b"charset") == "utf-8"
    assert param_value(tuple(params), b"title") == "This is fun"


def test_rfc2231_utf8_filename() -> None:
    _, params = parse_disposition(b"attachment; filename*=UTF-8''%E2%82%AC%20rates.txt")
    assert param_value(tuple(params), b"filename") == "€ rates.txt"


def test_broken_content_type_yields_no_params() -> None:
    assert parse_content_type(b"text; charset=us-ascii") == (b"text", None, [])
    assert parse_content_type(b"") == (b"", None, [])


def test_split_fields_offsets() -> None:
    raw = b"A: 1\r\nB: two\r\n  folded\r\nbroken line\r\nC:3\r\n\r\nbody"
    fields = split_fields(raw, 0, raw.index(b"\r\n\r\n") + 4)
    assert [(n, raw[s:e]) for n, s, _v, e in fields] == [
        ("a", b"A: 1\r\n"),
        ("b", b"B: two\r\n  folded\r\n"),
        ("", b"broken line\r\n"),  # no colon: kept, nameless
        ("c", b"C:3\r\n"),
    ]


def A(
    name: bytes | None, mailbox: bytes | None, host: bytes | None, adl: bytes | None = None
) -> Address:
    return Address(name, adl, mailbox, host)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a@example.com", (A(None, b"a", b"example.com"),)),
        (b'"Doe, J." <j@example.com>', (A(b"Doe, J.", b"j", b"example.com"),)),
        (b"j@example.com (John Doe)", (A(b"John Doe", b"j", b"example.com"),)),
        (
            b"<@a.example,@b.example:r@example.com>",
            (A(None, b"r", b"example.com", b"@a.example,@b.example"),),
        ),
        (
            b"G: a@x.example, b@y.example;",
            (
                A(None, b"G", None),
                A(None, b"a", b"x.example"),
                A(None, b"b", b"y.example"),
                A(None, None, None),
            ),
        ),
        (
            b"undisclosed-recipients:;",
            (A(None, b"undisclosed-recipients", None), A(None, None, None)),
        ),
        (b"nodomain", (A(None, b"nodomain", b"MISSING_DOMAIN"),)),
        (b"Name <a@example.com", (A(b"Name", b"a", b"SYNTAX_ERROR"),)),
        (b"", None),
        (b"   ", None),
    ],
)
def test_address_lists(raw: bytes, expected: tuple[Address, ...] | None) -> None:
    assert parse_address_list(raw) == expected


def test_dates_and_ids() -> None:
    assert parse_date(b"Mon, 02 Jan 2023 03:18:00 -0500") == 1672647480.0
    assert parse_date(b"not a date") is None
    assert message_ids(b"<a@x> <b@y>\n <c@z>") == ("a@x", "b@y", "c@z")


def test_charset_fallbacks() -> None:
    assert decode_bytes(b"\xe4", "utf-8") == "ä"  # invalid UTF-8 falls back to cp1252
    assert decode_bytes(b"\x80", "iso-8859-1") == "€"  # Latin-1 read as Windows-1252
    assert decode_bytes("ä".encode(), "bogus-charset") == "ä"
    assert decode_bytes(b"abc", "base64") == "abc"  # not a text codec: ignored
