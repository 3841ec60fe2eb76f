"""The webmail's search on a 100,000-message INBOX, with the full-text index (schema
version 11) and without it (the IMAP SEARCH engine over every message, what the
search page did before).

Unlike `bench_web`, every message is distinct (100,000 blobs, so 100,000 index
documents): the 3,000 messages of the shared corpus, each copy with its own
``X-Bench-Seq`` header and a subject tag ``[kwNNNN]`` (1,000 tags, so a tag
finds 100 messages). Server times call the app in-process, as in `bench_web`.
Then the index is dropped and rebuilt by the back-fill that runs after an
upgrade, to time it.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.bench_web import PASSWORD, USER, _login, _templates, _timed
from posteingang.config.schema import Config, ServerConfig, StoreConfig
from posteingang.delivery.ingest import prepare_message
from posteingang.imap.ops.search import search_uids
from posteingang.imap.selected import SelectedMailbox
from posteingang.net.settings import ListenerSettings
from posteingang.runtime import Runtime
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.interface import Store
from posteingang.store.sqlite.store import SqliteStore
from posteingang.web.search import SearchForm, search_key

COUNT = int(os.environ.get("BENCH_WEB_COUNT", "100000"))
_SUBJECT = re.compile(rb"^Subject: ", re.MULTILINE | re.IGNORECASE)


def _distinct(template: bytes, i: int) -> bytes:
    tag = b"[kw%04d] " % (i % 1000)
    raw, n = _SUBJECT.subn(b"Subject: " + tag, template, count=1)
    if n == 0:
        raw = b"Subject: " + tag + b"\r\n" + template
    return b"X-Bench-Seq: %d\r\n" % i + raw


async def _fill(rt: Runtime) -> int:
    store = rt.store
    await store.add_domain("example.test")
    account = await store.create_account(USER, "{PLAIN}" + PASSWORD)
    inbox = await store.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    when = datetime(2026, 1, 1, tzinfo=UTC)
    templates = _templates(3000)
    for start in range(0, COUNT, 2000):
        batch = [
            await prepare_message(
                store, _distinct(templates[i % len(templates)], i), internal_date=when
            )
            for i in range(start, min(COUNT, start + 2000))
        ]
        await store.append_many(inbox.id, batch)
    await store.backfill_fulltext()  # new mail is indexed in the background: let it finish
    return inbox.id


async def _engine_alone(store: Store, inbox: int, params: dict[str, str]) -> float:
    """ms for the IMAP engine over the whole folder (the search page before the index)."""
    index = await store.get_index(inbox)
    mb = index.mailbox
    view = SelectedMailbox(
        mb.id, mb.uidvalidity, index.uids, index.flags, index.modseqs, mb.highestmodseq,
        readonly=True,
    )  # fmt: skip
    started = time.perf_counter()
    await search_uids(store, view, search_key(SearchForm.of(params)), charset="UTF-8")
    return (time.perf_counter() - started) * 1000


async def _backfill(db: Path, blobs: Path) -> float:
    """Seconds to index every message again after dropping the index (an upgrade)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DELETE FROM search_text")
    conn.execute("DELETE FROM search_docs")
    conn.execute("UPDATE meta SET value = 0 WHERE key = 'fulltext_backfill'")
    conn.close()
    store = await SqliteStore.open(db, FsBlobStore(blobs))
    try:
        started = time.perf_counter()
        await store.backfill_fulltext()
        return time.perf_counter() - started
    finally:
        await store.close()


async def _run() -> list[tuple[str, str, str]]:
    from tests.serving import running

    from posteingang.web.server import http_shell, serving_for

    with tempfile.TemporaryDirectory() as tmp:
        db, blobs = Path(tmp) / "s.sqlite3", Path(tmp) / "blobs"
        config = Config(
            server=ServerConfig(hostname="localhost", data_dir=Path(tmp), shutdown_timeout=2),
            store=StoreConfig(sqlite_path=db, blob_dir=blobs),
            listener=[ListenerSettings(protocol="HTTP", host="127.0.0.1", port=0)],
        )
        async with running(config, {"HTTP": http_shell}, []) as rt:
            started = time.perf_counter()
            inbox = await _fill(rt)
            fill = time.perf_counter() - started
            base = f"http://127.0.0.1:{rt.listeners[0].port}"
            async with httpx.AsyncClient(base_url=base, headers={"origin": base}) as client:
                cookie = await _login(client)
            asgi = httpx.ASGITransport(app=serving_for(rt).app)
            async with httpx.AsyncClient(
                transport=asgi, base_url=base, cookies={"pi_session": cookie}
            ) as client:
                path = f"/mail/{inbox}/search"
                after = {
                    name: await _timed(client, [f"{path}?{query}"] * runs)
                    for name, query, runs in (
                        ("nothing", "subject=zzzq", 20),
                        ("tag", "subject=kw0042", 20),
                        ("quick", "q=kw0042", 20),
                        ("sender", "from=kw0042", 20),
                        ("common", "body=the", 3),
                        ("all", "q=kw0042&scope=all", 10),
                    )
                }
            before_subject = await _engine_alone(rt.store, inbox, {"subject": "zzzq"})
            before_text = await _engine_alone(rt.store, inbox, {"q": "kw0042"})
        size = db.stat().st_size
        backfill = await _backfill(db, blobs)
    n = f"{COUNT:,}"

    def med(name: str) -> str:
        return f"{statistics.median(after[name]):.1f} ms"

    return [
        (f"fill {n} distinct messages (prepare + append_many, indexed)", f"{fill:.0f} s", "-"),
        ("database size with the index", f"{size / 2**20:.0f} MiB", "-"),
        (
            f"subject search, no hit, in {n} messages: before, engine alone",
            f"{before_subject:.0f} ms",
            "-",
        ),
        ("the same with the index, server (p50 of 20)", med("nothing"), "-"),
        ("subject search, 100 hits (p50 of 20)", med("tag"), "-"),
        ("quick search (TEXT), 100 hits: before, engine alone", f"{before_text:.0f} ms", "-"),
        ("the same with the index, server (p50 of 20)", med("quick"), "-"),
        ("sender search, no hit (p50 of 20)", med("sender"), "-"),
        ("body search for a common word ('the'), server (p50 of 3)", med("common"), "-"),
        ("quick search, all folders, 100 hits (p50 of 10)", med("all"), "-"),
        (f"back-fill of {n} messages after an upgrade", f"{backfill:.0f} s", "-"),
    ]


def main() -> list[tuple[str, str, str]]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
