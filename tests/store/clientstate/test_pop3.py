"""Store contract, client state: POP3 per-client views (devices), retention data,
imported UIDLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from posteingang.store.interface import Store
from tests.store.conftest import inbox_id, make_account, new_message


async def test_each_device_has_its_own_view(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    for i in range(3):
        await store.append(inbox, await new_message(store, b"%d" % i))
    phone = await store.add_device(account_id, "phone", "h")
    laptop = await store.add_device(account_id, "laptop", "h")
    t1 = datetime(2026, 1, 1, tzinfo=UTC)
    await store.pop3_record(inbox, phone.id, retrieved=[1, 2], at=t1)
    await store.pop3_record(inbox, phone.id, retrieved=[2, 3], hidden=[1], at=t1 + timedelta(1))
    await store.pop3_record(inbox, laptop.id, retrieved=[3], at=t1 + timedelta(2))
    await store.pop3_record(inbox, phone.id, retrieved=[99])  # unknown uid: ignored
    view = await store.pop3_view(inbox, phone.id)
    assert view.retrieved == {1: t1, 2: t1, 3: t1 + timedelta(1)}  # first retrieval kept
    assert view.hidden == {1}
    laptop_view = await store.pop3_view(inbox, laptop.id)
    assert laptop_view.retrieved == {3: t1 + timedelta(2)} and laptop_view.hidden == frozenset()
    password_view = await store.pop3_view(inbox, None)
    assert password_view.retrieved == {} and password_view.hidden == frozenset()
    # retention: earliest retrieval by any client counts
    assert await store.pop3_retrieved_before(inbox, t1 + timedelta(hours=1)) == [1, 2]
    assert await store.pop3_retrieved_before(inbox, t1 + timedelta(3)) == [1, 2, 3]
    # expunged messages leave no POP3 state behind
    await store.expunge(inbox, [1])
    assert 1 not in (await store.pop3_view(inbox, phone.id)).retrieved
    assert (await store.pop3_view(inbox, phone.id)).hidden == frozenset()


async def test_imported_uidls_are_kept(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    await store.append(inbox, await new_message(store, b"a"))
    await store.append(inbox, await new_message(store, b"b"))
    await store.set_pop3_uidls(inbox, {1: "000000014f2a1b3c", 2: "000000024f2a1b3c"})
    assert await store.get_pop3_uidls(inbox) == {1: "000000014f2a1b3c", 2: "000000024f2a1b3c"}
    await store.expunge(inbox, [2])
    assert await store.get_pop3_uidls(inbox) == {1: "000000014f2a1b3c"}
