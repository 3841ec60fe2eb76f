"""Fixtures for the IMAP session tests: a real SQLite store with one account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from posteingang.imap.session import ImapServices
from posteingang.store.sqlite.store import SqliteStore
from tests.imap.harness import add_account, make_services, open_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await open_store(tmp_path)
    await add_account(s)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def services(store: SqliteStore) -> ImapServices:
    return make_services(store)
