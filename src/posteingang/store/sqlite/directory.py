"""The SQLite backend's `Directory` (store/directory.py): jobs in accounts.py.

`open_directory` opens it alone, for the command line's account commands: the
same writer, readers and cross-process notifications as the whole store, but
none of the mailstore's modules (MIME parsing, the full-text index) are loaded
and no background work starts. Creating and deleting an account write mailbox
rows too; they import those jobs when they run.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path

from posteingang.store import names
from posteingang.store.errors import InvalidName
from posteingang.store.hub import Change, Hub, credentials_change
from posteingang.store.model import (
    DEFAULT_MAILBOXES,
    Account,
    AccountSettings,
    AccountUsage,
    Alias,
    Device,
    Domain,
    LoginRecord,
)
from posteingang.store.sqlite import accounts as acc
from posteingang.store.sqlite.access import SqliteAccess, connect
from posteingang.store.sqlite.notify import Notifier
from posteingang.store.sqlite.rows import settings_to_json
from posteingang.store.sqlite.schema import migrate
from posteingang.store.sqlite.writer import Writer


def write_lock_path(path: Path) -> Path:
    """The lock file every writing process takes around a transaction (writer.py)."""
    return path.with_name(path.name + ".writelock")


async def open_directory(path: Path) -> SqliteDirectory:
    """The directory of the store at `path` (migrated like `SqliteStore.open` does)."""
    conn = await asyncio.to_thread(lambda: _prepared(path))
    hub = Hub()
    notifier = Notifier(path)
    writer = Writer(conn, hub, notifier.committed, lock_path=write_lock_path(path))
    return SqliteDirectory(path, hub, writer, notifier)


def _prepared(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    migrate(conn)
    return conn


class SqliteDirectory(SqliteAccess):
    """Domains, accounts, aliases, devices, logins; `SqliteStore` adds the other parts."""

    async def close(self) -> None:
        await self._writer.close()
        self._notifier.close()
        self._close_readers()

    # -- domains, accounts, aliases ---------------------------------------------------
    async def add_domain(self, name: str) -> Domain:
        name = names.normalize_domain(name)
        return await self._write(lambda c: acc.add_domain(c, name))

    async def get_domain(self, name: str) -> Domain | None:
        name = names.normalize_domain(name)
        return await self._read(lambda c: acc.get_domain(c, name))

    async def list_domains(self) -> list[Domain]:
        return await self._read(acc.list_domains)

    async def remove_domain(self, name: str) -> None:
        name = names.normalize_domain(name)
        await self._write(lambda c: acc.remove_domain(c, name))

    async def set_catch_all(self, domain: str, target: str | None) -> None:
        domain = names.normalize_domain(domain)
        tgt = names.normalize_address(target) if target else None
        await self._write(lambda c: acc.set_catch_all(c, domain, tgt))

    async def get_account(self, address: str) -> Account | None:
        try:
            address = names.normalize_address(address)
        except InvalidName:
            return None
        return await self._read(lambda c: acc.get_account(c, address))

    async def get_account_by_id(self, account_id: int) -> Account | None:
        return self._read_now(lambda c: acc.get_account_by_id(c, account_id))  # one row

    async def list_accounts(self, domain: str | None = None) -> list[Account]:
        dom = names.normalize_domain(domain) if domain else None
        return await self._read(lambda c: acc.list_accounts(c, dom))

    async def list_account_usage(self, domain: str | None = None) -> list[AccountUsage]:
        dom = names.normalize_domain(domain) if domain else None
        return await self._read(lambda c: acc.list_account_usage(c, dom))

    # Creating and deleting an account touch every part of the store (model.py's
    # DEFAULT_MAILBOXES, then everything the account owns): their mailstore jobs are
    # imported here, so that opening the directory alone does not load them.
    async def create_account(
        self,
        address: str,
        password_hash: str,
        *,
        scram_sha256: str | None = None,
        quota_bytes: int | None = None,
    ) -> Account:
        from posteingang.store.sqlite import mailboxes as mbx

        address = names.normalize_address(address)

        def job(conn: sqlite3.Connection) -> tuple[Account, list[Change]]:
            account = acc.insert_account(conn, address, password_hash, scram_sha256, quota_bytes)
            changes: list[Change] = []
            for name, use in DEFAULT_MAILBOXES:
                _, more = mbx.create_mailbox(conn, account.id, name, use, None)
                changes += more
            mbx.subscribe_defaults(conn, account.id, [n for n, _ in DEFAULT_MAILBOXES])
            return account, changes

        return await self._write(job)

    async def delete_account(self, address: str) -> None:
        from posteingang.store.sqlite import index as packed
        from posteingang.store.sqlite import mailboxes as mbx
        from posteingang.store.sqlite import pop3, shared

        address = names.normalize_address(address)

        def job(conn: sqlite3.Connection) -> tuple[None, list[Change]]:
            account = acc.require_account(conn, address)
            boxes = mbx.list_mailboxes(conn, account.id)
            for box in boxes:
                shared.drop_messages(conn, "mailbox_id = ?", (box.id,))
                pop3.forget(conn, box.id, None)
                packed.drop(conn, box.id)
                conn.execute("DELETE FROM expunged WHERE mailbox_id = ?", (box.id,))
            conn.execute("DELETE FROM mailboxes WHERE account_id = ?", (account.id,))
            conn.execute("DELETE FROM subscriptions WHERE account_id = ?", (account.id,))
            conn.execute("DELETE FROM thread_keys WHERE account_id = ?", (account.id,))
            conn.execute("DELETE FROM aliases WHERE target = ?", (address,))
            conn.execute("UPDATE domains SET catch_all = NULL WHERE catch_all = ?", (address,))
            conn.execute("DELETE FROM devices WHERE account_id = ?", (account.id,))
            conn.execute("DELETE FROM logins WHERE account_id = ?", (account.id,))
            conn.execute("DELETE FROM accounts WHERE id = ?", (account.id,))
            return None, [credentials_change(account.id, "account")]

        await self._write(job)

    async def set_password(
        self,
        account_id: int,
        password_hash: str,
        scram_sha256: str | None = None,
        *,
        end_sessions: bool = True,
    ) -> None:
        def job(conn: sqlite3.Connection) -> tuple[None, list[Change]]:
            acc.update_account(
                conn, account_id, password_hash=password_hash, scram_sha256=scram_sha256
            )
            return None, [credentials_change(account_id, "password")] if end_sessions else []

        await self._write(job)

    async def set_quota(self, account_id: int, quota_bytes: int | None) -> None:
        await self._write(lambda c: acc.update_account(c, account_id, quota_bytes=quota_bytes))

    async def set_settings(self, account_id: int, settings: AccountSettings) -> None:
        text = settings_to_json(settings)
        await self._write(lambda c: acc.update_account(c, account_id, settings=text))

    async def add_alias(self, source: str, target: str) -> Alias:
        source, target = names.normalize_address(source), names.normalize_address(target)
        return await self._write(lambda c: acc.add_alias(c, source, target))

    async def remove_alias(self, source: str, target: str | None = None) -> None:
        source = names.normalize_address(source)
        tgt = names.normalize_address(target) if target else None
        await self._write(lambda c: acc.remove_alias(c, source, tgt))

    async def list_aliases(self, domain: str | None = None) -> list[Alias]:
        dom = names.normalize_domain(domain) if domain else None
        return await self._read(lambda c: acc.list_aliases(c, dom))

    async def resolve_address(self, address: str, *, catch_all: bool = True) -> list[Account]:
        address = names.normalize_address(address)
        return self._read_now(lambda c: acc.resolve_address(c, address, catch_all))

    # -- devices -------------------------------------------------------------------------
    async def add_device(
        self, account_id: int, name: str, password_hash: str, selector: str | None = None
    ) -> Device:
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidName("device name must be 1-100 characters")
        return await self._write(
            lambda c: acc.add_device(c, account_id, name, password_hash, selector)
        )

    async def get_device_by_selector(self, account_id: int, selector: str) -> Device | None:
        return await self._read(lambda c: acc.get_device_by_selector(c, account_id, selector))

    async def list_devices(self, account_id: int) -> list[Device]:
        return await self._read(lambda c: acc.list_devices(c, account_id))

    async def revoke_device(self, account_id: int, name: str) -> None:
        await self._write(lambda c: acc.revoke_device(c, account_id, name))

    async def record_login(self, record: LoginRecord) -> None:
        await self._write(lambda c: acc.record_login(c, record))

    async def list_logins(self, account_id: int, limit: int = 50) -> list[LoginRecord]:
        return await self._read(lambda c: acc.list_logins(c, account_id, limit))

    async def logged_in_from(self, account_id: int, source: str, since: datetime) -> bool:
        return await self._read(lambda c: acc.logged_in_from(c, account_id, source, since))
