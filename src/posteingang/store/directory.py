"""Who may log in and where mail for an address goes: the store's directory.

Domains, accounts (password hashes, quota, settings), aliases and catch-alls,
devices (app passwords) and login records. The first part of `Store` a backend
implements, checked by `tests/store/directory/` (docs/store.md). Creating an
account also creates its default mailboxes and deleting one removes everything
the account owns, so a backend's directory and mailstore share one transaction
there; everything else here touches no mailbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from posteingang.store.model import (
    Account,
    AccountSettings,
    AccountUsage,
    Alias,
    Device,
    Domain,
    LoginRecord,
)


class Directory(Protocol):
    """Domains, accounts, aliases, devices and login records. All methods are coroutines.

    What auth needs (auth/login.py takes a `Directory`); credential changes end
    sessions through the store's hub (`Store.hub`, a CREDENTIALS change).
    """

    # -- domains, accounts, aliases ------------------------------------------------
    async def add_domain(self, name: str) -> Domain: ...
    async def get_domain(self, name: str) -> Domain | None: ...
    async def list_domains(self) -> list[Domain]: ...
    async def remove_domain(self, name: str) -> None:
        """Refuses (Conflict) while accounts or aliases of the domain exist."""
        ...

    async def set_catch_all(self, domain: str, target: str | None) -> None: ...

    async def create_account(
        self,
        address: str,
        password_hash: str,
        *,
        scram_sha256: str | None = None,
        quota_bytes: int | None = None,
    ) -> Account:
        """Creates the account and its default mailboxes (model.DEFAULT_MAILBOXES)."""
        ...

    async def get_account(self, address: str) -> Account | None: ...
    async def get_account_by_id(self, account_id: int) -> Account | None: ...
    async def list_accounts(self, domain: str | None = None) -> list[Account]: ...
    async def list_account_usage(self, domain: str | None = None) -> list[AccountUsage]:
        """`list_accounts` with each account's usage (`Mailstore.usage`) and mailbox
        count, so that `posteingang user list` needs only the directory."""
        ...

    async def delete_account(self, address: str) -> None: ...
    async def set_password(
        self,
        account_id: int,
        password_hash: str,
        scram_sha256: str | None = None,
        *,
        end_sessions: bool = True,
    ) -> None:
        """Replace the account password.  Unless ``end_sessions`` is False (a re-hash of
        the same password), sessions that logged in with the old one end: a CREDENTIALS
        change with scope "password" (hub.py).  Removing an account ends every session,
        revoking a device that device's."""
        ...

    async def set_quota(self, account_id: int, quota_bytes: int | None) -> None: ...
    async def set_settings(self, account_id: int, settings: AccountSettings) -> None: ...
    async def add_alias(self, source: str, target: str) -> Alias: ...
    async def remove_alias(self, source: str, target: str | None = None) -> None: ...
    async def list_aliases(self, domain: str | None = None) -> list[Alias]: ...
    async def resolve_address(self, address: str, *, catch_all: bool = True) -> list[Account]:
        """Who receives mail for `address`: the account, else alias targets, else catch-all.

        `catch_all=False` leaves the domain's catch-all out, so that delivery can try
        `alice+detail@` as `alice@` before the catch-all (docs/delivery.md).
        """
        ...

    # -- devices (app passwords) and login records ---------------------------------
    async def add_device(
        self, account_id: int, name: str, password_hash: str, selector: str | None = None
    ) -> Device:
        """A new device; ``selector`` (unique within the account) finds it at login."""
        ...

    async def get_device_by_selector(self, account_id: int, selector: str) -> Device | None: ...
    async def list_devices(self, account_id: int) -> list[Device]: ...
    async def revoke_device(self, account_id: int, name: str) -> None: ...
    async def record_login(self, record: LoginRecord) -> None: ...
    async def list_logins(self, account_id: int, limit: int = 50) -> list[LoginRecord]: ...
    async def logged_in_from(self, account_id: int, source: str, since: datetime) -> bool:
        """True if the account had a successful login from ``source`` (``LoginRecord.source``)
        at or after ``since``: the smart-lockout trust check (auth/throttle.py)."""
        ...


class OpenDirectory(Directory, Protocol):
    """A directory opened on its own (`store.open_directory`), for the account commands
    of the command line: they start without loading the mailstore."""

    async def close(self) -> None: ...
