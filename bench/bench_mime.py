"""Parse-once speed: `parse_message` (+ `encode_parsed`) over the shared corpus,
and `parse_file` of one generated 50 MB message (time and peak memory).

The import target is >= 1,500 messages/s end to end including the store, so
the parse alone must be well above that (aim: > 5,000 messages/s).  Runs the
corpus a few times and reports the best run, in wall-clock and CPU time (the
CPU figure is steadier on a shared machine).  The 50 MB message (a text part
and a base64 attachment, CRLF) is parsed in a fresh interpreter, whose peak
RSS above its idle peak must stay <= 30 MB (issue 4); the same message read
whole and given to `parse_message` is shown for comparison.

    python bench/bench_mime.py [--mbox PATH] [--rounds N] [--corpus-only]
    python -m bench mime

``--corpus-only`` skips the 50 MB message: the per-message figure (µs of CPU
per message, the cost of the parse on the IMAP APPEND and LMTP paths) is then
quick to repeat while changing the parser.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from posteingang.mime import encode_parsed, parse_message

CORPUS = Path("/work/shared/corpus/bench.mbox")
SRC = Path(__file__).resolve().parent.parent / "src"
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


def write_big_message(path: Path, attachment_octets: int = 50 * 1024 * 1024) -> int:
    """A multipart/mixed message: short text part + base64 attachment (CRLF)."""
    head = (
        b"From: a@example.com\r\nTo: b@example.org\r\nSubject: big\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="=_big"\r\n\r\n'
        b"--=_big\r\nContent-Type: text/plain\r\n\r\nThe archive.\r\n"
        b"--=_big\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="big.bin"\r\n\r\n'
    )
    size = 0
    with open(path, "wb") as f:
        size += f.write(head)
        while size < attachment_octets:
            size += f.write(base64.encodebytes(os.urandom(57 * 2000)).replace(b"\n", b"\r\n"))
        size += f.write(b"--=_big--\r\n")
    return size


_CHILD = """
import json, os, resource, sys, time

def peak_kib():
    # VmHWM belongs to this process image; ru_maxrss would carry over the
    # parent's high-water mark across fork + exec on Linux.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

from posteingang.mime import encode_parsed, parse_file, parse_message
path, mode = sys.argv[1], sys.argv[2]
idle = peak_kib()
t0 = time.perf_counter()
with open(path, "rb") as f:
    p = parse_file(f, os.fstat(f.fileno()).st_size) if mode == "file" else parse_message(f.read())
encode_parsed(p)
seconds = time.perf_counter() - t0
peak = peak_kib()
print(json.dumps({"grown_mb": (peak - idle) * 1024 / 1e6, "seconds": seconds}))
"""


def measure_big(path: Path, mode: str) -> dict[str, float]:
    """Parse ``path`` in a fresh interpreter: peak RSS growth and time."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), mode],
        env=env,
        capture_output=True,
        check=True,
        timeout=600,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main(
    mbox: Path = CORPUS, rounds: int = 3, *, corpus_only: bool = False
) -> list[tuple[str, str, str]]:
    r = measure(load(mbox), rounds)
    rows = [
        (
            f"parse_message + encode_parsed, {r['messages']:,} messages ({r['mb']:.1f} MB)",
            f"{r['msg_s']:,.0f} msg/s, {r['mb_s']:.1f} MB/s "
            f"({r['msg_s_cpu']:,.0f} msg/s CPU, {1e6 / r['msg_s_cpu']:.0f} µs CPU per message); "
            f"record = {r['record_ratio']:.0%} of message",
            "> 5,000 msg/s",
        )
    ]
    if corpus_only:
        return rows
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.eml"
        size = write_big_message(path)
        for mode, what, target in (
            ("file", "parse_file", "<= 30 MB above idle"),
            ("bytes", "read whole + parse_message", "(comparison)"),
        ):
            best = min((measure_big(path, mode) for _ in range(rounds)), key=lambda x: x["seconds"])
            rows.append(
                (
                    f"{what}, one {size / 1e6:.0f} MB message (base64 attachment)",
                    f"{best['seconds'] * 1000:.0f} ms, peak RSS +{best['grown_mb']:.1f} MB",
                    target,
                )
            )
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mbox", type=Path, default=CORPUS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--corpus-only", action="store_true")
    args = ap.parse_args()
    for row in main(args.mbox, args.rounds, corpus_only=args.corpus_only):
        print(" | ".join(row))
