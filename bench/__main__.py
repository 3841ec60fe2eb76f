"""Run the benchmarks, print one table, and record it in docs/benchmarks.md.

Each benchmark module in this folder exposes `main() -> list[tuple[str, str, str]]`
returning rows of (what was measured, result, target). `python -m bench` runs
all of them; `python -m bench index import` runs the named ones. The table is
written to docs/benchmarks.md under a heading with the date and the machine, and
replaces an earlier section for the same benchmark names on the same day.
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
from pathlib import Path

BENCHMARKS = {
    "index": "bench.bench_index",
    "import": "bench.bench_import",
    "mime": "bench.bench_mime",
    "login": "bench.bench_login",
    "pop3": "bench.bench_pop3",
    "lmtp": "bench.bench_lmtp",
    "imap": "bench.bench_imap",
    "fetch": "bench.bench_fetch",
    "stress": "bench.bench_stress",
    "idle": "bench.bench_idle",
    "latency": "bench.bench_latency",
    "web": "bench.bench_web",
    "websearch": "bench.bench_web_search",
    "sse": "bench.bench_sse",
    "roundcube": "bench.bench_roundcube",
    "cli": "bench.bench_cli",
    "writer": "bench.bench_writer",
}
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
MARK = "<!-- bench:results -->"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}"


def run(names: list[str]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(module.main())
    return rows


def render(names: list[str], rows: list[tuple[str, str, str]]) -> str:
    today = datetime.date.today().isoformat()
    out = [f"### {today}: {', '.join(names)}", "", f"Machine: {machine()}", ""]
    out += ["| Measurement | Result | Target |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out) + "\n"


def record(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{MARK}\n"
    head = section.splitlines()[0] + "\n"  # the whole line: "web" is not "websearch"
    if head in text:  # same benchmarks, same day: replace that section
        start = text.index(head)
        end = text.find("\n### ", start + 1)
        text = text[:start] + section.rstrip("\n") + ("\n" + text[end:] if end != -1 else "\n")
    else:
        text = text.replace(MARK, MARK + "\n\n" + section.rstrip("\n"), 1)
    DOC.write_text(text)


def main() -> None:
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    rows = run(names)
    section = render(names, rows)
    print(section)
    record(section)


if __name__ == "__main__":
    main()
