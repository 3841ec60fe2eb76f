"""`copies.prefixed` gives exactly what a full parse of the copy gives, or None.

The shortcut (one parse for every recipient's copy) is only allowed because
it is indistinguishable from parsing each copy: checked on every message we
have (hand-written edge cases, the stdlib email test data, bench.mbox),
generated MIME trees and mutated real messages, with real trace headers.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posteingang.delivery.copies import prefixed
from posteingang.delivery.trace import ClientInfo, delivered_to, received, return_path
from posteingang.mime.structure import parse_message_strict
from tests.mime.corpus import bench_messages, stdlib_messages
from tests.mime.edge_messages import EDGE_MESSAGES
from tests.mime.mime_strategies import mime_message
from tests.mime.test_fuzz import SEEDS, TOKENS

PREFIX = (
    return_path("bob@example.org")
    + delivered_to("alice@example.test")
    + received(
        ClientInfo(helo="mx.example.org", ip="192.0.2.7", tls_version="TLSv1.3"),
        by="mx.example.test",
        protocol="ESMTPS",
        id="0123456789abcdef0123",
        recipient="alice@example.test",
        at=datetime(2026, 12, 7, 17, 0, tzinfo=UTC),
    )
)


def same_as_full_parse(raw: bytes, prefix: bytes = PREFIX) -> bool:
    """True when the shortcut applied (and matched); False when it declined."""
    try:
        record = parse_message_strict(raw)
    except Exception:
        return False  # delivery parses each copy in full then
    shortcut = prefixed(record, prefix, raw[:1])
    if shortcut is None:
        return False
    assert shortcut == parse_message_strict(prefix + raw)
    return True


ALL = EDGE_MESSAGES + stdlib_messages()


@pytest.mark.parametrize(("name", "raw"), ALL, ids=[n for n, _ in ALL])
def test_every_corpus_message(name: str, raw: bytes) -> None:
    applied = same_as_full_parse(raw)
    assert applied or raw[:1] in (b" ", b"\t", b"\r", b"\n")


def test_every_bench_message() -> None:
    messages = bench_messages()
    if not messages:
        pytest.skip("bench.mbox not available")
    for raw in messages:
        assert same_as_full_parse(raw)


def test_no_prefix_is_the_record_itself() -> None:
    record = parse_message_strict(b"Subject: x\r\n\r\nbody\r\n")
    assert prefixed(record, b"", b"S") is record


def test_declines_where_a_full_parse_differs() -> None:
    # A first line starting with a blank would continue our last trace field.
    assert not same_as_full_parse(b" folded\r\nSubject: x\r\n\r\nbody\r\n")
    assert not same_as_full_parse(b"\tfolded\r\n\r\nbody\r\n")
    # No header fields: where the empty line ends depends on what precedes it
    # (found by hypothesis: "\r\n\n" alone ends its header at 2, after a prefix at 3).
    assert not same_as_full_parse(b"\r\n\n")
    assert not same_as_full_parse(b"\nbody\r\n")
    # Half a field is no prefix.
    record = parse_message_strict(b"Subject: x\r\n\r\n")
    assert prefixed(record, b"X-Half: no line end", b"S") is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mime_message())
def test_generated_messages(raw: bytes) -> None:
    same_as_full_parse(raw)


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
    same_as_full_parse(bytes(raw))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([*TOKENS, b"\r", b"\n", b"X: y"]) | st.binary(max_size=4), max_size=30)
)
def test_mime_shaped_garbage(chunks: list[bytes]) -> None:
    same_as_full_parse(b"".join(chunks))
