"""Single-client IMAP latency per command, posteingang beside Dovecot (issue 12).

One client, one account, an INBOX of `MESSAGES` corpus messages (appended over IMAP);
each command runs `ROUNDS` times one after another and the median round trip is
reported (the mean, as the issue gave it, is printed: on a shared machine it follows
the other load), with the server's CPU per command (from /proc, all its processes; the clock
tick is 10 ms, so ± 10 ms / ROUNDS). The
commands are the issue's: NOOP, STATUS, ``FETCH 1:*`` of FLAGS, ENVELOPE,
BODYSTRUCTURE and ``BODY.PEEK[HEADER.FIELDS (From Subject)]``, and ``FETCH 1
(BODY.PEEK[])``. Target: each at most Dovecot's. The first ten answers to each
command are checked by the stress benchmark's session (`bench.stress_client`, the same
checks as under load); the timed ones only for a tagged OK, since parsing them would
cost this client more than the servers.

Environment: BENCH_LATENCY_ROUNDS (300). Run: ``python -m bench.bench_latency`` or
``python -m bench latency``.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time

try:
    from bench import common
    from bench.bench_stress import dovecot_server, posteingang_server
    from bench.stress_client import Account, Run, _login, seed
    from bench.stress_proto import load_corpus
except ImportError:  # run as a script: python bench/bench_x.py
    import common  # type: ignore[no-redef]
    from bench_stress import dovecot_server, posteingang_server  # type: ignore[no-redef]
    from stress_client import Account, Run, _login, seed  # type: ignore[no-redef]
    from stress_proto import load_corpus  # type: ignore[no-redef]

ROUNDS = int(os.environ.get("BENCH_LATENCY_ROUNDS", "300"))
MESSAGES = 34
COMMANDS = [
    ("NOOP", b"NOOP"),
    ("STATUS", b"STATUS INBOX (MESSAGES UNSEEN UIDNEXT)"),
    ("FETCH", b"FETCH 1:* (FLAGS)"),
    ("FETCH", b"FETCH 1:* (ENVELOPE)"),
    ("FETCH", b"FETCH 1:* (BODYSTRUCTURE)"),
    ("FETCH", b"FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From Subject)])"),
    ("FETCH", b"FETCH 1 (BODY.PEEK[])"),
]


async def measure(port: int, pid: int) -> dict[bytes, tuple[float, float, int]]:
    """Per command: (median ms, server CPU µs per command, errors)."""
    run = Run(load_corpus(), {1: Account()})
    await seed(run, port, accounts=1, count=MESSAGES)
    s = await _login(run, port, 0, 1, random.Random(0))
    await s.select()
    out = {}
    for state, text in COMMANDS:
        errors = run.errors
        for _ in range(10):  # checked, and warming caches (Dovecot's cache file fills on use)
            await s.do(state, text)
        cpu = common.tree_cpu_seconds(pid)
        times = []
        for _ in range(ROUNDS):  # timed: read, not parsed (the checks cost the client more)
            start = time.perf_counter()
            _, tagged = await s.conn.command(text)
            times.append(time.perf_counter() - start)
            if not tagged.startswith(b"OK"):
                run.error(f"{text!r}: {tagged!r}")
        used = common.tree_cpu_seconds(pid) - cpu
        print(f"  {text.decode()}: mean {statistics.mean(times) * 1000:.2f} ms",
              file=sys.stderr)  # fmt: skip
        out[text] = (statistics.median(times) * 1000, used / ROUNDS * 1e6, run.errors - errors)
    for sample in run.samples:
        print(f"  error: {sample}", file=sys.stderr)
    s.conn.close()
    return out


def main() -> list[tuple[str, str, str]]:
    with posteingang_server() as (port, pid):
        ours = asyncio.run(measure(port, pid))
    theirs = None
    if common.dovecot_available("imap"):
        with dovecot_server() as (port, pid, _):
            theirs = asyncio.run(measure(port, pid))
    rows = []
    for _, text in COMMANDS:
        ms, cpu, errors = ours[text]
        result = f"{ms:.2f} ms (server CPU {cpu:,.0f} µs)"
        if theirs is not None:
            dms, dcpu, derrors = theirs[text]
            errors += derrors
            result += f" vs Dovecot {dms:.2f} ms ({dcpu:,.0f} µs): {dms / ms:.2f}×"
        if errors:
            result += f", {errors} wrong answers"
        rows.append((f"IMAP latency, one client, {MESSAGES} messages: {text.decode()}",
                     result, "≤ Dovecot's"))  # fmt: skip
    return rows


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
