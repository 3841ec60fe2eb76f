"""Store contract: thread ids (RFC 8474 §5.2 THREADID, the webmail's conversation view).

A message joins the thread of any message in the same account, in any mailbox,
that it names in References/In-Reply-To or that names it (store/threads.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from posteingang.delivery.ingest import prepare_file, prepare_message
from posteingang.store.interface import NewMessage, Store
from posteingang.store.model import Message
from tests.store.conftest import inbox_id, make_account, new_message


async def _msg(store: Store, body: bytes, message_id: str | None, *parents: str) -> NewMessage:
    return replace(await new_message(store, body), message_id=message_id, parent_ids=parents)


def _later(message: NewMessage, hours: int) -> datetime:
    return message.internal_date + timedelta(hours=hours)


async def _stored(store: Store, mailbox_id: int, uid: int) -> Message:
    (found,) = await store.get_messages(mailbox_id, [uid])
    return found


async def _mailbox(store: Store, account_id: int, name: str) -> int:
    box = await store.get_mailbox(account_id, name)
    assert box is not None
    return box.id


async def test_a_reply_in_sent_joins_its_parents_thread_in_inbox(store: Store) -> None:
    account_id = await make_account(store)
    inbox, sent = await inbox_id(store, account_id), await _mailbox(store, account_id, "Sent")
    first = await store.append(inbox, await _msg(store, b"question", "q@a.test"))
    answer = await _msg(store, b"answer", "r@b.test", "q@a.test")
    thanks = await _msg(store, b"thanks", "t@a.test", "q@a.test", "r@b.test")
    # in date order, whatever order they were stored in
    again = await store.append(inbox, replace(thanks, internal_date=_later(thanks, 2)))
    reply = await store.append(sent, replace(answer, internal_date=_later(answer, 1)))
    parent = await _stored(store, inbox, first.uid)
    assert (await _stored(store, sent, reply.uid)).thread_id == parent.thread_id
    assert (await _stored(store, inbox, again.uid)).thread_id == parent.thread_id
    conversation = await store.thread_messages(account_id, parent.thread_id)
    assert [(m.mailbox_id, m.uid) for m in conversation] == [
        (inbox, first.uid),
        (sent, reply.uid),
        (inbox, again.uid),
    ]


async def test_in_reply_to_alone_is_enough(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    await store.append(inbox, await _msg(store, b"one", "one@x"))
    await store.append(inbox, await _msg(store, b"two", "two@x", "one@x"))
    one, two = await store.get_messages(inbox, [1, 2])
    assert one.thread_id == two.thread_id


async def test_unrelated_messages_get_different_threads(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    await store.append(inbox, await _msg(store, b"a", "a@x"))
    await store.append(inbox, await _msg(store, b"b", "b@x", "elsewhere@x"))
    await store.append(inbox, await _msg(store, b"c", None))
    await store.append(inbox, await _msg(store, b"d", None))
    threads = [m.thread_id for m in await store.get_messages(inbox, [1, 2, 3, 4])]
    assert len(set(threads)) == 4
    for thread_id in threads:
        # RFC 8474 §5.2: an objectid, 1-255 of A-Za-z0-9_-
        assert 1 <= len(thread_id) <= 255 and thread_id.replace("_", "").isalnum()


async def test_a_message_without_ids_gets_its_own_thread(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    await store.append(inbox, await new_message(store, b"plain one"))
    await store.append(inbox, await new_message(store, b"plain two"))
    one, two = await store.get_messages(inbox, [1, 2])
    assert one.thread_id != two.thread_id
    assert [m.uid for m in await store.thread_messages(account_id, one.thread_id)] == [1]


async def test_a_parent_arriving_after_its_reply_adopts_the_replys_thread(store: Store) -> None:
    account_id = await make_account(store)
    inbox, sent = await inbox_id(store, account_id), await _mailbox(store, account_id, "Sent")
    await store.append(inbox, await _msg(store, b"reply", "r@x", "p@x"))
    await store.append(sent, await _msg(store, b"parent", "p@x"))
    # a sibling that names only the parent finds the same thread too
    await store.append(inbox, await _msg(store, b"sibling", "s@x", "p@x"))
    reply = await _stored(store, inbox, 1)
    assert (await _stored(store, sent, 1)).thread_id == reply.thread_id
    assert (await _stored(store, inbox, 2)).thread_id == reply.thread_id
    assert len(await store.thread_messages(account_id, reply.thread_id)) == 3


async def test_the_earliest_known_ancestor_decides(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    await store.append(inbox, await _msg(store, b"root", "root@x"))
    await store.append(inbox, await _msg(store, b"stray", "stray@x", "mid@x"))
    # names both: the root (earlier in References) wins; stored threads never change
    await store.append(inbox, await _msg(store, b"late", "late@x", "root@x", "mid@x"))
    root, stray, late = await store.get_messages(inbox, [1, 2, 3])
    assert late.thread_id == root.thread_id
    assert stray.thread_id != root.thread_id


async def test_copy_and_move_keep_the_thread_id(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    archive = await _mailbox(store, account_id, "Archive")
    trash = await _mailbox(store, account_id, "Trash")
    await store.append(inbox, await _msg(store, b"root", "root@x"))
    await store.append(inbox, await _msg(store, b"reply", "reply@x", "root@x"))
    thread_id = (await _stored(store, inbox, 1)).thread_id
    copied = await store.copy(inbox, [1], archive)
    moved = await store.move(inbox, [2], trash)
    assert (await _stored(store, archive, copied.target_uids[0])).thread_id == thread_id
    assert (await _stored(store, trash, moved.target_uids[0])).thread_id == thread_id
    places = {(m.mailbox_id, m.uid) for m in await store.thread_messages(account_id, thread_id)}
    assert places == {(inbox, 1), (archive, 1), (trash, 1)}
    assert await store.thread_size(account_id, thread_id) == 3  # the copy counts too


async def test_a_late_reply_to_an_expunged_message_still_finds_its_thread(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    await store.append(inbox, await _msg(store, b"root", "root@x"))
    await store.append(inbox, await _msg(store, b"kept", "kept@x", "root@x"))
    await store.expunge(inbox, [1])
    await store.append(inbox, await _msg(store, b"late", "late@x", "root@x"))
    kept, late = await store.get_messages(inbox, [2, 3])
    assert late.thread_id == kept.thread_id


async def test_threads_stay_within_their_account(store: Store) -> None:
    alice = await make_account(store, "alice@example.test")
    bob = await make_account(store, "bob@example.test")
    await store.append(await inbox_id(store, alice), await _msg(store, b"a", "shared@x"))
    await store.append(await inbox_id(store, bob), await _msg(store, b"b", "reply@x", "shared@x"))
    (mine,) = await store.get_messages(await inbox_id(store, alice), [1])
    (theirs,) = await store.get_messages(await inbox_id(store, bob), [1])
    assert mine.thread_id != theirs.thread_id
    assert await store.thread_messages(bob, mine.thread_id) == []
    assert await store.thread_messages(alice, "Tunknown") == []
    assert await store.thread_size(alice, mine.thread_id) == 1
    assert await store.thread_size(bob, mine.thread_id) == 0
    assert await store.thread_size(alice, "Tunknown") == 0


async def test_one_batch_threads_its_own_messages(store: Store) -> None:
    # import appends a whole mailbox in one commit: a reply sees its parent in the batch
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    batch = [
        await _msg(store, b"root", "root@x"),
        await _msg(store, b"reply", "reply@x", "root@x"),
        await _msg(store, b"other", "other@x"),
    ]
    await store.append_many(inbox, batch)
    root, reply, other = await store.get_messages(inbox, [1, 2, 3])
    assert reply.thread_id == root.thread_id != other.thread_id


async def test_only_the_nearest_references_are_considered(store: Store) -> None:
    # bounded work per append: a References chain of 100 ids is cut to the last 20
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    await store.append(inbox, await _msg(store, b"old root", "id0@x"))
    chain = [f"id{i}@x" for i in range(100)]
    await store.append(inbox, await _msg(store, b"deep", "deep@x", *chain))
    await store.append(inbox, await _msg(store, b"near", "id95@x"))
    root, deep, near = await store.get_messages(inbox, [1, 2, 3])
    assert deep.thread_id != root.thread_id
    assert near.thread_id == deep.thread_id


async def test_delivered_mail_threads_by_its_headers(store: Store) -> None:
    # the ids come from the parse record through the one way in (delivery.ingest)
    account_id = await make_account(store)
    inbox, sent = await inbox_id(store, account_id), await _mailbox(store, account_id, "Sent")
    parent = b"Message-ID: <p1@example.test>\r\nSubject: plan\r\n\r\nshall we?\r\n"
    reply = (
        b"Message-ID: <r1@example.test>\r\nIn-Reply-To: <p1@example.test>\r\n"
        b"References: <p1@example.test>\r\nSubject: Re: plan\r\n\r\nyes\r\n"
    )
    loose = b"Message-ID: <x1@example.test>\r\nSubject: other\r\n\r\nhm\r\n"
    await store.append(inbox, await prepare_message(store, parent))
    await store.append(sent, await prepare_message(store, reply))
    await store.append(inbox, await prepare_message(store, loose))
    first, other = await store.get_messages(inbox, [1, 2])
    (answer,) = await store.get_messages(sent, [1])
    assert answer.thread_id == first.thread_id != other.thread_id


async def test_a_large_spooled_reply_threads_too(store: Store, tmp_path: Path) -> None:
    # DATA above the inline limit is parsed from its file (`prepare_file`)
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    parent = b"Message-ID: <big-p@example.test>\r\nSubject: s\r\n\r\nhi\r\n"
    await store.append(inbox, await prepare_message(store, parent))
    spooled = tmp_path / "data.eml"
    spooled.write_bytes(
        b"Message-ID: <big-r@example.test>\r\nReferences: <big-p@example.test>\r\n"
        b"Subject: Re: s\r\n\r\n" + (b"x" * 76 + b"\r\n") * 4000
    )
    assert spooled.stat().st_size > store.blobs.inline_limit
    await store.append(inbox, await prepare_file(store, str(spooled)))
    first, second = await store.get_messages(inbox, [1, 2])
    assert second.thread_id == first.thread_id


async def test_thread_size_counts_what_thread_messages_lists(store: Store) -> None:
    account_id = await make_account(store)
    inbox = await inbox_id(store, account_id)
    await store.append(inbox, await _msg(store, b"root", "root@x"))
    await store.append(inbox, await _msg(store, b"one", "one@x", "root@x"))
    await store.append(inbox, await _msg(store, b"two", "two@x", "one@x"))
    await store.append(inbox, await _msg(store, b"apart", "apart@x"))
    thread_id = (await _stored(store, inbox, 1)).thread_id
    assert await store.thread_size(account_id, thread_id) == 3
    await store.expunge(inbox, [2])
    listed = await store.thread_messages(account_id, thread_id)
    assert await store.thread_size(account_id, thread_id) == len(listed) == 2
