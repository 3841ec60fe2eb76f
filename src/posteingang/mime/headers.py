"""Header blocks: splitting into fields, unfolding, MIME parameters, RFC 2047.

Pure functions over bytes.  Nothing here raises on malformed input: a field
that cannot be understood yields ``None`` or an empty result, never an
exception, because a single broken header must not make a message
undeliverable.  This module never re-serialises anything.
"""

from __future__ import annotations

import binascii
import calendar
import re
from collections.abc import Iterable
from email.utils import parsedate_tz
from itertools import islice

from .charsets import decode_bytes
from .source import ByteSource

# A header field as (lower-case name, start, value_start, end).  ``end`` is
# the offset after the field's last line break; ``value_start`` is right
# after the colon.
Field = tuple[str, int, int, int]


def find_body_start(raw: ByteSource, start: int, end: int) -> int:
    """Offset of the first body octet of the entity starting at ``start``.

    The header ends at the first empty line (RFC 5322 §2.1); the empty line
    belongs to the header.  Without an empty line the whole entity is header
    and the body is empty.
    """
    found = header_end(raw, start, end)
    return end if found is None else found


def header_end(raw: ByteSource, start: int, end: int) -> int | None:
    """The offset just after the empty line ending the header, or None."""
    if start >= end:
        return None
    c = raw[start]
    if c == 0x0A:  # entity starts with an empty line: no header fields
        return start + 1
    if c == 0x0D and start + 1 < end and raw[start + 1] == 0x0A:
        return start + 2
    # DoS rule: a CRLF message never contains "\n\n", so one search up to
    # ``end`` would scan the whole body (50 MB) for every entity.  Search
    # growing spans instead: O(header) octets for a header of any length.
    # An answer found before a span's last octet is the answer for ``end``
    # (a pattern straddling the span's end starts later than one inside it).
    find = raw.find
    span = 16 * 1024
    while True:
        e = min(end, start + span)
        p = find(b"\n\n", start, e)
        q = find(b"\n\r\n", start, e if p < 0 else p)
        found = q + 3 if q >= 0 else p + 2 if p >= 0 else None
        if e >= end or (found is not None and found < e):
            return found
        span *= 4


# One header line and its continuation lines.  Group 1 is the field name
# when the first line has a colon; a line without one (broken mail) still
# belongs to the header and is kept with the name "".
_FIELD = re.compile(
    rb"^(?:([^ \t\r\n:][^:\n]*):|(?=[^ \t\r\n]))[^\n]*(?:\n[ \t][^\n]*)*\n?", re.MULTILINE
)


def split_fields(raw: bytes, start: int, end: int, max_fields: int | None = None) -> list[Field]:
    """The header fields in ``raw[start:end]`` (a header block), in order;
    at most ``max_fields`` of them when given.

    Continuation lines (starting with SP or HTAB) belong to the previous
    field (RFC 5322 §2.2.3).  Lines without a colon are returned with the
    name ``""`` (value empty) so that HEADER.FIELDS.NOT keeps them, as
    Dovecot does.  ``start`` must be the start of a line.
    """
    out: list[Field] = []
    matches: Iterable[re.Match[bytes]] = _FIELD.finditer(raw, start, end)
    if max_fields is not None and end - start >= 2 * max_fields:
        matches = islice(matches, max_fields)  # a field takes at least 2 octets
    names = _FIELD_NAMES
    for m in matches:
        name = m.group(1)
        if name is None:
            out.append(("", m.start(), m.end(), m.end()))
            continue
        lname = names.get(name)
        if lname is None:
            lname = name.rstrip(b" \t").decode("latin-1").lower()
            if len(name) <= 64 and len(names) < _FIELD_NAMES_MAX:
                names[name] = lname
        out.append((lname, m.start(), m.end(1) + 1, m.end()))
    return out


# Field name as spelled -> its lower-case str.  The same few dozen names fill
# almost every header; the caps keep hostile mail from growing it without end.
_FIELD_NAMES: dict[bytes, str] = {}
_FIELD_NAMES_MAX = 4096


def field_value(raw: ByteSource, value_start: int, end: int) -> bytes:
    """A field's value the way IMAP servers see it before quoting.

    Leading whitespace of the first line is skipped, CRs are dropped and the
    final line break is removed; the LFs of folded lines stay so that the
    renderer can apply IMAP's whitespace rules (see `imap.py`).
    """
    v = raw[value_start:end]
    if v.endswith(b"\n"):
        v = v[:-1]
    if b"\r" in v:
        v = v.replace(b"\r", b"")
    return v.lstrip(b" \t")


def unfold(value: bytes) -> bytes:
    """Unfold a value (RFC 5322 §2.2.3): remove the line breaks of folds."""
    if b"\n" in value:
        value = value.replace(b"\n", b"")
    return value


# ---------------------------------------------------------------------------
# MIME structured fields: Content-Type, Content-Disposition (RFC 2045 §5.1)

# The scanner's loops as regexes (they match the empty string, so never None).
_WS_RUN = re.compile(rb"[ \t\n\r]*")
_TOKEN = re.compile(rb'[^\x00-\x20\x7f()<>@,;:\\"/\[\]?=]*')


def read_quoted(data: bytes, pos: int) -> tuple[bytes, int]:
    """The content of a quoted-string whose opening quote is just before `pos`.

    Quoted-pairs are resolved and CR/LF (folding) dropped; an unterminated string
    runs to the end. Returns the text and the index after the closing quote.
    """
    n = len(data)
    close = data.find(b'"', pos)
    stop = n if close < 0 else close
    if data.find(b"\\", pos, stop) < 0:
        # No quoted-pair: the first quote closes the string (the common case).
        text = data[pos:stop]
        if b"\r" in text or b"\n" in text:
            text = text.replace(b"\r", b"").replace(b"\n", b"")
        return text, max(n, pos) if close < 0 else close + 1
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


def comment_end(data: bytes, pos: int) -> int:
    """The index of the ``)`` closing the comment whose ``(`` is at `pos`.

    Comments nest and quoted-pairs are skipped; for an unterminated comment the
    result is `len(data)` or more.
    """
    n = len(data)
    depth = 0
    while pos < n:
        c = data[pos]
        if c == 0x5C:
            pos += 2
            continue
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                break
        pos += 1
    return pos


class _Scanner:
    """Tokeniser for RFC 822/2045 structured values (comments skipped)."""

    __slots__ = ("data", "n", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.n = len(data)

    def skip_ws(self) -> None:
        data, n = self.data, self.n
        pos = _WS_RUN.match(data, self.pos).end()  # type: ignore[union-attr]
        while pos < n and data[pos] == 0x28:  # "(" comment, may nest
            pos = comment_end(data, pos) + 1
            if pos < n:
                pos = _WS_RUN.match(data, pos).end()  # type: ignore[union-attr]
        self.pos = min(pos, n)

    def token(self) -> bytes:
        """A MIME token (RFC 2045 §5.1): no SPACE, CTLs or tspecials."""
        m = _TOKEN.match(self.data, self.pos)
        self.pos = m.end()  # type: ignore[union-attr]
        return m.group()  # type: ignore[union-attr]

    def quoted(self) -> bytes:
        """A quoted-string with the quotes removed and quoted-pairs resolved."""
        text, self.pos = read_quoted(self.data, self.pos + 1)
        return text

    def peek(self) -> int:
        return self.data[self.pos] if self.pos < self.n else -1


def parse_content_type(value: bytes) -> tuple[bytes, bytes | None, list[tuple[bytes, bytes]]]:
    """``type/subtype; params`` -> (type, subtype or None, raw params).

    When the type/subtype syntax is broken the parameters are not read,
    which keeps a broken header from inventing a charset or boundary.
    """
    m = _SIMPLE_CONTENT_TYPE.fullmatch(value)
    if m is not None:
        return m.group(1), m.group(2), _simple_params(value, m.start(3), m.end(3))
    s = _Scanner(value)
    s.skip_ws()
    mtype = s.token()
    s.skip_ws()
    if s.peek() != 0x2F:  # "/"
        return mtype, None, []
    s.pos += 1
    s.skip_ws()
    subtype = s.token()
    if not mtype or not subtype:
        return mtype, subtype or None, []
    return mtype, subtype, _parse_params(s)


def parse_disposition(value: bytes) -> tuple[bytes | None, list[tuple[bytes, bytes]]]:
    """Content-Disposition (RFC 2183) -> (type, raw params).

    A missing type gives ``b""``: the field was there, and Dovecot shows it
    as ``("" NIL)``.
    """
    m = _SIMPLE_DISPOSITION.fullmatch(value)
    if m is not None:
        return m.group(1), _simple_params(value, m.start(2), m.end(2))
    s = _Scanner(value)
    s.skip_ws()
    disp = s.token()
    return disp, _parse_params(s)


# Fast path for the values nearly all mail has: tokens and quoted-strings
# without comments, quoted-pairs, folding inside quotes, empty values or stray
# ";".  Each piece is what `_Scanner` reads from such a value (the token and
# whitespace sets are the same), so the result is the same; anything else
# takes the scanner.
_T = rb'[^\x00-\x20\x7f()<>@,;:\\"/\[\]?=]+'
_W = rb"[ \t\r\n]*"
_SIMPLE_PARAM = rb";" + _W + _T + _W + rb"=" + _W + rb"(?:" + _T + rb'|"[^"\\\r\n]*")'
_SIMPLE_CONTENT_TYPE = re.compile(
    _W
    + rb"("
    + _T
    + rb")"
    + _W
    + rb"/"
    + _W
    + rb"("
    + _T
    + rb")((?:"
    + _W
    + _SIMPLE_PARAM
    + rb")*)"
    + _W
)
_SIMPLE_DISPOSITION = re.compile(_W + rb"(" + _T + rb")((?:" + _W + _SIMPLE_PARAM + rb")*)" + _W)
_PARAM_ITEM = re.compile(
    _W + rb";" + _W + rb"(" + _T + rb")" + _W + rb"=" + _W + rb"(?:(" + _T + rb')|"([^"\\\r\n]*)")'
)


def _simple_params(value: bytes, start: int, end: int) -> list[tuple[bytes, bytes]]:
    raw = [
        (m.group(1), m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM_ITEM.finditer(value, start, end)
    ]
    return _merge_rfc2231(raw)


def parse_transfer_encoding(value: bytes) -> bytes | None:
    """Content-Transfer-Encoding (RFC 2045 §6.1): the mechanism token, or None
    when the value is not exactly one token.

    Comments may surround it (RFC 2045 §5.1 via RFC 822 structured fields:
    ``base64 (sent by X)``), so they are skipped, as Dovecot does; the token's
    spelling is kept for BODYSTRUCTURE.
    """
    s = _Scanner(value)
    s.skip_ws()
    token = s.token()
    s.skip_ws()
    return token if token and s.pos >= s.n else None


# RFC 5322 §3.2.3 atext, plus 8-bit octets (RFC 6532).
_ATEXT = (
    frozenset(b"!#$%&'*+-/=?^_`{|}~")
    | frozenset(range(0x30, 0x3A))
    | frozenset(range(0x41, 0x5B))
    | frozenset(range(0x61, 0x7B))
    | frozenset(range(0x80, 0x100))
)


def parse_language(value: bytes) -> list[bytes]:
    """Content-Language (RFC 3282): comma-separated atoms, comments skipped."""
    s = _Scanner(value)
    out: list[bytes] = []
    data, n = s.data, s.n
    s.skip_ws()
    while True:
        start = s.pos
        while s.pos < n and data[s.pos] in _ATEXT:
            s.pos += 1
        if s.pos == start:
            break
        out.append(data[start : s.pos])
        s.skip_ws()
        if s.peek() != 0x2C:  # ","
            break
        s.pos += 1
        s.skip_ws()
    return out


def _parse_params(s: _Scanner) -> list[tuple[bytes, bytes]]:
    raw: list[tuple[bytes, bytes]] = []
    while True:
        s.skip_ws()
        c = s.peek()
        if c == -1:
            break
        if c != 0x3B:  # ";"
            # Junk between parameters: skip to the next ";".
            nxt = s.data.find(b";", s.pos)
            if nxt < 0:
                break
            s.pos = nxt
        s.pos += 1
        s.skip_ws()
        name = s.token()
        s.skip_ws()
        if not name or s.peek() != 0x3D:  # "="
            continue
        s.pos += 1
        s.skip_ws()
        val = s.quoted() if s.peek() == 0x22 else s.token()
        raw.append((name, val))
    return _merge_rfc2231(raw)


def _merge_rfc2231(params: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Join RFC 2231 §3 continuations (``name*0``, ``name*1*`` ...).

    The joined parameter is named ``name*`` when any segment was encoded
    (values stay encoded, as IMAP BODYSTRUCTURE shows them), else ``name``.
    A parameter whose segments are not exactly ``*0``, ``*1`` ... ``*n`` (no
    ``*0``, a gap, a repeated index) cannot be joined: its segments are kept
    as they are, under their own names, never dropped.  Like Dovecot,
    RFC 2231 parameters follow the plain ones, sorted by name and index.
    """
    if not any(b"*" in name for name, _ in params):
        return params
    out: list[tuple[bytes, bytes]] = []
    # (base, index, encoded, original name, value)
    segments: list[tuple[bytes, int, bool, bytes, bytes]] = []
    for name, val in params:
        base, star, rest = name.partition(b"*")
        if not star:
            out.append((name, val))
            continue
        if rest == b"":  # "name*=charset'lang'value" (RFC 2231 §4)
            idx, encoded = 0, True
        else:
            encoded = rest.endswith(b"*")
            idx_text = rest[:-1] if encoded else rest
            if not (idx_text.isdigit() and len(idx_text) < 4):
                out.append((name, val))
                continue
            idx = int(idx_text)
        segments.append((base, idx, encoded, name, val))
    segments.sort(key=lambda seg: (seg[0], seg[1]))
    i = 0
    while i < len(segments):
        base = segments[i][0]
        j = i
        while j < len(segments) and segments[j][0].lower() == base.lower():
            j += 1
        group = segments[i:j]
        i = j
        if any(seg[1] != k for k, seg in enumerate(group)):
            out.extend((name, val) for _b, _i, _e, name, val in group)
            continue
        any_encoded = False
        joined = bytearray()
        for _b, _i, encoded, _n, val in group:
            if encoded:
                any_encoded = True
            elif any_encoded:
                # RFC 2231 §4.1: an unencoded segment after encoded ones;
                # re-encode its "%" so the joined value stays decodable.
                val = val.replace(b"%", b"%25")
            joined += val
        out.append((base + b"*" if any_encoded else base, bytes(joined)))
    return out


def param_value(params: tuple[tuple[bytes, bytes], ...], name: bytes) -> str | None:
    """A parameter's decoded value (``name`` lower-case), RFC 2231 §4 encoding
    and RFC 2047 encoded-words (common in filenames, though not allowed) handled.

    When both ``name*`` and ``name`` are given, the RFC 2231 value wins: the
    plain one is the fallback for agents that cannot read it (the rule RFC
    6266 §4.3 states for the same parameters in HTTP).
    """
    if not params:
        return None
    starred = name + b"*"
    plain: bytes | None = None
    for pname, val in params:
        lname = pname.lower()
        if lname == starred:
            return _decode_rfc2231(val)
        if lname == name and plain is None:
            plain = val
    if plain is not None:
        return decode_words(plain)
    return _broken_continuation(params, starred)


def _broken_continuation(params: tuple[tuple[bytes, bytes], ...], prefix: bytes) -> str | None:
    """A value from RFC 2231 segments that could not be joined (no ``*0``, a
    gap): the segments present, in index order, decoded as well as they can be."""
    found: list[tuple[int, bool, bytes]] = []
    for pname, val in params:
        lname = pname.lower()
        if not lname.startswith(prefix):
            continue
        rest = lname[len(prefix) :]
        encoded = rest.endswith(b"*")
        digits = rest[:-1] if encoded else rest
        if digits.isdigit():
            found.append((int(digits), encoded, val))
    if not found:
        return None
    found.sort(key=lambda seg: seg[0])
    if not found[0][1]:
        return decode_words(b"".join(val for _i, _e, val in found))
    first = found[0][2]
    rest_values = b"".join(
        val if encoded else val.replace(b"%", b"%25") for _i, encoded, val in found[1:]
    )
    return _decode_rfc2231(first + rest_values)


def _decode_rfc2231(val: bytes) -> str:
    charset = "us-ascii"
    parts = val.split(b"'", 2)
    if len(parts) == 3:
        charset = parts[0].decode("latin-1") or "us-ascii"
        val = parts[2]
    data = _unquote_percent(val)
    return decode_bytes(data, charset)


_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")


def _unquote_percent(val: bytes) -> bytes:
    if b"%" not in val:
        return val
    return _PCT.sub(lambda m: bytes((int(m.group(1), 16),)), val)


# ---------------------------------------------------------------------------
# RFC 2047 encoded-words

_EW = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_EW_GAP = re.compile(rb"(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)[ \t\r\n]+(?==\?[^?\s]+\?[bBqQ]\?)")
_Q_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def decode_words(value: bytes) -> str:
    """Decode RFC 2047 encoded-words in an (unfolded) header value.

    Whitespace between adjacent encoded-words is dropped (RFC 2047 §6.2).
    Text outside encoded-words is decoded as UTF-8 with a Windows-1252
    fallback; unknown charsets fall back the same way.  Never raises.
    """
    if b"\n" in value or b"\r" in value:
        value = value.replace(b"\r", b"").replace(b"\n", b"")
    if b"=?" not in value:
        return decode_bytes(value, "utf-8")
    value = _EW_GAP.sub(rb"\1", value)
    out: list[str] = []
    pos = 0
    for m in _EW.finditer(value):
        if m.start() > pos:
            out.append(decode_bytes(value[pos : m.start()], "utf-8"))
        charset = m.group(1).split(b"*", 1)[0].decode("latin-1")  # RFC 2231 §5 language
        enc = m.group(2)
        text = m.group(3)
        if enc in (b"B", b"b"):
            try:
                data = binascii.a2b_base64(text + b"=" * (-len(text) % 4))
            except (binascii.Error, ValueError):
                data = text
        else:
            data = _Q_HEX.sub(lambda h: bytes((int(h.group(1), 16),)), text.replace(b"_", b" "))
        out.append(decode_bytes(data, charset))
        pos = m.end()
    if pos < len(value):
        out.append(decode_bytes(value[pos:], "utf-8"))
    return "".join(out)


# ---------------------------------------------------------------------------
# Dates and message ids


_MONTH_NAMES = b"jan feb mar apr may jun jul aug sep oct nov dec".split()
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
# The canonical RFC 5322 §3.3 form most mail has ("Mon, 7 Dec 2026 15:25:09 +0100"),
# read without the stdlib's general parser; anything else goes to `parsedate_tz`.
# Years start at 1000: `parsedate_tz` reads years below 100 as two-digit years.
# A trailing comment ("+0000 (UTC)") is ignored there as here.
_CANONICAL_DATE = re.compile(
    rb"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) ([A-Za-z]{3}) ([1-9]\d{3}) "
    rb"(\d\d):(\d\d)(?::(\d\d))? ([+-])(\d\d)(\d\d)(?: \([^()\\]*\))?"
)


def parse_date(value: bytes) -> float | None:
    """RFC 5322 §3.3 date-time -> POSIX timestamp, or None if unparseable."""
    m = _CANONICAL_DATE.fullmatch(value)
    month = _MONTHS.get(m.group(2).lower()) if m is not None else None
    try:
        if m is not None and month is not None:
            day, _mon, year, hh, mm, ss, sign, zh, zm = m.groups()
            offset = int(zh) * 3600 + int(zm) * 60
            ts = calendar.timegm(
                (int(year), month, int(day), int(hh), int(mm), int(ss or 0), 0, 1, 0)
            )
            return float(ts + offset if sign == b"-" else ts - offset)
        t = parsedate_tz(value.decode("latin-1"))
        if t is None:
            return None
        ts = calendar.timegm((t[0], t[1], t[2], t[3], t[4], t[5], 0, 1, 0))
        return float(ts - (t[9] or 0))
    except (ValueError, OverflowError, TypeError, IndexError):
        return None


_MSGID = re.compile(rb"<([^<>\s]+)>")


def message_ids(value: bytes) -> tuple[str, ...]:
    """The msg-ids (RFC 5322 §3.6.4) in a References/In-Reply-To value."""
    return tuple(m.decode("utf-8", "replace") for m in _MSGID.findall(value))
