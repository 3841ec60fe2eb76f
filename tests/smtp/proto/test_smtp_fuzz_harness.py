"""The atheris harness fuzz/fuzz_smtp.py must keep working without atheris installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

HARNESS = Path(__file__).resolve().parents[3] / "fuzz" / "fuzz_smtp.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_smtp_harness", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ENVELOPE = b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n"
# Seven control octets (flags, size, rcpt, errors, answers x2, cut), then the wire.
SEEDS = [
    b"",
    b"\x00\xff\x03\x10\x00\x00\x07EHLO a\r\n" + ENVELOPE + b"DATA\r\nx\r\n.\r\n",
    b"\x01\x20\x02\x10\xff\xff\x01LHLO a\r\n" + ENVELOPE + b"BDAT 3 LAST\r\nabcQUIT\r\n",
    b"\x06\x05\x01\x01\x00\x00\x40EHLO a\r\nSTARTTLS\r\nEHLO a\r\n" + b"A" * 3000 + b"\r\n",
    b"\x00\x10\x01\x05\x00\x00\x02EHLO a\r\n" + ENVELOPE + b"DATA\r\nx\n.\n\r\n.\r\n",
    # Chunk sizes that can never be taken: answered at once (issue 10 item 10).
    b"\x01\x10\x01\x10\xff\xff\x05LHLO a\r\n"
    + ENVELOPE
    + b"BDAT 99999999999999999999 LAST\r\nBDAT 300 LAST\r\nRSET\r\n"
    + ENVELOPE
    + b"BDAT 2 LAST\r\nokQUIT\r\n",
]


@pytest.mark.parametrize("seed", SEEDS)
def test_harness_runs_on_seeds(seed: bytes) -> None:
    load().TestOneInput(seed)
