"""SELECT/EXAMINE, APPEND, STORE, COPY, MOVE, EXPUNGE, CLOSE/UNSELECT, SEARCH result formats."""

from __future__ import annotations

import re

from posteingang.imap.session import ImapServices
from posteingang.imap.state import SessionState
from tests.imap.harness import Client, deliver_many, message, open_client, status_of


async def selected(c: Client, mailbox: str = "INBOX") -> list[str]:
    await c.login()
    return await c.ok(f"SELECT {mailbox}")


async def test_select_responses_rev1(services: ImapServices) -> None:
    await deliver_many(services.store, 3)
    async with open_client(services) as c:
        lines = await selected(c)
        assert lines[0].startswith("* FLAGS (")
        assert "* 3 EXISTS" in lines and "* 3 RECENT" in lines
        assert "* OK [UNSEEN 1] First unseen" in lines
        assert any(x.startswith("* OK [UIDVALIDITY ") for x in lines)
        assert "* OK [UIDNEXT 4] Predicted next UID" in lines
        assert any(x.startswith("* OK [PERMANENTFLAGS (") and "\\*" in x for x in lines)
        assert lines[-1].endswith("OK [READ-WRITE] SELECT completed")


async def test_select_responses_rev2(services: ImapServices) -> None:
    await deliver_many(services.store, 1)
    async with open_client(services) as c:
        await c.login()
        await c.ok("ENABLE IMAP4rev2")
        lines = await c.ok("SELECT INBOX")
        assert not any("RECENT" in x for x in lines)
        assert '* LIST () "/" INBOX' in lines
        assert not any("[UNSEEN" in x for x in lines)


async def test_examine_is_read_only(services: ImapServices) -> None:
    await deliver_many(services.store, 2)
    async with open_client(services) as c:
        await c.login()
        lines = await c.ok("EXAMINE INBOX")
        assert lines[-1].endswith("OK [READ-ONLY] EXAMINE completed")
        assert "* OK [PERMANENTFLAGS ()] Read-only mailbox" in lines
        for command in ("STORE 1 +FLAGS (\\Seen)", "EXPUNGE", "MOVE 1 Trash"):
            assert status_of((await c.do(command))[-1]) == "NO", command
        await c.ok("COPY 1 Trash")  # copying out of a read-only mailbox is fine
        await c.ok("FETCH 1 BODY[]")  # no implicit \Seen when read-only
        await c.ok("CLOSE")
    index = await services.store.get_index(
        (await services.store.get_mailbox(1, "INBOX")).id  # type: ignore[union-attr]
    )
    assert all("\\Seen" not in f for f in index.flags)


async def test_failed_select_leaves_authenticated_state(services: ImapServices) -> None:
    async with open_client(services) as c:
        await selected(c)
        lines = await c.do("SELECT nothere")
        assert lines[0] == "* OK [CLOSED] Previous mailbox closed"
        assert "NO [NONEXISTENT]" in lines[-1]
        assert c.session.state.kind is SessionState.AUTHENTICATED


async def test_append_with_flags_date_and_appenduid(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        raw = message(1)
        c.send(f'a1 APPEND Drafts (\\Draft $Label) "05-Jan-2024 10:00:00 +0100" {{{len(raw)}}}\r\n')
        assert await c.line() == "+ go ahead"
        c.send(raw + b"\r\n")
        lines = await c.until_tagged("a1")
        m = re.search(r"\[APPENDUID (\d+) (\d+)\]", lines[-1])
        assert m and m[2] == "1"
        await c.ok("SELECT Drafts")
        lines = await c.ok("FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[])")
        assert "\\Draft" in lines[0] and "$Label" in lines[0]
        assert '"05-Jan-2024 10:00:00 +0100"' in lines[0]
        assert raw.decode() in lines[0]


async def test_append_to_missing_mailbox_says_trycreate(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        lines = await c.do("APPEND Nowhere {3+}\r\nabc")
        assert "NO [TRYCREATE]" in lines[-1]
        assert status_of((await c.do("APPEND INBOX {0+}\r\n"))[-1]) == "NO"


async def test_multiappend_and_append_to_selected_mailbox(services: ImapServices) -> None:
    async with open_client(services) as c:
        await selected(c)
        one, two = message(1), message(2)
        lines = await c.do(
            f"APPEND INBOX {{{len(one)}+}}\r\n{one.decode()} {{{len(two)}+}}\r\n{two.decode()}"
        )
        assert "* 2 EXISTS" in lines
        assert "[APPENDUID " in lines[-1] and " 1:2]" in lines[-1]


async def test_large_append_is_spooled(store: object) -> None:
    from posteingang.imap.settings import ImapSettings
    from tests.imap.harness import make_services

    services = make_services(store, ImapSettings(spool_threshold=4096))  # type: ignore[arg-type]
    body = ("x" * 70 + "\r\n") * 2000
    raw = message(9, body=body)
    async with open_client(services) as c:
        await selected(c)
        lines = await c.do(f"APPEND INBOX {{{len(raw)}+}}\r\n" + raw.decode())
        assert status_of(lines[-1]) == "OK"
        lines = await c.ok("FETCH 1 RFC822.SIZE")
        assert f"RFC822.SIZE {len(raw)}" in lines[0]


async def test_store_forms_and_silent(services: ImapServices) -> None:
    await deliver_many(services.store, 3)
    async with open_client(services) as c:
        await selected(c)
        # (\Recent: this session's SELECT was the first to see them, RFC 3501 §2.3.2)
        lines = await c.ok("STORE 1:2 +FLAGS (\\Seen \\Flagged)")
        assert lines[:2] == [
            "* 1 FETCH (FLAGS (\\Seen \\Flagged \\Recent))",
            "* 2 FETCH (FLAGS (\\Seen \\Flagged \\Recent))",
        ]
        lines = await c.ok("STORE 1 -FLAGS (\\Flagged)")
        assert lines[0] == "* 1 FETCH (FLAGS (\\Seen \\Recent))"
        lines = await c.ok("UID STORE 3 FLAGS (Custom)")
        assert "* FLAGS (" in lines[0] and "Custom" in lines[0]
        assert "* 3 FETCH (FLAGS (\\Recent Custom) UID 3)" in lines
        lines = await c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
        assert len(lines) == 1
        lines = await c.ok("FETCH 1:3 FLAGS")
        assert lines[1] == "* 2 FETCH (FLAGS (\\Seen \\Flagged \\Deleted \\Recent))"


async def test_expunge_and_uid_expunge(services: ImapServices) -> None:
    await deliver_many(services.store, 5)
    async with open_client(services) as c:
        await selected(c)
        await c.ok("STORE 2,4,5 +FLAGS.SILENT (\\Deleted)")
        lines = await c.ok("UID EXPUNGE 4:5")
        assert lines[:2] == ["* 5 EXPUNGE", "* 4 EXPUNGE"]
        lines = await c.ok("EXPUNGE")
        assert lines[0] == "* 2 EXPUNGE"
        lines = await c.ok("FETCH 1:* UID")
        assert [x for x in lines if x.startswith("* ")] == [
            "* 1 FETCH (UID 1)",
            "* 2 FETCH (UID 3)",
        ]


async def test_close_expunges_silently_unselect_does_not(services: ImapServices) -> None:
    await deliver_many(services.store, 3)
    async with open_client(services) as c:
        await selected(c)
        await c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        lines = await c.ok("UNSELECT")
        assert len(lines) == 1
        await c.ok("SELECT INBOX")
        lines = await c.ok("CLOSE")
        assert len(lines) == 1 and c.session.state.kind is SessionState.AUTHENTICATED
        lines = await c.ok("STATUS INBOX (MESSAGES)")
        assert "MESSAGES 2" in lines[0]


async def test_copy_with_copyuid_and_trycreate(services: ImapServices) -> None:
    await deliver_many(services.store, 3)
    async with open_client(services) as c:
        await selected(c)
        lines = await c.ok("COPY 2:3 Archive")
        assert re.search(r"\[COPYUID \d+ 2:3 1:2\]", lines[-1]), lines
        assert "NO [TRYCREATE]" in (await c.do("COPY 1 Nowhere"))[-1]
        lines = await c.ok("UID COPY 99 Archive")
        assert "COPYUID" not in lines[-1]
        lines = await c.ok("COPY 1 INBOX")  # into the selected mailbox: EXISTS follows
        assert "* 4 EXISTS" in lines


async def test_move_sends_copyuid_then_expunge(services: ImapServices) -> None:
    await deliver_many(services.store, 3)
    async with open_client(services) as c:
        await selected(c)
        lines = await c.ok("MOVE 1:2 Trash")
        assert re.match(r"\* OK \[COPYUID \d+ 1:2 1:2\]", lines[0]), lines
        assert lines[1:3] == ["* 2 EXPUNGE", "* 1 EXPUNGE"]
        lines = await c.ok("UID MOVE 3 Archive")
        assert lines[1] == "* 1 EXPUNGE"
        lines = await c.ok("STATUS Trash (MESSAGES)")
        assert "MESSAGES 2" in lines[0]


async def test_move_into_the_selected_mailbox_gives_a_new_uid(services: ImapServices) -> None:
    # Issue 10, item 8: Dovecot performs it (new UID); it used to be NO [CANNOT].
    await deliver_many(services.store, 2)
    async with open_client(services) as c:
        await selected(c)
        await c.ok("STORE 1 +FLAGS (\\Flagged)")
        lines = await c.ok("UID MOVE 1 INBOX")
        assert re.match(r"\* OK \[COPYUID \d+ 1 3\]", lines[0]), lines
        assert lines[1:3] == ["* 1 EXPUNGE", "* 2 EXISTS"]
        lines = await c.ok("FETCH 1:* (UID FLAGS)")
        assert lines[:2] == [
            "* 1 FETCH (UID 2 FLAGS (\\Recent))",
            "* 2 FETCH (UID 3 FLAGS (\\Flagged \\Recent))",
        ]


async def test_search_formats_rev1_esearch_and_save(services: ImapServices) -> None:
    await deliver_many(services.store, 5)
    async with open_client(services) as c:
        await selected(c)
        await c.ok("STORE 2,4 +FLAGS.SILENT (\\Seen)")
        assert (await c.ok("SEARCH SEEN"))[0] == "* SEARCH 2 4"
        assert (await c.ok("UID SEARCH UNSEEN"))[0] == "* SEARCH 1 3 5"
        lines = await c.cmd("s1 SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
        assert lines[0] == '* ESEARCH (TAG "s1") MIN 1 MAX 5 ALL 1,3,5 COUNT 3'
        lines = await c.cmd("s2 SEARCH RETURN (COUNT) DRAFT")
        assert lines[0] == '* ESEARCH (TAG "s2") COUNT 0'
        lines = await c.ok("SEARCH RETURN (SAVE) SEEN")
        assert len(lines) == 1  # SAVE alone: no ESEARCH (RFC 5182 §2.4)
        lines = await c.ok("FETCH $ UID")
        assert [x for x in lines if x.startswith("* ")] == [
            "* 2 FETCH (UID 2)",
            "* 4 FETCH (UID 4)",
        ]
        assert (await c.ok("SEARCH $"))[0] == "* SEARCH 2 4"
        await c.ok("SEARCH RETURN (SAVE MIN) SEEN")
        assert (await c.ok("UID SEARCH UID $"))[0] == "* SEARCH 2"


async def test_search_rev2_uses_esearch(services: ImapServices) -> None:
    await deliver_many(services.store, 3)
    async with open_client(services) as c:
        await c.login()
        await c.ok("ENABLE IMAP4rev2")
        await c.ok("SELECT INBOX")
        lines = await c.cmd("x1 UID SEARCH ALL")
        assert lines[0] == '* ESEARCH (TAG "x1") UID ALL 1:3'
        lines = await c.cmd("x2 SEARCH DELETED")
        assert lines[0].startswith('* ESEARCH (TAG "x2")') and "ALL" not in lines[0]


async def test_search_bad_charset(services: ImapServices) -> None:
    await deliver_many(services.store, 1)
    async with open_client(services) as c:
        await selected(c)
        lines = await c.do("SEARCH CHARSET X-NOPE TEXT hello")
        assert "NO [BADCHARSET" in lines[-1]
        await c.ok("SEARCH CHARSET UTF-8 TEXT hello")


async def test_condstore_forms_are_refused_until_supported(services: ImapServices) -> None:
    await deliver_many(services.store, 1)
    async with open_client(services) as c:
        await c.login()
        assert status_of((await c.do("SELECT INBOX (CONDSTORE)"))[-1]) == "BAD"
        await c.ok("SELECT INBOX")
        assert status_of((await c.do("FETCH 1 FLAGS (CHANGEDSINCE 1)"))[-1]) == "BAD"
        assert status_of((await c.do("STORE 1 (UNCHANGEDSINCE 1) +FLAGS (x)"))[-1]) == "BAD"
