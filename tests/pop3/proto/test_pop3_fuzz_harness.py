"""The atheris harness runs without atheris, so its checks stay honest between fuzz runs."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[3] / "fuzz" / "fuzz_pop3.py"


def test_harness_runs_on_a_fixed_corpus() -> None:
    spec = importlib.util.spec_from_file_location("fuzz_pop3", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = random.Random(1939)
    corpus = [
        b"",
        b"\x03USER bob\r\nPASS x\r\nSTAT\r\nRETR 1\r\nQUIT\r\n",
        b"\x11AUTH PLAIN\r\nAGJvYgBzZWNyZXQ=\r\n*\r\nSTLS\r\nUSER evil\r\n",
        b"\x00" + b"A" * 600 + b"\r\n.\r\n..\n",
        *(rng.randbytes(rng.randint(1, 300)) for _ in range(200)),
    ]
    for data in corpus:
        module._drive(data)
