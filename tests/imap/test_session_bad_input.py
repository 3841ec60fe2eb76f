"""Bad input: every malformed command gets a BAD and the session goes on; literal limits."""

from __future__ import annotations

import pytest

from posteingang.imap.session import ImapServices
from posteingang.imap.settings import ImapSettings
from tests.imap.harness import make_services, open_client, status_of

MALFORMED = [
    "a1 FETCH",
    "a1 SELECT",
    "a1 STORE 1 +FLAGZ (\\Seen)",
    "a1 LIST",
    "a1 FROBNICATE",
    'a1 LOGIN "unterminated',
    "a1 SEARCH (((",
    "a1 FETCH 1:* (BODY[HEADER.FIELDS])",
    "a1 STATUS INBOX (BOGUS)",
    "a1 APPEND INBOX (\\Seen",
    "a1 UID",
    "a1 UID FROB 1",
    "a1 COPY 1",
    "a1 CREATE",
]


@pytest.mark.parametrize("line", MALFORMED)
async def test_malformed_command_is_bad_and_session_continues(
    services: ImapServices, line: str
) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("SELECT INBOX")
        lines = await c.cmd(line)
        assert status_of(lines[-1]) == "BAD", lines
        assert len(lines[-1].split(" ", 2)) == 3  # a human-readable reason
        await c.ok("NOOP")


async def test_untagged_bad_when_no_tag(services: ImapServices) -> None:
    async with open_client(services) as c:
        c.send("\r\n")
        assert (await c.line()).startswith("* BAD")
        c.send("(((\r\n")
        assert (await c.line()).startswith("* BAD")
        await c.ok("NOOP")


async def test_overlong_line(services: ImapServices) -> None:
    async with open_client(services) as c:
        c.send(b"a1 NOOP " + b"x" * (200 * 1024) + b"\r\n")
        line = await c.line()
        assert line.startswith("a1 BAD") and "too long" in line
        await c.ok("NOOP")


async def test_synchronising_literal_over_appendlimit_is_refused_before_reading(
    store: object,
) -> None:
    settings = ImapSettings(max_message_size=1024)
    services = make_services(store, settings)  # type: ignore[arg-type]
    async with open_client(services) as c:
        await c.login()
        c.send("a1 APPEND INBOX {5000}\r\n")
        line = await c.line()
        assert line.startswith("a1 NO [TOOBIG]"), line
        # The client did not send the octets; the next command is read normally.
        await c.ok("NOOP")


async def test_non_synchronising_literal_too_large_closes_connection(store: object) -> None:
    settings = ImapSettings(max_message_size=1024)
    services = make_services(store, settings)  # type: ignore[arg-type]
    async with open_client(services) as c:
        await c.login()
        c.send("a1 APPEND INBOX {5000+}\r\n" + "A" * 5000 + "\r\n")
        line = await c.line()
        assert line.startswith("a1 BAD [TOOBIG]"), line
        assert (await c.line()).startswith("* BYE")
        await c.finished()


async def test_literal_before_login_is_limited(services: ImapServices) -> None:
    async with open_client(services) as c:
        c.send("a1 LOGIN {100000}\r\n")
        assert (await c.line()).startswith("a1 NO [TOOBIG]")
        await c.ok("NOOP")


async def test_literal_of_unknown_command_is_refused(services: ImapServices) -> None:
    async with open_client(services) as c:
        c.send("a1 XYZZY {10}\r\n")
        assert (await c.line()).startswith("a1 BAD")
        await c.ok("NOOP")


async def test_literal_login(services: ImapServices) -> None:
    async with open_client(services) as c:
        c.send("a1 LOGIN {18}\r\n")
        assert await c.line() == "+ go ahead"
        c.send('alice@example.test "correct horse"\r\n')
        lines = await c.until_tagged("a1")
        assert status_of(lines[-1]) == "OK"


async def test_sequence_number_beyond_exists_is_bad(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("SELECT INBOX")
        for command in ("FETCH 1 FLAGS", "STORE 5 +FLAGS (\\Seen)", "COPY 2 Trash"):
            lines = await c.do(command)
            assert status_of(lines[-1]) == "BAD", lines
        # UID sets name only what exists; nothing is not an error.
        await c.ok("UID FETCH 1:* FLAGS")
        await c.ok("UID STORE 5 +FLAGS (\\Seen)")


async def test_huge_sequence_set_is_bad_not_fatal(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("SELECT INBOX")
        seqset = ",".join(str(i) for i in range(1, 100_001))
        lines = await c.cmd("a1 UID FETCH " + seqset + " FLAGS")
        assert status_of(lines[-1]) == "BAD"
        await c.ok("NOOP")


async def test_deep_nesting_is_bad(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("SELECT INBOX")
        lines = await c.cmd("a1 SEARCH " + "(" * 500 + "ALL" + ")" * 500)
        assert status_of(lines[-1]) == "BAD"
        await c.ok("NOOP")


async def test_setting_recent_flag_is_bad(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        lines = await c.do("APPEND INBOX (\\Recent) {3+}\r\nabc")
        assert status_of(lines[-1]) == "BAD"
