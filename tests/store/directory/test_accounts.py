"""Store contract: domains, accounts, aliases, catch-all, devices, login records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from posteingang.store.interface import AlreadyExists, Conflict, InvalidName, NotFound, Store
from posteingang.store.model import AccountSettings, DeletionPolicy, LoginRecord
from tests.store.conftest import inbox_id, make_account, new_message


async def test_domains_add_list_remove(store: Store) -> None:
    await store.add_domain("Example.TEST")
    await store.add_domain("other.test")
    assert [d.name for d in await store.list_domains()] == ["example.test", "other.test"]
    with pytest.raises(AlreadyExists):
        await store.add_domain("example.test")
    await store.remove_domain("other.test")
    assert [d.name for d in await store.list_domains()] == ["example.test"]
    with pytest.raises(NotFound):
        await store.remove_domain("other.test")


@pytest.mark.parametrize(
    "bad", ["", "nodot", "-bad.test", "a..b", "sp ace.test", "x" * 64 + ".test"]
)
async def test_invalid_domain_names_are_refused(store: Store, bad: str) -> None:
    with pytest.raises(InvalidName):
        await store.add_domain(bad)


async def test_domain_with_accounts_cannot_be_removed(store: Store) -> None:
    await make_account(store)
    with pytest.raises(Conflict):
        await store.remove_domain("example.test")


async def test_account_errors(store: Store) -> None:
    with pytest.raises(NotFound):  # domain not hosted
        await store.create_account("bob@nowhere.test", "h")
    await make_account(store)
    with pytest.raises(AlreadyExists):
        await store.create_account("alice@example.test", "h")
    for bad in ["alice", "@example.test", "a b@example.test", "alice@", "a..b@example.test"]:
        with pytest.raises(InvalidName):
            await store.create_account(bad, "h")
    assert await store.get_account("nobody@example.test") is None
    with pytest.raises(NotFound):
        await store.delete_account("nobody@example.test")


async def test_password_quota_settings_update(store: Store) -> None:
    account_id = await make_account(store)
    await store.set_password(account_id, "{ARGON2ID}new", "scram-record")
    await store.set_quota(account_id, 1000)
    settings = AccountSettings(pop3_deletion_policy=DeletionPolicy.TRASH, pop3_retention_days=7)
    await store.set_settings(account_id, settings)
    account = await store.get_account_by_id(account_id)
    assert account is not None
    assert (account.password_hash, account.scram_sha256, account.quota_bytes) == (
        "{ARGON2ID}new",
        "scram-record",
        1000,
    )
    assert account.settings == settings


async def test_aliases_and_catch_all_resolve(store: Store) -> None:
    alice = await make_account(store, "alice@example.test")
    bob = await make_account(store, "bob@example.test")
    await store.add_alias("info@example.test", "alice@example.test")
    await store.add_alias("info@example.test", "bob@example.test")
    with pytest.raises(AlreadyExists):
        await store.add_alias("info@example.test", "bob@example.test")
    with pytest.raises(AlreadyExists):  # an alias may not shadow a user
        await store.add_alias("alice@example.test", "bob@example.test")
    with pytest.raises(NotFound):  # target must exist
        await store.add_alias("x@example.test", "nobody@example.test")

    assert [a.id for a in await store.resolve_address("ALICE@example.test")] == [alice]
    assert sorted(a.id for a in await store.resolve_address("info@example.test")) == [alice, bob]
    assert await store.resolve_address("random@example.test") == []

    await store.set_catch_all("example.test", "bob@example.test")
    assert [a.id for a in await store.resolve_address("random@example.test")] == [bob]
    domain = await store.get_domain("example.test")
    assert domain is not None and domain.catch_all == "bob@example.test"
    await store.set_catch_all("example.test", None)
    assert await store.resolve_address("random@example.test") == []

    await store.remove_alias("info@example.test", "alice@example.test")
    assert [a.id for a in await store.resolve_address("info@example.test")] == [bob]
    # deleting bob removes the aliases pointing at him
    await store.delete_account("bob@example.test")
    assert await store.list_aliases() == []


async def test_devices_and_login_records(store: Store) -> None:
    account_id = await make_account(store)
    phone = await store.add_device(account_id, "phone", "{PLAIN}pw")
    await store.add_device(account_id, "laptop", "{PLAIN}pw2")
    with pytest.raises(AlreadyExists):
        await store.add_device(account_id, "phone", "x")
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    await store.record_login(LoginRecord(account_id, phone.id, "pop3", "192.0.2.1", None, at))
    devices = {d.name: d for d in await store.list_devices(account_id)}
    assert list(devices) == ["laptop", "phone"]
    assert devices["phone"].last_login == at
    assert (devices["phone"].last_protocol, devices["phone"].last_address) == ("pop3", "192.0.2.1")
    assert devices["laptop"].last_login is None
    logins = await store.list_logins(account_id)
    assert [(r.device_id, r.protocol) for r in logins] == [(phone.id, "pop3")]
    await store.revoke_device(account_id, "phone")
    assert [d.name for d in await store.list_devices(account_id)] == ["laptop"]
    with pytest.raises(NotFound):
        await store.revoke_device(account_id, "phone")


async def test_account_usage_counts_messages_and_mailboxes(store: Store) -> None:
    """What `posteingang user list` shows, read from the directory alone."""
    alice = await make_account(store)
    await make_account(store, "bob@other.test")
    inbox = await inbox_id(store, alice)
    await store.append(inbox, await new_message(store, b"Subject: a\r\n\r\n12345\r\n"))
    await store.append(inbox, await new_message(store, b"Subject: b\r\n\r\n6\r\n"))
    await store.create_mailbox(alice, "Projects")
    mailboxes = len(await store.list_mailboxes(alice))
    rows = await store.list_account_usage()
    assert [(r.account.address, r.used_bytes, r.mailboxes) for r in rows] == [
        ("alice@example.test", await store.usage(alice), mailboxes),
        ("bob@other.test", 0, mailboxes - 1),
    ]
    assert rows[0].used_bytes == 20 + 18  # the two messages' octets
    assert [r.account.address for r in await store.list_account_usage("OTHER.test")] == [
        "bob@other.test"
    ]
