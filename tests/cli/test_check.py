"""`posteingang check`: integrity report and exit status, with and without --repair."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from posteingang.store.interface import NewMessage, Store

from .conftest import Cli
from .storeutil import with_store

MESSAGE = b"Subject: hello\r\n\r\nhi\r\n"


def test_clean_store(run: Cli) -> None:
    result = run("check")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "clean"


def test_orphaned_blob_is_reported_and_repaired(run: Cli, data_dir: Path) -> None:
    async def plant(store: Store) -> str:
        return await store.blobs.put(b"Subject: nobody refers to me\r\n\r\nhi\r\n")

    blob_id = with_store(data_dir, plant)
    found = run("check")
    # An orphan costs space but loses no mail: reported, still clean.
    assert found.exit_code == 0, found.output
    assert f"orphaned blob: {blob_id}" in found.stdout
    assert "1 orphaned blob(s)" in found.stdout

    repaired = run("check", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "repaired:" in repaired.stdout and blob_id in repaired.stdout
    assert "after repair: clean" in repaired.stdout
    assert run("check").stdout.strip() == "clean"


def test_missing_blob_fails_the_check_and_is_not_repaired(run: Cli, data_dir: Path) -> None:
    async def lose_bytes(store: Store) -> str:
        account = await store.get_account("demo@example.test")
        assert account is not None
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        blob_id = await store.blobs.put(MESSAGE)
        await store.append(
            inbox.id,
            NewMessage(blob_id, len(MESSAGE), b"", frozenset(), dt.datetime.now(dt.UTC)),
        )
        await store.blobs.delete(blob_id)
        return blob_id

    blob_id = with_store(data_dir, lose_bytes)
    found = run("check")
    assert found.exit_code == 1
    assert f"missing blob: {blob_id}" in found.stdout
    assert "not clean: 1 missing blob(s)" in found.stdout
    after = run("check", "--repair")
    assert after.exit_code == 1
    assert "after repair: problems remain" in after.stdout


def test_stray_files_in_blobs_are_reported_not_a_traceback(run: Cli, data_dir: Path) -> None:
    """Issue 11 item 13: a file at the wrong depth of blobs/ used to crash `check`."""
    blobs = data_dir / "blobs"
    (blobs / "stray.txt").write_bytes(b"x")
    (blobs / "ab").mkdir()
    (blobs / "ab" / "stray2").write_bytes(b"x")  # where a directory should be
    (blobs / "cd" / "ef").mkdir(parents=True)
    (blobs / "cd" / "ef" / "notes").write_bytes(b"x")  # right depth, not a blob id
    for args in (("check",), ("check", "--repair")):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        for stray in ("stray.txt", "ab/stray2", "cd/ef/notes"):
            assert f"stray file in the blob directory (not a blob; move it away): {blobs}" in (
                result.stdout
            )
            assert stray in result.stdout
    assert (blobs / "ab" / "stray2").exists()  # reported, never deleted
