"""\\Recent (issue 10, item 6): RFC 3501 §2.3.2, one session sees a message as recent.

The first session to SELECT a mailbox after a message arrived (or the one that
has it selected when it arrives) claims it: RECENT counts, ``\\Recent`` in FLAGS
and SEARCH RECENT/NEW/OLD show it there and nowhere else. EXAMINE claims
nothing; IMAP4rev2 sessions neither claim nor show it.
"""

from __future__ import annotations

from posteingang.delivery.deliver import deliver
from posteingang.imap.session import ImapServices
from tests.imap.harness import ALICE, deliver_many, message, open_client


async def test_recent_belongs_to_the_first_session_that_selects(services: ImapServices) -> None:
    await deliver_many(services.store, 3)
    async with open_client(services) as a, open_client(services) as b, open_client(services) as e:
        for c in (a, b, e):
            await c.login()
        assert "* STATUS INBOX (RECENT 3)" in await a.ok("STATUS INBOX (RECENT)")
        # EXAMINE must not take \Recent away (RFC 3501 §6.3.2), and shows it.
        lines = await e.ok("EXAMINE INBOX")
        assert "* 3 RECENT" in lines
        assert (await e.ok("FETCH 1 (FLAGS)"))[0] == "* 1 FETCH (FLAGS (\\Recent))"
        lines = await a.ok("SELECT INBOX")
        assert "* 3 RECENT" in lines
        assert "* STATUS INBOX (RECENT 0)" in await e.ok("STATUS INBOX (RECENT)")
        lines = await b.ok("SELECT INBOX")
        assert "* 0 RECENT" in lines
        assert (await a.ok("FETCH 1 (FLAGS)"))[0] == "* 1 FETCH (FLAGS (\\Recent))"
        assert (await b.ok("FETCH 1 (FLAGS)"))[0] == "* 1 FETCH (FLAGS ())"
        await a.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
        assert (await a.ok("SEARCH RECENT"))[0] == "* SEARCH 1 2 3"
        assert (await a.ok("SEARCH NEW"))[0] == "* SEARCH 1 3"  # RECENT UNSEEN
        assert (await a.ok("SEARCH OLD"))[0] == "* SEARCH"
        assert (await b.ok("SEARCH RECENT"))[0] == "* SEARCH"
        assert (await b.ok("SEARCH OLD"))[0] == "* SEARCH 1 2 3"
        # A delivery while both have INBOX selected: the first to be told claims it.
        await deliver(services.store, ALICE, message(4))
        lines = await a.ok("NOOP")
        assert lines[:2] == ["* 4 EXISTS", "* 4 RECENT"]
        lines = await b.ok("NOOP")
        assert lines[:2] == ["* 4 EXISTS", "* 0 RECENT"]
        assert (await a.ok("FETCH 4 (FLAGS)"))[0] == "* 4 FETCH (FLAGS (\\Recent))"
        assert (await b.ok("FETCH 4 (FLAGS)"))[0] == "* 4 FETCH (FLAGS ())"
        # Unsolicited flag updates carry \Recent where it is recent.
        await b.ok("STORE 4 +FLAGS.SILENT (\\Flagged)")
        lines = await a.ok("NOOP")
        assert "* 4 FETCH (FLAGS (\\Flagged \\Recent) UID 4)" in lines
        # A new session after all that: nothing is recent any more.
        async with open_client(services) as late:
            await late.login()
            assert "* 0 RECENT" in await late.ok("SELECT INBOX")


async def test_copy_and_append_make_messages_recent_in_the_target(
    services: ImapServices,
) -> None:
    await deliver_many(services.store, 2)
    async with open_client(services) as c:
        await c.login()
        await c.ok("SELECT INBOX")
        await c.ok("COPY 1:2 Archive")
        raw = message(9)
        await c.ok(f"APPEND Archive {{{len(raw)}+}}\r\n{raw.decode()}")
        assert "* STATUS Archive (RECENT 3)" in await c.ok("STATUS Archive (RECENT)")
        # An APPEND into the selected mailbox: this session is told first.
        lines = await c.ok(f"APPEND INBOX {{{len(raw)}+}}\r\n{raw.decode()}")
        assert lines[:2] == ["* 3 EXISTS", "* 3 RECENT"]


async def test_imap4rev2_sessions_neither_claim_nor_show_recent(services: ImapServices) -> None:
    await deliver_many(services.store, 2)
    async with open_client(services) as new, open_client(services) as old:
        await new.login()
        await new.ok("ENABLE IMAP4rev2")
        lines = await new.ok("SELECT INBOX")
        assert not any("RECENT" in x for x in lines)
        assert (await new.ok("FETCH 1 (FLAGS)"))[0] == "* 1 FETCH (FLAGS ())"
        await old.login()
        assert "* 2 RECENT" in await old.ok("SELECT INBOX")
