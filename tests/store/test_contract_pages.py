"""Store contract: `message_page`, the webmail's paged message list."""

from __future__ import annotations

from posteingang.store.interface import Store
from posteingang.store.model import FLAGGED, SEEN, FlagOp, PageFilter
from tests.store.conftest import inbox_id, make_account, new_message


async def _inbox_with(store: Store, count: int) -> int:
    inbox = await inbox_id(store, await make_account(store))
    for i in range(count):
        await store.append(inbox, await new_message(store, b"m%d" % i))
    return inbox


async def test_pages_are_newest_first_and_count_the_mailbox(store: Store) -> None:
    inbox = await _inbox_with(store, 7)
    first = await store.message_page(inbox, offset=0, limit=3)
    assert first.total == 7
    assert [m.uid for m in first.messages] == [7, 6, 5]
    last = await store.message_page(inbox, offset=6, limit=3)
    assert [m.uid for m in last.messages] == [1]
    beyond = await store.message_page(inbox, offset=10, limit=3)
    assert beyond.total == 7 and beyond.messages == []
    oldest = await store.message_page(inbox, offset=0, limit=2, newest_first=False)
    assert [m.uid for m in oldest.messages] == [1, 2]


async def test_pages_filter_unseen_and_flagged(store: Store) -> None:
    inbox = await _inbox_with(store, 5)
    await store.store_flags(inbox, [1, 2], FlagOp.ADD, frozenset({SEEN}))
    await store.store_flags(inbox, [2, 4], FlagOp.ADD, frozenset({FLAGGED}))
    unseen = await store.message_page(inbox, offset=0, limit=10, filter=PageFilter.UNSEEN)
    assert unseen.total == 3
    assert [m.uid for m in unseen.messages] == [5, 4, 3]
    flagged = await store.message_page(inbox, offset=0, limit=1, filter=PageFilter.FLAGGED)
    assert flagged.total == 2
    assert [m.uid for m in flagged.messages] == [4]
    assert FLAGGED in flagged.messages[0].flags


async def test_expunged_messages_leave_the_pages(store: Store) -> None:
    inbox = await _inbox_with(store, 3)
    await store.expunge(inbox, [2])
    page = await store.message_page(inbox, offset=0, limit=10)
    assert page.total == 2
    assert [m.uid for m in page.messages] == [3, 1]


async def test_mailbox_counts_agree_with_status(store: Store) -> None:
    inbox = await _inbox_with(store, 6)
    mailbox = await store.get_mailbox_by_id(inbox)
    assert mailbox is not None
    trash = await store.get_mailbox(mailbox.account_id, "Trash")
    assert trash is not None
    await store.store_flags(inbox, [1, 2, 3], FlagOp.ADD, frozenset({SEEN}))
    await store.store_flags(inbox, [3, 4], FlagOp.ADD, frozenset({FLAGGED}))
    await store.expunge(inbox, [2])
    await store.move(inbox, [4], trash.id)
    counts = await store.mailbox_counts([inbox, trash.id, 999_999])
    assert set(counts) == {inbox, trash.id}
    status = await store.mailbox_status(inbox)
    assert (counts[inbox].messages, counts[inbox].unseen) == (status.messages, status.unseen)
    assert (counts[inbox].messages, counts[inbox].unseen, counts[inbox].flagged) == (4, 2, 1)
    assert (counts[trash.id].messages, counts[trash.id].flagged) == (1, 1)
    assert await store.mailbox_counts([]) == {}


async def test_pages_by_size(store: Store) -> None:
    from posteingang.store.model import PageSort

    inbox = await inbox_id(store, await make_account(store))
    for body in (b"bb", b"a", b"dddd", b"ccc", b"a"):
        await store.append(inbox, await new_message(store, body * 10))
    largest = await store.message_page(inbox, offset=0, limit=3, sort=PageSort.SIZE)
    assert [m.uid for m in largest.messages] == [3, 4, 1]
    smallest = await store.message_page(
        inbox, offset=0, limit=10, sort=PageSort.SIZE, newest_first=False
    )
    assert [m.uid for m in smallest.messages] == [2, 5, 1, 4, 3]
