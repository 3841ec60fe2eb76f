"""Summarise py-spy raw profiles (``--format raw --threads``): where the time goes.

    python -m bench.profile_summary DIR/steady-cpu.txt [--top 25] [--prefix posteingang/]

Prints, per thread, the share of samples; then the functions that were running
(self time: the innermost frame) and the functions on the stack (inclusive time: any
frame, counted once per sample), over all threads and for the event loop thread. With
``--prefix``, the inclusive list keeps only frames whose file starts with it (our code).
`bench_stress` writes such files with BENCH_STRESS_PROFILE.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")


def parse(path: Path) -> list[tuple[str, list[str], int]]:
    """(thread, frames outermost first as ``func (file)``, samples) per line."""
    out = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        thread, *frames = stack.split(";")
        names = []
        for f in frames:
            m = _FRAME.match(f)
            names.append(f"{m['func']} ({m['file']})" if m else f)
        out.append((thread.split(": ", 1)[-1], names, int(count)))
    return out


def summarise(path: Path, top: int, prefix: str) -> str:
    rows = parse(path)
    total = sum(c for _, _, c in rows) or 1
    lines = [f"## {path.name}: {total} samples", "", "Samples per thread:"]
    threads: Counter[str] = Counter()
    for thread, _, count in rows:
        threads[thread] += count
    lines += [f"  {100 * c / total:5.1f} %  {t}" for t, c in threads.most_common()]
    for scope in ("all threads", "MainThread"):
        chosen = [r for r in rows if scope == "all threads" or r[0] == scope]
        n = sum(c for _, _, c in chosen) or 1
        own: Counter[str] = Counter()
        incl: Counter[str] = Counter()
        for _, frames, count in chosen:
            if frames:
                own[frames[-1]] += count
            for f in set(frames):
                if not prefix or f"({prefix}" in f:
                    incl[f] += count
        lines += ["", f"Self time, {scope} ({n} samples):"]
        lines += [f"  {100 * c / n:5.1f} %  {f}" for f, c in own.most_common(top)]
        lines += ["", f"Inclusive time, {scope}{' (' + prefix + ')' if prefix else ''}:"]
        lines += [f"  {100 * c / n:5.1f} %  {f}" for f, c in incl.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    for path in args.files:
        print(summarise(path, args.top, args.prefix))
        print()


if __name__ == "__main__":
    main()
