"""Store contract (issue 11, auth): device selectors, login sources for smart lockout,
and the CREDENTIALS changes that end sessions -- the same on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from posteingang.store.hub import Change, ChangeKind
from posteingang.store.interface import AlreadyExists, Store
from posteingang.store.model import LoginRecord
from tests.store.conftest import make_account


async def test_devices_are_found_by_selector_within_their_account(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.test")
    phone = await store.add_device(alice, "phone", "{PLAIN}a", "ab12")
    old = await store.add_device(alice, "old", "{PLAIN}b")
    assert phone.selector == "ab12" and old.selector is None
    found = await store.get_device_by_selector(alice, "ab12")
    assert found is not None and (found.id, found.name) == (phone.id, "phone")
    assert await store.get_device_by_selector(bob, "ab12") is None  # another account's
    assert await store.get_device_by_selector(alice, "zz99") is None
    with pytest.raises(AlreadyExists):
        await store.add_device(alice, "tablet", "{PLAIN}c", "ab12")
    await store.add_device(bob, "phone", "{PLAIN}d", "ab12")  # unique per account only
    assert {d.name: d.selector for d in await store.list_devices(alice)} == {
        "old": None,
        "phone": "ab12",
    }


async def test_logged_in_from_answers_by_source_and_time(store: Store) -> None:
    alice = await make_account(store)
    now = datetime.now(UTC).replace(microsecond=0)
    await store.record_login(
        LoginRecord(alice, None, "imap", "2001:db8::5", None, now, "2001:db8::/64")
    )
    await store.record_login(LoginRecord(alice, None, "imap", "192.0.2.1", None, now))
    week = now - timedelta(days=7)
    assert await store.logged_in_from(alice, "2001:db8::/64", week)
    assert await store.logged_in_from(alice, "192.0.2.1", week)  # no source: the address
    assert not await store.logged_in_from(alice, "192.0.2.2", week)
    assert not await store.logged_in_from(alice, "192.0.2.1", now + timedelta(seconds=1))
    [latest, _] = await store.list_logins(alice)
    assert {latest.source, _.source} == {"2001:db8::/64", "192.0.2.1"}


async def test_revocations_are_published_as_credentials_changes(store: Store) -> None:
    alice = await make_account(store)
    seen: list[Change] = []
    store.hub.on_credentials(seen.append)
    phone = await store.add_device(alice, "phone", "{PLAIN}a", "ab12")
    await store.revoke_device(alice, "phone")
    await store.set_password(alice, "{PLAIN}new")
    await store.set_password(alice, "{PLAIN}new", end_sessions=False)  # a re-hash
    await store.delete_account("alice@example.test")
    assert [(c.kind, c.account_id, c.name, c.uids) for c in seen] == [
        (ChangeKind.CREDENTIALS, alice, "device", (phone.id,)),
        (ChangeKind.CREDENTIALS, alice, "password", ()),
        (ChangeKind.CREDENTIALS, alice, "account", ()),
    ]
