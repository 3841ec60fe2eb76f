"""parse_file: the same record as parse_message, read through a small window.

Equality is checked on every message we have (stdlib email test data, all
of bench.mbox, the hand-written edge cases, generated MIME trees and
mutated garbage) with read windows small enough that boundary lines,
blank lines and header fields straddle window seams everywhere.  The
memory bound itself is measured on a generated 50 MB message in a child
interpreter.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import SupportsIndex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posteingang.mime import parse_file, parse_message
from posteingang.mime.source import FileSource
from posteingang.mime.structure import (
    MAX_HEADER_FIELDS,
    MAX_HEADER_OCTETS,
    MIN_TEXT_OCTETS,
    _parse,
    parse_file_strict,
    parse_message_strict,
)

from .bigmessage import HEAD, TAIL, measure_parse, write_big_message
from .checks import check_offsets
from .corpus import bench_messages, crlf, stdlib_messages
from .edge_messages import EDGE_MESSAGES
from .mime_strategies import mime_message
from .test_fuzz import SEEDS, TOKENS

WINDOWS = (128, 4096)


def same_both_ways(raw: bytes, window: int, text_limit: int = 1 << 20) -> None:
    expected = parse_message_strict(raw, text_limit=text_limit)
    got = parse_file_strict(io.BytesIO(raw), len(raw), text_limit=text_limit, window=window)
    assert got == expected


# ---------------------------------------------------------------------------
# Equality on real and hand-written mail


@pytest.mark.parametrize("window", WINDOWS)
def test_stdlib_messages(window: int) -> None:
    for _name, raw in stdlib_messages():
        same_both_ways(raw, window)
        same_both_ways(crlf(raw), window)


@pytest.mark.parametrize("window", WINDOWS)
def test_edge_messages(window: int) -> None:
    for _name, raw in EDGE_MESSAGES:
        same_both_ways(raw, window)


@pytest.mark.parametrize("window", WINDOWS)
def test_all_of_bench_mbox(window: int) -> None:
    msgs = bench_messages()
    if not msgs:
        pytest.skip("bench.mbox not available")
    for raw in msgs:
        same_both_ways(raw, window)


def test_message_in_the_middle_of_a_file() -> None:
    raw = EDGE_MESSAGES[3][1]
    f = io.BytesIO(b"JUNK" * 100 + raw + b"TRAILER")
    f.seek(400)
    assert parse_file(f, len(raw), window=128) == parse_message(raw)


def test_small_message_is_read_whole_and_real_files_work(tmp_path: Path) -> None:
    raw = crlf(stdlib_messages()[0][1])
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    with open(path, "rb") as f:
        assert parse_file(f, len(raw)) == parse_message(raw)
    with open(path, "rb", buffering=0) as f:  # raw file: short reads allowed
        assert parse_file(f, len(raw), window=128) == parse_message(raw)


def test_read_errors_propagate() -> None:
    class Broken(io.BytesIO):
        def read(self, n: int | None = -1, /) -> bytes:
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        parse_file(Broken(b"x" * 1000), 1000, window=128)


# ---------------------------------------------------------------------------
# Equality on generated messages


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mime_message(), st.sampled_from([128, 129, 200, 4096]), st.sampled_from([40, 1 << 20]))
def test_generated_mime_trees(raw: bytes, window: int, text_limit: int) -> None:
    same_both_ways(raw, window, text_limit)
    check_offsets(raw, parse_message_strict(raw))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TOKENS) | st.binary(max_size=8), max_size=80))
def test_mime_shaped_garbage(chunks: list[bytes]) -> None:
    same_both_ways(b"".join(chunks), 128)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    same_both_ways(bytes(raw), 128)


# ---------------------------------------------------------------------------
# FileSource answers like bytes


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([b"\n", b"\r\n", b"--", b"x", b"\n--b", b"\n\n"]), max_size=200),
    st.integers(0, 600),
    st.integers(0, 600),
    st.sampled_from([b"\n", b"\n--b", b"\n\r\n", b"--b" * 50]),
)
def test_file_source_agrees_with_bytes(pieces: list[bytes], a: int, b: int, sub: bytes) -> None:
    data = b"".join(pieces)
    src = FileSource(io.BytesIO(data), len(data), window=128)
    assert len(src) == len(data)
    assert src.find(sub, a) == data.find(sub, a)
    assert src.find(sub, a, b) == data.find(sub, a, b)
    assert src.startswith(sub, a) == data.startswith(sub, a)
    assert src.count(b"\n", a, b) == data.count(b"\n", a, b)
    assert src[a : a + 300] == data[a : a + 300]
    assert src[a:b] == data[a:b]
    if a < len(data):
        assert src[a] == data[a]
        assert src[a - 1 if a else 0] == data[a - 1 if a else 0]
    else:
        with pytest.raises(IndexError):
            src[a]


# ---------------------------------------------------------------------------
# The caps: identical in both functions, and documented behaviour above them


def test_huge_header_is_cut_at_a_field_boundary() -> None:
    field = b"X-Filler: " + b"a" * 80 + b"\r\n   folded continuation\r\n"
    n = MAX_HEADER_OCTETS // len(field) + 10
    raw = (
        b"From: a@example.com\r\nSubject: big header\r\n"
        + field * n
        + b"To: late@example.com\r\n\r\nbody\r\n"
    )
    p = parse_message_strict(raw)
    check_offsets(raw, p)
    assert p.subject == "big header"
    assert p.envelope.to is None  # the To: field lies beyond the cap
    last = p.headers[-1]
    assert last.end <= MAX_HEADER_OCTETS
    assert raw[last.start : last.end] == field  # whole fields only, folds included
    assert p.root.body_start == len(raw) - len(b"body\r\n")  # offsets unaffected
    same_both_ways(raw, 4096)


def test_header_field_count_is_capped() -> None:
    raw = b"Subject: s\n" + b"a:\n" * (MAX_HEADER_FIELDS + 50) + b"\nbody\n"
    p = parse_message_strict(raw)
    assert len(p.headers) == MAX_HEADER_FIELDS
    assert p.subject == "s"
    same_both_ways(raw, 4096)


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        (b"8bit", lambda d: d),
        (b"base64", lambda d: __import__("base64").encodebytes(d)),
        (b"quoted-printable", lambda d: __import__("quopri").encodestring(d)),
    ],
)
def test_huge_text_part_decodes_a_prefix(encoding: bytes, encode) -> None:  # type: ignore[no-untyped-def]
    line = "Grüße aus Köln, 日本語 — ".encode() * 3 + b"\n"
    body = encode(line * (3 * MIN_TEXT_OCTETS // len(line)))
    raw = (
        b"Subject: t\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: " + encoding + b"\n\n" + body
    )
    limit = 1000
    p = parse_message_strict(raw, text_limit=limit)
    assert len(p.search_text) == limit
    # The cut never splits a character into mojibake or loses the charset.
    assert p.search_text.startswith("Grüße aus Köln, 日本語")
    assert "\ufffd" not in p.search_text and "Ã" not in p.search_text
    assert p.preview.startswith("Grüße aus Köln")
    same_both_ways(raw, 4096, text_limit=limit)


def test_huge_utf8_text_cut_inside_a_character_stays_utf8() -> None:
    # 2-octet characters so that the cap falls inside one.
    body = ("ä" * 100_001).encode() + b"\n" + ("ö" * 50_000).encode()
    raw = b"Content-Type: text/plain; charset=utf-8\n\n" + body
    p = parse_message_strict(raw, text_limit=10)
    assert p.search_text == "ä" * 10


# ---------------------------------------------------------------------------
# Bounded work and memory


class CountingSource(FileSource):
    """A FileSource that counts the octets it reads and the searches made."""

    __slots__ = ("octets_read", "searches")

    def __init__(self, data: bytes, window: int) -> None:
        super().__init__(io.BytesIO(data), len(data), window=window)
        self.octets_read = 0
        self.searches = 0

    def _read(self, pos: int, n: int) -> bytes:
        data = super()._read(pos, n)
        self.octets_read += len(data)
        return data

    def find(
        self, sub: bytes, start: SupportsIndex = 0, end: SupportsIndex | None = None, /
    ) -> int:
        self.searches += 1
        return super().find(sub, start, end)

    def startswith(self, prefix: bytes, start: SupportsIndex = 0, /) -> bool:
        self.searches += 1
        return super().startswith(prefix, start)


def test_dash_lines_do_not_cost_a_delimiter_search_each() -> None:
    # 200,000 lines that look like delimiters of another boundary.
    raw = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\n" + b"--c\n" * 200_000
    raw += b"--b--\n"
    src = CountingSource(raw, 64 * 1024)
    p = _parse(src, 1 << 20)
    assert p == parse_message_strict(raw)
    assert src.searches < 100  # not one per "--c" line
    assert src.octets_read < 4 * len(raw)


def test_a_big_crlf_message_is_read_a_few_times_at_most(tmp_path: Path) -> None:
    path = tmp_path / "big.eml"
    size = write_big_message(path, 4 * 1024 * 1024)
    raw = path.read_bytes()
    src = CountingSource(raw, 64 * 1024)
    p = _parse(src, 1 << 20)
    assert p == parse_message_strict(raw)
    # One scan for the delimiters, one for the attachment's header, slack.
    assert src.octets_read < 3 * size


def test_deep_rfc822_nesting_counts_lines_once() -> None:
    raw = b"Content-Type: message/rfc822\r\n\r\n" * 70 + b"line\r\n" * 1_000_000
    src = CountingSource(raw, 256 * 1024)
    p = _parse(src, 1 << 20)
    assert p == parse_message_strict(raw)
    assert p.root.lines == 1_000_000 + 2 * 69
    assert src.octets_read < 4 * len(raw)


def test_50_mb_message_parses_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.eml"
    size = write_big_message(path)
    assert size > 50 * 1024 * 1024
    r = measure_parse(path, "file")
    grown_mib = (int(r["peak_kib"]) - int(r["idle_kib"])) / 1024  # type: ignore[call-overload]
    assert grown_mib <= 30, r
    assert r["size"] == size
    assert r["attachments"] == [["big.bin", size - len(HEAD) - len(TAIL) - 2]]
    assert r["text"] == "Here is the archive you asked for.\r\n-- \r\nSender"
