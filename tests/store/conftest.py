"""Fixtures for the store contract suite (directory/, mailstore/, clientstate/,
searchindex/, imagesenders/, whole/):
every test runs against every backend in `BACKENDS`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.interface import NewMessage, Store
from posteingang.store.memory import MemoryStore
from posteingang.store.sqlite.store import SqliteStore

BACKENDS = ["memory", "sqlite"]


async def open_backend(kind: str, tmp_path: Path) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return await SqliteStore.open(tmp_path / "store.sqlite3", FsBlobStore(tmp_path / "blobs"))
    raise ValueError(kind)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_backend(request.param, tmp_path)
    try:
        yield s
    finally:
        await s.close()


async def new_message(
    store: Store,
    body: bytes = b"Subject: hi\r\n\r\nhello\r\n",
    flags: frozenset[str] = frozenset(),
    uid: int | None = None,
) -> NewMessage:
    blob_id = await store.blobs.put(body)
    return NewMessage(
        blob_id=blob_id,
        size=len(body),
        parsed=b"parsed:" + body[:20],
        flags=flags,
        internal_date=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        uid=uid,
    )


async def make_account(store: Store, address: str = "alice@example.test") -> int:
    domain = address.rpartition("@")[2]
    if await store.get_domain(domain) is None:
        await store.add_domain(domain)
    account = await store.create_account(address, "{PLAIN}x")
    return account.id


async def inbox_id(store: Store, account_id: int) -> int:
    mailbox = await store.get_mailbox(account_id, "INBOX")
    assert mailbox is not None
    return mailbox.id
