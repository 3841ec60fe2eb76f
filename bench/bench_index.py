"""Loading uid/flags/modseq of a large mailbox (what SELECT does): 100k and 1M messages.

Targets (foundation issue): 100,000 messages ≤ 50 ms; 1,000,000 ≤ 500 ms.
The mailbox rows are bulk-inserted with SQL and the packed index rebuilt from
them (creating a million messages through the delivery path would measure
delivery, not SELECT); flags vary like a real mailbox: most seen, some
flagged/answered, 2% with a keyword. Timed: `SqliteStore.get_index`, from the
event loop, including the thread hop, wall clock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.sqlite.index import rebuild
from posteingang.store.sqlite.store import SqliteStore


def _fill(db: Path, mailbox_id: int, count: int) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    blob = "0" * 64

    def rows():  # type: ignore[no-untyped-def]
        for uid in range(1, count + 1):
            flags = 1 if uid % 10 else 0
            if uid % 17 == 0:
                flags |= 4
            if uid % 5 == 0:
                flags |= 2
            keywords = "$Forwarded" if uid % 50 == 0 else ""
            yield (
                mailbox_id,
                uid,
                uid,
                flags,
                keywords,
                1_700_000_000 + uid,
                60,
                5000,
                blob,
                f"M{uid:024d}",
                f"T{uid:024d}",
                1_700_000_000,
            )

    conn.executemany(
        "INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, tz_offset,"
        " size, blob_id, email_id, thread_id, save_date) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        rows(),
    )
    conn.execute(
        "UPDATE mailboxes SET uidnext = ?, highestmodseq = ? WHERE id = ?",
        (count + 1, count, mailbox_id),
    )
    conn.execute("UPDATE accounts SET modseq = ? WHERE id = 1", (count,))
    rebuild(conn, mailbox_id)  # what the writer maintains as messages arrive
    conn.execute("COMMIT")
    conn.close()


async def measure(count: int, rounds: int = 5) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "s.sqlite3"
        store = await SqliteStore.open(db, FsBlobStore(Path(tmp) / "b"))
        await store.add_domain("example.test")
        account = await store.create_account("big@example.test", "x")
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        await store.close()
        _fill(db, inbox.id, count)
        store = await SqliteStore.open(db, FsBlobStore(Path(tmp) / "b"))
        try:
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                index = await store.get_index(inbox.id)
                times.append(time.perf_counter() - t0)
                assert len(index.uids) == count
        finally:
            await store.close()
    return {"median_ms": statistics.median(times) * 1000, "min_ms": min(times) * 1000}


def main() -> list[tuple[str, str, str]]:
    rows = []
    for count, target in ((100_000, 50), (1_000_000, 500)):
        result = asyncio.run(measure(count))
        rows.append(
            (
                f"SELECT index load, {count:,} messages (SQLite)",
                f"{result['median_ms']:.0f} ms median (min {result['min_ms']:.0f})",
                f"≤ {target} ms",
            )
        )
    return rows


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
