"""Client input that could cost super-linear time is bounded (issue 10, item 2).

The socket-level test, with another protocol served meanwhile, is in
`test_server_bounds.py`; these are the transcripts.
"""

from __future__ import annotations

import time

from posteingang.imap.session import ImapServices
from tests.imap.harness import open_client, status_of


async def test_list_with_many_wildcards_answers_at_once(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("CREATE " + "a/" * 40 + "x")
        start = time.monotonic()
        lines = await c.ok('LIST "" "' + "%*" * 30 + 'x"')
        assert any(line.endswith("/x") or line.endswith('x"') for line in lines[:-1])
        lines = await c.ok('LIST "" "' + "%*" * 500 + 'y"')
        assert lines[:-1] == []
        assert time.monotonic() - start < 5


async def test_list_with_too_many_patterns_is_refused(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok('LIST "" (' + " ".join(["INBOX"] * 100) + ")")
        lines = await c.do('LIST "" (' + " ".join(["INBOX"] * 101) + ")")
        assert status_of(lines[-1]) == "BAD" and "too many LIST patterns" in lines[-1]
