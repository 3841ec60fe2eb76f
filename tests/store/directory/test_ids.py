"""Store contract: device ids are never reused (issue 10, item 1).

A session's selected mailbox, the change feed, POP3 locks and other processes
hold mailbox, account and device ids. Once the row is deleted, the id must
never name another row: SQLite without AUTOINCREMENT gave the highest deleted
id to the next insert, and a session that had the old mailbox selected then
read and wrote the new one.
"""

from __future__ import annotations

from posteingang.store.interface import Store
from tests.store.conftest import make_account


async def test_a_revoked_devices_id_is_never_given_again(store: Store) -> None:
    account_id = await make_account(store)
    first = await store.add_device(account_id, "phone", "{PLAIN}x")
    await store.revoke_device(account_id, "phone")
    second = await store.add_device(account_id, "phone", "{PLAIN}x")
    assert second.id != first.id
