"""The webmail on a 100,000-message INBOX: server time of the first list page and of
opening a message (p50/p95 over 100 requests each), sorted lists, and the first
load's weight (gzip). Live updates (commit -> event on 500 open pages) are
`bench_sse`; Roundcube on the same data is `bench_roundcube`.

The store is SQLite in a temporary directory, filled with `append_many` from 200
distinct messages of the shared corpus (each prepared once, then reused: the
blobs are content-addressed, so the 100,000 rows share them; ~5-10 s). Each
round of 200 copies gets its own Message-IDs in the rows, so threads are as
small as the corpus's, not 500 copies of one conversation. The server is
the real runtime with an HTTP listener. *Server* times call the app in-process
through httpx's ASGI transport (no socket, no HTTP parsing); the loopback row
sends the same requests over TCP with httpx from the same process, so it includes
the client's share (an upper bound of the server's).

Environment: ``BENCH_WEB_COUNT`` (messages in the INBOX, default 100000).

Targets (issue 14): first page ≤ 50 ms and opening a message ≤ 30 ms (p95);
first load ≤ 100 KB gzip.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import random
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from posteingang.config.schema import Config, LimitsConfig, ServerConfig, StoreConfig
from posteingang.delivery.ingest import prepare_message
from posteingang.net.settings import ListenerSettings
from posteingang.runtime import Runtime

COUNT = int(os.environ.get("BENCH_WEB_COUNT", "100000"))
CORPUS = Path("/work/shared/corpus/bench.mbox")
_FROM_LINE = re.compile(rb"(?:\A|\n)From [^\n]*\n")
USER, PASSWORD = "bench@example.test", "bench password"


def _templates(n: int) -> list[bytes]:
    msgs = [m for m in _FROM_LINE.split(CORPUS.read_bytes()) if m][:n] if CORPUS.exists() else []
    if not msgs:
        msgs = [
            f"From: a{i}@b.test\r\nSubject: filler {i}\r\n\r\n".encode() + b"text line\r\n" * 50
            for i in range(n)
        ]
    return [re.sub(rb"\r?\n", b"\r\n", m) for m in msgs]


def _web_config(tmp: Path, protocol: str = "HTTP", connections: int = 100) -> Config:
    """The runtime's config for a store in `tmp` and one `protocol` listener on a free
    loopback port that takes `connections` at once, from one address too."""
    return Config(
        server=ServerConfig(hostname="localhost", data_dir=tmp, shutdown_timeout=2),
        store=StoreConfig(sqlite_path=tmp / "s.sqlite3", blob_dir=tmp / "blobs"),
        limits=LimitsConfig(max_connections=connections, max_connections_per_ip=connections),
        listener=[
            ListenerSettings(
                protocol=protocol,
                host="127.0.0.1",
                port=0,
                max_connections=connections,
                max_connections_per_ip=connections,
            )
        ],
    )


async def _fill(rt: Runtime, user: str = USER, password: str = PASSWORD) -> int:
    """`COUNT` messages in the INBOX of a new account: 200 distinct ones, repeated."""
    store = rt.store
    await store.add_domain(user.partition("@")[2])
    account = await store.create_account(user, "{PLAIN}" + password)
    inbox = await store.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    when = datetime(2026, 1, 1, tzinfo=UTC)
    prepared = [await prepare_message(store, raw, internal_date=when) for raw in _templates(200)]
    batch = []
    for i in range(COUNT):
        # The blob is shared, the thread is not: each round of 200 copies threads
        # as the corpus does (otherwise one thread would hold COUNT / 200 messages).
        one, round_ = prepared[i % len(prepared)], i // len(prepared)
        batch.append(
            replace(
                one,
                message_id=one.message_id and f"{one.message_id}.{round_}",
                parent_ids=tuple(f"{p}.{round_}" for p in one.parent_ids),
            )
        )
        if len(batch) == 2000:
            await store.append_many(inbox.id, batch)
            batch = []
    if batch:
        await store.append_many(inbox.id, batch)
    return inbox.id


async def _login(client: httpx.AsyncClient) -> str:
    form = await client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token is not None
    response = await client.post(
        "/login", data={"username": USER, "password": PASSWORD, "login_token": token.group(1)}
    )
    assert response.status_code == 303
    return str(client.cookies["pi_session"])


async def _timed(client: httpx.AsyncClient, paths: list[str]) -> list[float]:
    times = []
    for path in paths:
        start = time.perf_counter()
        response = await client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


@dataclass
class _Sample:
    """Wall times of requests (ms) and this process's CPU per request (ms: every
    thread, so the store's reads and the in-process client's small share too)."""

    times: list[float]
    cpu: float

    def __str__(self) -> str:
        return (
            f"{statistics.median(self.times):.1f} / {_p(self.times, 0.95):.1f} ms "
            f"(CPU {self.cpu:.1f} ms)"
        )


async def _sample(client: httpx.AsyncClient, paths: list[str]) -> _Sample:
    cpu = time.process_time()
    times = await _timed(client, paths)
    return _Sample(times, (time.process_time() - cpu) / len(paths) * 1000)


async def _first_load(client: httpx.AsyncClient, inbox: int) -> int:
    page = await client.get(f"/mail/{inbox}")
    total = len(gzip.compress(page.content))
    for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
        total += len(gzip.compress((await client.get(asset)).content))
    return total


async def _run() -> list[tuple[str, str, str]]:
    from tests.serving import running

    from posteingang.web.server import WEB, serving_for

    with tempfile.TemporaryDirectory() as tmp:
        config = _web_config(Path(tmp))
        async with running(config, [WEB]) as rt:
            started = time.perf_counter()
            inbox = await _fill(rt)
            fill = time.perf_counter() - started
            port = rt.listeners[0].port
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, headers={"origin": base}) as client:
                cookie = await _login(client)
                await _timed(client, [f"/mail/{inbox}"] * 5)  # warm up
                wire = await _sample(client, [f"/mail/{inbox}"] * 100)
                weight = await _first_load(client, inbox)
            # Server time: the app itself, called in-process (no socket, no HTTP parsing).
            asgi = httpx.ASGITransport(app=serving_for(rt).app)
            async with httpx.AsyncClient(
                transport=asgi, base_url=base, cookies={"pi_session": cookie}
            ) as client:
                first = await _sample(client, [f"/mail/{inbox}"] * 100)
                deep = await _sample(client, [f"/mail/{inbox}?page=1000"] * 20)
                uids = random.Random(1).sample(range(1, COUNT + 1), 100)
                opened = await _sample(client, [f"/mail/{inbox}/{u}" for u in uids])
                again = await _sample(client, [f"/mail/{inbox}/{u}" for u in uids])
                # issue 14 item 2: sorted on the server (SQLite indexes of migration 9)
                ordered = {
                    o: await _sample(client, [f"/mail/{inbox}?order={o}"] * 50)
                    for o in ("from", "subject", "sent", "subject-desc")
                }
                ordered_deep = await _sample(
                    client, [f"/mail/{inbox}?order=subject&page=1000"] * 10
                )
                # item 5: the full-text index (200 distinct messages here: bench_web_search)
                searched = await _sample(client, [f"/mail/{inbox}/search?subject=zzzq"] * 10)
    n = f"{COUNT:,}"
    return [
        (f"fill {n} messages (append_many)", f"{fill:.1f} s", "-"),
        (f"first list page of a {n}-message INBOX, server (p50 / p95)", str(first), "p95 ≤ 50 ms"),
        ("the same over loopback HTTP with httpx (p50 / p95)", str(wire), "-"),
        ("list page 1,000 (deep offset, p50 / p95)", str(deep), "-"),
        ("open a message, first time: marks it read (p50 / p95)", str(opened), "p95 ≤ 30 ms"),
        ("open a message again (p50 / p95)", str(again), "p95 ≤ 30 ms"),
        *(
            (
                f"first list page sorted by {name}, server (p50 / p95)",
                str(ordered[o]),
                "p95 ≤ 50 ms",
            )
            for o, name in (
                ("from", "sender"),
                ("subject", "subject"),
                ("sent", "date sent, newest first"),
                ("subject-desc", "subject, Z to A"),
            )
        ),
        ("list page 1,000 sorted by subject (p50 / p95)", str(ordered_deep), "-"),
        (f"search by subject in {n} messages, no hit, server (p50 / p95)", str(searched), "-"),
        (
            "first load of the mail page (HTML + CSS + JS, gzip)",
            f"{weight / 1024:.1f} KB",
            "≤ 100 KB",
        ),
    ]


def main() -> list[tuple[str, str, str]]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for row in main():
        print(" | ".join(row))
