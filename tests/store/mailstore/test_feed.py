"""Store contract: the change feed, and invariants under concurrent writers and readers."""

from __future__ import annotations

import asyncio
import random

from posteingang.store.hub import Change, ChangeKind, Resync
from posteingang.store.interface import Store
from posteingang.store.model import FlagOp
from tests.store.conftest import inbox_id, make_account, new_message


async def test_every_mutation_is_published_once_after_commit(store: Store) -> None:
    account_id = await make_account(store)
    other = await make_account(store, "bob@example.test")
    inbox = await inbox_id(store, account_id)
    sub = store.hub.subscribe(account_id, await store.account_modseq(account_id))
    bob_sub = store.hub.subscribe(other, await store.account_modseq(other))

    appended = await store.append(inbox, await new_message(store))
    # the change is already there when the append returns: published after commit
    events = sub.drain()
    assert events == [Change(account_id, inbox, appended.modseq, ChangeKind.APPEND, (1,))]
    assert (await store.get_index(inbox)).uids == [1]

    await store.store_flags(inbox, [1], FlagOp.ADD, frozenset({"\\Seen"}))
    await store.create_mailbox(account_id, "New")
    await store.rename_mailbox(account_id, "New", "Newer")
    archive = await store.get_mailbox(account_id, "Archive")
    assert archive is not None
    await store.move(inbox, [1], archive.id)
    kinds = [e.kind for e in sub.drain() if isinstance(e, Change)]
    assert kinds == [
        ChangeKind.FLAGS,
        ChangeKind.MAILBOX_CREATE,
        ChangeKind.MAILBOX_RENAME,
        ChangeKind.APPEND,
        ChangeKind.EXPUNGE,
    ]
    assert bob_sub.drain() == []  # other accounts are not woken
    sub.close()
    bob_sub.close()


async def test_slow_subscriber_gets_one_resync_from_its_last_modseq(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    store.hub.queue_limit = 5
    start = await store.account_modseq(account_id)
    sub = store.hub.subscribe(account_id, start)
    first = await store.append(inbox, await new_message(store, b"first"))
    assert sub.get_nowait() == Change(account_id, inbox, first.modseq, ChangeKind.APPEND, (1,))
    for i in range(20):
        await store.append(inbox, await new_message(store, b"%d" % i))
    events = sub.drain()
    assert events == [Resync(account_id, first.modseq)]
    changes = await store.changes_since(inbox, first.modseq)
    assert [c.uid for c in changes.changed] == list(range(2, 22))
    sub.close()
    assert store.hub.subscriber_count(account_id) == 0


async def test_subscriber_waits_for_changes(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    sub = store.hub.subscribe(account_id, await store.account_modseq(account_id))
    waiter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    await store.append(inbox, await new_message(store))
    event = await asyncio.wait_for(waiter, 5)
    assert isinstance(event, Change) and event.kind is ChangeKind.APPEND
    sub.close()


async def test_concurrent_writers_and_readers_keep_invariants(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    sub = store.hub.subscribe(account_id, await store.account_modseq(account_id))
    writers, per_writer = 6, 15
    rng = random.Random(7)

    async def appender(n: int) -> list[int]:
        uids = []
        for i in range(per_writer):
            result = await store.append(inbox, await new_message(store, b"w%d-%d" % (n, i)))
            uids.append(result.uid)
            if rng.random() < 0.3:
                await asyncio.sleep(0)
        return uids

    async def flagger(keyword: str) -> None:
        # Each flagger adds its own keyword to whatever exists; no update may be lost.
        for _ in range(10):
            index = await store.get_index(inbox)
            if index.uids:
                await store.store_flags(inbox, index.uids, FlagOp.ADD, frozenset({keyword}))
            await asyncio.sleep(0)

    async def reader() -> None:
        last_uidnext = 0
        for _ in range(20):
            index = await store.get_index(inbox)
            assert index.uids == sorted(set(index.uids))
            assert all(u < index.mailbox.uidnext for u in index.uids)
            assert index.mailbox.uidnext >= last_uidnext
            last_uidnext = index.mailbox.uidnext
            await asyncio.sleep(0)

    results = await asyncio.gather(
        *(appender(n) for n in range(writers)),
        *(flagger(f"$k{n}") for n in range(3)),
        *(reader() for _ in range(3)),
    )
    all_uids = [u for r in results[:writers] for u in r]  # type: ignore[union-attr]
    assert len(all_uids) == len(set(all_uids)) == writers * per_writer
    for uids in results[:writers]:
        assert uids == sorted(uids)  # type: ignore[type-var]
    # a final pass of every flagger, then no lost update anywhere
    index = await store.get_index(inbox)
    for n in range(3):
        await store.store_flags(inbox, index.uids, FlagOp.ADD, frozenset({f"$k{n}"}))
    index = await store.get_index(inbox)
    assert all({"$k0", "$k1", "$k2"} <= f for f in index.flags)
    mailbox = index.mailbox
    assert max(index.modseqs) <= mailbox.highestmodseq
    assert max(index.uids) < mailbox.uidnext
    # the feed saw every change, modseqs strictly increasing
    modseqs = [e.modseq for e in sub.drain() if isinstance(e, Change)]
    assert modseqs == sorted(set(modseqs))
    assert (await store.check()).clean
    sub.close()


async def test_credentials_changes_never_reach_mailbox_subscribers(store: Store) -> None:
    alice = await make_account(store)
    sub = store.hub.subscribe(alice, await store.account_modseq(alice))
    await store.set_password(alice, "{PLAIN}new")
    assert not sub.pending()
    sub.close()
