"""Subscriptions (issue 10, item 5): names independent of mailboxes, LSUB, LIST (SUBSCRIBED).

RFC 3501 §6.3.6: the server MUST NOT remove a name from the subscription list
because its mailbox went; RFC 5258: LIST (SUBSCRIBED) shows such a name as
``\\NonExistent \\Subscribed``, and RECURSIVEMATCH returns a parent with CHILDINFO
only for a subscribed descendant that is not returned itself. The expectations
follow Dovecot's behaviour (and what imaptest's listext and subscribe scripts check).
"""

from __future__ import annotations

from posteingang.imap.session import ImapServices
from tests.imap.harness import Client, open_client


def lines_for(lines: list[str], name: str) -> list[str]:
    """The LIST/LSUB lines for mailbox `name` (unquoted, as our names here need no quotes)."""
    return [
        x for x in lines if x.startswith(("* LIST ", "* LSUB ")) and f'"/" {name}' in x + " "
        and (x.endswith(f'"/" {name}') or f'"/" {name} (' in x)
    ]  # fmt: skip


async def setup(c: Client) -> None:
    await c.login()
    for name in ("box/t1", "box/t2/t1", "box/t3", "box/t6", "box/t7/t7", "box/t8/t8",
                 "box/t8/t9"):  # fmt: skip
        await c.ok(f"CREATE {name}")
    for name in ("box/t1", "box/t2/t1", "box/t6", "box/t7/t7", "box/t8/t8", "box/t8/t9"):
        await c.ok(f"SUBSCRIBE {name}")
    await c.ok("DELETE box/t6")


async def test_create_does_not_subscribe_and_delete_does_not_unsubscribe(
    services: ImapServices,
) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("CREATE fresh/child")
        lines = await c.ok('LSUB "" *')
        assert not lines_for(lines, "fresh") and not lines_for(lines, "fresh/child")
        await c.ok("SUBSCRIBE fresh/child")
        await c.ok("DELETE fresh/child")
        lines = await c.ok('LSUB "" fresh/*')
        assert lines_for(lines, "fresh/child") == ['* LSUB () "/" fresh/child']
        lines = await c.ok('LIST (SUBSCRIBED) "" fresh/*')
        assert lines_for(lines, "fresh/child") == [
            '* LIST (\\NonExistent \\Subscribed) "/" fresh/child'
        ]
        # a plain LIST shows only what exists
        assert not lines_for(await c.ok('LIST "" fresh/*'), "fresh/child")
        # the subscription of a name that is not there can still be removed
        await c.ok("UNSUBSCRIBE fresh/child")
        assert not lines_for(await c.ok('LSUB "" *'), "fresh/child")
        # SUBSCRIBE checks that the name exists (a mailbox or a parent of one)
        assert "NO [NONEXISTENT]" in (await c.do("SUBSCRIBE nothere"))[-1]


async def test_list_subscribed_shows_deleted_names_as_nonexistent(services: ImapServices) -> None:
    async with open_client(services) as c:
        await setup(c)
        lines = await c.ok('LIST (SUBSCRIBED) "" box/*')
        assert lines_for(lines, "box/t6") == ['* LIST (\\NonExistent \\Subscribed) "/" box/t6']
        for name in ("box/t1", "box/t2/t1", "box/t7/t7", "box/t8/t8", "box/t8/t9"):
            (line,) = lines_for(lines, name)
            assert "\\Subscribed" in line and "\\NonExistent" not in line, line
        assert not lines_for(lines, "box/t3") and not lines_for(lines, "box/t2")


async def test_recursivematch_childinfo_only_for_children_not_returned(
    services: ImapServices,
) -> None:
    async with open_client(services) as c:
        await setup(c)
        # the subscribed child does not match "box/t2%": the parent comes with CHILDINFO
        lines = await c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" box/t2% RETURN (CHILDREN)')
        (line,) = lines_for(lines, "box/t2")
        assert line.endswith('box/t2 ("CHILDINFO" ("SUBSCRIBED"))') and "\\Subscribed" not in line
        assert not lines_for(lines, "box/t2/t1")
        # both match: the child is returned, the parent is not
        lines = await c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" *t7')
        assert not lines_for(lines, "box/t7")
        (line,) = lines_for(lines, "box/t7/t7")
        assert line == '* LIST (\\HasNoChildren \\Subscribed) "/" box/t7/t7'
        # t8/t8 matches "*t8" but t8/t9 does not: t8 is returned for t8/t9's sake
        lines = await c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" *t8')
        (line,) = lines_for(lines, "box/t8")
        assert line.endswith('("CHILDINFO" ("SUBSCRIBED"))') and "\\Subscribed" not in line
        assert lines_for(lines, "box/t8/t8")
        lines = await c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" (box/t2 box/t2/t1)')
        assert not lines_for(lines, "box/t2") and lines_for(lines, "box/t2/t1")
        # a subscribed parent with a subscribed child that is returned too: CHILDINFO
        # tells the client so (RFC 5258 §3.5), and the parent is listed once
        await c.ok("SUBSCRIBE box/t8")
        lines = await c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" box/t8*')
        (line,) = lines_for(lines, "box/t8")
        assert "\\Subscribed" in line and line.endswith('("CHILDINFO" ("SUBSCRIBED"))')


async def test_lsub_noselect_parents_only_for_a_trailing_percent(services: ImapServices) -> None:
    async with open_client(services) as c:
        await setup(c)
        lines = await c.ok('LSUB "" box/%')
        assert lines_for(lines, "box/t1") == ['* LSUB () "/" box/t1']
        assert lines_for(lines, "box/t2") == ['* LSUB (\\Noselect) "/" box/t2']
        assert lines_for(lines, "box/t6") == ['* LSUB () "/" box/t6']  # deleted, subscribed
        assert not lines_for(lines, "box/t3")
        lines = await c.ok('LSUB "" *t1')
        assert lines_for(lines, "box/t1") and lines_for(lines, "box/t2/t1")
        assert not lines_for(lines, "box/t2")
