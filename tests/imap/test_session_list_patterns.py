"""LIST wildcard semantics as a transcript (RFC 9051 §6.3.9; the behaviours imaptest's
"list" group checks, in our own words)."""

from __future__ import annotations

import pytest

from posteingang.imap.session import ImapServices
from tests.imap.harness import open_client


def names(lines: list[str]) -> set[str]:
    return {line.rsplit(" ", 1)[1].strip('"') for line in lines if line.startswith("* LIST ")}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("box/%", {"box/t", "box/t2", "box/t3"}),
        ("box/%/%", {"box/t3/t4"}),
        ("box/*", {"box/t", "box/t2", "box/t3", "box/t3/t4", "box/t3/t4/t5"}),
        ("box/*t4", {"box/t3/t4"}),
        ("box/*t*", {"box/t", "box/t2", "box/t3", "box/t3/t4", "box/t3/t4/t5"}),
        ("box/%3/%", {"box/t3/t4"}),
        ("box/%3/%4", {"box/t3/t4"}),
        ("box/%t*4", {"box/t3/t4"}),  # "%" matches the empty string before "t"
        ("box/t%*4", {"box/t3/t4"}),
        ("box/%%%", {"box/t", "box/t2", "box/t3"}),
        ("box/*%", {"box/t", "box/t2", "box/t3", "box/t3/t4", "box/t3/t4/t5"}),
        ("box/t?", set()),  # no other metacharacters
        ("box/t.", set()),
    ],
)
async def test_wildcards(services: ImapServices, pattern: str, expected: set[str]) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("CREATE box/")
        await c.ok("CREATE box/t")
        await c.ok("CREATE box/t2")
        await c.ok("CREATE box/t3/")
        await c.ok("CREATE box/t3/t4/")
        await c.ok("CREATE box/t3/t4/t5")
        assert names(await c.ok(f'LIST "" "{pattern}"')) == expected
        # The reference is prefixed to the pattern.
        if pattern.startswith("box/"):
            assert names(await c.ok(f'LIST "box/" "{pattern[4:]}"')) == expected


async def test_deleted_names_no_longer_match(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("CREATE box/t")
        await c.ok("CREATE box/t2")
        await c.ok("DELETE box/t2")
        assert names(await c.ok('LIST "" "box/*"')) == {"box/t"}
        assert names(await c.ok('LIST "" INBOX')) == {"INBOX"}
