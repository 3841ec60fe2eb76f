"""The SQLite writer thread alone: its CPU per write job (issue 12).

A store on disk, ``ACCOUNTS`` accounts, and ``CLIENTS`` concurrent tasks that each
repeat an IMAP-like cycle of write jobs: append one message (durable), store
\\Seen on it, store \\Deleted on it, claim \\Recent, expunge the \\Deleted ones (the
last four are non-durable). Reported: the writer thread's CPU (from
/proc/self/task/<tid>/schedstat) per job and per commit, the jobs per commit, and
the whole process's CPU per job (the event loop's side of each job, the checkpoint
thread).
Once with one client (every batch holds one job: the idle server's case) and once
with ``CLIENTS`` (group commit under load).

BENCH_WRITER_CYCLES (per client, default 400), BENCH_WRITER_CLIENTS (default 16).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.interface import NewMessage
from posteingang.store.model import FlagOp
from posteingang.store.sqlite.store import SqliteStore

CYCLES = int(os.environ.get("BENCH_WRITER_CYCLES", "400"))
CLIENTS = int(os.environ.get("BENCH_WRITER_CLIENTS", "16"))
ACCOUNTS = 8
JOBS_PER_CYCLE = 5


def _thread_cpu_ns(native_id: int) -> int:
    return int(Path(f"/proc/self/task/{native_id}/schedstat").read_text().split()[0])


async def _client(store: SqliteStore, mailbox_id: int, cycles: int, n: int) -> None:
    for i in range(cycles):
        body = f"Subject: m {n} {i}\r\n\r\nhello {n} {i}\r\n".encode()
        blob_id = await store.blobs.put(body)
        message = NewMessage(
            blob_id=blob_id,
            size=len(body),
            parsed=b"parsed:" + body[:20],
            flags=frozenset(),
            internal_date=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
            data=body,
        )
        uid = (await store.append(mailbox_id, message)).uid
        await store.store_flags(mailbox_id, [uid], FlagOp.ADD, frozenset({"\\Seen"}))
        await store.store_flags(mailbox_id, [uid], FlagOp.ADD, frozenset({"\\Deleted"}))
        await store.claim_recent(mailbox_id)
        await store.expunge_deleted(mailbox_id, up_to_uid=uid)


async def _run(clients: int, cycles: int) -> tuple[float, float, float, float]:
    """(writer µs per job, µs per commit, jobs per commit, process µs per job)."""
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        root = Path(tmp)
        store = await SqliteStore.open(
            root / "store.sqlite3", FsBlobStore(root / "blobs"), search_index=False
        )
        try:
            await store.add_domain("example.test")
            inboxes = []
            for a in range(ACCOUNTS):
                account = await store.create_account(f"u{a}@example.test", "{PLAIN}x")
                inbox = await store.get_mailbox(account.id, "INBOX")
                assert inbox is not None
                inboxes.append(inbox.id)
            if store._deriving is not None:
                await store._deriving
            await _client(store, inboxes[0], 20, -1)  # warm up
            writer = store._writer
            tid = writer._thread.native_id
            assert tid is not None
            cpu0, commits0 = _thread_cpu_ns(tid), writer.commits
            process0 = time.process_time_ns()
            await asyncio.gather(
                *(_client(store, inboxes[n % ACCOUNTS], cycles, n) for n in range(clients))
            )
            cpu = _thread_cpu_ns(tid) - cpu0
            process = time.process_time_ns() - process0
            commits = writer.commits - commits0
        finally:
            await store.close()
    jobs = clients * cycles * JOBS_PER_CYCLE
    return cpu / 1000 / jobs, cpu / 1000 / commits, jobs / commits, process / 1000 / jobs


def main() -> list[tuple[str, str, str]]:
    rows = []
    for clients, cycles in ((1, CYCLES), (CLIENTS, max(1, CYCLES // 4))):
        started = time.perf_counter()
        per_job, per_commit, batch, process = asyncio.run(_run(clients, cycles))
        wall = time.perf_counter() - started
        what = f"writer thread, {clients} client(s) x {cycles} cycles of 5 write jobs"
        rows.append(
            (
                what,
                f"{per_job:.0f} µs CPU/job, {per_commit:.0f} µs/commit,"
                f" {batch:.1f} jobs/commit; process {process:.0f} µs CPU/job ({wall:.1f} s)",
                "lower is better",
            )
        )
        print(what, rows[-1][1], file=sys.stderr)
    return rows


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
