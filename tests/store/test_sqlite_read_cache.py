"""The loop reader's kept answers (store/sqlite/access.py `_read_cached`) are never stale.

Two `SqliteStore`s on one database stand for two processes (`[imap] processes`):
each lookup is asked once so its answer is kept, the other store commits, and the
next lookup — with no change feed delivered in between — must show the commit.
"""

from __future__ import annotations

from pathlib import Path

from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.sqlite.store import SqliteStore
from tests.store.conftest import inbox_id, make_account, new_message


async def test_lookups_show_another_process_commit_at_once(tmp_path: Path) -> None:
    db, blobs = tmp_path / "s.sqlite3", tmp_path / "b"
    reader = await SqliteStore.open(db, FsBlobStore(blobs))
    writer = await SqliteStore.open(db, FsBlobStore(blobs))
    try:
        account = await make_account(writer)
        inbox = await inbox_id(writer, account)
        # Asked once: kept.
        assert (await reader.mailbox_status(inbox)).messages == 0
        assert await reader.get_mailbox(account, "Later") is None
        names = [m.name for m in await reader.list_mailboxes(account)]
        subscribed = await reader.list_subscriptions(account)
        assert "Later" not in subscribed

        await writer.append(inbox, await new_message(writer, flags=frozenset({"\\Seen"})))
        status = await reader.mailbox_status(inbox)
        assert (status.messages, status.unseen, status.mailbox.uidnext) == (1, 0, 2)

        await writer.create_mailbox(account, "Later")
        assert await reader.get_mailbox(account, "Later") is not None
        assert [m.name for m in await reader.list_mailboxes(account)] == sorted([*names, "Later"])

        await writer.set_subscribed(account, "Later", True)
        assert await reader.list_subscriptions(account) == sorted([*subscribed, "Later"])

        await writer.delete_mailbox(account, "Later")
        assert await reader.get_mailbox(account, "Later") is None
    finally:
        await reader.close()
        await writer.close()


async def test_a_returned_list_is_the_callers_own(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "s.sqlite3", FsBlobStore(tmp_path / "b"))
    try:
        account = await make_account(store)
        first = await store.list_mailboxes(account)
        first.clear()
        assert await store.list_mailboxes(account) != []
    finally:
        await store.close()
