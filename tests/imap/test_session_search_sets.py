"""SEARCH with sequence and uid sets once sequence numbers and uids differ (RFC 9051
§6.4.4, §9 seq-range; the behaviours of imaptest's search-sets group, in our words)."""

from __future__ import annotations

from posteingang.imap.session import ImapServices
from tests.imap.harness import deliver_many, open_client


async def test_sets_after_an_expunge(services: ImapServices) -> None:
    await deliver_many(services.store, 6)
    async with open_client(services) as c:
        await c.login()
        await c.ok("SELECT INBOX")
        await c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
        await c.ok("EXPUNGE")
        # uids 1 3 4 5 6 are now messages 1..5

        async def search(args: str) -> str:
            lines = await c.ok(f"SEARCH {args}")
            return lines[0]

        assert await search("ALL") == "* SEARCH 1 2 3 4 5"
        assert (await c.ok("UID SEARCH ALL"))[0] == "* SEARCH 1 3 4 5 6"
        assert await search("1:3,5") == "* SEARCH 1 2 3 5"
        assert await search("4:2") == "* SEARCH 2 3 4"
        assert await search("UID 1:3,5") == "* SEARCH 1 2 4"
        assert await search("UID 4:2") == "* SEARCH 2 3"
        assert await search("1:3 NOT UID 3") == "* SEARCH 1 3"
        assert await search("NOT 2,4") == "* SEARCH 1 3 5"
        assert await search("OR 1 UID 3") == "* SEARCH 1 2"
        # "*" is the last message; a range beyond it is clipped, not an error.
        assert await search("*") == "* SEARCH 5"
        assert await search("UID *") == "* SEARCH 5"
        assert await search("6:*") == "* SEARCH 5"
        assert await search("*:6") == "* SEARCH 5"
        assert await search("UID 7:*") == "* SEARCH 5"
        assert await search("*:3") == "* SEARCH 3 4 5"
        assert await search("1,4,*") == "* SEARCH 1 4 5"
