"""FETCH answered from memory (imap/ops/fetch_cached.py): the general path's bytes, no
store read, and every change made by another session or another process seen by the
next command."""

from __future__ import annotations

from pathlib import Path

import pytest

from posteingang.imap.ops import fetch as fetch_mod
from posteingang.imap.ops import fetch_items
from posteingang.imap.ops.fetch import FetchOutcome
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.interface import Store
from posteingang.store.model import FlagOp
from posteingang.store.sqlite.store import SqliteStore
from tests.imap.harness import ALICE, add_account, deliver_many, make_services, open_client

from .test_fetch import MULTI, PLAIN
from .test_fetch_support import (  # noqa: F401 (bare_store: the `store` fixture)
    Box,
    bare_store,
    fetch_bytes,
    make_box,
    view_of,
)

LINES = [
    b"a FETCH 1:* (FLAGS)",
    b"a UID FETCH 1:* (FLAGS)",
    b"a FETCH 1:* (UID FLAGS MODSEQ)",
    b"a FETCH 1:* (ENVELOPE)",
    b"a FETCH 1:* (BODYSTRUCTURE BODY)",
    b"a FETCH 1:* ALL",
    b"a UID FETCH 1:* FULL",
    b"a FETCH 1:* (EMAILID THREADID SAVEDATE RFC822.SIZE INTERNALDATE)",
    b"a FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From Subject)])",
    b"a UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS.NOT (From)]<2.20>)",
    b"a FETCH 1:* (BODY.PEEK[HEADER] RFC822.HEADER)",
    b"a FETCH 2 (BODY.PEEK[HEADER]<3.10> ENVELOPE)",
]


def _no_store_reads(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    def refuse(*_args: object, **_kw: object) -> object:
        raise AssertionError("a store read although everything was in memory")

    for name in ("get_messages", "get_parsed_many", "get_parsed", "read_messages"):
        monkeypatch.setattr(store, name, refuse)
    monkeypatch.setattr(store.blobs, "open", refuse)
    monkeypatch.setattr(store.blobs, "open_many", refuse, raising=False)


@pytest.fixture
async def box(store: Store) -> Box:
    return await make_box(
        store, [PLAIN, MULTI], flags=[frozenset({"\\Seen", "$Label"}), frozenset()]
    )


async def test_answers_from_memory_are_the_general_paths_bytes(
    store: Store, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = await view_of(store, box.mailbox_id)
    monkeypatch.setattr(fetch_mod, "MEMORY_PATH", False)
    expected = [await fetch_bytes(store, view, line) for line in LINES]  # fills the caches
    monkeypatch.setattr(fetch_mod, "MEMORY_PATH", True)
    _no_store_reads(monkeypatch, store)
    for line, want in zip(LINES, expected, strict=True):
        assert await fetch_bytes(store, view, line) == want, line


async def test_a_message_not_in_memory_sends_the_rest_the_general_way(
    store: Store, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = await view_of(store, box.mailbox_id)
    fetch_items.RENDERED.clear()
    await fetch_bytes(store, view, b"a FETCH 1 (FLAGS ENVELOPE)")  # message 1 only
    read: list[list[int]] = []
    real = store.get_messages

    async def recording(mailbox_id: int, uids: list[int]) -> object:
        read.append(list(uids))
        return await real(mailbox_id, uids)

    monkeypatch.setattr(store, "get_messages", recording)
    both = await fetch_bytes(store, view, b"a FETCH 1:2 (FLAGS ENVELOPE)")
    assert both.count(b" FETCH (") == 2
    assert read == [[box.uids[1]]]  # message 1 from memory, message 2 read
    monkeypatch.setattr(fetch_mod, "MEMORY_PATH", False)
    assert await fetch_bytes(store, view, b"a FETCH 1:2 (FLAGS ENVELOPE)") == both


async def test_a_pending_expunge_is_answered_as_a_message_gone(
    store: Store, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = await view_of(store, box.mailbox_id)
    await fetch_bytes(store, view, b"a FETCH 1:* (FLAGS ENVELOPE)")
    view.note_expunged([box.uids[0]], view.highestmodseq + 1)
    _no_store_reads(monkeypatch, store)
    outcome = FetchOutcome()
    out = await fetch_bytes(store, view, b"a FETCH 1:* (FLAGS ENVELOPE)", outcome=outcome)
    assert out.startswith(b"* 2 FETCH (") and out.count(b" FETCH (") == 1
    assert outcome.expunged == [box.uids[0]]


async def test_flags_and_expunges_of_another_session_show_in_the_next_fetch(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "s.sqlite3", FsBlobStore(tmp_path / "b"))
    try:
        await add_account(store)
        await deliver_many(store, 3)
        services = make_services(store)
        async with open_client(services) as a, open_client(services) as b:
            for c in (a, b):
                await c.login()
                await c.ok("SELECT INBOX")
            line = "FETCH 1:* (FLAGS ENVELOPE BODY.PEEK[HEADER.FIELDS (Subject)])"
            await b.ok(line)
            await b.ok(line)  # from memory now
            await a.ok("STORE 2 +FLAGS.SILENT ($Seven)")
            lines = await b.ok(line)
            # RFC 9051 §7.3.5: the keyword is announced in FLAGS before it is shown.
            announced = [i for i, x in enumerate(lines) if x.startswith("* FLAGS (")]
            shown = [i for i, x in enumerate(lines) if x.startswith("* 2 FETCH")]
            assert announced and shown and announced[0] < shown[0], lines
            assert "$Seven" in lines[announced[0]] and "$Seven" in lines[shown[0]]
            # Told in the FETCH: the next command sends no FETCH of it again.
            assert len(await b.ok("NOOP")) == 1
            await a.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
            await a.ok("EXPUNGE")
            lines = await b.do(line)
            # (its flags change, which came first, may be told: not its data)
            assert not any(x.startswith("* 3 FETCH") and "ENVELOPE" in x for x in lines), lines
            assert lines[-1].split(" ", 2)[1] == "NO" and "EXPUNGEISSUED" in lines[-1]
            lines = await b.ok("NOOP")
            assert lines[0] == "* 3 EXPUNGE"
    finally:
        await store.close()


async def test_a_change_made_by_another_process_shows_in_the_next_fetch(
    tmp_path: Path,
) -> None:
    """Two stores on one database stand for two processes (as in the notify tests): the
    other one's commit is in this session's answer to its very next command."""
    db, blobs = tmp_path / "s.sqlite3", tmp_path / "b"
    here = await SqliteStore.open(db, FsBlobStore(blobs))
    there = await SqliteStore.open(db, FsBlobStore(blobs))
    try:
        await add_account(here)
        await deliver_many(here, 3)
        await here.listen_external()
        await there.listen_external()
        account = await there.get_account(ALICE)
        assert account is not None
        inbox = await there.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        async with open_client(make_services(here)) as c:
            await c.login()
            await c.ok("SELECT INBOX")
            line = "FETCH 1:* (FLAGS ENVELOPE)"
            await c.ok(line)
            await c.ok(line)  # from memory now
            for n in range(5):  # each time: the very next command sees it
                keyword = f"$Other{n}"
                await there.store_flags(inbox.id, [1], FlagOp.ADD, frozenset({keyword}))
                lines = await c.ok(line)
                first = next(x for x in lines if x.startswith("* 1 FETCH"))
                assert keyword in first, lines
            await there.store_flags(inbox.id, [2], FlagOp.ADD, frozenset({"\\Deleted"}))
            await there.expunge(inbox.id, [2])
            lines = await c.do(line)
            assert not any(x.startswith("* 2 FETCH") and "ENVELOPE" in x for x in lines), lines
            assert "EXPUNGEISSUED" in lines[-1]
    finally:
        await there.close()
        await here.close()
