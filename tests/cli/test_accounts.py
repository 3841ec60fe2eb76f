"""domain, user and alias commands against a real SQLite store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from posteingang.auth.passwords import verify_password
from posteingang.store.interface import Store

from .conftest import Cli, assert_one_line_error
from .storeutil import with_store


def stored_hash(data_dir: Path, address: str) -> str | None:
    async def read(store: Store) -> str | None:
        account = await store.get_account(address)
        return account.password_hash if account else None

    return with_store(data_dir, read)


def test_domain_add_list_remove(run: Cli) -> None:
    assert run("domain", "add", "Example.ORG").exit_code == 0
    listing = run("domain", "list")
    assert listing.exit_code == 0
    assert "example.org" in listing.stdout
    assert "example.test" in listing.stdout
    removed = run("domain", "remove", "example.org")
    assert removed.exit_code == 0, removed.output
    assert "example.org" not in run("domain", "list").stdout


def test_domain_errors(run: Cli) -> None:
    assert_one_line_error(run("domain", "add", "example.test"), 1, "already exists")
    assert_one_line_error(run("domain", "add", "no_dots"), 2, "invalid domain")
    assert_one_line_error(run("domain", "remove", "nowhere.test"), 1, "no such domain")
    # A domain with users cannot go; the users stay.
    assert_one_line_error(run("domain", "remove", "example.test"), 1, "accounts")
    assert "demo@example.test" in run("user", "list").stdout


def test_idn_domain_is_stored_as_a_label(run: Cli) -> None:
    result = run("domain", "add", "bücher.example")
    assert result.exit_code == 0, result.output
    assert "xn--bcher-kva.example" in run("domain", "list").stdout


def test_user_add_prints_a_working_password(run: Cli, data_dir: Path) -> None:
    result = run("user", "add", "Bob@Example.test")
    assert result.exit_code == 0, result.output
    password = re.search(r"password: (\S+)", result.stdout).group(1)  # type: ignore[union-attr]
    stored = stored_hash(data_dir, "bob@example.test")
    assert stored is not None and verify_password(stored, password)
    listing = run("user", "list")
    row = next(line for line in listing.stdout.splitlines() if "bob@example.test" in line)
    assert re.search(r"\b6\b", row)  # the six default mailboxes


def test_user_add_password_stdin_and_quota(run: Cli, data_dir: Path) -> None:
    result = run("user", "add", "carol@example.test", "--password-stdin", "--quota", "2G",
                 input="hunter2 but longer\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "password" not in result.stdout
    assert verify_password(stored_hash(data_dir, "carol@example.test") or "", "hunter2 but longer")
    row = next(line for line in run("user", "list").stdout.splitlines() if "carol@" in line)
    assert "2.0 GiB" in row


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["user", "add", "demo@example.test"], 1, "already exists"),
        (["user", "add", "someone@unknown.test"], 1, "unknown domain"),
        (["user", "add", "no-at-sign"], 2, "invalid address"),
        (["user", "add", "sp ace@example.test"], 2, "invalid"),
        (["user", "add", "x@example.test", "--quota", "lots"], 2, "not a size"),
        (["user", "passwd", "ghost@example.test"], 1, "unknown user"),
        (["user", "remove", "ghost@example.test"], 1, "unknown user"),
        (["user", "quota", "ghost@example.test", "1G"], 1, "unknown user"),
        (["user", "add", "x@example.test", "--password-stdin"], 2, "no password"),
    ],
)
def test_user_errors_are_one_line_and_change_nothing(
    run: Cli, data_dir: Path, args: list[str], code: int, fragment: str
) -> None:
    before = run("user", "list").stdout
    assert_one_line_error(run(*args, input=""), code, fragment)
    assert run("user", "list").stdout == before


def test_user_passwd_replaces_the_password(run: Cli, data_dir: Path) -> None:
    result = run("user", "passwd", "demo@example.test", "--password-stdin", input="new one\n")
    assert result.exit_code == 0, result.output
    stored = stored_hash(data_dir, "demo@example.test")
    assert stored is not None
    assert verify_password(stored, "new one")
    assert not verify_password(stored, "correct horse battery staple")


def test_user_remove(run: Cli, data_dir: Path) -> None:
    assert run("user", "add", "gone@example.test").exit_code == 0
    assert run("user", "remove", "gone@example.test", "--yes").exit_code == 0
    assert stored_hash(data_dir, "gone@example.test") is None
    assert "gone@" not in run("user", "list").stdout


def test_alias_add_list_remove(run: Cli) -> None:
    result = run("alias", "add", "Postmaster@example.test", "demo@example.test")
    assert result.exit_code == 0, result.output
    listing = run("alias", "list").stdout
    row = next(line for line in listing.splitlines() if "postmaster@example.test" in line)
    assert "demo@example.test" in row
    assert_one_line_error(
        run("alias", "add", "postmaster@example.test", "demo@example.test"), 1, "already exists"
    )
    assert run("alias", "remove", "postmaster@example.test").exit_code == 0
    assert "postmaster" not in run("alias", "list").stdout
    assert_one_line_error(run("alias", "remove", "postmaster@example.test"), 1, "no such alias")


def test_alias_errors(run: Cli) -> None:
    assert_one_line_error(run("alias", "add", "a@example.test", "ghost@example.test"), 1, "ghost")
    assert_one_line_error(
        run("alias", "add", "a@elsewhere.test", "demo@example.test"), 1, "unknown domain"
    )
    assert_one_line_error(run("alias", "add", "demo@example.test", "demo@example.test"), 1)
    assert_one_line_error(run("alias", "add", "bad address", "demo@example.test"), 2, "invalid")
    assert "a@" not in run("alias", "list").stdout


def test_catch_all_is_off_by_default_and_can_be_set(run: Cli) -> None:
    assert "catch-all for example.test: off" in run("domain", "catch-all", "example.test").stdout
    result = run("domain", "catch-all", "example.test", "demo@example.test")
    assert result.exit_code == 0, result.output
    shown = run("domain", "catch-all", "example.test").stdout
    assert "catch-all for example.test: demo@example.test" in shown
    assert run("domain", "catch-all", "example.test", "--off").exit_code == 0
    assert "off" in run("domain", "catch-all", "example.test").stdout
    assert_one_line_error(
        run("domain", "catch-all", "example.test", "ghost@example.test"), 1, "unknown user"
    )
    assert_one_line_error(run("domain", "catch-all", "nowhere.test"), 1, "unknown domain")
