"""The in-memory reference backend: the Store contract in its plainest form.

It exists so the contract suite has a backend whose correctness is easy to read,
and so protocol tests can run without files. It is not durable. Its parts follow
the store's protocols: `MemoryDirectory` (memory_directory.py), `MemoryMailstore`
(memory_mailstore.py, on memory_mailboxes.py), `MemoryClientState`
(memory_clientstate.py), `MemorySearchIndex` (memory_fulltext.py) and
`MemoryImageSenders` (memory_images.py); here is
what touches all of them: creating, deleting and summing up accounts, and `check`.
"""

from __future__ import annotations

from dataclasses import replace

from posteingang.store import names
from posteingang.store.errors import AlreadyExists, NotFound
from posteingang.store.hub import credentials_change
from posteingang.store.interface import IntegrityReport
from posteingang.store.memory_clientstate import MemoryClientState
from posteingang.store.memory_directory import MemoryDirectory
from posteingang.store.memory_fulltext import MemorySearchIndex
from posteingang.store.memory_images import MemoryImageSenders
from posteingang.store.model import DEFAULT_MAILBOXES, Account, AccountSettings, AccountUsage


class MemoryStore(MemoryDirectory, MemoryClientState, MemorySearchIndex, MemoryImageSenders):
    async def close(self) -> None:
        return None

    async def listen_external(self) -> None:
        return None  # nothing outside this process can write here

    async def create_account(
        self,
        address: str,
        password_hash: str,
        *,
        scram_sha256: str | None = None,
        quota_bytes: int | None = None,
    ) -> Account:
        address = names.normalize_address(address)
        if names.domain_of(address) not in self._domains:
            raise NotFound(f"domain {names.domain_of(address)} is not hosted here")
        if any(a.address == address for a in self._accounts.values()):
            raise AlreadyExists(f"user {address} already exists")
        if any(a.source == address for a in self._aliases):
            raise AlreadyExists(f"{address} is already an alias")
        account = Account(
            next(self._ids), address, password_hash, quota_bytes, AccountSettings(), scram_sha256
        )
        self._accounts[account.id] = account
        for name, use in DEFAULT_MAILBOXES:
            await self.create_mailbox(account.id, name, special_use=use)
        self._subscriptions[account.id] = {name for name, _ in DEFAULT_MAILBOXES}
        return account

    async def list_account_usage(self, domain: str | None = None) -> list[AccountUsage]:
        return [
            AccountUsage(
                account, await self.usage(account.id), len(await self.list_mailboxes(account.id))
            )
            for account in await self.list_accounts(domain)
        ]

    async def delete_account(self, address: str) -> None:
        account = self._account_by_address(address)
        for box in [b for b in self._boxes.values() if b.mailbox.account_id == account.id]:
            for msg in box.messages.values():
                self._unref(msg.blob_id)
            del self._boxes[box.mailbox.id]
        self._aliases = [a for a in self._aliases if a.target != account.address]
        for dom, d in list(self._domains.items()):
            if d.catch_all == account.address:
                self._domains[dom] = replace(d, catch_all=None)
        self._devices = {k: d for k, d in self._devices.items() if d.account_id != account.id}
        self._subscriptions.pop(account.id, None)
        self._thread_keys = {k: t for k, t in self._thread_keys.items() if k[0] != account.id}
        self._image_senders.pop(account.id, None)
        del self._accounts[account.id]
        self.hub.publish(credentials_change(account.id, "account"))

    async def check(self, repair: bool = False) -> IntegrityReport:
        referenced = {m.blob_id for b in self._boxes.values() for m in b.messages.values()}
        stored = set(await self.blobs.list_ids())
        orphaned = sorted(stored - referenced - self._unused)
        missing = sorted(referenced - stored)
        repaired = []
        if repair:
            for blob_id in orphaned:
                await self.blobs.delete(blob_id)
                repaired.append(f"deleted orphaned blob {blob_id}")
            orphaned = []
        return IntegrityReport(orphaned, missing, [], repaired)
