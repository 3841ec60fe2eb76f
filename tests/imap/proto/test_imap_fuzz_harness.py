"""The atheris harness fuzz/fuzz_imap_bounds.py works without atheris, and its
worst cases are answered in bounded time (issue 10: no input freezes the server)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

import pytest

HARNESS = Path(__file__).resolve().parents[3] / "fuzz" / "fuzz_imap_bounds.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_imap_bounds_harness", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# First byte: target (low 2 bits) and amplification (high 6 bits); second: a limit.
SEEDS = [
    b"",
    b"\x00\x00a*b%c/",
    b"\xfc\x00" + bytes([3, 4] * 30) + b"\x00" * 30,  # %* pairs x 316 against a long name
    b"\xfc\x00" + bytes([3, 0] * 32) + bytes(range(64)),  # *a*a*a... x 316
    b"\x01\x00" + bytes([0] * 64),  # OR OR OR ... (too deep)
    b"\xfd\xff" + bytes([0, 4] * 32),  # OR ALL, repeated: too many keys
    b"\xfd\x02" + bytes([2, 4, 3] * 21),  # ( ALL ) repeated
    b"\xfe\xff" + bytes(range(1, 255, 2)) * 2,  # many short ranges, x 6,320
    b"\x02\x01" + bytes([5, 0] * 100),
    b"\x03\x05a%/*b" * 10,
    b"\xff\x00" + bytes([0, 1, 2, 3, 4, 5, 6, 7]) * 8,  # FETCH BODY[HEADER.FIELDS ...] x 316
    b"\xff\x00" + bytes([10, 11, 12, 6, 7]) * 12,  # %*a/( ... x 316
]


@pytest.mark.parametrize("seed", SEEDS)
def test_harness_runs_on_seeds_in_bounded_time(seed: bytes) -> None:
    harness = load()
    start = time.perf_counter()
    harness.TestOneInput(seed)
    # Generous for a loaded CI machine; the backtracking matcher took minutes.
    assert time.perf_counter() - start < 5.0
