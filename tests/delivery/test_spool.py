"""The spool (memory, then file; hash; size cap) and the key that identifies a retry."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.delivery.spool import Spool, clear_spool_dir
from posteingang.delivery.trace import delivery_key


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


def test_delivery_key_depends_on_sender_recipient_and_content() -> None:
    base = delivery_key("a@x", "b@y", "00" * 32)
    assert delivery_key("a@x", "b@y", "00" * 32) == base
    assert delivery_key(None, "b@y", "00" * 32) != base
    assert delivery_key("a@x", "c@y", "00" * 32) != base
    assert delivery_key("a@x", "b@y", "11" * 32) != base
