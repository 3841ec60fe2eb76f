"""Store contract: mailbox and account ids are never reused (issue 10, item 1).

A session's selected mailbox, the change feed, POP3 locks and other processes
hold mailbox, account and device ids. Once the row is deleted, the id must
never name another row: SQLite without AUTOINCREMENT gave the highest deleted
id to the next insert, and a session that had the old mailbox selected then
read and wrote the new one.
"""

from __future__ import annotations

from posteingang.store.interface import Store
from tests.store.conftest import make_account, new_message


async def test_a_deleted_mailboxs_id_is_never_given_again(store: Store) -> None:
    account_id = await make_account(store)
    seen: set[int] = {m.id for m in await store.list_mailboxes(account_id)}
    for round_ in range(3):
        box = await store.create_mailbox(account_id, f"probe{round_}")
        assert box.id not in seen
        seen.add(box.id)
        await store.append(box.id, await new_message(store, b"m%d" % round_))
        await store.delete_mailbox(account_id, box.name)  # the highest id goes
    again = await store.create_mailbox(account_id, "probe0")
    assert again.id not in seen
    assert await store.get_mailbox_by_id(max(seen)) is None


async def test_deleted_parent_and_child_ids_are_not_given_again(store: Store) -> None:
    account_id = await make_account(store)
    parent = await store.create_mailbox(account_id, "a")
    child = await store.create_mailbox(account_id, "a/b")
    await store.delete_mailbox(account_id, "a/b")
    await store.delete_mailbox(account_id, "a")
    fresh = await store.create_mailbox(account_id, "c")
    assert fresh.id not in (parent.id, child.id)


async def test_a_deleted_accounts_id_is_never_given_again(store: Store) -> None:
    await make_account(store, "a@example.test")
    bob = await make_account(store, "bob@example.test")
    bob_boxes = {m.id for m in await store.list_mailboxes(bob)}
    await store.delete_account("bob@example.test")
    carol = await make_account(store, "carol@example.test")
    assert carol != bob
    assert not bob_boxes & {m.id for m in await store.list_mailboxes(carol)}
    again = await make_account(store, "bob@example.test")
    assert again not in (bob, carol)
