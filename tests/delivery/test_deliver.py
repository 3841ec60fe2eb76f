"""Local delivery: recipient resolution, plus-addressing, the parse-once record."""

from __future__ import annotations

from pathlib import Path

import pytest

from posteingang.delivery.deliver import UnknownRecipient, deliver, resolve_recipient
from posteingang.delivery.ingest import prepare_file
from posteingang.mime import decode_parsed
from posteingang.mime.octets import crlf_size
from posteingang.store.interface import Store
from tests.store.conftest import make_account

MESSAGE = (
    b"From: Bob <bob@example.org>\r\nTo: alice@example.test\r\nSubject: Hello\r\n"
    b"Message-ID: <1@example.org>\r\n\r\nHi Alice!\r\n"
)


async def test_delivery_stores_bytes_exactly_and_parses_once(store: Store) -> None:
    alice = await make_account(store)
    (result,) = await deliver(store, "Alice@Example.Test", MESSAGE)
    inbox = await store.get_mailbox(alice, "INBOX")
    assert inbox is not None and result.mailbox_id == inbox.id
    (msg,) = await store.get_messages(inbox.id, [result.uid])
    assert await store.blobs.get(msg.blob_id) == MESSAGE
    parsed = decode_parsed(await store.get_parsed(msg.blob_id))
    assert parsed.subject == "Hello"
    assert parsed.preview.startswith("Hi Alice!")


async def test_plus_addressing_picks_existing_mailbox_else_inbox(store: Store) -> None:
    alice = await make_account(store)
    lists = await store.create_mailbox(alice, "lists")
    (r1,) = await deliver(store, "alice+lists@example.test", MESSAGE)
    (r2,) = await deliver(store, "alice+nothing@example.test", MESSAGE)
    inbox = await store.get_mailbox(alice, "INBOX")
    assert r1.mailbox_id == lists.id
    assert inbox is not None and r2.mailbox_id == inbox.id
    # another delimiter is configurable
    recipient = await resolve_recipient(store, "alice-lists@example.test", "-")
    assert recipient.detail == "lists"


async def test_aliases_fan_out_and_unknown_users_fail(store: Store) -> None:
    await make_account(store, "alice@example.test")
    await make_account(store, "bob@example.test")
    await store.add_alias("team@example.test", "alice@example.test")
    await store.add_alias("team@example.test", "bob@example.test")
    results = await deliver(store, "team@example.test", MESSAGE)
    assert len(results) == 2 and results[0].mailbox_id != results[1].mailbox_id
    with pytest.raises(UnknownRecipient):
        await deliver(store, "nobody@example.test", MESSAGE)
    with pytest.raises(UnknownRecipient):
        await deliver(store, "alice@elsewhere.test", MESSAGE)


async def test_zero_byte_and_malformed_messages_are_stored(store: Store) -> None:
    alice = await make_account(store)
    for raw in [b"", b"\xff\xfe garbage without headers", b"Subject: =?bad?=\n\n\x00\x01"]:
        (result,) = await deliver(store, "alice@example.test", raw)
        (msg,) = await store.get_messages(result.mailbox_id, [result.uid])
        assert await store.blobs.get(msg.blob_id) == raw
    assert (await store.mailbox_status(result.mailbox_id)).messages == 3
    assert alice


def test_unix_line_ends_become_crlf_and_wire_form_stays_exact() -> None:
    from posteingang.delivery.ingest import unix_to_crlf

    assert unix_to_crlf(b"Subject: x\n\nbody\n") == b"Subject: x\r\n\r\nbody\r\n"
    assert unix_to_crlf(b"Subject: x\r\n\r\nbody\r\n") == b"Subject: x\r\n\r\nbody\r\n"
    mixed = b"Subject: x\r\n\nbare\n"
    assert unix_to_crlf(mixed) == mixed  # malformed: stored byte-exact
    assert unix_to_crlf(b"") == b""


async def test_the_pop3_size_is_stored_with_the_message(store: Store, tmp_path: Path) -> None:
    await make_account(store, "alice@example.test")
    small = b"Subject: bare LF\n\nline one\nline two"  # bare LFs, no final line end
    big = b"Subject: big\r\n\r\n" + b"x" * 200 + b"\n" + b"y\r\n" * 60_000  # in a file
    path = tmp_path / "big.eml"
    path.write_bytes(big)
    await deliver(store, "alice@example.test", small)
    account = await store.get_account("alice@example.test")
    assert account is not None
    inbox = await store.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    await store.append(inbox.id, await prepare_file(store, str(path)))
    index = await store.get_index(inbox.id)
    messages = await store.get_messages(inbox.id, index.uids)
    sizes = await store.line_sizes([m.blob_id for m in messages])
    assert [sizes[m.blob_id] for m in messages] == [crlf_size(small), crlf_size(big)]
    assert crlf_size(small) == len(small) + 3 + 2  # three LFs become CRLF, a CRLF is added
