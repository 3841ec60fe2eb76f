"""One truth, many sessions: changes made elsewhere reach a session at the moments RFC 9051
§7.5.1 allows, and IDLE pushes them at once from the change feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from posteingang.delivery.deliver import deliver
from posteingang.imap.session import ImapServices
from posteingang.imap.state import Authenticated
from posteingang.store.hub import Resync
from tests.imap.harness import ALICE, Client, deliver_many, message, open_client, status_of


async def _select_inbox(c: Client) -> None:
    await c.login()
    await c.ok("SELECT INBOX")


@asynccontextmanager
async def _one_selected(services: ImapServices) -> AsyncIterator[Client]:
    """A session with INBOX selected."""
    async with open_client(services) as c:
        await _select_inbox(c)
        yield c


@asynccontextmanager
async def _two_selected(services: ImapServices) -> AsyncIterator[tuple[Client, Client]]:
    """Two sessions of the same account, both with INBOX selected."""
    async with open_client(services) as a, open_client(services) as b:
        for c in (a, b):
            await _select_inbox(c)
        yield a, b


async def _start_idle(c: Client) -> None:
    c.send("i1 IDLE\r\n")
    assert await c.line() == "+ idling"


async def _end_idle(c: Client) -> None:
    c.send("DONE\r\n")
    assert (await c.line()).startswith("i1 OK")


async def test_idle_gets_exists_from_a_delivery_within_a_second(services: ImapServices) -> None:
    await deliver_many(services.store, 2)
    async with _one_selected(services) as c:
        await _start_idle(c)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await deliver(services.store, ALICE, message(3))
        assert await c.line(within=1) == "* 3 EXISTS"
        assert loop.time() - start < 1
        await _end_idle(c)


async def test_idle_pushes_flags_and_expunges_from_another_session(services: ImapServices) -> None:
    await deliver_many(services.store, 3)
    async with _two_selected(services) as (a, b):
        await _start_idle(b)
        await a.ok("STORE 2 +FLAGS (\\Seen)")
        assert await b.line(within=1) == "* 2 FETCH (FLAGS (\\Seen) UID 2)"
        await a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        assert await b.line(within=1) == "* 1 FETCH (FLAGS (\\Deleted) UID 1)"
        await a.ok("EXPUNGE")
        assert await b.line(within=1) == "* 1 EXPUNGE"  # expunges are allowed during IDLE
        await _end_idle(b)
        lines = await b.ok("FETCH 1:* UID")
        assert lines[:2] == ["* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)"]


async def test_idle_push_to_a_busy_socket_waits_and_keeps_order(services: ImapServices) -> None:
    """A socket that cannot take a push at once: the idling coroutine writes it, in order."""
    await deliver_many(services.store, 3)
    async with _two_selected(services) as (a, b):
        await _start_idle(b)
        b.transport.busy = True
        await a.ok("STORE 2 +FLAGS (\\Seen)")
        assert await b.line(within=1) == "* 2 FETCH (FLAGS (\\Seen) UID 2)"
        await deliver(services.store, ALICE, message(4))
        await a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        await a.ok("EXPUNGE")
        seen = [await b.line(within=1) for _ in range(3)]
        assert seen == ["* 4 EXISTS", "* 1 FETCH (FLAGS (\\Deleted) UID 1)", "* 1 EXPUNGE"]
        b.transport.busy = False
        await a.ok("STORE 1 +FLAGS (\\Flagged)")
        assert await b.line(within=1) == "* 1 FETCH (FLAGS (\\Seen \\Flagged) UID 2)"
        await _end_idle(b)
        lines = await b.ok("FETCH 1:* (UID FLAGS)")
        assert lines[:-1] == [
            "* 1 FETCH (UID 2 FLAGS (\\Seen \\Flagged))",
            "* 2 FETCH (UID 3 FLAGS ())",
            "* 3 FETCH (UID 4 FLAGS ())",
        ]


async def test_idle_resyncs_when_the_feed_says_so(services: ImapServices) -> None:
    """A `Resync` during IDLE (overflow, another process): reloaded and pushed."""
    await deliver_many(services.store, 1)
    async with _one_selected(services) as b:
        state = b.session.state
        assert isinstance(state, Authenticated)
        sub = state.subscription
        await _start_idle(b)
        hub = services.store.hub
        hub._remove(sub)  # as if the commit happened in another process
        await deliver(services.store, ALICE, message(2))
        hub._subs.setdefault(sub.account_id, set()).add(sub)
        hub.poke(sub.account_id, await services.store.account_modseq(sub.account_id))
        assert await b.line(within=1) == "* 2 EXISTS"
        await _end_idle(b)


async def test_flags_from_a_appear_in_b_at_next_command(services: ImapServices) -> None:
    await deliver_many(services.store, 2)
    async with _two_selected(services) as (a, b):
        await a.ok("STORE 1 +FLAGS (\\Flagged)")
        lines = await b.ok("NOOP")
        assert lines[0] == "* 1 FETCH (FLAGS (\\Flagged) UID 1)"
        # Told once: the next command has nothing more to say.
        assert len(await b.ok("NOOP")) == 1


async def test_expunge_is_held_back_during_fetch_store_search(services: ImapServices) -> None:
    await deliver_many(services.store, 3)
    async with _two_selected(services) as (a, b):
        await a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
        await a.ok("EXPUNGE")
        await deliver(services.store, ALICE, message(4))
        for command in ("FETCH 3 UID", "STORE 3 +FLAGS.SILENT (\\Seen)", "SEARCH ALL"):
            lines = await b.ok(command)
            assert not any(x.endswith("EXPUNGE") for x in lines), (command, lines)
        # Sequence numbers still mean what b was told: 3 is uid 3, and 4 arrived.
        lines = await b.ok("FETCH 3 UID")
        assert lines[0] == "* 3 FETCH (UID 3)"
        lines = await b.ok("FETCH 4 UID")
        assert lines[0] == "* 4 FETCH (UID 4)"
        lines = await b.ok("NOOP")
        assert lines[0] == "* 2 EXPUNGE"
        lines = await b.ok("FETCH 1:* UID")
        assert [x for x in lines if x.startswith("* ")] == [
            "* 1 FETCH (UID 1)",
            "* 2 FETCH (UID 3)",
            "* 3 FETCH (UID 4)",
        ]


async def test_exists_sent_after_fetch_but_expunge_waits(services: ImapServices) -> None:
    await deliver_many(services.store, 2)
    async with _one_selected(services) as b:
        await deliver(services.store, ALICE, message(3))
        lines = await b.ok("FETCH 1 UID")
        assert "* 3 EXISTS" in lines


async def test_new_message_flags_are_known_to_the_view(services: ImapServices) -> None:
    async with _two_selected(services) as (a, b):
        raw = message(1)
        await a.ok(f"APPEND INBOX (\\Seen) {{{len(raw)}+}}\r\n{raw.decode()}")
        lines = await b.ok("NOOP")
        assert "* 1 EXISTS" in lines
        assert (await b.ok("SEARCH SEEN"))[0] == "* SEARCH 1"


async def test_resync_after_feed_overflow(services: ImapServices) -> None:
    await deliver_many(services.store, 2)
    async with _two_selected(services) as (a, b):
        await a.ok("STORE 1 +FLAGS (\\Answered)")
        await deliver(services.store, ALICE, message(3))
        state = b.session.state
        assert isinstance(state, Authenticated)
        sub = state.subscription
        sub.drain()  # lose the changes, as an overflow would
        sub._offer(Resync(sub.account_id, 0))
        lines = await b.ok("NOOP")
        assert "* 3 EXISTS" in lines
        assert "* 1 FETCH (FLAGS (\\Answered) UID 1)" in lines


async def test_mailbox_deleted_elsewhere(services: ImapServices) -> None:
    async with open_client(services) as a, open_client(services) as b:
        for c in (a, b):
            await c.login()
        await a.ok("CREATE Box")
        raw = message(1)
        await a.ok(f"APPEND Box {{{len(raw)}+}}\r\n{raw.decode()}")
        await b.ok("SELECT Box")
        await a.ok("DELETE Box")
        # Issue 10, item 1: BYE, as Dovecot; never EXPUNGEs (nor another mailbox's news).
        b.send("n1 NOOP\r\n")
        assert await b.line() == "* BYE Selected mailbox was deleted, have to disconnect"
        await b.finished()


async def test_idle_says_bye_at_once_when_the_mailbox_is_deleted(services: ImapServices) -> None:
    async with open_client(services) as a, open_client(services) as b:
        for c in (a, b):
            await c.login()
        await a.ok("CREATE Box")
        await b.ok("SELECT Box")
        await _start_idle(b)
        await a.ok("DELETE Box")
        assert await b.line(within=2) == "* BYE Selected mailbox was deleted, have to disconnect"
        await b.finished()
        # The deleting session's own DELETE just closes its selection.
        await a.ok("CREATE Box2")
        await a.ok("SELECT Box2")
        lines = await a.ok("DELETE Box2")
        assert lines[0] == "* OK [CLOSED] Selected mailbox deleted"
        assert status_of((await a.do("NOOP"))[-1]) == "OK"


async def test_idle_ended_by_anything_but_done_is_bad(services: ImapServices) -> None:
    async with _one_selected(services) as c:
        await _start_idle(c)
        c.send("a2 NOOP\r\n")
        assert (await c.line()).startswith("i1 BAD")
        await c.ok("NOOP")


async def test_pipelined_commands_are_answered_in_one_write(services: ImapServices) -> None:
    await deliver_many(services.store, 2)
    async with open_client(services) as c:
        await c.login()
        writes = c.transport.writes
        c.send("p1 SELECT INBOX\r\np2 FETCH 1:2 (UID)\r\np3 NOOP\r\np4 STATUS Trash (MESSAGES)\r\n")
        lines = await c.until_tagged("p4")
        assert [x.split(" ", 1)[0] for x in lines if not x.startswith("*")] == [
            "p1",
            "p2",
            "p3",
            "p4",
        ]
        assert c.transport.writes == writes + 1


async def test_fetch_announces_a_keyword_set_elsewhere_in_flags_before_using_it(
    services: ImapServices,
) -> None:
    """RFC 9051 §7.3.5: a keyword appears in FLAGS before any FETCH that shows it."""
    await deliver_many(services.store, 2)
    async with _two_selected(services) as (a, b):
        await a.ok("STORE 1 +FLAGS.SILENT ($Label7)")
        for command in ("FETCH 1 (FLAGS)", "FETCH 1 (UID FLAGS BODY.PEEK[HEADER])"):
            lines = await b.ok(command)
            flags_at = [i for i, line in enumerate(lines) if line.startswith("* FLAGS ")]
            fetch_at = [i for i, line in enumerate(lines) if "$Label7" in line and "FETCH" in line]
            assert fetch_at, lines
            if command.startswith("FETCH 1 (FLAGS)"):
                assert flags_at and flags_at[0] < fetch_at[0], lines
                assert "$Label7" in lines[flags_at[0]]
            else:
                assert not flags_at, lines  # announced once is enough
        await a.ok("STORE 2 +FLAGS.SILENT ($Other)")
        lines = await b.ok("FETCH 2 (BODY.PEEK[] FLAGS)")  # the whole-message path
        assert lines[0].startswith("* FLAGS (") and "$Other" in lines[0], lines
        assert "$Other" in lines[1]


async def test_search_of_a_message_expunged_meanwhile_says_expungeissued(
    services: ImapServices,
) -> None:
    """A message the view still shows but whose data is gone cannot be searched: the
    client is told so with OK [EXPUNGEISSUED] (RFC 9051 §7.1), not a silent miss."""
    await deliver_many(services.store, 3)
    async with _two_selected(services) as (a, b):
        await a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
        await a.ok("EXPUNGE")
        lines = await b.ok("SEARCH BODY body")
        assert lines[-1].split(" ", 3)[2] == "[EXPUNGEISSUED]", lines
        assert "* SEARCH 1 3" in lines
        assert not any(line.endswith("EXPUNGE") for line in lines)  # not during SEARCH
        # Keys the view answers alone still see the message; nothing is missing.
        lines = await b.ok("SEARCH ALL")
        assert "[EXPUNGEISSUED]" not in lines[-1]
        lines = await b.ok("NOOP")
        assert "* 2 EXPUNGE" in lines
        lines = await b.ok("SEARCH BODY body")
        assert "[EXPUNGEISSUED]" not in lines[-1]


async def test_store_announces_every_new_keyword_it_shows(services: ImapServices) -> None:
    """RFC 9051 §7.3.5 for STORE's own FETCH replies: a keyword another session set on
    the second message is in FLAGS too, not only the one this STORE adds."""
    await deliver_many(services.store, 2)
    async with _two_selected(services) as (a, b):
        await a.ok("STORE 2 +FLAGS.SILENT ($One)")
        lines = await b.ok("STORE 1:2 +FLAGS ($Two)")
        fetch_at = next(i for i, line in enumerate(lines) if "$One" in line and "FETCH" in line)
        announced = [line for line in lines[:fetch_at] if line.startswith("* FLAGS (")]
        assert announced and "$One" in announced[-1] and "$Two" in announced[-1], lines


async def test_an_append_into_the_selected_mailbox_shows_its_flags(
    services: ImapServices,
) -> None:
    """The appending session's view takes the flags it appended with (no store read),
    announces a new keyword, and still sees a change another session made meanwhile."""
    await deliver_many(services.store, 1)
    async with _two_selected(services) as (a, b):
        raw = "Subject: own\r\n\r\nbody\r\n"
        lines = await a.ok(f"APPEND INBOX (\\seen $Mine) {{{len(raw)}+}}\r\n{raw}")
        lines += await a.ok("FETCH 2 (FLAGS)")
        announced = next(i for i, line in enumerate(lines) if line.startswith("* FLAGS ("))
        assert "$Mine" in lines[announced], lines
        shown = lines.index("* 2 FETCH (FLAGS (\\Seen \\Recent $Mine))")
        assert announced < shown, lines
        await a.ok(f"APPEND INBOX (\\Flagged) {{{len(raw)}+}}\r\n{raw}")
        await b.ok("NOOP")
        await b.ok("STORE 3 +FLAGS.SILENT (\\Answered)")
        lines = await a.ok("FETCH 3 (FLAGS)")
        assert "* 3 FETCH (FLAGS (\\Answered \\Flagged \\Recent))" in lines, lines
