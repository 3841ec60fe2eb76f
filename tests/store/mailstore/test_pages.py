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


def _mail(sender: str, subject: str, date: str | None) -> bytes:
    head = f"From: {sender}\r\nSubject: {subject}\r\n"
    if date:
        head += f"Date: {date}\r\n"
    return (head + "\r\nbody\r\n").encode()


# uid: (From, Subject, Date)
_SORTABLE = [
    ("Zoe <z@example.org>", "Re: apples", "Mon, 02 Nov 2026 09:00:00 +0000"),
    ("adam@example.org", "Bananas", "Mon, 02 Nov 2026 08:00:00 -0300"),  # 11:00 UTC
    ("=?utf-8?q?M=C3=BCller?= <m@example.de>", "=?utf-8?q?=C3=84pfel?=", None),
    ("Carl <c@example.org>", "AW: [list] cherries", "Sun, 01 Nov 2026 23:00:00 +0000"),
    ("bert <b@example.org>", "apples", "Tue, 03 Nov 2026 10:00:00 +0100"),
]


async def _sortable_inbox(store: Store) -> int:
    from datetime import UTC, datetime

    from posteingang.mime import encode_parsed, parse_message
    from posteingang.store.interface import NewMessage

    inbox = await inbox_id(store, await make_account(store))
    for n, (sender, subject, date) in enumerate(_SORTABLE):
        raw = _mail(sender, subject, date)
        await store.append(
            inbox,
            NewMessage(
                blob_id=await store.blobs.put(raw),
                size=len(raw),
                parsed=encode_parsed(parse_message(raw)),
                flags=frozenset(),
                # the Date-less message arrived last of all
                internal_date=datetime(2026, 11, 10 if date is None else 5, n, tzinfo=UTC),
            ),
        )
    return inbox


async def _uids(store: Store, inbox: int, sort: object, descending: bool = False) -> list[int]:
    page = await store.message_page(
        inbox,
        offset=0,
        limit=10,
        sort=sort,
        newest_first=descending,  # type: ignore[arg-type]
    )
    return [m.uid for m in page.messages]


async def test_pages_by_date_sender_and_subject(store: Store) -> None:
    from posteingang.store.model import PageSort

    inbox = await _sortable_inbox(store)
    # Date header in UTC; no Date header: the arrival time
    assert await _uids(store, inbox, PageSort.DATE) == [4, 1, 2, 5, 3]
    assert await _uids(store, inbox, PageSort.DATE, descending=True) == [3, 5, 2, 1, 4]
    # display name else address, case and accents folded: adam, bert, Carl, Müller, Zoe
    assert await _uids(store, inbox, PageSort.FROM) == [2, 5, 4, 3, 1]
    assert await _uids(store, inbox, PageSort.FROM, descending=True) == [1, 3, 4, 5, 2]
    # base subject (Re:/AW:/[list] stripped), ties by uid: apfel, apples(1, 5), bananas, cherries
    assert await _uids(store, inbox, PageSort.SUBJECT) == [3, 1, 5, 2, 4]
    assert await _uids(store, inbox, PageSort.SUBJECT, descending=True) == [4, 2, 5, 1, 3]


async def test_sorted_pages_filter_and_follow_copies_and_moves(store: Store) -> None:
    from posteingang.store.model import PageSort

    inbox = await _sortable_inbox(store)
    await store.store_flags(inbox, [1, 3], FlagOp.ADD, frozenset({SEEN}))
    unseen = await store.message_page(
        inbox, offset=0, limit=2, filter=PageFilter.UNSEEN, sort=PageSort.FROM, newest_first=False
    )
    assert unseen.total == 3 and [m.uid for m in unseen.messages] == [2, 5]
    mailbox = await store.get_mailbox_by_id(inbox)
    assert mailbox is not None
    archive = await store.get_mailbox(mailbox.account_id, "Archive")
    assert archive is not None
    await store.copy(inbox, [1, 2], archive.id)  # -> 1, 2
    await store.move(inbox, [4, 5], archive.id)  # -> 3, 4
    assert await _uids(store, archive.id, PageSort.SUBJECT) == [1, 4, 2, 3]
    assert await _uids(store, archive.id, PageSort.DATE) == [3, 1, 2, 4]
    assert await _uids(store, archive.id, PageSort.FROM) == [2, 4, 3, 1]


async def test_sort_keys_handed_in_with_the_message_are_used(store: Store) -> None:
    # Delivery computes the keys with its parse (`NewMessage.sort_keys`): the append
    # takes them as they are and does not decode the record again (these records are
    # opaque bytes, which would all sort as "").
    from dataclasses import replace

    from posteingang.store.model import PageSort
    from posteingang.store.sortkeys import SortKeys

    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    for subject in ("cherries", "apples", "bananas"):
        message = await new_message(store, f"Subject: {subject}\r\n\r\nx\r\n".encode())
        await store.append(inbox, replace(message, sort_keys=SortKeys(None, "", subject)))
    assert await _uids(store, inbox, PageSort.SUBJECT) == [2, 3, 1]
