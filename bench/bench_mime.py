"""Parse-once speed: `parse_message` (+ `encode_parsed`) over the shared corpus.

The import target is >= 1,500 messages/s end to end including the store, so
the parse alone must be well above that (aim: > 5,000 messages/s).  Runs the
corpus a few times and reports the best run, in wall-clock and CPU time (the
CPU figure is steadier on a shared machine).

    python bench/bench_mime.py [--mbox PATH] [--rounds N]
    python -m bench mime
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from posteingang.mime import encode_parsed, parse_message

CORPUS = Path("/work/shared/corpus/bench.mbox")
_FROM_LINE = re.compile(rb"(?:\A|\n)From [^\n]*\n")
_MBOXO = re.compile(rb"^>(>*From )", re.MULTILINE)


def load(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return [_MBOXO.sub(rb"\1", m) for m in _FROM_LINE.split(data) if m]


def measure(msgs: list[bytes], rounds: int) -> dict[str, float]:
    total = sum(len(m) for m in msgs)
    best_wall = best_cpu = float("inf")
    record_bytes = 0
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        record_bytes = 0
        for raw in msgs:
            record_bytes += len(encode_parsed(parse_message(raw)))
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {
        "messages": len(msgs),
        "mb": total / 1e6,
        "msg_s": len(msgs) / best_wall,
        "mb_s": total / 1e6 / best_wall,
        "msg_s_cpu": len(msgs) / best_cpu,
        "record_ratio": record_bytes / total,
    }


def main(mbox: Path = CORPUS, rounds: int = 3) -> list[tuple[str, str, str]]:
    r = measure(load(mbox), rounds)
    return [
        (
            f"parse_message + encode_parsed, {r['messages']:,} messages ({r['mb']:.1f} MB)",
            f"{r['msg_s']:,.0f} msg/s, {r['mb_s']:.1f} MB/s "
            f"({r['msg_s_cpu']:,.0f} msg/s CPU); record = {r['record_ratio']:.0%} of message",
            "> 5,000 msg/s",
        )
    ]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mbox", type=Path, default=CORPUS)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    for row in main(args.mbox, args.rounds):
        print(" | ".join(row))
