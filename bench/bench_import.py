"""Import speed and memory: `posteingang import mbox` on the shared corpus and on 1 GB.

Targets (foundation issue, item 9): >= 1,500 messages/s for
/work/shared/corpus/bench.mbox (3,000 messages, 16.6 MB) into a fresh SQLite
store; a 1 GB mbox imports with peak RSS <= 200 MB.

Both runs start the real CLI as a subprocess (so start-up counts, and the RSS
is the import's own: `resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`). The
1 GB file repeats the corpus with a distinct ``X-Bench-Copy`` header per copy
(every message a new blob, as in a real mailbox) and is generated once into
the temp dir.

    python -m bench import            # both, rows for docs/benchmarks.md
    python bench/bench_import.py      # throughput only
    python bench/bench_import.py --rss [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORPUS = Path("/work/shared/corpus/bench.mbox")
ROOT = Path(__file__).resolve().parent.parent
USER = "demo@example.test"  # the user `init` creates
_REGISTER = (
    "from posteingang.cli import cli, main\n"
    "from posteingang.cli.transfer import export_cmd, import_cmd\n"
    "for c in (import_cmd, export_cmd):\n"
    "    cli.commands.setdefault(c.name, c)\n"
    "main()\n"
)


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (import/export registered even before the lead does)."""
    return subprocess.run(
        [sys.executable, "-c", _REGISTER, *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )


def _data_dir(tmp: Path) -> Path:
    data = tmp / "data"
    _cli("init", "--data-dir", str(data), "--hostname", "bench.example.test",
         "--password-stdin", stdin="bench password\n")  # fmt: skip
    return data


# The import process reports its own peak RSS (VmHWM) at exit. ru_maxrss of children
# is no good here: on Linux a child starts with its parent's peak (fork), so a bench
# runner that did something big before would be measured instead of the import.
_HWM = (
    "import atexit, os, sys\n"
    "def _hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            open(os.environ['BENCH_HWM_FILE'], 'w').write(line.split()[1])\n"
    "atexit.register(_hwm)\n"
    "from posteingang.cli import main\n"
    "sys.argv[0] = 'posteingang'\n"
    "main()\n"
)


def _import(data: Path, mbox: Path) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of one `import mbox` subprocess."""
    hwm_file = data / "import.hwm"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _HWM, "--config", str(data / "posteingang.toml"),
         "import", "mbox", str(mbox), "--user", USER],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "BENCH_HWM_FILE": str(hwm_file)},
    )  # fmt: skip
    seconds = time.perf_counter() - started
    try:
        peak = int(hwm_file.read_text())
    except (OSError, ValueError):  # no /proc: fall back to the (over-reporting) rusage
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak


def throughput() -> dict[str, float]:
    size = CORPUS.stat().st_size
    with open(CORPUS, "rb") as f:
        count = sum(1 for line in f if line.startswith(b"From "))
    with tempfile.TemporaryDirectory() as tmp:
        data = _data_dir(Path(tmp))
        seconds, peak = _import(data, CORPUS)
    return {
        "messages": count,
        "seconds": seconds,
        "msg_per_s": count / seconds,
        "mb_per_s": size / 1e6 / seconds,
        "rss_mb": peak / 1024,
    }


def generate(path: Path, size: int) -> int:
    """Repeat the corpus, each copy's messages made distinct; returns the message count."""
    corpus = CORPUS.read_bytes()
    separator = re.compile(rb"(?m)^(From [^\n]*\n)")
    count = 0
    copy = 0
    with open(path, "wb") as out:
        while out.tell() < size:
            copy += 1
            tag = rb"\1X-Bench-Copy: %d\n" % copy
            out.write(separator.sub(tag, corpus))
            count += corpus.count(b"\nFrom ") + 1
    return count


def memory(size_mb: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        mbox = Path(tmp) / "big.mbox"
        count = generate(mbox, size_mb << 20)
        data = _data_dir(Path(tmp))
        seconds, peak = _import(data, mbox)
        size = mbox.stat().st_size
    return {
        "messages": count,
        "mb": size / 1e6,
        "seconds": seconds,
        "msg_per_s": count / seconds,
        "rss_mb": peak / 1024,
    }


def main() -> list[tuple[str, str, str]]:
    t = throughput()
    m = memory(1024)
    return [
        (
            f"import mbox, {t['messages']:.0f} msgs / 16.6 MB (SQLite, fsync)",
            f"{t['msg_per_s']:.0f} msg/s, {t['mb_per_s']:.1f} MB/s",
            ">= 1500 msg/s",
        ),
        (
            f"import mbox, {m['mb']:.0f} MB / {m['messages']:.0f} msgs: peak RSS",
            f"{m['rss_mb']:.0f} MB ({m['msg_per_s']:.0f} msg/s)",
            "<= 200 MB",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rss", action="store_true", help="measure peak RSS on a large mbox")
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    if args.rss:
        print(memory(args.size_mb))
    else:
        print(throughput())
