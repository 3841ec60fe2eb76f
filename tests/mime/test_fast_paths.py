"""The parse's fast paths give exactly what the straightforward code gave.

Each fast path (regex scanners instead of per-octet loops, a canonical-date
reader in front of the stdlib's parser, whitespace collapsing without one
regex match per word) is checked against the code it replaced, kept here as
the reference, on generated input and on the values of the bench corpus.
The parse record is stored and rendered byte for byte (ENVELOPE,
BODYSTRUCTURE, previews), so "almost the same" would be a bug.
"""

from __future__ import annotations

import calendar
import html
import re
from email.utils import parsedate_tz

from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.mime import parse_message
from posteingang.mime.headers import (
    _parse_params,
    _Scanner,
    comment_end,
    parse_content_type,
    parse_date,
    parse_disposition,
    read_quoted,
    split_fields,
)
from posteingang.mime.text import PREVIEW_LENGTH, html_to_text, make_preview

from .corpus import bench_messages

# --- the replaced code, verbatim in behaviour ---------------------------------

_TSPECIALS = frozenset(b'()<>@,;:\\"/[]?=')


def ref_read_quoted(data: bytes, pos: int) -> tuple[bytes, int]:
    n = len(data)
    out = bytearray()
    while pos < n:
        c = data[pos]
        if c == 0x22:
            pos += 1
            break
        if c == 0x5C and pos + 1 < n:
            out.append(data[pos + 1])
            pos += 2
            continue
        if c not in (0x0A, 0x0D):
            out.append(c)
        pos += 1
    return bytes(out), pos


def ref_skip_ws(data: bytes, pos: int) -> int:
    n = len(data)
    while pos < n:
        c = data[pos]
        if c in (0x20, 0x09, 0x0A, 0x0D):
            pos += 1
        elif c == 0x28:
            pos = comment_end(data, pos) + 1
        else:
            break
    return min(pos, n)


def ref_token(data: bytes, pos: int) -> tuple[bytes, int]:
    start = pos
    while pos < len(data):
        c = data[pos]
        if c <= 0x20 or c == 0x7F or c in _TSPECIALS:
            break
        pos += 1
    return data[start:pos], pos


def ref_parse_date(value: bytes) -> float | None:
    try:
        t = parsedate_tz(value.decode("latin-1"))
        if t is None:
            return None
        ts = calendar.timegm((t[0], t[1], t[2], t[3], t[4], t[5], 0, 1, 0))
        return float(ts - (t[9] or 0))
    except (ValueError, OverflowError, TypeError, IndexError):
        return None


_HTML_DROP = re.compile(
    r"<(script|style|head|title|template|noscript)\b[^>]*>.*?</\1\s*>|<!--.*?-->",
    re.IGNORECASE | re.DOTALL,
)
_HTML_BREAK = re.compile(r"<(?:br|/p|/div|/tr|/li|/h[1-6]|p|div|li|tr|hr)\b[^>]*>", re.I)
_HTML_BLOCKQUOTE = re.compile(r"<blockquote\b.*?</blockquote\s*>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_SPACES = re.compile(r"\s+")


def ref_html_to_text(markup: str, *, drop_quotes: bool = False) -> str:
    markup = _HTML_DROP.sub(" ", markup)
    if drop_quotes:
        markup = _HTML_BLOCKQUOTE.sub(" ", markup)
    markup = _HTML_BREAK.sub("\n", markup)
    markup = _HTML_TAG.sub(" ", markup)
    text = html.unescape(markup)
    text = _WS.sub(" ", text)
    return _BLANK_LINES.sub("\n", text).strip()


def ref_make_preview(text: str) -> str:
    text = text[: PREVIEW_LENGTH * 20]
    kept: list[str] = []
    size = 0
    for line in text.splitlines():
        if line.rstrip() == "--":
            break
        stripped = line.lstrip()
        if stripped.startswith(">"):
            continue
        kept.append(stripped)
        size += len(stripped)
        if size > PREVIEW_LENGTH * 2:
            break
    preview = _SPACES.sub(" ", " ".join(kept)).strip()
    return preview[:PREVIEW_LENGTH]


def ref_params(value: bytes) -> list[tuple[bytes, bytes]]:
    """The parameter loop of the old scanner (before RFC 2231 merging)."""
    out: list[tuple[bytes, bytes]] = []
    pos = 0
    n = len(value)
    while True:
        pos = ref_skip_ws(value, pos)
        if pos >= n:
            break
        if value[pos] != 0x3B:
            nxt = value.find(b";", pos)
            if nxt < 0:
                break
            pos = nxt
        pos = ref_skip_ws(value, pos + 1)
        name, pos = ref_token(value, pos)
        pos = ref_skip_ws(value, pos)
        if not name or pos >= n or value[pos] != 0x3D:
            continue
        pos = ref_skip_ws(value, pos + 1)
        if pos < n and value[pos] == 0x22:
            val, pos = ref_read_quoted(value, pos + 1)
        else:
            val, pos = ref_token(value, pos)
        out.append((name, val))
    return out


def scanner_content_type(value: bytes) -> tuple[bytes, bytes | None, list[tuple[bytes, bytes]]]:
    """`parse_content_type` without its fast path (the scanner alone)."""
    s = _Scanner(value)
    s.skip_ws()
    mtype = s.token()
    s.skip_ws()
    if s.peek() != 0x2F:
        return mtype, None, []
    s.pos += 1
    s.skip_ws()
    subtype = s.token()
    if not mtype or not subtype:
        return mtype, subtype or None, []
    return mtype, subtype, _parse_params(s)


def scanner_disposition(value: bytes) -> tuple[bytes | None, list[tuple[bytes, bytes]]]:
    s = _Scanner(value)
    s.skip_ws()
    return s.token(), _parse_params(s)


# --- generated input ------------------------------------------------------------

# Octets that steer the scanners: quotes, backslashes, comments, folding, tspecials.
_HEADERISH = st.lists(
    st.sampled_from(
        [
            b'"',
            b"\\",
            b"(",
            b")",
            b";",
            b"=",
            b"/",
            b" ",
            b"\t",
            b"\r\n ",
            b"\n",
            b"\x7f",
            b"a",
            b"Z",
            b"0",
            b"-",
            b"\xe4",
            b"\x00",
            b"text",
            b"charset",
            b"utf-8",
            b"*0*",
        ]
    ),
    max_size=40,
).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(_HEADERISH, st.integers(0, 5))
def test_read_quoted_matches_reference(data: bytes, pos: int) -> None:
    assert read_quoted(data, pos) == ref_read_quoted(data, pos)


@settings(max_examples=500, deadline=None)
@given(_HEADERISH)
def test_structured_values_match_reference(data: bytes) -> None:
    mtype, subtype, params = parse_content_type(b"text/plain;" + data)
    assert (mtype, subtype) == (b"text", b"plain")
    if not any(b"*" in name for name, _ in params):  # RFC 2231 joining reorders
        assert params == ref_params(b";" + data)
    _disp, dparams = parse_disposition(b"attachment;" + data)
    if not any(b"*" in name for name, _ in dparams):
        assert dparams == ref_params(b";" + data)
    pos = ref_skip_ws(data, 0)
    assert parse_content_type(data)[0] == ref_token(data, pos)[0]
    for value in (data, b"text/plain;" + data, b" Text / HTML " + data, b"multipart/x;a=1" + data):
        assert parse_content_type(value) == scanner_content_type(value)
        assert parse_disposition(value) == scanner_disposition(value)


_DAY = st.sampled_from(["", "Mon, ", "Sun, ", "Xyz, ", "mon, "])
_MON = st.sampled_from(["Jan", "dec", "DEC", "Feb", "Foo", "June"])


@settings(max_examples=500, deadline=None)
@given(
    _DAY,
    st.integers(0, 39),
    _MON,
    st.sampled_from(["1", "70", "999", "0000", "1969", "2026", "9999"]),
    st.integers(0, 99),
    st.integers(0, 99),
    st.sampled_from(["", ":00", ":59", ":60", ":7"]),
    st.sampled_from(
        [
            *("+0000", "-0000", "+0130", "-0800", "+2399", "GMT", "+0100 (CET)", "+01"),
            *("+0000 (UTC)", "-0700 (Pacific Daylight Time)", "+0000 (a(b)c)", "+0000 (x) y"),
            *("+0000 ()", "+0000 (\\)", "+0000 (UTC", "+0000  (UTC)", "+0000 (UTC) "),
        ]
    ),
)
def test_parse_date_matches_stdlib_reading(
    day: str, dd: int, mon: str, year: str, hh: int, mm: int, ss: str, zone: str
) -> None:
    for text in (
        f"{day}{dd} {mon} {year} {hh:02d}:{mm:02d}{ss} {zone}",
        f"{day}{dd:02d} {mon} {year} {hh}:{mm}{ss} {zone}",
    ):
        value = text.encode()
        assert parse_date(value) == ref_parse_date(value), text


_TEXTISH = st.lists(
    st.sampled_from(
        [
            "a",
            "Wort",
            " ",
            "  ",
            "\t",
            "\n",
            "\r\n",
            "\xa0",
            "\u2003",
            "\x1c",
            "\f",
            "\v",
            ">",
            "--",
            "-- ",
            "<p>",
            "<br>",
            "</div>",
            "<blockquote>",
            "</blockquote>",
            "<!--",
            "-->",
            "<style>",
            "</style>",
            "&amp;",
            "&nbsp;",
            "<b>",
            "x" * 150,
        ]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(_TEXTISH)
def test_html_and_preview_match_reference(text: str) -> None:
    assert html_to_text(text) == ref_html_to_text(text)
    assert html_to_text(text, drop_quotes=True) == ref_html_to_text(text, drop_quotes=True)
    assert make_preview(text) == ref_make_preview(text)


def test_corpus_values_match_reference() -> None:
    """Every header field, date, preview and HTML body of bench.mbox."""
    msgs = bench_messages()[:1500]
    for raw in msgs:
        p = parse_message(raw)
        for name, _start, vstart, end in split_fields(raw, 0, p.root.body_start):
            value = raw[vstart:end].replace(b"\r", b"").rstrip(b"\n").lstrip(b" \t")
            if name == "date":
                assert parse_date(value.replace(b"\n", b"")) == ref_parse_date(
                    value.replace(b"\n", b"")
                )
            elif name in ("content-type", "content-disposition"):
                assert parse_content_type(value) == scanner_content_type(value)
                assert parse_disposition(value) == scanner_disposition(value)
                semi = value.find(b";")
                if semi >= 0 and b"*" not in value:
                    assert parse_disposition(value)[1] == ref_params(value[semi:])
        body = raw[p.root.body_start :].decode("utf-8", "replace")
        assert make_preview(body) == ref_make_preview(body)
        if b"<html" in raw.lower():
            assert html_to_text(body) == ref_html_to_text(body)
            assert html_to_text(body, drop_quotes=True) == ref_html_to_text(body, drop_quotes=True)


_WSP = st.sampled_from([b"", b" ", b"\t", b"\n ", b"  "])
_TOK = st.sampled_from([b"charset", b"utf-8", b"name*", b"name*0*", b"x\xe4", b"A", b"", b"a b"])
_VAL = st.one_of(_TOK, _TOK.map(lambda t: b'"' + t + b'"'), st.sampled_from([b'"a;b"', b'"\\""']))
_PARAM = st.tuples(_WSP, _TOK, _WSP, _WSP, _VAL, _WSP).map(
    lambda p: p[0] + b";" + p[1] + p[2] + b"=" + p[3] + p[4] + p[5]
)


@settings(max_examples=1000, deadline=None)
@given(_WSP, _TOK, _WSP, st.lists(_PARAM, max_size=4).map(b"".join), _WSP)
def test_well_formed_values_match_scanner(
    lead: bytes, tok: bytes, gap: bytes, params: bytes, tail: bytes
) -> None:
    """Values shaped like real Content-Type/-Disposition fields (the fast path)."""
    for value in (lead + tok + gap + b"/" + gap + tok + params + tail, lead + tok + params + tail):
        assert parse_content_type(value) == scanner_content_type(value)
        assert parse_disposition(value) == scanner_disposition(value)
