"""FETCH and SEARCH at the function level: FETCH FLAGS / ENVELOPE / BODYSTRUCTURE over
5,000 messages, a few SEARCH keys, and ``BODY.PEEK[]`` throughput in MB/s.

The first 5,000 messages of the shared corpus (bench.mbox, repeated if it is
shorter) are delivered through the one delivery path into a SQLite store in a
temporary directory; then `fetch_responses` is driven directly (no sockets) and
its output discarded, as the shell would write it.  Targets (issue 6): bulk
``FETCH 1:* BODY.PEEK[]`` at ≥ 0.8× Dovecot (about 270 MB/s here); the other
rows have no target of their own and show where FETCH time goes.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from posteingang.delivery.ingest import prepare_message
from posteingang.imap.ops.fetch import fetch_responses
from posteingang.imap.ops.fetch_items import RENDERED
from posteingang.imap.ops.search import search_uids
from posteingang.imap.proto import parse_command
from posteingang.imap.proto.commands import Fetch, Search
from posteingang.imap.selected import SelectedMailbox
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.interface import Store
from posteingang.store.sqlite.store import SqliteStore

COUNT = 5000
CORPUS = Path("/work/shared/corpus/bench.mbox")
_FROM_LINE = re.compile(rb"(?:\A|\n)From [^\n]*\n")


def _corpus(count: int) -> list[bytes]:
    if CORPUS.exists():
        msgs = [m for m in _FROM_LINE.split(CORPUS.read_bytes()) if m]
    else:
        msgs = [b"Subject: filler\r\nFrom: a@b.test\r\n\r\n" + b"text line\r\n" * 200]
    msgs = [re.sub(rb"\r?\n", b"\r\n", m) for m in msgs]
    return [msgs[i % len(msgs)] for i in range(count)]


async def _fill(store: Store, messages: list[bytes]) -> int:
    await store.add_domain("example.test")
    account = await store.create_account("bench@example.test", "{PLAIN}x")
    mailbox = await store.get_mailbox(account.id, "INBOX")
    assert mailbox is not None
    when = datetime(2024, 1, 1, tzinfo=UTC)
    batch = []
    for raw in messages:
        batch.append(await prepare_message(store, raw, internal_date=when))
        if len(batch) == 500:
            await store.append_many(mailbox.id, batch)
            batch = []
    if batch:
        await store.append_many(mailbox.id, batch)
    return mailbox.id


async def _view(store: Store, mailbox_id: int) -> SelectedMailbox:
    index = await store.get_index(mailbox_id)
    return SelectedMailbox(
        mailbox_id,
        index.mailbox.uidvalidity,
        index.uids,
        index.flags,
        index.modseqs,
        index.mailbox.highestmodseq,
        readonly=True,
    )


async def _time_fetch(store: Store, view: SelectedMailbox, items: bytes) -> tuple[float, int]:
    cmd = parse_command([b"a FETCH 1:* " + items], [])
    assert isinstance(cmd, Fetch)
    start = time.perf_counter()
    total = 0
    async for piece in fetch_responses(store, view, cmd, rev2=True):
        total += len(piece)
    return time.perf_counter() - start, total


async def _time_search(store: Store, view: SelectedMailbox, criteria: bytes) -> float:
    cmd = parse_command([b"a SEARCH " + criteria], [])
    assert isinstance(cmd, Search)
    start = time.perf_counter()
    await search_uids(store, view, cmd.criteria, charset=cmd.charset)
    return time.perf_counter() - start


async def _run() -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = await SqliteStore.open(Path(tmp) / "s.sqlite3", FsBlobStore(Path(tmp) / "blobs"))
        try:
            mailbox_id = await _fill(store, _corpus(COUNT))
            view = await _view(store, mailbox_id)
            for label, items in (
                ("FLAGS", b"FLAGS"),
                ("ENVELOPE", b"ENVELOPE"),
                ("BODYSTRUCTURE", b"BODYSTRUCTURE"),
                ("UID FLAGS ENVELOPE BODYSTRUCTURE", b"(UID FLAGS ENVELOPE BODYSTRUCTURE)"),
            ):
                # Cold: nothing rendered yet (each parse record loaded and rendered);
                # warm: ENVELOPE/BODYSTRUCTURE come from the process-wide cache.
                RENDERED.clear()
                cold = (await _time_fetch(store, view, items))[0]
                warm = min([(await _time_fetch(store, view, items))[0] for _ in range(2)])
                rows.append(
                    (
                        f"FETCH 1:* {label}, {COUNT:,} messages (cold / warm)",
                        f"{cold * 1000:.0f} ms / {warm * 1000:.0f} ms"
                        f" ({COUNT / warm:,.0f} msg/s warm)",
                        "—",
                    )
                )
            for criteria in (b"UNSEEN FLAGGED", b"FROM schmidt", b"BODY invoice", b"TEXT review"):
                seconds = min([await _time_search(store, view, criteria) for _ in range(2)])
                rows.append(
                    (
                        f"SEARCH {criteria.decode()}, {COUNT:,} messages",
                        f"{seconds * 1000:.0f} ms",
                        "—",
                    )
                )
            runs = [await _time_fetch(store, view, b"BODY.PEEK[]") for _ in range(3)]
            seconds, octets = min(runs)
            rows.append(
                (
                    f"FETCH 1:* BODY.PEEK[], {COUNT:,} messages ({octets / 1e6:.0f} MB)",
                    f"{octets / 1e6 / seconds:.0f} MB/s",
                    "≥ 0.8× Dovecot (~270 MB/s)",
                )
            )
        finally:
            await store.close()
    return rows


def main() -> list[tuple[str, str, str]]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
