"""Builders for test input: small distinct messages, mbox files, Dovecot-style Maildirs."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path


def message(n: int, *, eol: bytes = b"\n", extra: bytes = b"") -> bytes:
    lines = [
        b"From: sender%d@example.test" % n,
        b"To: demo@example.test",
        b"Subject: message %d" % n,
        b"Date: Mon, 02 Jan 2023 03:18:%02d -0500" % (n % 60),
        b"Message-ID: <%d@example.test>" % n,
    ]
    return eol.join(lines) + eol + extra + eol + b"Body of message %d." % n + eol


def from_line(n: int) -> bytes:
    return b"From sender%d@example.test Mon Jan  2 08:18:%02d 2023" % (n, n % 60)


def write_mbox(path: Path, messages: list[bytes], *, eol: bytes = b"\n") -> Path:
    with open(path, "wb") as f:
        for n, m in enumerate(messages):
            f.write(from_line(n) + eol + m + eol)
    return path


def maildir(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def put(folder: Path, name: str, raw: bytes, when: datetime, *, new: bool = False) -> Path:
    path = folder / ("new" if new else "cur") / name
    path.write_bytes(raw)
    ts = when.timestamp()
    os.utime(path, (ts, ts))
    return path


WHEN = datetime(2023, 3, 4, 5, 6, 7, tzinfo=UTC)
