"""Crash safety: SIGKILL `import mbox` mid-run, several times, then finish: every message once."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from posteingang.store.interface import IntegrityReport, Store
from tests.transfer.conftest import sha_multiset, stored, stored_form, with_store
from tests.transfer.mail import message, write_mbox

HARNESS = str(Path(__file__).with_name("harness.py"))
ROOT = Path(__file__).parents[2]
USER = "demo@example.test"
COUNT = 300


def _stored_blobs(db: Path) -> int:
    """Blobs the import has made durable so far (files or rows: small ones live in the db)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _start(config: Path, box: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, HARNESS, "--config", str(config), "import", "mbox", str(box),
         "--user", USER, "--batch-size", "25"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_sigkill_at_random_points_then_resume(data_dir: Path, tmp_path: Path) -> None:
    rng = random.Random(20261126)
    same = message(10_000)
    msgs = [message(n) for n in range(COUNT)] + [same] * 5
    rng.shuffle(msgs)
    box = write_mbox(tmp_path / "big.mbox", msgs)
    config = data_dir / "posteingang.toml"
    db = data_dir / "store.sqlite3"
    killed_midway = 0
    for _ in range(4):
        before = _stored_blobs(db)
        if before >= COUNT:
            break
        # kill once this run has written a random number of new blobs (mid-batch, usually)
        target = before + rng.randint(1, max(1, (COUNT - before) // 2))
        proc = _start(config, box)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if _stored_blobs(db) >= target:
                proc.send_signal(signal.SIGKILL)
                killed_midway += 1
                break
            time.sleep(0.002)
        proc.wait(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    assert killed_midway >= 2
    final = _start(config, box)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    assert Counter(s.sha256 for s in stored(data_dir)) == sha_multiset(stored_form(msgs))

    async def check(store: Store) -> IntegrityReport:
        return await store.check()

    report = with_store(data_dir, check)
    assert report.clean, report
