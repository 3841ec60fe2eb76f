"""device add/list/revoke: generated app passwords, stored only as hashes."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from posteingang.auth.passwords import verify_password
from posteingang.store.interface import Store
from posteingang.store.model import Device, LoginRecord

from .conftest import Cli, assert_one_line_error
from .storeutil import with_store

APP_PASSWORD = re.compile(r"^password: ([a-z0-9]{4}(?:-[a-z0-9]{4}){4})$", re.M)


def devices(data_dir: Path) -> list[Device]:
    async def read(store: Store) -> list[Device]:
        account = await store.get_account("demo@example.test")
        assert account is not None
        return await store.list_devices(account.id)

    return with_store(data_dir, read)


def test_device_add_prints_password_once_and_stores_a_hash(run: Cli, data_dir: Path) -> None:
    result = run("device", "add", "demo@example.test", "phone")
    assert result.exit_code == 0, result.output
    password = APP_PASSWORD.search(result.stdout).group(1)  # type: ignore[union-attr]
    (device,) = devices(data_dir)
    assert device.name == "phone"
    assert password not in device.password_hash
    assert verify_password(device.password_hash, password)
    second = run("device", "add", "demo@example.test", "laptop")
    other = APP_PASSWORD.search(second.stdout).group(1)  # type: ignore[union-attr]
    assert other != password
    # The listing never shows a password.
    listing = run("device", "list", "demo@example.test").stdout
    assert password not in listing and other not in listing


def test_device_list_shows_last_login(run: Cli, data_dir: Path) -> None:
    assert run("device", "add", "demo@example.test", "phone").exit_code == 0
    assert run("device", "add", "demo@example.test", "tablet").exit_code == 0
    phone = next(d for d in devices(data_dir) if d.name == "phone")
    at = dt.datetime(2026, 5, 4, 3, 2, tzinfo=dt.UTC)

    async def login(store: Store) -> None:
        await store.record_login(
            LoginRecord(phone.account_id, phone.id, "imap", "192.0.2.7", None, at)
        )

    with_store(data_dir, login)
    lines = run("device", "list", "demo@example.test").stdout.splitlines()
    phone_row = next(line for line in lines if "phone" in line)
    assert "2026-05-04 03:02" in phone_row
    assert "imap" in phone_row and "192.0.2.7" in phone_row
    tablet_row = next(line for line in lines if "tablet" in line)
    assert "never" in tablet_row
    assert "current" in phone_row and "old" not in phone_row


def test_device_list_marks_passwords_made_before_selectors(run: Cli, data_dir: Path) -> None:
    async def add_old(store: Store) -> None:
        account = await store.get_account("demo@example.test")
        assert account is not None
        await store.add_device(account.id, "old phone", "{PLAIN}abcd-efgh-ijkl-mnop")

    with_store(data_dir, add_old)
    row = next(
        line
        for line in run("device", "list", "demo@example.test").stdout.splitlines()
        if "old phone" in line
    )
    assert "old: re-add" in row


def test_device_revoke(run: Cli, data_dir: Path) -> None:
    assert run("device", "add", "demo@example.test", "phone").exit_code == 0
    assert run("device", "revoke", "demo@example.test", "phone").exit_code == 0
    assert devices(data_dir) == []
    assert "phone" not in run("device", "list", "demo@example.test").stdout


def test_device_errors(run: Cli, data_dir: Path) -> None:
    assert run("device", "add", "demo@example.test", "phone").exit_code == 0
    assert_one_line_error(run("device", "add", "demo@example.test", "phone"), 1, "already exists")
    assert_one_line_error(run("device", "add", "ghost@example.test", "x"), 1, "unknown user")
    assert_one_line_error(run("device", "add", "demo@example.test", "  "), 2, "device name")
    assert_one_line_error(run("device", "list", "ghost@example.test"), 1, "unknown user")
    assert_one_line_error(run("device", "revoke", "demo@example.test", "nope"), 1, "no such device")
    assert_one_line_error(run("device", "list", "not-an-address"), 2, "invalid")
    assert [d.name for d in devices(data_dir)] == ["phone"]
