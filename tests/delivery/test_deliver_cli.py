"""`posteingang deliver` as an MTA runs it: real processes, sysexits, crashes mid-delivery."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from posteingang.config import load_config
from posteingang.store import open_store

POSTEINGANG = str(Path(sys.executable).with_name("posteingang"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    subprocess.run(
        [POSTEINGANG, "init", "--data-dir", str(data), "--password-stdin"],
        input=b"secret-password\n",
        check=True,
        capture_output=True,
    )
    return data


def run_deliver(data: Path, to: str, message: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [POSTEINGANG, "--config", str(data / "posteingang.toml"), "deliver", "--to", to],
        input=message,
        capture_output=True,
    )


async def inbox_digests(data: Path, address: str = "demo@example.test") -> Counter[str]:
    config = load_config(data / "posteingang.toml")
    store = await open_store(config.store, data_dir=config.server.data_dir)
    try:
        account = await store.get_account(address)
        assert account is not None
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        index = await store.get_index(inbox.id)
        msgs = await store.get_messages(inbox.id, index.uids)
        digests = Counter(
            [hashlib.sha256(await store.blobs.get(m.blob_id)).hexdigest() for m in msgs]
        )
        assert (await store.check()).clean
        return digests
    finally:
        await store.close()


def test_exit_codes_follow_sysexits(data_dir: Path) -> None:
    ok = run_deliver(data_dir, "demo@example.test", b"Subject: hi\r\n\r\nbody\r\n")
    assert ok.returncode == 0, ok.stderr
    unknown = run_deliver(data_dir, "nobody@example.test", b"Subject: x\r\n\r\n")
    assert unknown.returncode == 67
    assert unknown.stderr.decode().count("\n") == 1 and b"nobody@example.test" in unknown.stderr
    invalid = run_deliver(data_dir, "not an address", b"x")
    assert invalid.returncode == 67
    for nothing in (b"", b"\n", b"\r\n\r\n"):  # issue 11 item 4: refused, not stored
        empty = run_deliver(data_dir, "demo+whatever@example.test", nothing)
        assert empty.returncode == 65 and b"empty message" in empty.stderr
    digests = asyncio.run(inbox_digests(data_dir))
    assert sum(digests.values()) == 1


def test_sigkill_at_random_points_loses_and_duplicates_nothing(data_dir: Path) -> None:
    """Kill deliveries mid-flight, retry what was not acknowledged, as an MTA would."""
    rng = random.Random(1234)
    messages = [
        b"Message-ID: <%d@crash.test>\r\nSubject: crash %d\r\n\r\n%s\r\n"
        % (i, i, os.urandom(200).hex().encode())
        for i in range(24)
    ]
    config = str(data_dir / "posteingang.toml")
    pending = list(range(len(messages)))
    acknowledged: set[int] = set()
    kills = 0
    for round_no in range(6):
        if not pending:
            break
        started = time.monotonic()
        procs = []
        for i in pending:
            p = subprocess.Popen(
                [POSTEINGANG, "--config", config, "deliver", "--to", "demo@example.test"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            assert p.stdin is not None
            p.stdin.write(messages[i])
            p.stdin.close()
            # about half get killed at a random moment of their life (startup, parse,
            # blob fsync, commit, exit); the last round kills none, as a final retry would
            kill_at = rng.uniform(0.0, 2.0) if round_no < 5 and rng.random() < 0.5 else None
            procs.append((kill_at, i, p))
        for kill_at, i, p in sorted(procs, key=lambda x: (x[0] is None, x[0] or 0)):
            if kill_at is not None:
                try:
                    p.wait(timeout=max(0.0, started + kill_at - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGKILL)
                    kills += 1
            if p.wait(timeout=60) == 0:
                acknowledged.add(i)
        pending = [i for i in pending if i not in acknowledged]
    assert not pending
    assert kills > 0
    digests = asyncio.run(inbox_digests(data_dir))
    expected = Counter(hashlib.sha256(m).hexdigest() for m in messages)
    assert digests == expected  # every message exactly once
