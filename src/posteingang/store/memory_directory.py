"""The in-memory reference backend's `Directory`: domains, accounts, aliases, devices, logins.

Nothing here touches mailboxes or messages (creating and deleting an account
does, so those two are `MemoryStore`'s, in memory.py).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime

from posteingang.store import names
from posteingang.store.errors import AlreadyExists, Conflict, InvalidName, NotFound
from posteingang.store.hub import Hub, credentials_change
from posteingang.store.model import (
    Account,
    AccountSettings,
    Alias,
    Device,
    Domain,
    LoginRecord,
)


class MemoryDirectory:
    hub: Hub  # MemoryStore's change feed

    def __init__(self) -> None:
        super().__init__()
        self._domains: dict[str, Domain] = {}
        self._accounts: dict[int, Account] = {}
        self._aliases: list[Alias] = []
        self._devices: dict[int, Device] = {}
        self._logins: list[LoginRecord] = []
        self._ids = itertools.count(1)

    def _account(self, account_id: int) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            raise NotFound(f"account {account_id} does not exist")
        return account

    def _account_by_address(self, address: str) -> Account:
        address = names.normalize_address(address)
        for account in self._accounts.values():
            if account.address == address:
                return account
        raise NotFound(f"no such user: {address}")

    async def add_domain(self, name: str) -> Domain:
        name = names.normalize_domain(name)
        if name in self._domains:
            raise AlreadyExists(f"domain {name} already exists")
        self._domains[name] = Domain(name)
        return self._domains[name]

    async def get_domain(self, name: str) -> Domain | None:
        return self._domains.get(names.normalize_domain(name))

    async def list_domains(self) -> list[Domain]:
        return sorted(self._domains.values(), key=lambda d: d.name)

    async def remove_domain(self, name: str) -> None:
        name = names.normalize_domain(name)
        if name not in self._domains:
            raise NotFound(f"no such domain: {name}")
        if any(names.domain_of(a.address) == name for a in self._accounts.values()):
            raise Conflict(f"domain {name} still has accounts")
        if any(names.domain_of(a.source) == name for a in self._aliases):
            raise Conflict(f"domain {name} still has aliases")
        del self._domains[name]

    async def set_catch_all(self, domain: str, target: str | None) -> None:
        domain = names.normalize_domain(domain)
        if domain not in self._domains:
            raise NotFound(f"no such domain: {domain}")
        if target is not None:
            target = self._account_by_address(target).address
        self._domains[domain] = replace(self._domains[domain], catch_all=target)

    async def get_account(self, address: str) -> Account | None:
        try:
            return self._account_by_address(address)
        except NotFound:
            return None

    async def get_account_by_id(self, account_id: int) -> Account | None:
        return self._accounts.get(account_id)

    async def list_accounts(self, domain: str | None = None) -> list[Account]:
        dom = names.normalize_domain(domain) if domain else None
        return sorted(
            (a for a in self._accounts.values() if dom is None or a.address.endswith("@" + dom)),
            key=lambda a: a.address,
        )

    async def set_password(
        self,
        account_id: int,
        password_hash: str,
        scram_sha256: str | None = None,
        *,
        end_sessions: bool = True,
    ) -> None:
        account = self._account(account_id)
        self._accounts[account_id] = replace(
            account, password_hash=password_hash, scram_sha256=scram_sha256
        )
        if end_sessions:
            self.hub.publish(credentials_change(account_id, "password"))

    async def set_quota(self, account_id: int, quota_bytes: int | None) -> None:
        self._accounts[account_id] = replace(self._account(account_id), quota_bytes=quota_bytes)

    async def set_settings(self, account_id: int, settings: AccountSettings) -> None:
        self._accounts[account_id] = replace(self._account(account_id), settings=settings)

    async def add_alias(self, source: str, target: str) -> Alias:
        source = names.normalize_address(source)
        target_account = self._account_by_address(target)
        if names.domain_of(source) not in self._domains:
            raise NotFound(f"domain {names.domain_of(source)} is not hosted here")
        if any(a.address == source for a in self._accounts.values()):
            raise AlreadyExists(f"{source} is a user, not an alias")
        alias = Alias(source, target_account.address)
        if alias in self._aliases:
            raise AlreadyExists(f"alias {source} -> {alias.target} already exists")
        self._aliases.append(alias)
        return alias

    async def remove_alias(self, source: str, target: str | None = None) -> None:
        source = names.normalize_address(source)
        tgt = names.normalize_address(target) if target else None
        keep = [a for a in self._aliases if not (a.source == source and tgt in (None, a.target))]
        if len(keep) == len(self._aliases):
            raise NotFound(f"no such alias: {source}")
        self._aliases = keep

    async def list_aliases(self, domain: str | None = None) -> list[Alias]:
        dom = names.normalize_domain(domain) if domain else None
        return sorted(
            (a for a in self._aliases if dom is None or names.domain_of(a.source) == dom),
            key=lambda a: (a.source, a.target),
        )

    async def resolve_address(self, address: str, *, catch_all: bool = True) -> list[Account]:
        address = names.normalize_address(address)
        account = await self.get_account(address)
        if account is not None:
            return [account]
        targets = [a.target for a in self._aliases if a.source == address]
        if targets:
            return [self._account_by_address(t) for t in sorted(set(targets))]
        domain = self._domains.get(names.domain_of(address))
        if catch_all and domain is not None and domain.catch_all:
            return [self._account_by_address(domain.catch_all)]
        return []

    async def add_device(
        self, account_id: int, name: str, password_hash: str, selector: str | None = None
    ) -> Device:
        self._account(account_id)
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidName("device name must be 1-100 characters")
        if any(d.account_id == account_id and d.name == name for d in self._devices.values()):
            raise AlreadyExists(f"device {name!r} already exists")
        if selector is not None and await self.get_device_by_selector(account_id, selector):
            raise AlreadyExists(f"device selector {selector!r} already in use")
        device = Device(
            next(self._ids), account_id, name, password_hash, datetime.now(UTC), selector=selector
        )
        self._devices[device.id] = device
        return device

    async def get_device_by_selector(self, account_id: int, selector: str) -> Device | None:
        for device in self._devices.values():
            if device.account_id == account_id and device.selector == selector:
                return device
        return None

    async def list_devices(self, account_id: int) -> list[Device]:
        return sorted(
            (d for d in self._devices.values() if d.account_id == account_id), key=lambda d: d.name
        )

    async def revoke_device(self, account_id: int, name: str) -> None:
        for key, device in self._devices.items():
            if device.account_id == account_id and device.name == name:
                del self._devices[key]
                self.hub.publish(credentials_change(account_id, "device", device.id))
                return
        raise NotFound(f"no such device: {name}")

    async def record_login(self, record: LoginRecord) -> None:
        if record.source is None:  # as SQLite stores it: the source is the address
            record = replace(record, source=record.address)
        self._logins.append(record)
        if record.device_id is not None and record.device_id in self._devices:
            self._devices[record.device_id] = replace(
                self._devices[record.device_id],
                last_login=record.at,
                last_protocol=record.protocol,
                last_address=record.address,
                last_client_id=record.client_id,
            )

    async def list_logins(self, account_id: int, limit: int = 50) -> list[LoginRecord]:
        found = [r for r in self._logins if r.account_id == account_id]
        return list(reversed(found))[:limit]

    async def logged_in_from(self, account_id: int, source: str, since: datetime) -> bool:
        return any(
            r.account_id == account_id and r.source == source and r.at >= since
            for r in self._logins
        )
