"""Store contract: mailbox names, hierarchy, RENAME rules, UIDVALIDITY."""

from __future__ import annotations

import pytest

from posteingang.store.interface import AlreadyExists, Conflict, InvalidName, NotFound, Store
from posteingang.store.model import DEFAULT_MAILBOXES
from tests.store.conftest import inbox_id, make_account, new_message


async def names_of(store: Store, account_id: int) -> list[str]:
    return [m.name for m in await store.list_mailboxes(account_id)]


async def test_create_and_lookup_is_inbox_case_insensitive(store: Store) -> None:
    account_id = await make_account(store)
    assert (await store.get_mailbox(account_id, "inbox")) == (
        await store.get_mailbox(account_id, "INBOX")
    )
    box = await store.create_mailbox(account_id, "Inbox/Sub")
    assert box.name == "INBOX/Sub"
    await store.create_mailbox(account_id, "Müll/Ärger")
    assert "Müll/Ärger" in await names_of(store, account_id)
    with pytest.raises(AlreadyExists):
        await store.create_mailbox(account_id, "inbox")
    for bad in ["", "a//b", "/a", "a/", "tab\there"]:
        with pytest.raises(InvalidName):
            await store.create_mailbox(account_id, bad)


async def test_uidvalidity_is_not_reused_for_a_recreated_name(store: Store) -> None:
    account_id = await make_account(store)
    first = await store.create_mailbox(account_id, "Lists")
    await store.delete_mailbox(account_id, "Lists")
    second = await store.create_mailbox(account_id, "Lists")
    assert second.uidvalidity != first.uidvalidity
    assert second.uidnext == 1


async def test_delete_rules(store: Store) -> None:
    account_id = await make_account(store)
    with pytest.raises(Conflict):
        await store.delete_mailbox(account_id, "INBOX")
    with pytest.raises(NotFound):
        await store.delete_mailbox(account_id, "Nope")
    box = await store.create_mailbox(account_id, "Old")
    await store.append(box.id, await new_message(store))
    await store.delete_mailbox(account_id, "Old")
    assert await store.get_mailbox(account_id, "Old") is None


async def test_rename_moves_children(store: Store) -> None:
    account_id = await make_account(store)
    parent = await store.create_mailbox(account_id, "a")
    await store.create_mailbox(account_id, "a/b")
    await store.create_mailbox(account_id, "a/b/c")
    await store.create_mailbox(account_id, "ab")  # not a child of "a"
    renamed = await store.rename_mailbox(account_id, "a", "x")
    assert renamed.id == parent.id and renamed.uidvalidity == parent.uidvalidity
    got = await names_of(store, account_id)
    assert {"x", "x/b", "x/b/c", "ab"} <= set(got)
    assert "a" not in got and "a/b" not in got
    with pytest.raises(AlreadyExists):
        await store.rename_mailbox(account_id, "x", "ab")
    with pytest.raises(Conflict):
        await store.rename_mailbox(account_id, "x", "x/b/c/d")
    with pytest.raises(NotFound):
        await store.rename_mailbox(account_id, "nope", "y")


async def test_rename_inbox_moves_messages_and_keeps_inbox(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    for i in range(3):
        await store.append(inbox, await new_message(store, b"Subject: %d\r\n\r\n" % i))
    new = await store.rename_mailbox(account_id, "INBOX", "Old-Inbox")
    assert (await store.mailbox_status(new.id)).messages == 3
    assert (await store.mailbox_status(inbox)).messages == 0
    after = await store.get_mailbox(account_id, "INBOX")
    assert after is not None and after.id == inbox


async def test_subscriptions(store: Store) -> None:
    account_id = await make_account(store)
    # the default mailboxes start subscribed; CREATE subscribes nothing (issue 10, item 5)
    defaults = ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    assert await store.list_subscriptions(account_id) == defaults
    await store.create_mailbox(account_id, "News/Tech")
    assert await store.list_subscriptions(account_id) == defaults
    await store.set_subscribed(account_id, "News/Tech", True)
    await store.set_subscribed(account_id, "Junk", False)
    await store.set_subscribed(account_id, "Junk", False)  # twice is harmless
    assert "News/Tech" in await store.list_subscriptions(account_id)
    assert "Junk" not in await store.list_subscriptions(account_id)


async def test_subscriptions_are_names_independent_of_mailboxes(store: Store) -> None:
    # RFC 3501 §6.3.6: the server MUST NOT remove a name from the subscription list
    # because the mailbox no longer exists.
    account_id = await make_account(store)
    await store.create_mailbox(account_id, "Gone")
    await store.set_subscribed(account_id, "Gone", True)
    await store.delete_mailbox(account_id, "Gone")
    assert "Gone" in await store.list_subscriptions(account_id)
    await store.set_subscribed(account_id, "Never/There", True)
    assert "Never/There" in await store.list_subscriptions(account_id)
    # RENAME moves the subscriptions of the name and its inferiors along
    await store.create_mailbox(account_id, "a")
    await store.create_mailbox(account_id, "a/b")
    await store.set_subscribed(account_id, "a", True)
    await store.set_subscribed(account_id, "a/b", True)
    await store.rename_mailbox(account_id, "a", "z")
    subs = await store.list_subscriptions(account_id)
    assert "z" in subs and "z/b" in subs and "a" not in subs and "a/b" not in subs
    await store.set_subscribed(account_id, "Gone", False)
    assert "Gone" not in await store.list_subscriptions(account_id)
    # subscriptions belong to their account and go with it
    other = await make_account(store, "other@example.test")
    assert "z" not in await store.list_subscriptions(other)
    await store.delete_account("other@example.test")
    assert await store.list_subscriptions(other) == []


async def test_accounts_are_isolated(store: Store) -> None:
    alice = await make_account(store, "alice@example.test")
    bob = await make_account(store, "bob@example.test")
    await store.create_mailbox(alice, "Private")
    assert await store.get_mailbox(bob, "Private") is None
    inbox_a, inbox_b = await inbox_id(store, alice), await inbox_id(store, bob)
    with pytest.raises(Conflict):
        await store.copy(inbox_a, [1], inbox_b)


async def test_raise_uidnext_only_raises(store: Store) -> None:
    """For imports that keep a source's UIDVALIDITY (issue 11 item 5)."""
    account_id = await make_account(store)
    box = await store.create_mailbox(account_id, "Imported", uidvalidity=4242)
    raised = await store.raise_uidnext(box.id, 20)
    assert raised.uidnext == 20
    assert (await store.raise_uidnext(box.id, 5)).uidnext == 20  # never lowered
    result = await store.append(box.id, await new_message(store, b"Subject: x\r\n\r\n"))
    assert result.uid == 20
    with pytest.raises(NotFound):
        await store.raise_uidnext(999_999, 3)


async def test_claim_recent_hands_each_message_to_one_claimer(store: Store) -> None:
    # Issue 10, item 6 (RFC 3501 §2.3.2): \Recent for exactly one session.
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    for n in range(3):
        await store.append(inbox, await new_message(store, b"m%d" % n))
    status = await store.mailbox_status(inbox)
    assert status.recent == 3 and status.mailbox.first_recent_uid == 1
    assert await store.claim_recent(inbox) == (1, 4)
    assert await store.claim_recent(inbox) == (4, 4)  # nothing left for a second session
    assert (await store.mailbox_status(inbox)).recent == 0
    await store.append(inbox, await new_message(store, b"later"))
    box = await store.get_mailbox_by_id(inbox)
    assert box is not None and box.first_recent_uid == 4
    assert (await store.mailbox_status(inbox)).recent == 1
    assert await store.claim_recent(inbox) == (4, 5)
    # COPY into a mailbox makes the copies recent there
    archive = await store.get_mailbox(account_id, "Archive")
    assert archive is not None
    await store.copy(inbox, [1, 2], archive.id)
    assert (await store.mailbox_status(archive.id)).recent == 2


async def test_concurrent_claims_never_share_a_uid(store: Store) -> None:
    import asyncio

    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)

    async def deliver_and_claim(n: int) -> tuple[int, int]:
        await store.append(inbox, await new_message(store, b"c%d" % n))
        return await store.claim_recent(inbox)

    claims = await asyncio.gather(*(deliver_and_claim(n) for n in range(20)))
    claimed = [uid for low, high in claims for uid in range(low, high)]
    assert sorted(claimed) == list(range(1, 21))  # each uid exactly once


async def test_account_starts_with_special_use_mailboxes(store: Store) -> None:
    account_id = await make_account(store, "Alice@Example.Test")
    account = await store.get_account("ALICE@example.test")
    assert account is not None and account.id == account_id
    assert account.address == "alice@example.test"
    boxes = {m.name: m.special_use for m in await store.list_mailboxes(account_id)}
    assert boxes == dict(DEFAULT_MAILBOXES)
