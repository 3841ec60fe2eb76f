"""The webmail's search on a 100,000-message INBOX, with the full-text index (schema
version 11) and without it (the IMAP SEARCH engine over every message, what the
search page did before).

Unlike `bench_web`, every message is distinct (100,000 blobs, so 100,000 index
documents): the 3,000 messages of the shared corpus, each copy with its own
``X-Bench-Seq`` header and a subject tag ``[kwNNNN]`` (1,000 tags, so a tag
finds 100 messages). Server times call the app in-process, as in `bench_web`.

The mailbox is built once and kept in ``bench/results/websearch-<count>-v<schema>/``
(gitignored): the store is opened without its background indexer, the messages
are prepared and appended 2,000 per transaction, and then the index is made by
the back-fill that runs after an upgrade, which is timed (CPU and wall clock).
Later runs copy that directory into a temporary one and measure the searches
only (a minute instead of a quarter of an hour); the build's figures are then
the ones recorded when it was made, and say so.

Environment:

* ``BENCH_WEB_COUNT``: messages in the INBOX (default 100000);
* ``BENCH_WEBSEARCH_REBUILD=1``: build the mailbox again even if it is kept;
* ``BENCH_WEBSEARCH_CACHE=0``: build into the temporary directory, keep nothing;
* ``BENCH_WEBSEARCH_ENGINE=0``: leave out the two engine-alone rows (the IMAP
  engine reads every message: ~2 minutes at 100,000 messages on a loaded machine).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.bench_web import PASSWORD, USER, _login, _sample, _templates
from posteingang.config.schema import Config, ServerConfig, StoreConfig
from posteingang.delivery.ingest import prepare_message
from posteingang.imap.ops.search import search_uids
from posteingang.imap.selected import SelectedMailbox
from posteingang.net.settings import ListenerSettings
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.interface import Store
from posteingang.store.sqlite.schema import LATEST
from posteingang.store.sqlite.store import SqliteStore
from posteingang.web.search import SearchForm, search_key

COUNT = int(os.environ.get("BENCH_WEB_COUNT", "100000"))
RESULTS = Path(__file__).resolve().parent / "results"
_SUBJECT = re.compile(rb"^Subject: ", re.MULTILINE | re.IGNORECASE)


def _distinct(template: bytes, i: int) -> bytes:
    tag = b"[kw%04d] " % (i % 1000)
    raw, n = _SUBJECT.subn(b"Subject: " + tag, template, count=1)
    if n == 0:
        raw = b"Subject: " + tag + b"\r\n" + template
    return b"X-Bench-Seq: %d\r\n" % i + raw


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


async def _build(root: Path) -> dict[str, float]:
    """Fill `root` with the mailbox, then index it; the costs of both (s)."""
    store = await SqliteStore.open(
        root / "s.sqlite3", FsBlobStore(root / "blobs"), search_index=False
    )
    try:
        await store.add_domain("example.test")
        account = await store.create_account(USER, "{PLAIN}" + PASSWORD)
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        when = datetime(2026, 1, 1, tzinfo=UTC)
        templates = _templates(3000)
        wall, cpu = _clock()
        for start in range(0, COUNT, 2000):
            batch = [
                await prepare_message(
                    store, _distinct(templates[i % len(templates)], i), internal_date=when
                )
                for i in range(start, min(COUNT, start + 2000))
            ]
            await store.append_many(inbox.id, batch)
        wall2, cpu2 = _clock()
        # What an upgrade to the index does: every waiting blob, 100 per write job.
        await store.backfill_fulltext()
        wall3, cpu3 = _clock()
    finally:
        await store.close()
    return {
        "fill_wall": wall2 - wall,
        "fill_cpu": cpu2 - cpu,
        "index_wall": wall3 - wall2,
        "index_cpu": cpu3 - cpu2,
        "load": os.getloadavg()[0],
        "date": time.time(),
    }


async def _mailbox(tmp: Path) -> tuple[dict[str, float], bool]:
    """The mailbox in `tmp` (s.sqlite3, blobs/), and its build's figures; True if fresh."""
    if os.environ.get("BENCH_WEBSEARCH_CACHE", "1") == "0":
        return await _build(tmp), True
    kept = RESULTS / f"websearch-{COUNT}-v{LATEST}"
    meta = kept / "build.json"
    fresh = not meta.exists() or os.environ.get("BENCH_WEBSEARCH_REBUILD") == "1"
    if fresh:
        shutil.rmtree(kept, ignore_errors=True)
        kept.mkdir(parents=True)
        meta.write_text(json.dumps(await _build(kept)))
    for name in ("s.sqlite3", "blobs"):
        if (kept / name).is_dir():
            shutil.copytree(kept / name, tmp / name)
        else:
            shutil.copy2(kept / name, tmp / name)
    return json.loads(meta.read_text()), fresh


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


async def _run() -> list[tuple[str, str, str]]:
    from tests.serving import running

    from posteingang.web.server import WEB, serving_for

    with tempfile.TemporaryDirectory() as tmp:
        db, blobs = Path(tmp) / "s.sqlite3", Path(tmp) / "blobs"
        build, fresh = await _mailbox(Path(tmp))
        size = db.stat().st_size
        config = Config(
            server=ServerConfig(hostname="localhost", data_dir=Path(tmp), shutdown_timeout=2),
            store=StoreConfig(sqlite_path=db, blob_dir=blobs),
            listener=[ListenerSettings(protocol="HTTP", host="127.0.0.1", port=0)],
        )
        async with running(config, [WEB]) as rt:
            account = await rt.store.get_account(USER)
            assert account is not None
            found = await rt.store.get_mailbox(account.id, "INBOX")
            assert found is not None
            inbox = found.id
            base = f"http://127.0.0.1:{rt.listeners[0].port}"
            async with httpx.AsyncClient(base_url=base, headers={"origin": base}) as client:
                cookie = await _login(client)
            asgi = httpx.ASGITransport(app=serving_for(rt).app)
            async with httpx.AsyncClient(
                transport=asgi, base_url=base, cookies={"pi_session": cookie}
            ) as client:
                path = f"/mail/{inbox}/search"
                after = {
                    name: await _sample(client, [f"{path}?{query}"] * runs)
                    for name, query, runs in (
                        ("nothing", "subject=zzzq", 20),
                        ("tag", "subject=kw0042", 20),
                        ("quick", "q=kw0042", 20),
                        ("sender", "from=kw0042", 20),
                        ("common", "body=the", 3),
                        ("all", "q=kw0042&scope=all", 10),
                    )
                }
            before_subject = before_text = float("nan")
            if os.environ.get("BENCH_WEBSEARCH_ENGINE", "1") != "0":
                before_subject = await _engine_alone(rt.store, inbox, {"subject": "zzzq"})
                before_text = await _engine_alone(rt.store, inbox, {"q": "kw0042"})
    n = f"{COUNT:,}"
    day = time.strftime("%Y-%m-%d", time.gmtime(build["date"]))
    built = "" if fresh else f" (kept build of {day})"

    def med(name: str) -> str:
        return f"{statistics.median(after[name].times):.1f} ms (CPU {after[name].cpu:.1f} ms)"

    def alone(ms: float) -> str:
        return "not run" if math.isnan(ms) else f"{ms:.0f} ms"

    return [
        (
            f"fill {n} distinct messages (prepare + append_many, 2,000 per commit){built}",
            f"{build['fill_wall']:.0f} s ({build['fill_cpu'] / COUNT * 1e6:.0f} µs CPU/msg)",
            "-",
        ),
        (
            f"index {n} messages (the back-fill after an upgrade){built}",
            f"{build['index_wall']:.0f} s ({build['index_cpu'] / COUNT * 1e6:.0f} µs CPU/msg)",
            "-",
        ),
        ("database size with the index", f"{size / 2**20:.0f} MiB", "-"),
        (
            f"subject search, no hit, in {n} messages: before, engine alone",
            alone(before_subject),
            "-",
        ),
        ("the same with the index, server (p50 of 20)", med("nothing"), "-"),
        ("subject search, 100 hits (p50 of 20)", med("tag"), "-"),
        ("quick search (TEXT), 100 hits: before, engine alone", alone(before_text), "-"),
        ("the same with the index, server (p50 of 20)", med("quick"), "-"),
        ("sender search, no hit (p50 of 20)", med("sender"), "-"),
        ("body search for a common word ('the'), server (p50 of 3)", med("common"), "-"),
        ("quick search, all folders, 100 hits (p50 of 10)", med("all"), "-"),
    ]


def main() -> list[tuple[str, str, str]]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
