"""Fixtures: an initialised data dir, the CLI with import/export, mail builders."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from posteingang.delivery.ingest import unix_to_crlf
from posteingang.store.interface import Store
from tests.cli.storeutil import with_store  # re-exported for the transfer tests
from tests.transfer.harness import cli

USER = "demo@example.test"
PASSWORD = "correct horse battery staple"


@dataclass
class Cli:
    config: Path

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.config), *args])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    result = CliRunner().invoke(
        cli,
        ["init", "--data-dir", str(data), "--hostname", "mail.example.test", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    return data


@pytest.fixture
def run(data_dir: Path) -> Cli:
    return Cli(data_dir / "posteingang.toml")


@dataclass(frozen=True)
class Stored:
    mailbox: str
    uidvalidity: int
    uid: int
    sha256: str
    flags: frozenset[str]
    internal_date: object


def stored(data_dir: Path, user: str = USER) -> list[Stored]:
    """Every message of the account, with what import must keep."""

    async def go(store: Store) -> list[Stored]:
        account = await store.get_account(user)
        assert account is not None
        out: list[Stored] = []
        for mb in await store.list_mailboxes(account.id):
            index = await store.get_index(mb.id)
            for m in await store.get_messages(mb.id, index.uids):
                raw = await store.blobs.get(m.blob_id)
                assert hashlib.sha256(raw).hexdigest() == m.blob_id
                out.append(
                    Stored(mb.name, mb.uidvalidity, m.uid, m.blob_id, m.flags, m.internal_date)
                )
        return out

    return with_store(data_dir, go)


def sha_multiset(messages: list[bytes]) -> Counter[str]:
    return Counter(hashlib.sha256(m).hexdigest() for m in messages)


def stored_form(messages: list[bytes]) -> list[bytes]:
    """What import stores by default: LF-only messages with CRLF line endings."""
    return [unix_to_crlf(m) for m in messages]


def assert_one_line_error(result: Result, *fragments: str, exit_code: int = 1) -> None:
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
