"""Store contract: append, flags, expunge, copy/move, quotas, resync data, line sizes."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from posteingang.store.hub import Change, ChangeKind
from posteingang.store.interface import Conflict, NotFound, QuotaExceeded, Store
from posteingang.store.model import DELETED, SEEN, FlagOp
from tests.store.conftest import inbox_id, make_account, new_message


async def test_append_assigns_ascending_uids_and_modseqs(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    results = [await store.append(inbox, await new_message(store, b"m%d" % i)) for i in range(5)]
    assert [r.uid for r in results] == [1, 2, 3, 4, 5]
    assert all(a.modseq < b.modseq for a, b in itertools.pairwise(results))
    mailbox = await store.get_mailbox_by_id(inbox)
    assert mailbox is not None
    assert mailbox.uidnext == 6
    assert mailbox.highestmodseq == results[-1].modseq
    assert results[0].uidvalidity == mailbox.uidvalidity
    index = await store.get_index(inbox)
    assert index.uids == [1, 2, 3, 4, 5]
    assert index.modseqs == [r.modseq for r in results]


async def test_message_metadata_round_trips(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    msg = await new_message(store, b"Subject: x\r\n\r\nbody", flags=frozenset({"\\seen", "$Work"}))
    await store.append(inbox, msg)
    (got,) = await store.get_messages(inbox, [1, 99])
    assert got.flags == {SEEN, "$Work"}  # system flags canonicalised, keywords kept
    assert got.internal_date == msg.internal_date
    assert got.size == msg.size and got.blob_id == msg.blob_id
    assert await store.blobs.get(got.blob_id) == b"Subject: x\r\n\r\nbody"
    assert await store.get_parsed(got.blob_id) == msg.parsed
    assert got.email_id and got.thread_id


async def test_append_needs_a_stored_blob(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    msg = await new_message(store)
    await store.blobs.delete(msg.blob_id)
    with pytest.raises(NotFound):
        await store.append(inbox, msg)
    assert (await store.get_index(inbox)).uids == []


async def test_append_many_is_all_or_nothing_and_keeps_imported_uids(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    batch = [await new_message(store, b"a", uid=10), await new_message(store, b"b", uid=20)]
    results = await store.append_many(inbox, batch)
    assert [r.uid for r in results] == [10, 20]
    bad = [await new_message(store, b"c", uid=30), await new_message(store, b"d", uid=5)]
    with pytest.raises(Conflict):
        await store.append_many(inbox, bad)
    assert (await store.get_index(inbox)).uids == [10, 20]
    nxt = await store.append(inbox, await new_message(store, b"e"))
    assert nxt.uid == 21


async def test_flag_operations(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    for i in range(3):
        await store.append(inbox, await new_message(store, b"%d" % i))
    updates = await store.store_flags(inbox, [1, 2], FlagOp.ADD, frozenset({"\\SEEN", "$x"}))
    assert [u.uid for u in updates] == [1, 2]
    assert updates[0].flags == {SEEN, "$x"}
    again = await store.store_flags(inbox, [1, 2], FlagOp.ADD, frozenset({SEEN}))
    assert again == []  # nothing changed, no modseq spent
    removed = await store.store_flags(inbox, [1, 3], FlagOp.REMOVE, frozenset({"$x"}))
    assert [(u.uid, u.flags) for u in removed] == [(1, {SEEN})]
    replaced = await store.store_flags(inbox, [2], FlagOp.SET, frozenset({DELETED}))
    assert replaced[0].flags == {DELETED}
    status = await store.mailbox_status(inbox)
    assert (status.messages, status.unseen, status.deleted) == (3, 2, 1)


async def test_unchanged_since_leaves_newer_messages_alone(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    first = await store.append(inbox, await new_message(store, b"1"))
    await store.append(inbox, await new_message(store, b"2"))
    updates = await store.store_flags(
        inbox, [1, 2], FlagOp.ADD, frozenset({SEEN}), unchanged_since=first.modseq
    )
    assert [u.uid for u in updates] == [1]


async def test_expunge_and_changes_since(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    for i in range(4):
        await store.append(inbox, await new_message(store, b"%d" % i))
    before = (await store.get_mailbox_by_id(inbox)).highestmodseq  # type: ignore[union-attr]
    await store.store_flags(inbox, [2], FlagOp.ADD, frozenset({SEEN}))
    assert await store.expunge(inbox, [3, 1, 99]) == [1, 3]
    assert await store.expunge(inbox, [1]) == []
    changes = await store.changes_since(inbox, before)
    assert [c.uid for c in changes.changed] == [2]
    assert changes.vanished == [1, 3]
    assert (await store.get_index(inbox)).uids == [2, 4]
    # uids are never reused
    assert (await store.append(inbox, await new_message(store, b"new"))).uid == 5


async def test_expunge_deleted_takes_what_has_deleted_at_its_commit(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    for i in range(6):
        await store.append(inbox, await new_message(store, b"%d" % i))
    await store.store_flags(inbox, [1, 2, 4, 5, 6], FlagOp.ADD, frozenset({DELETED, SEEN}))
    await store.store_flags(inbox, [2], FlagOp.REMOVE, frozenset({DELETED}))
    feed = store.hub.subscribe(account_id)
    # not above up_to_uid (a message the session has not seen yet), only among uids
    assert await store.expunge_deleted(inbox, up_to_uid=5, uids=[1, 2, 3, 4]) == [1, 4]
    (change,) = feed.drain()
    assert isinstance(change, Change) and change.kind is ChangeKind.EXPUNGE
    assert change.uids == (1, 4)
    assert await store.expunge_deleted(inbox, up_to_uid=5) == [5]
    assert await store.expunge_deleted(inbox, up_to_uid=5) == []
    assert (await store.get_index(inbox)).uids == [2, 3, 6]
    assert await store.expunge_deleted(inbox, up_to_uid=99) == [6]
    assert [c.uids for c in feed.drain() if isinstance(c, Change)] == [(5,), (6,)]
    with pytest.raises(NotFound):
        await store.expunge_deleted(999_999, up_to_uid=1)


async def test_copy_and_move_keep_bytes_once(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    archive = await store.get_mailbox(account_id, "Archive")
    assert archive is not None
    for i in range(3):
        await store.append(inbox, await new_message(store, b"msg %d" % i, frozenset({"$k"})))
    blobs_before = await store.blobs.list_ids()
    copied = await store.copy(inbox, [1, 3], archive.id)
    assert (copied.source_uids, copied.target_uids) == ([1, 3], [1, 2])
    assert copied.uidvalidity == archive.uidvalidity
    assert await store.blobs.list_ids() == blobs_before  # COPY does not duplicate bytes
    src = await store.get_messages(inbox, [1])
    dst = await store.get_messages(archive.id, [1])
    assert dst[0].blob_id == src[0].blob_id and dst[0].flags == {"$k"}
    assert dst[0].email_id == src[0].email_id  # OBJECTID survives COPY (RFC 8474)
    moved = await store.move(inbox, [2], archive.id)
    assert moved.target_uids == [3]
    assert (await store.get_index(inbox)).uids == [1, 3]
    assert (await store.get_index(archive.id)).uids == [1, 2, 3]
    # the bytes live until the last message using them is gone
    await store.expunge(inbox, [1, 3])
    assert await store.blobs.get(dst[0].blob_id) == b"msg 0"
    assert (await store.check()).clean


async def test_move_into_the_same_mailbox_gives_a_new_uid(store: Store) -> None:
    # Issue 10, item 8: Dovecot performs it and assigns a new UID; so do we.
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    for i in range(2):
        await store.append(inbox, await new_message(store, b"m%d" % i, frozenset({"$k"})))
    (before,) = await store.get_messages(inbox, [1])
    moved = await store.move(inbox, [1], inbox)
    assert (moved.source_uids, moved.target_uids) == ([1], [3])
    index = await store.get_index(inbox)
    assert index.uids == [2, 3]
    (after,) = await store.get_messages(inbox, [3])
    assert after.blob_id == before.blob_id and after.flags == {"$k"}
    assert after.email_id == before.email_id
    changes = await store.changes_since(inbox, moved.modseq - 1)
    assert changes.vanished == [1]
    assert (await store.check()).clean


async def test_quota_is_enforced(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    await store.set_quota(account_id, 100)
    await store.append(inbox, await new_message(store, b"x" * 60))
    with pytest.raises(QuotaExceeded):
        await store.append(inbox, await new_message(store, b"y" * 60))
    with pytest.raises(QuotaExceeded):
        await store.copy(inbox, [1], inbox)
    assert await store.usage(account_id) == 60


async def test_blob_counts_for_resumable_import(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    a = await new_message(store, b"same")
    await store.append(inbox, a)
    await store.append(inbox, a)
    await store.append(inbox, await new_message(store, b"other"))
    counts = await store.blob_counts(inbox)
    assert sorted(counts.values()) == [1, 2]
    assert counts[a.blob_id] == 2


async def test_dedupe_makes_a_retried_delivery_idempotent(store: Store) -> None:
    from dataclasses import replace

    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    msg = replace(await new_message(store, b"retried"), dedupe_seconds=3600)
    first = await store.append(inbox, msg)
    again = await store.append(inbox, msg)
    assert again.uid == first.uid
    assert (await store.get_index(inbox)).uids == [first.uid]
    # without the window (IMAP APPEND, COPY), identical bytes are a second message
    plain = await store.append(inbox, replace(msg, dedupe_seconds=None))
    assert plain.uid != first.uid
    # in a batch, the duplicate is reported and the fresh one stored
    other = replace(await new_message(store, b"fresh"), dedupe_seconds=3600)
    batch = await store.append_many(inbox, [msg, other])
    assert batch[0].uid == plain.uid and batch[1].uid == plain.uid + 1


async def test_dedupe_key_identifies_a_delivery_whose_bytes_differ(store: Store) -> None:
    """LMTP prepends a timestamped Received line, so a retry's bytes differ."""
    from dataclasses import replace

    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    first = replace(await new_message(store, b"Received: t1\r\n\r\nx"), dedupe_seconds=60)
    retry = replace(await new_message(store, b"Received: t2\r\n\r\nx"), dedupe_seconds=60)
    a = await store.append(inbox, replace(first, dedupe_key="k1"))
    b = await store.append(inbox, replace(retry, dedupe_key="k1"))
    c = await store.append(inbox, replace(retry, dedupe_key="k2"))
    assert a.uid == b.uid and c.uid != a.uid
    # once the first copy is expunged, a retry stores again rather than vanishing
    await store.expunge(inbox, [a.uid])
    d = await store.append(inbox, replace(retry, dedupe_key="k1"))
    assert d.uid not in (a.uid, c.uid)


async def test_parse_records_in_one_round_trip(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    a, b = await new_message(store, b"one"), await new_message(store, b"two")
    await store.append_many(inbox, [a, b])
    found = await store.get_parsed_many([a.blob_id, "0" * 64, b.blob_id, a.blob_id])
    assert found == {a.blob_id: a.parsed, b.blob_id: b.parsed}


async def test_small_blobs_travel_with_the_append(store: Store) -> None:
    """NewMessage.data: the bytes are stored by the append itself, atomically with the row."""
    import hashlib
    from dataclasses import replace

    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    raw = b"Subject: inline\r\n\r\n" + bytes(range(256)) * 4
    blob_id = hashlib.sha256(raw).hexdigest()
    template = await new_message(store, b"placeholder")
    msg = replace(template, blob_id=blob_id, size=len(raw), data=raw)
    assert not await store.blobs.exists(blob_id)
    result = await store.append(inbox, msg)
    assert await store.blobs.exists(blob_id)
    assert await store.blobs.get(blob_id) == raw
    assert await store.blobs.read(blob_id, 5, 10) == raw[5:15]
    with store.blobs.open(blob_id) as f:
        assert f.read() == raw
    assert blob_id in await store.blobs.list_ids()
    # copies share it; it lives until the last message using it is gone
    archive = await store.get_mailbox(account_id, "Archive")
    assert archive is not None
    await store.copy(inbox, [result.uid], archive.id)
    await store.expunge(inbox, [result.uid])
    assert await store.blobs.get(blob_id) == raw
    assert (await store.check()).clean


async def test_append_first_picks_the_first_mailbox_that_exists(store: Store) -> None:
    account_id = await make_account(store)
    lists = await store.create_mailbox(account_id, "lists")
    inbox = await inbox_id(store, account_id)
    a = await store.append_first(account_id, ["lists", "INBOX"], await new_message(store, b"a"))
    b = await store.append_first(account_id, ["nope", "inbox"], await new_message(store, b"b"))
    c = await store.append_first(account_id, ["bad//name", "INBOX"], await new_message(store, b"c"))
    assert (a.mailbox_id, b.mailbox_id, c.mailbox_id) == (lists.id, inbox, inbox)
    with pytest.raises(NotFound):
        await store.append_first(account_id, ["nope"], await new_message(store, b"d"))


async def test_append_first_matches_a_name_in_another_ascii_case(store: Store) -> None:
    # alice+Lists@ arrives lower-cased: the detail "lists" finds the mailbox "Lists"
    account_id = await make_account(store)
    lists = await store.create_mailbox(account_id, "Lists")
    exact = await store.create_mailbox(account_id, "work")
    await store.create_mailbox(account_id, "Work")
    a = await store.append_first(account_id, ["lists", "INBOX"], await new_message(store, b"a"))
    b = await store.append_first(account_id, ["work", "INBOX"], await new_message(store, b"b"))
    c = await store.append_first(account_id, ["LISTS", "INBOX"], await new_message(store, b"c"))
    assert (a.mailbox_id, b.mailbox_id, c.mailbox_id) == (lists.id, exact.id, lists.id)


async def test_read_messages_gives_rows_and_small_octets_in_one_read(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    bodies = [b"Subject: %d\r\n\r\n" % i + b"x" * (10 * i) for i in range(1, 41)]
    appended = await store.append_many(
        inbox,
        [
            replace(await new_message(store, body, flags=frozenset({"\\Seen", "$Work"})), data=body)
            for body in bodies
        ],
    )
    uids = [r.uid for r in appended]
    await store.expunge(inbox, [uids[4]])
    # a sparse set (read in several ranges), a gone uid and one that never existed
    wanted = [*uids[:10], uids[20], uids[39], 9999]
    rows = await store.read_messages(inbox, list(reversed(wanted)), 200, budget=1 << 20)
    assert [r.uid for r in rows] == [u for u in wanted if u not in (uids[4], 9999)]
    by_uid = dict(zip(uids, bodies, strict=True))
    for row in rows:
        assert row.size == len(by_uid[row.uid])
        assert row.flags == frozenset({"\\Seen", "$Work"})
        # octets come along up to inline_max; a store may also leave them in a file
        assert row.data in (by_uid[row.uid], None) if row.size <= 200 else row.data is None
        if row.data is None:
            assert await store.blobs.get(row.blob_id) == by_uid[row.uid]
    # both backends keep messages that came with their octets (`NewMessage.data`)
    assert all(r.data is not None for r in rows if r.size <= 200)
    # a budget ends the list early (never before the first message)
    first = await store.read_messages(inbox, uids, 1000, budget=102)
    assert [r.uid for r in first] == uids[:3]  # 24 + 34 + 44 octets; the 4th would pass 102
    assert [r.uid for r in await store.read_messages(inbox, uids[-1:], 1000, budget=1)] == [
        uids[-1]
    ]


async def test_line_sizes_are_kept_with_the_blob_and_survive_copies(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    other = await store.create_mailbox(account_id, "Other")
    with_size = replace(await new_message(store, b"Subject: a\n\nbare LF\n"), line_size=23)
    without = await new_message(store, b"Subject: b\r\n\r\nolder\r\n")
    first, _ = await store.append_many(inbox, [with_size, without])
    # a copy stores no size of its own, and the blob's size stays
    await store.copy(inbox, [first.uid], other.id)
    sizes = await store.line_sizes([with_size.blob_id, without.blob_id, "0" * 64])
    assert sizes == {with_size.blob_id: 23}  # unknown: stored without one, or no such blob
    await store.expunge(inbox, [first.uid])
    assert await store.line_sizes([with_size.blob_id]) == {with_size.blob_id: 23}
