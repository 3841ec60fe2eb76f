"""Store contract, the whole store: `check` finds orphaned and missing blobs, and a
deduplicated delivery retry leaves no orphan (it needs every part and the blobs)."""

from __future__ import annotations

from dataclasses import replace

from posteingang.store.interface import Store
from tests.store.conftest import inbox_id, make_account, new_message


async def test_check_finds_orphans_and_missing_blobs(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    await store.append(inbox, await new_message(store, b"kept"))
    orphan = await store.blobs.put(b"never referenced")
    report = await store.check()
    assert report.clean and report.orphaned_blobs == [orphan]
    repaired = await store.check(repair=True)
    assert repaired.repaired and not await store.blobs.exists(orphan)
    (msg,) = await store.get_messages(inbox, [1])
    await store.blobs.delete(msg.blob_id)
    report = await store.check()
    assert not report.clean and report.missing_blobs == [msg.blob_id]


async def test_a_deduplicated_retry_leaves_no_orphaned_blob(store: Store) -> None:
    # Issue 10, item 11: the retry's own blob (its bytes differ in the Received
    # line) was left on disk, which `check` reported as orphaned.
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    first = await new_message(store, b"Received: t1\r\n\r\n" + b"x" * 1000)
    retry = await new_message(store, b"Received: t2\r\n\r\n" + b"x" * 1000)
    stored = await store.append(inbox, replace(first, dedupe_seconds=60, dedupe_key="k"))
    again = await store.append(inbox, replace(retry, dedupe_seconds=60, dedupe_key="k"))
    assert again.uid == stored.uid
    report = await store.check()
    assert report.clean and report.orphaned_blobs == []
    # The same prepared message may still go to another mailbox (an alias with
    # several target accounts): its bytes are there for it.
    archive = await store.get_mailbox(account_id, "Archive")
    assert archive is not None
    await store.append(archive.id, replace(retry, dedupe_seconds=60, dedupe_key="k"))
    (got,) = await store.get_messages(archive.id, [1])
    assert await store.blobs.get(got.blob_id) == b"Received: t2\r\n\r\n" + b"x" * 1000
    assert (await store.check()).orphaned_blobs == []
