"""The spool (memory, then file; hash; size cap) and the receipts that make retries identical."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.smtp.receipts import MemoryReceipts, Receipts, SqliteReceipts, receipt_key
from posteingang.smtp.spool import Spool, clear_spool_dir


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.binary(max_size=700), max_size=12), limit=st.integers(0, 2000))
def test_spool_returns_exactly_what_was_written(chunks: list[bytes], limit: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="spool-test-"))
    spool = Spool(directory, memory_limit=limit, max_size=10_000)
    for chunk in chunks:
        spool.write(chunk)
    data = b"".join(chunks)
    assert spool.on_disk == (len(data) > limit)
    message = spool.finish()
    assert message.size == len(data)
    assert message.sha256 == hashlib.sha256(data).hexdigest()
    stored = message.with_prefix(b"X-Trace: 1\r\n", directory)
    if isinstance(stored, Path):
        assert stored.read_bytes() == b"X-Trace: 1\r\n" + data
        stored.unlink()
    else:
        assert stored == b"X-Trace: 1\r\n" + data
    message.release()
    assert list(directory.iterdir()) == []
    directory.rmdir()


def test_spool_caps_the_size_and_discard_removes_the_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path, memory_limit=10, max_size=100)
    spool.write(b"a" * 60)
    assert spool.on_disk and not spool.overflowed
    spool.write(b"b" * 60)
    assert spool.overflowed and spool.size == 100
    spool.discard()
    assert list(tmp_path.iterdir()) == []


def test_clear_spool_dir_removes_leftovers_of_a_crash(tmp_path: Path) -> None:
    (tmp_path / "msg-abc").write_bytes(b"half a message")
    (tmp_path / "keep.txt").write_bytes(b"not ours")
    assert clear_spool_dir(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    assert clear_spool_dir(tmp_path / "missing") == 0


KEY = receipt_key("a@x", "b@y", "00" * 32)
OTHER = receipt_key("a@x", "c@y", "00" * 32)


async def stamp(receipts: Receipts, key: str, value: bytes) -> bytes:
    """Stamp like the session does: take the header, then wait for the recording."""
    trace, recording = await receipts.stamp(key, lambda: value)
    await recording.wait()
    return trace


def test_receipt_key_depends_on_sender_recipient_and_content() -> None:
    base = receipt_key("a@x", "b@y", "00" * 32)
    assert receipt_key("a@x", "b@y", "00" * 32) == base
    assert receipt_key(None, "b@y", "00" * 32) != base
    assert receipt_key("a@x", "c@y", "00" * 32) != base
    assert receipt_key("a@x", "b@y", "11" * 32) != base


async def test_sqlite_receipts_survive_a_restart_and_expire(tmp_path: Path) -> None:
    now = [1000.0]
    receipts = SqliteReceipts(tmp_path / "r.sqlite3", window=60, clock=lambda: now[0])
    assert await stamp(receipts, KEY, b"first") == b"first"
    assert await stamp(receipts, KEY, b"second") == b"first"
    assert await stamp(receipts, OTHER, b"other") == b"other"
    receipts.close()
    reopened = SqliteReceipts(tmp_path / "r.sqlite3", window=60, clock=lambda: now[0])
    assert await stamp(reopened, KEY, b"third") == b"first"
    now[0] += 61
    assert await stamp(reopened, KEY, b"fourth") == b"fourth"
    reopened.close()


async def test_concurrent_stamps_of_one_key_agree(tmp_path: Path) -> None:
    for receipts in (MemoryReceipts(window=60), SqliteReceipts(tmp_path / "r.sqlite3", 60)):
        values = await asyncio.gather(*(stamp(receipts, KEY, bytes([i])) for i in range(5)))
        assert len(set(values)) == 1
        receipts.close()
    off = MemoryReceipts(window=0)
    assert await stamp(off, KEY, b"a") == b"a"
    assert await stamp(off, KEY, b"b") == b"b"


async def test_damaged_receipts_file_is_set_aside_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    path.write_bytes(b"this is not an SQLite database" * 100)
    receipts = SqliteReceipts(path, window=60)
    assert await stamp(receipts, KEY, b"fresh") == b"fresh"
    receipts.close()
    receipts.close()  # closing twice is harmless
    assert (tmp_path / "r.sqlite3.damaged").exists()
