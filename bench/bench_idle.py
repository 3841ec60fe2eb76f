"""IDLE across processes: latency from a change to every idler's EXISTS, and memory.

`bench_imap.py` measures IDLE in one process (`start_server`, no runtime). This one runs
``posteingang serve`` as a user does, with ``[imap] processes`` set to each of
BENCH_IDLE_PROCESSES (default: 1, then 2), so that the idlers are spread by the
supervisor over the server process and its workers, and those in another process than
the one that APPENDs hear of it through the cross-process wake-up
(`store/sqlite/notify.py`).

Measured per process count, with `bench_imap.idle_latency` (kernel receive timestamps,
so the load generator's delay in reading 1,000 sockets is not counted): p50 and p99 from
sending the APPEND to each idler's ``* n EXISTS``; and RSS per idle connection: the
growth of VmRSS summed over the server process and its workers, divided by the number of
idlers (each logged in, its mailbox selected, in IDLE), taken before the latency rounds
with a set of idlers of its own.

Environment: BENCH_IDLE_IDLERS (1,000, the issue's figure), BENCH_IDLE_ROUNDS (10),
BENCH_IDLE_PROCESSES (``1,2``).  Run: ``python -m bench.bench_idle`` or
``python -m bench idle``.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    from bench import common
    from bench.bench_imap import PASSWORD, USER, _has_line, _raw_logins, _until, idle_latency
except ImportError:  # run as a script: python bench/bench_x.py
    import common  # type: ignore[no-redef]
    from bench_imap import (  # type: ignore[no-redef]
        PASSWORD,
        USER,
        _has_line,
        _raw_logins,
        _until,
        idle_latency,
    )

ROOT = Path(__file__).resolve().parent.parent
IDLERS = int(os.environ.get("BENCH_IDLE_IDLERS", "1000"))
ROUNDS = int(os.environ.get("BENCH_IDLE_ROUNDS", "10"))
PROCESSES = [int(p) for p in os.environ.get("BENCH_IDLE_PROCESSES", "1,2").split(",") if p]

_CONFIG = """\
[server]
hostname = "bench.example.test"
data_dir = "{data}"
[log]
level = "warning"
[limits]
max_connections = 100000
max_connections_per_ip = 100000
max_connections_per_account = 100000
max_connections_per_user_ip = 100000
[imap]
processes = {processes}
[[listener]]
protocol = "IMAP"
host = "127.0.0.1"
port = {port}
max_connections = 100000
max_connections_per_ip = 100000
"""


def _prepare(data_dir: Path) -> None:
    """(A subprocess.) The store with the account and its Idle mailbox."""
    from posteingang.auth.passwords import hash_password
    from posteingang.store.blobs.fs import FsBlobStore
    from posteingang.store.sqlite.store import SqliteStore

    async def main() -> None:
        store = await SqliteStore.open(data_dir / "store.sqlite3", FsBlobStore(data_dir / "blobs"))
        await store.add_domain("example.test")
        account = await store.create_account(USER, hash_password(PASSWORD))
        await store.create_mailbox(account.id, "Idle")
        await store.close()

    asyncio.run(main())


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _family(pid: int) -> list[int]:
    """`pid` and its children (the workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *(int(c) for c in children)]


def _rss_kib(pids: list[int]) -> int:
    return sum(common.proc_status_kib(p) for p in pids)


@contextmanager
def server(processes: int) -> Iterator[tuple[int, int]]:
    """``posteingang serve`` with ``[imap] processes``: (port, pid)."""
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        subprocess.run([sys.executable, __file__, "--prepare", str(data)], check=True, cwd=ROOT)
        port = common.free_port()
        config = data / "posteingang.toml"
        config.write_text(_CONFIG.format(data=data, port=port, processes=processes))
        with open(data / "posteingang.log", "ab") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "posteingang", "--config", str(config), "serve"],
                stdout=subprocess.PIPE, stderr=log_file, text=True, cwd=ROOT,
            )  # fmt: skip
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip() == "ready":
                    break
            else:
                raise RuntimeError("posteingang did not start")
            yield port, proc.pid
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure(processes: int) -> dict[str, float]:
    """p50/p99 (ms) and RSS per idle connection (KiB) with ``[imap] processes``."""
    with server(processes) as (port, pid):
        time.sleep(0.5)
        pids = _family(pid)
        before = _rss_kib(pids)
        idlers = _raw_logins(port, IDLERS, "Idle")
        for c in idlers:
            c.send(b"i IDLE\r\n")
        _until(idlers, _has_line(b"+"), "the IDLE continuation")
        time.sleep(0.5)
        rss = (_rss_kib(pids) - before) / IDLERS
        for c in idlers:
            c.sock.close()
        time.sleep(0.5)
        result = idle_latency(port, IDLERS, ROUNDS)
        result["processes"] = len(pids)
        result["rss_kib"] = rss
    return result


def main() -> list[tuple[str, str, str]]:
    _raise_fd_limit()
    rows = []
    for processes in PROCESSES:
        res = measure(processes)
        print(f"  {processes} process(es): {res}", file=sys.stderr, flush=True)
        n = int(res["processes"])
        rows.append(
            (
                f"IMAP IDLE, {IDLERS} idlers over {n} process(es): p50 / p99",
                f"{res['p50']:.1f} / {res['p99']:.1f} ms",
                "p99 ≤ 50 ms",
            )
        )
        rows.append(
            (
                f"IMAP RSS per idle connection, {n} process(es)",
                f"{res['rss_kib']:.1f} KiB",
                "≤ 30 KiB",
            )
        )
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--prepare":
        _prepare(Path(sys.argv[2]))
    else:
        for row in main():
            print(" | ".join(row))
