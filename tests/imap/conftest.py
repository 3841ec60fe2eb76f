"""Fixtures for the IMAP session tests: a real SQLite store with one account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from posteingang.imap.session import ImapServices
from posteingang.store.sqlite.store import SqliteStore
from tests.imap.harness import make_services
from tests.serving import store_with_account


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with store_with_account(tmp_path) as s:
        yield s


@pytest.fixture
def services(store: SqliteStore) -> ImapServices:
    return make_services(store)
