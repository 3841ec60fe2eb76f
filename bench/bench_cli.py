"""Wall time of short command-line runs: `--help`, `user list`, `check-config`.

Target (issue 13): each finishes in <= 150 ms. The command line imports what a
command needs, so these must not load the protocol servers.

Setup: `posteingang init` into a temporary data directory plus `USERS` more
accounts (so `user list` has a few rows to read), then each command is
run as a fresh process (the installed console script, else `python -m
posteingang`), best of N after one warm-up run. The children run with bytecode
caching on (PYTHONDONTWRITEBYTECODE removed), as an installed package would:
the warm-up writes the `.pyc` files, so the figures measure imports, not compiling.

Run: `python -m bench.bench_cli` (or `python -m bench cli`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 15
USERS = 4
TARGET_MS = 150.0


def command() -> list[str]:
    script = Path(sys.executable).parent / "posteingang"
    return [str(script)] if script.exists() else [sys.executable, "-m", "posteingang"]


def best_ms(argv: list[str], env: dict[str, str], runs: int = RUNS) -> float:
    """The fastest of `runs` runs of `argv` (after one warm-up), in milliseconds."""
    subprocess.run(argv, env=env, capture_output=True, check=True, timeout=120)
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True, timeout=120)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def measure(runs: int = RUNS) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base = command()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        data = Path(tmp) / "data"
        subprocess.run(
            [*base, "init", "--data-dir", str(data), "--hostname", "mail.example.test"],
            env=env,
            capture_output=True,
            check=True,
            timeout=120,
        )
        config = ["--config", str(data / "posteingang.toml")]
        for n in range(USERS):
            subprocess.run(
                [*base, *config, "user", "add", f"user{n}@example.test"],
                env=env,
                capture_output=True,
                check=True,
                timeout=120,
            )
        return {
            "posteingang --help": best_ms([*base, "--help"], env, runs),
            "posteingang user list": best_ms([*base, *config, "user", "list"], env, runs),
            "posteingang check-config": best_ms([*base, *config, "check-config"], env, runs),
            "python -c pass (interpreter start)": best_ms(
                [sys.executable, "-c", "pass"], env, runs
            ),
        }


def main() -> list[tuple[str, str, str]]:
    rows = []
    for name, ms in measure().items():
        target = "-" if name.startswith("python") else f"<= {TARGET_MS:.0f} ms"
        rows.append((f"{name}, best of {RUNS}", f"{ms:.0f} ms", target))
    return rows


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
