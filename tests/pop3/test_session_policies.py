"""Deletion policies, two devices, [IN-USE], [LOGIN-DELAY], disconnect without QUIT, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from posteingang.auth.passwords import hash_password
from posteingang.pop3.policy import Pop3Settings
from posteingang.pop3.retention import apply_retention
from posteingang.store.hub import Change, ChangeKind
from posteingang.store.model import SEEN, AccountSettings, DeletionPolicy, SpecialUse
from posteingang.store.sqlite.store import SqliteStore
from tests.pop3.harness import (
    ALICE,
    Client,
    add_account,
    deliver_many,
    make_services,
    open_client,
    open_store,
)

PHONE = "phon-ephx-aaaa-bbbb"
LAPTOP = "lapt-oplx-cccc-dddd"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await open_store(tmp_path)
    account_id = await add_account(s)
    await s.add_device(account_id, "phone", hash_password(PHONE))
    await s.add_device(account_id, "laptop", hash_password(LAPTOP))
    try:
        yield s
    finally:
        await s.close()


async def inbox_uids(store: SqliteStore) -> list[int]:
    inbox = await store.get_mailbox(1, "INBOX")
    assert inbox is not None
    return (await store.get_index(inbox.id)).uids


async def set_policy(store: SqliteStore, **kw: object) -> None:
    account = await store.get_account(ALICE)
    assert account is not None
    await store.set_settings(account.id, replace(account.settings, **kw))  # type: ignore[arg-type]


async def stat(c: Client) -> int:
    return int((await c.cmd("STAT")).split()[1])


async def test_expunge_policy_removes_for_everyone(store: SqliteStore) -> None:
    await deliver_many(store, 3)
    services = make_services(store)
    async with open_client(services) as c:
        await c.login(password=LAPTOP)
        assert await c.cmd("DELE 2") == "+OK message 2 deleted"
        assert (await c.cmd("QUIT")).endswith("(2 messages left, 1 deleted)")
    assert await inbox_uids(store) == [1, 3]
    # The phone (leave on server) loses it too: that is what "expunge" means.
    async with open_client(services) as c:
        assert (await c.login(password=PHONE)).startswith("+OK maildrop has 2 messages")


async def test_trash_policy_moves_to_trash(store: SqliteStore) -> None:
    await set_policy(store, pop3_deletion_policy=DeletionPolicy.TRASH)
    await deliver_many(store, 2)
    async with open_client(make_services(store)) as c:
        await c.login()
        await c.cmd("DELE 1")
        assert (await c.cmd("QUIT")).startswith("+OK")
    assert await inbox_uids(store) == [2]
    trash = next(m for m in await store.list_mailboxes(1) if m.special_use is SpecialUse.TRASH)
    assert len((await store.get_index(trash.id)).uids) == 1


async def test_hide_policy_is_per_device(store: SqliteStore) -> None:
    await set_policy(store, pop3_deletion_policy=DeletionPolicy.HIDE)
    await deliver_many(store, 3)
    services = make_services(store)
    # Laptop downloads and deletes everything.
    async with open_client(services) as c:
        await c.login(password=LAPTOP)
        for i in (1, 2, 3):
            await c.cmd(f"RETR {i}")
            await c.message()
            await c.cmd(f"DELE {i}")
        assert (await c.cmd("QUIT")).startswith("+OK")
    # Still in the INBOX for IMAP/webmail, and still there for the phone ...
    assert await inbox_uids(store) == [1, 2, 3]
    async with open_client(services) as c:
        assert (await c.login(password=PHONE)).startswith("+OK maildrop has 3 messages")
        await c.cmd("QUIT")
    # ... but gone for the laptop.
    async with open_client(services) as c:
        assert (await c.login(password=LAPTOP)).startswith("+OK maildrop has 0 messages")


async def test_account_password_is_its_own_client(store: SqliteStore) -> None:
    await set_policy(store, pop3_deletion_policy=DeletionPolicy.HIDE)
    await deliver_many(store, 2)
    services = make_services(store)
    async with open_client(services) as c:
        await c.login()
        await c.cmd("DELE 1")
        await c.cmd("QUIT")
    async with open_client(services) as c:
        assert (await c.login(password=PHONE)).startswith("+OK maildrop has 2 messages")


async def test_disconnect_without_quit_deletes_nothing_but_records_seen(
    store: SqliteStore,
) -> None:
    await deliver_many(store, 2)
    services = make_services(store)
    async with open_client(services) as c:
        await c.login()
        await c.cmd("RETR 1")
        await c.message()
        await c.cmd("DELE 1")
        await c.cmd("DELE 2")
        c.close()  # EOF, no QUIT
        await c.finished()
    assert await inbox_uids(store) == [1, 2]
    inbox = await store.get_mailbox(1, "INBOX")
    assert inbox is not None
    index = await store.get_index(inbox.id)
    assert SEEN in index.flags[0] and SEEN not in index.flags[1]
    view = await store.pop3_view(inbox.id, None)
    assert set(view.retrieved) == {1}
    # And the lock is free again.
    async with open_client(services) as c:
        assert (await c.login()).startswith("+OK maildrop has 2")


async def test_rset_then_quit_deletes_nothing(store: SqliteStore) -> None:
    await deliver_many(store, 2)
    async with open_client(make_services(store)) as c:
        await c.login()
        await c.cmd("DELE 1")
        await c.cmd("RSET")
        assert (await c.cmd("QUIT")).endswith("0 deleted)")
    assert await inbox_uids(store) == [1, 2]


async def test_in_use_for_same_client_not_for_other_device(store: SqliteStore) -> None:
    services = make_services(store)
    async with open_client(services) as first:
        assert (await first.login()).startswith("+OK")
        async with open_client(services) as second:
            assert await second.login() == (
                "-ERR [IN-USE] Maildrop is in use by another POP3 session"
            )
            # Back in AUTHORIZATION; a different client (the phone) may log in.
            assert (await second.login(password=PHONE)).startswith("+OK maildrop")
        await first.cmd("QUIT")
    async with open_client(services) as again:
        assert (await again.login()).startswith("+OK maildrop")


async def test_login_delay(store: SqliteStore) -> None:
    now = [1_000_000.0]
    services = make_services(store, Pop3Settings(login_delay=300), clock=lambda: now[0])
    async with open_client(services) as c:
        await c.cmd("CAPA")
        assert "LOGIN-DELAY 300 USER" in await c.multiline()
        assert (await c.login()).startswith("+OK")
        await c.cmd("CAPA")
        assert "LOGIN-DELAY 300" in await c.multiline()
        await c.cmd("QUIT")
    now[0] += 100
    async with open_client(services) as c:
        assert (await c.login()).startswith("-ERR [LOGIN-DELAY]")
        # Another device is another client with its own clock.
        assert (await c.login(password=PHONE)).startswith("+OK")
    now[0] += 201
    async with open_client(services) as c:
        assert (await c.login()).startswith("+OK")


async def test_login_delay_account_override(store: SqliteStore) -> None:
    await set_policy(store, pop3_login_delay=60)
    now = [5000.0]
    services = make_services(store, clock=lambda: now[0])
    async with open_client(services) as c:
        await c.login()
        await c.cmd("QUIT")
    async with open_client(services) as c:
        assert (await c.login()).startswith("-ERR [LOGIN-DELAY]")


async def test_uidl_formats_and_imported_uidls(store: SqliteStore) -> None:
    await deliver_many(store, 2)
    inbox = await store.get_mailbox(1, "INBOX")
    assert inbox is not None
    v = inbox.uidvalidity
    services = make_services(store)
    async with open_client(services) as c:
        await c.login()
        await c.cmd("UIDL")
        assert await c.multiline() == [f"1 {v:08x}{1:08x}", f"2 {v:08x}{2:08x}"]
        await c.cmd("QUIT")
    await set_policy(store, pop3_uidl_format="dovecot")
    async with open_client(services) as c:
        await c.login()
        assert await c.cmd("UIDL 2") == f"+OK 2 {2:08X}{v:08X}"
        await c.cmd("QUIT")
    await set_policy(store, pop3_uidl_format="cyrus")
    await store.set_pop3_uidls(inbox.id, {1: "imported-uidl-1"})
    async with open_client(services) as c:
        await c.login()
        await c.cmd("UIDL")
        assert await c.multiline() == ["1 imported-uidl-1", f"2 {v}.2"]


async def test_expire_capability_follows_account(store: SqliteStore) -> None:
    await set_policy(store, pop3_retention_days=7)
    async with open_client(make_services(store)) as c:
        await c.cmd("CAPA")
        assert "EXPIRE NEVER USER" in await c.multiline()
        await c.login()
        await c.cmd("CAPA")
        assert "EXPIRE 7" in await c.multiline()


async def retrieve_all(services: object, password: str, count: int) -> None:
    async with open_client(services) as c:  # type: ignore[arg-type]
        await c.login(password=password)
        for i in range(1, count + 1):
            await c.cmd(f"RETR {i}")
            await c.message()
        await c.cmd("QUIT")


async def test_retention_expunges_after_n_days(store: SqliteStore) -> None:
    await deliver_many(store, 3)
    settings = Pop3Settings(retention_days=10)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    services = make_services(store, settings, clock=lambda: t0.timestamp())
    async with open_client(services) as c:
        await c.login(password=PHONE)
        await c.cmd("RETR 1")
        await c.message()
        await c.cmd("RETR 2")
        await c.message()
        await c.cmd("QUIT")
    report = await apply_retention(store, settings, t0 + timedelta(days=9))
    assert report.total == 0 and await inbox_uids(store) == [1, 2, 3]
    report = await apply_retention(store, settings, t0 + timedelta(days=10, seconds=1))
    assert report.removed == {ALICE: 2}
    assert await inbox_uids(store) == [3]  # never retrieved: kept


async def test_retention_hide_only_for_clients_that_retrieved(store: SqliteStore) -> None:
    await set_policy(store, pop3_deletion_policy=DeletionPolicy.HIDE, pop3_retention_days=1)
    await deliver_many(store, 2)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    services = make_services(store, clock=lambda: t0.timestamp())
    await retrieve_all(services, PHONE, 2)
    await apply_retention(store, Pop3Settings(), t0 + timedelta(days=2))
    assert await inbox_uids(store) == [1, 2]
    async with open_client(services) as c:
        assert (await c.login(password=PHONE)).startswith("+OK maildrop has 0")
        await c.cmd("QUIT")
    async with open_client(services) as c:
        assert (await c.login(password=LAPTOP)).startswith("+OK maildrop has 2")


async def test_retention_off_keeps_everything(store: SqliteStore) -> None:
    await deliver_many(store, 1)
    services = make_services(store, clock=lambda: 0.0)
    await retrieve_all(services, PHONE, 1)
    report = await apply_retention(store, Pop3Settings(), datetime(2030, 1, 1, tzinfo=UTC))
    assert report.total == 0 and await inbox_uids(store) == [1]


async def test_imap_sees_pop3_expunge_on_change_feed(store: SqliteStore) -> None:
    await deliver_many(store, 2)
    inbox = await store.get_mailbox(1, "INBOX")
    assert inbox is not None
    feed = store.hub.subscribe(1)
    services = make_services(store)
    async with open_client(services) as c:
        await c.login()
        await c.cmd("DELE 1")
        await c.cmd("QUIT")
    expunges = [e for e in feed.drain() if isinstance(e, Change) and e.kind is ChangeKind.EXPUNGE]
    assert [e.uids for e in expunges] == [(1,)]
    feed.close()


def test_account_settings_default_is_server_default() -> None:
    from posteingang.pop3.policy import account_policy

    policy = account_policy(Pop3Settings(retention_days=5), AccountSettings())
    assert policy.retention_days == 5 and policy.deletion_policy is DeletionPolicy.EXPUNGE
    policy = account_policy(
        Pop3Settings(retention_days=5), AccountSettings(pop3_uidl_format="nonsense")
    )
    assert policy.uidl_format.value == "default"


async def test_the_shared_per_account_session_limit_applies(store: SqliteStore) -> None:
    """net.limits.AccountLimits counts sessions of all protocols; POP3 asks it at login."""
    from posteingang.net.limits import AccountLimits

    limits = AccountLimits(1)
    assert await limits.acquire_account(ALICE)  # e.g. an IMAP session of the same account
    await deliver_many(store, 1)
    async with open_client(make_services(store), acquire_account=limits.acquire_account) as c:
        assert await c.login() == "-ERR [IN-USE] Too many sessions for this account"
    limits.release_account(ALICE)
    async with open_client(make_services(store), acquire_account=limits.acquire_account) as c:
        assert (await c.login()).startswith("+OK maildrop has 1")
