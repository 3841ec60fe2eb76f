"""Mailbox commands: CREATE, DELETE, RENAME, SUBSCRIBE, LIST (extended, status), LSUB, STATUS."""

from __future__ import annotations

from posteingang.imap.session import ImapServices
from tests.imap.harness import Client, deliver_many, open_client, status_of


def listed(lines: list[str]) -> dict[str, str]:
    """name -> attribute text of the LIST/LSUB lines."""
    out = {}
    for line in lines:
        if line.startswith(("* LIST ", "* LSUB ")):
            attrs = line[line.index("(") + 1 : line.index(")")]
            name = line.rsplit(" ", 1)[1].strip('"')
            out[name] = attrs
    return out


async def logged_in(c: Client) -> None:
    await c.login()


async def test_default_mailboxes_with_special_use(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        boxes = listed(await c.ok('LIST "" *'))
        assert set(boxes) == {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"}
        assert "\\Sent" in boxes["Sent"] and "\\Trash" in boxes["Trash"]
        assert "\\HasNoChildren" in boxes["INBOX"]
        lines = await c.ok('LIST "" ""')
        assert lines[0] == '* LIST (\\Noselect) "/" ""'


async def test_create_hierarchy_and_wildcards(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("CREATE Projects/2024/Q1")
        boxes = listed(await c.ok('LIST "" *'))
        assert "\\HasChildren" in boxes["Projects"] and "\\HasChildren" in boxes["Projects/2024"]
        assert "\\HasNoChildren" in boxes["Projects/2024/Q1"]
        top = listed(await c.ok('LIST "" %'))
        assert "Projects" in top and "Projects/2024" not in top
        level = listed(await c.ok('LIST "Projects/" %'))
        assert set(level) == {"Projects/2024"}
        lines = await c.do("CREATE Projects/2024/Q1")
        assert "NO [ALREADYEXISTS]" in lines[-1]
        lines = await c.do("CREATE inbox")
        assert "NO [ALREADYEXISTS]" in lines[-1]
        await c.ok("CREATE Trailing/")
        assert "Trailing" in listed(await c.ok('LIST "" Trailing'))


async def test_inbox_is_case_insensitive(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        assert set(listed(await c.ok('LIST "" inbox'))) == {"INBOX"}
        await c.ok("SELECT iNbOx")
        await c.ok("STATUS Inbox (MESSAGES)")


async def test_modified_utf7_names(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("CREATE Entw&APw-rfe")  # "Entwürfe"
        lines = await c.ok('LIST "" Entw*')
        assert lines[0].endswith('"/" Entw&APw-rfe')
        mb = await services.store.get_mailbox(c.session.state.account.id, "Entwürfe")  # type: ignore[union-attr]
        assert mb is not None
        await c.ok("ENABLE UTF8=ACCEPT")
        lines = await c.ok('LIST "" Entw*')
        assert lines[0].endswith('"/" "Entwürfe"') or lines[0].endswith("Entwürfe")


async def test_delete_rules(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("CREATE a/b")
        await c.ok("DELETE a")  # has inferiors: deleted, name stays as \Noselect
        boxes = listed(await c.ok('LIST "" *'))
        assert "\\Noselect" in boxes["a"] and "a/b" in boxes
        lines = await c.do("DELETE a")
        assert "NO [HASCHILDREN]" in lines[-1]
        lines = await c.do("DELETE nothere")
        assert "NO [NONEXISTENT]" in lines[-1]
        lines = await c.do("DELETE INBOX")
        assert status_of(lines[-1]) == "NO"
        await c.ok("DELETE a/b")
        assert "a" not in listed(await c.ok('LIST "" *'))


async def test_rename_moves_inferiors_and_inbox_rule(services: ImapServices) -> None:
    await deliver_many(services.store, 2)
    async with open_client(services) as c:
        await c.login()
        await c.ok("CREATE x/y")
        await c.ok("RENAME x z")
        boxes = listed(await c.ok('LIST "" *'))
        assert "z/y" in boxes and "x" not in boxes
        assert "NO [ALREADYEXISTS]" in (await c.do("RENAME z Sent"))[-1]
        assert "NO [NONEXISTENT]" in (await c.do("RENAME nothere q"))[-1]
        # RFC 9051 §6.3.6: renaming INBOX moves its messages; INBOX stays, empty.
        await c.ok("RENAME INBOX Old")
        lines = await c.ok("STATUS INBOX (MESSAGES)")
        assert "MESSAGES 0" in lines[0]
        lines = await c.ok("STATUS Old (MESSAGES)")
        assert "MESSAGES 2" in lines[0]


async def test_subscribe_lsub_and_list_subscribed(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("CREATE p/q")
        await c.ok("UNSUBSCRIBE p")
        await c.ok("SUBSCRIBE p/q")
        await c.ok("UNSUBSCRIBE Junk")
        subs = listed(await c.ok('LSUB "" *'))
        assert "Junk" not in subs and "p/q" in subs and "INBOX" in subs
        lsub_top = listed(await c.ok('LSUB "" p'))
        assert lsub_top == {} or "\\Noselect" in lsub_top.get("p", "\\Noselect")
        top = listed(await c.ok('LSUB "" %'))
        assert "\\Noselect" in top["p"]
        sub = listed(await c.ok('LIST (SUBSCRIBED) "" *'))
        assert "Junk" not in sub and all("\\Subscribed" in a for a in sub.values())
        rec = await c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" %')
        p_line = next(x for x in rec if x.endswith(" p") or " p (" in x)
        assert '"CHILDINFO" ("SUBSCRIBED")' in p_line
        assert "NO [NONEXISTENT]" in (await c.do("SUBSCRIBE nothere"))[-1]
        assert status_of((await c.do('LIST (RECURSIVEMATCH) "" *'))[-1]) == "BAD"


async def test_list_extended_return_options(services: ImapServices) -> None:
    await deliver_many(services.store, 3)
    async with open_client(services) as c:
        await c.login()
        lines = await c.ok('LIST "" (INBOX Sent) RETURN (SUBSCRIBED STATUS (MESSAGES UNSEEN))')
        assert lines[0].startswith("* LIST (") and "\\Subscribed" in lines[0]
        assert lines[1] == "* STATUS INBOX (MESSAGES 3 UNSEEN 3)"
        special = listed(await c.ok('LIST (SPECIAL-USE) "" *'))
        assert set(special) == {"Sent", "Drafts", "Trash", "Junk", "Archive"}


async def test_status_items(services: ImapServices) -> None:
    raws = await deliver_many(services.store, 2)
    async with open_client(services) as c:
        await c.login()
        lines = await c.ok("STATUS INBOX (MESSAGES UIDNEXT UNSEEN DELETED SIZE RECENT)")
        assert lines[0] == (
            f"* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UNSEEN 2 DELETED 0 SIZE "
            f"{sum(len(r) for r in raws)} RECENT 2)"
        )
        assert "UIDVALIDITY" in (await c.ok("STATUS INBOX (UIDVALIDITY)"))[0]
        assert "NO [NONEXISTENT]" in (await c.do("STATUS nothere (MESSAGES)"))[-1]
        await c.ok("ENABLE IMAP4rev2")
        assert status_of((await c.do("STATUS INBOX (RECENT)"))[-1]) == "BAD"


async def test_namespace(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        lines = await c.ok("NAMESPACE")
        assert lines[0] == '* NAMESPACE (("" "/")) NIL NIL'


async def test_create_special_use(services: ImapServices) -> None:
    async with open_client(services) as c:
        await c.login()
        await c.ok("CREATE Reports (USE (\\Archive))")
        assert "\\Archive" in listed(await c.ok('LIST "" Reports'))["Reports"]
        lines = await c.do("CREATE Other (USE (\\Sent \\Archive))")
        assert "NO [USEATTR]" in lines[-1]
        lines = await c.do("CREATE Other (USE (\\Bogus))")
        assert "NO [USEATTR]" in lines[-1]  # RFC 6154 §3: NO, not BAD
        assert "Other" not in listed(await c.ok('LIST "" *'))
