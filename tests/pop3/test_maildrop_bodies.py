"""Pure pieces of the server side: UIDL spellings, sizes, the maildrop marks, body streaming."""

from __future__ import annotations

import io
from typing import BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.pop3.bodies import ReadAhead, body_chunks, stuff_message
from posteingang.pop3.locks import LoginDelays, MaildropLocks
from posteingang.pop3.maildrop import (
    Maildrop,
    MaildropMessage,
    SizeCache,
    UidlFormat,
    pop3_size_of_file,
    unique_id,
)
from posteingang.pop3.proto import TopFilter, dot_stuff, octet_count, top
from posteingang.store.model import Mailbox

UIDL_VECTORS = [
    (UidlFormat.DEFAULT, 0x5F3A2B1C, 1, "5f3a2b1c00000001"),
    (UidlFormat.DEFAULT, 1, 0xFFFFFFFF, "00000001ffffffff"),
    (UidlFormat.DOVECOT, 0x5F3A2B1C, 10, "0000000A5F3A2B1C"),
    (UidlFormat.CYRUS, 1700000000, 42, "1700000000.42"),
    ("dovecot", 1, 1, "0000000100000001"),
]


@pytest.mark.parametrize(("fmt", "uidvalidity", "uid", "expected"), UIDL_VECTORS)
def test_unique_id_vectors(fmt: UidlFormat, uidvalidity: int, uid: int, expected: str) -> None:
    assert unique_id(fmt, uidvalidity, uid) == expected


@given(
    st.sampled_from(list(UidlFormat)),
    st.integers(1, 2**32 - 1),
    st.integers(1, 2**32 - 1),
)
def test_unique_ids_are_valid_and_injective(fmt: UidlFormat, v: int, uid: int) -> None:
    # RFC 1939 §7: 1..70 characters of 0x21..0x7E; distinct messages, distinct ids.
    uidl = unique_id(fmt, v, uid)
    assert 1 <= len(uidl) <= 70 and all(0x21 <= ord(c) <= 0x7E for c in uidl)
    assert unique_id(fmt, v, uid + 1 if uid < 2**32 - 1 else uid - 1) != uidl


MESSAGES = st.lists(
    st.sampled_from([b"\r\n", b"\n", b"\r", b".", b"a", b"..", b"\r\n.", b"From x\n"]),
    max_size=30,
).map(b"".join)


@settings(max_examples=300)
@given(MESSAGES)
def test_stuff_message_equals_streaming_stuffer(data: bytes) -> None:
    assert stuff_message(data) == dot_stuff(data)


@settings(max_examples=200)
@given(MESSAGES, st.integers(1, 7))
def test_file_size_equals_octet_count(data: bytes, _chunk: int) -> None:
    assert pop3_size_of_file(io.BytesIO(data)) == octet_count(data)


class FakeBlobs:
    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs
        self.opened: list[str] = []

    def open(self, blob_id: str) -> BinaryIO:
        self.opened.append(blob_id)
        return io.BytesIO(self.blobs[blob_id])

    async def read(self, blob_id: str, offset: int, length: int) -> bytes:
        return self.blobs[blob_id][offset : offset + length]


async def test_size_cache_computes_once_and_is_bounded() -> None:
    blobs = FakeBlobs({"a": b"x\ny\n", "b": b"z", "c": b"\r\n"})
    cache = SizeCache(max_entries=2)
    assert await cache.sizes(blobs, ["a", "b"]) == {"a": 6, "b": 3}
    assert await cache.sizes(blobs, ["a"]) == {"a": 6}
    assert blobs.opened == ["a", "b"]
    await cache.sizes(blobs, ["c"])
    assert len(cache) == 2 and cache.get("b") is None  # least recently used went


@settings(max_examples=100)
@given(MESSAGES, st.integers(1, 9), st.one_of(st.none(), st.integers(0, 5)))
async def test_body_chunks_equal_whole_message_encoding(
    data: bytes, chunk: int, lines: int | None
) -> None:
    blobs = FakeBlobs({"m": data})
    offset = data.find(b"\n\n")
    body_offset = offset + 2 if offset >= 0 else None
    filt = TopFilter(body_offset, lines) if lines is not None else None
    out = b"".join(
        [c async for c in body_chunks(blobs, "m", len(data), top=filt, chunk_size=chunk)]
    )
    expected = dot_stuff(top(data, body_offset, lines) if lines is not None else data)
    assert out == expected


async def test_read_ahead_batches_and_recovers_from_out_of_order() -> None:
    blobs = FakeBlobs({f"b{i}": f"message {i}\r\n".encode() for i in range(10)})
    messages = [(f"b{i}", 11) for i in range(10)]
    ahead = ReadAhead(blobs, messages, batch_count=4)
    assert await ahead.first_chunk(0) == b"message 0\r\n"
    assert await ahead.first_chunk(1) == b"message 1\r\n"
    assert blobs.opened[:4] == ["b0", "b1", "b2", "b3"]
    assert await ahead.first_chunk(8) == b"message 8\r\n"  # jump: starts again there
    assert await ahead.first_chunk(3) == b"message 3\r\n"
    ahead.close()


async def test_read_ahead_reports_a_missing_blob() -> None:
    blobs = FakeBlobs({"b0": b"x\r\n"})
    ahead = ReadAhead(blobs, [("b0", 3), ("gone", 3)])
    assert await ahead.first_chunk(0) == b"x\r\n"
    with pytest.raises(KeyError):
        await ahead.first_chunk(1)


def _maildrop(n: int) -> Maildrop:
    mailbox = Mailbox(1, 1, "INBOX", 7, n + 1, n, None)
    messages = [MaildropMessage(i, i * 10, f"b{i}", 5, 6, f"u{i}") for i in range(1, n + 1)]
    return Maildrop(mailbox, messages)


def test_maildrop_marks() -> None:
    drop = _maildrop(3)
    assert drop.stat() == (3, 18)
    assert drop.dele(2) and not drop.dele(2) and not drop.dele(4) and not drop.dele(0)
    assert drop.get(2) is None and drop.exists(2) and drop.get(3) is not None
    assert drop.stat() == (2, 12) and drop.deleted_uids() == [20]
    drop.rset()
    assert drop.stat() == (3, 18) and drop.deleted_uids() == []


def test_locks_and_login_delays() -> None:
    locks = MaildropLocks()
    assert locks.acquire((1, None)) and not locks.acquire((1, None))
    assert locks.acquire((1, 5))  # another device of the same account
    locks.release((1, None))
    assert locks.acquire((1, None))
    delays = LoginDelays(max_entries=1)
    delays.record((1, None), 100.0)
    assert delays.too_soon((1, None), 150.0, 60) and not delays.too_soon((1, None), 161.0, 60)
    assert not delays.too_soon((1, None), 101.0, None)
    delays.record((2, None), 100.0)
    assert not delays.too_soon((1, None), 101.0, 60)  # evicted (bounded table)
