"""Scripted conversations: every TRANSACTION command and its edge cases (RFC 1939 §5-§7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from posteingang.delivery.deliver import deliver
from posteingang.pop3.policy import Pop3Settings
from posteingang.store.model import SEEN
from posteingang.store.sqlite.store import SqliteStore
from tests.pop3.harness import (
    ALICE,
    add_account,
    deliver_many,
    make_services,
    open_client,
    store_with_account,
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with store_with_account(tmp_path) as s:
        yield s


async def test_login_stat_list_uidl_quit(store: SqliteStore) -> None:
    raws = await deliver_many(store, 3)
    services = make_services(store)
    async with open_client(services) as c:
        reply = await c.login()
        total = sum(len(r) for r in raws)
        assert reply == f"+OK maildrop has 3 messages ({total} octets)"
        assert await c.cmd("STAT") == f"+OK 3 {total}"
        assert (await c.cmd("LIST")).startswith("+OK 3 messages")
        assert await c.multiline() == [f"{i} {len(r)}" for i, r in enumerate(raws, 1)]
        assert await c.cmd("LIST 2") == f"+OK 2 {len(raws[1])}"
        assert await c.cmd("UIDL") == "+OK Unique-ID listing follows"
        uidls = await c.multiline()
        assert len({u.split()[1] for u in uidls}) == 3
        assert await c.cmd("UIDL 3") == f"+OK {uidls[2]}"
        assert await c.cmd("NOOP") == "+OK"
        assert (await c.cmd("QUIT")).startswith("+OK")
        await c.finished()


async def test_retr_returns_delivered_bytes_and_sets_seen(store: SqliteStore) -> None:
    raw = b"Subject: dots\n\n.leading dot\n..two\nlast line without newline"
    await deliver(store, ALICE, raw)
    services = make_services(store)
    async with open_client(services) as c:
        await c.login()
        size = (await c.cmd("LIST 1")).split()[2]
        expected = raw.replace(b"\n", b"\r\n") + b"\r\n"
        assert int(size) == len(expected)  # RFC 1939 §11: CRLF counted, no stuffing
        assert await c.cmd("RETR 1") == f"+OK {size} octets"
        raw_body = await c.raw_multiline()
        assert b"\r\n..leading dot\r\n...two\r\n" in raw_body
        assert (await c.cmd("QUIT")).startswith("+OK")
    inbox = await store.get_mailbox(1, "INBOX")
    assert inbox is not None
    index = await store.get_index(inbox.id)
    assert SEEN in index.flags[0]


async def test_retr_body_matches_delivery(store: SqliteStore) -> None:
    raws = await deliver_many(store, 2)
    async with open_client(make_services(store)) as c:
        await c.login()
        for i, raw in enumerate(raws, 1):
            assert (await c.cmd(f"RETR {i}")).startswith("+OK")
            assert await c.message() == raw


async def test_seen_not_set_when_disabled(store: SqliteStore) -> None:
    await deliver_many(store, 1)
    services = make_services(store, Pop3Settings(seen_on_retr=False))
    async with open_client(services) as c:
        await c.login()
        await c.cmd("RETR 1")
        await c.message()
        await c.cmd("QUIT")
    inbox = await store.get_mailbox(1, "INBOX")
    assert inbox is not None
    assert SEEN not in (await store.get_index(inbox.id)).flags[0]


async def test_top_honours_header_body_boundary(store: SqliteStore) -> None:
    raw = b"Subject: t\r\nX-A: 1\r\n\r\nline1\r\nline2\r\n.line3\r\nline4\r\n"
    await deliver(store, ALICE, raw)
    async with open_client(make_services(store)) as c:
        await c.login()
        assert (await c.cmd("TOP 1 0")).startswith("+OK")
        assert await c.message() == b"Subject: t\r\nX-A: 1\r\n\r\n"
        await c.cmd("TOP 1 2")
        assert await c.message() == b"Subject: t\r\nX-A: 1\r\n\r\nline1\r\nline2\r\n"
        await c.cmd("TOP 1 3")
        assert (await c.message()).endswith(b"line2\r\n.line3\r\n")
        await c.cmd("TOP 1 100")
        assert await c.message() == raw


async def test_top_of_message_without_body(store: SqliteStore) -> None:
    raw = b"Subject: no body\r\nX-B: 2\r\n"
    await deliver(store, ALICE, raw)
    async with open_client(make_services(store)) as c:
        await c.login()
        await c.cmd("TOP 1 5")
        assert await c.message() == raw


async def test_top_does_not_set_seen(store: SqliteStore) -> None:
    await deliver_many(store, 1)
    async with open_client(make_services(store)) as c:
        await c.login()
        await c.cmd("TOP 1 0")
        await c.message()
        await c.cmd("QUIT")
    inbox = await store.get_mailbox(1, "INBOX")
    assert inbox is not None
    assert SEEN not in (await store.get_index(inbox.id)).flags[0]


async def test_no_such_message_and_deleted_messages(store: SqliteStore) -> None:
    await deliver_many(store, 2)
    async with open_client(make_services(store)) as c:
        await c.login()
        for command in ("LIST 3", "UIDL 3", "RETR 3", "TOP 3 1", "DELE 3", "RETR 99999"):
            assert await c.cmd(command) == "-ERR no such message", command
        assert await c.cmd("DELE 1") == "+OK message 1 deleted"
        for command in ("LIST 1", "UIDL 1", "RETR 1", "TOP 1 0", "DELE 1"):
            assert await c.cmd(command) == "-ERR message 1 already deleted", command
        assert (await c.cmd("STAT")).startswith("+OK 1 ")
        await c.cmd("LIST")
        assert [ln.split()[0] for ln in await c.multiline()] == ["2"]
        await c.cmd("UIDL")
        assert [ln.split()[0] for ln in await c.multiline()] == ["2"]
        assert (await c.cmd("RSET")).startswith("+OK maildrop has 2 messages")
        assert (await c.cmd("STAT")).startswith("+OK 2 ")
        assert (await c.cmd("RETR 1")).startswith("+OK")
        await c.message()


async def test_empty_maildrop(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        assert await c.login() == "+OK maildrop has 0 messages (0 octets)"
        assert await c.cmd("STAT") == "+OK 0 0"
        assert await c.cmd("LIST") == "+OK 0 messages (0 octets)"
        assert await c.multiline() == []
        assert await c.cmd("UIDL") == "+OK Unique-ID listing follows"
        assert await c.multiline() == []
        assert await c.cmd("RETR 1") == "-ERR no such message"


async def test_snapshot_ignores_new_mail_until_next_login(store: SqliteStore) -> None:
    await deliver_many(store, 1)
    services = make_services(store)
    async with open_client(services) as c:
        await c.login()
        await deliver(store, ALICE, b"Subject: late\r\n\r\nlate\r\n")
        assert (await c.cmd("STAT")).startswith("+OK 1 ")
        await c.cmd("QUIT")
    async with open_client(services) as c:
        assert (await c.login()).startswith("+OK maildrop has 2 messages")


async def test_pipelined_commands_answered_in_order(store: SqliteStore) -> None:
    raws = await deliver_many(store, 3)
    async with open_client(make_services(store)) as c:
        await c.login()
        c.send(b"STAT\r\nRETR 1\r\nRETR 2\r\nLIST 3\r\nBOGUS\r\nRETR 3\r\nNOOP\r\n")
        assert (await c.line()).startswith("+OK 3 ")
        for raw in raws[:2]:
            assert (await c.line()).startswith("+OK")
            assert await c.message() == raw
        assert await c.line() == f"+OK 3 {len(raws[2])}"
        assert await c.line() == "-ERR unknown command"
        assert (await c.line()).startswith("+OK")
        assert await c.message() == raws[2]
        assert await c.line() == "+OK"


async def test_transaction_commands_refused_before_login(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        assert (await c.cmd("STAT")).startswith("-ERR STAT is not allowed")
        assert (await c.cmd("RETR 1")).startswith("-ERR RETR is not allowed")
        assert (await c.cmd("QUIT")).startswith("+OK")
        await c.finished()


async def test_capa_before_and_after_login(store: SqliteStore) -> None:
    settings = Pop3Settings(retention_days=30, login_delay=None)
    async with open_client(make_services(store, settings)) as c:
        assert await c.cmd("CAPA") == "+OK Capability list follows"
        before = await c.multiline()
        assert "USER" in before and "STLS" in before and "PIPELINING" in before
        assert "EXPIRE 30 USER" in before
        assert "LOGIN-DELAY 0 USER" in before
        assert any(ln.startswith("SASL ") and "SCRAM-SHA-256" in ln for ln in before)
        await c.login()
        await c.cmd("CAPA")
        after = await c.multiline()
        assert "EXPIRE 30" in after and "STLS" not in after
        assert not any(ln.startswith("SASL") for ln in after)


async def test_lang(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        assert (await c.cmd("LANG")).startswith("+OK")
        assert await c.multiline() == ["en English"]
        assert (await c.cmd("LANG *")).startswith("+OK en")
        assert (await c.cmd("LANG fr")).startswith("-ERR")


async def test_utf8_login_name(store: SqliteStore) -> None:
    await add_account(store, "juergen@example.test", "pässword")
    async with open_client(make_services(store)) as c:
        assert (await c.cmd("UTF8")).startswith("+OK")
        assert (await c.login("juergen@example.test", "pässword")).startswith("+OK maildrop")
