"""Search on the server: the page finds what IMAP UID SEARCH finds, paged, in one
folder or all of them."""

from __future__ import annotations

import asyncio
import imaplib
import re

import httpx
import pytest

from posteingang.delivery.deliver import deliver
from posteingang.store.model import FLAGGED
from posteingang.web import search
from tests.serving import ALICE, PASSWORD
from tests.web.conftest import WebServer, csrf_of
from tests.web.messages import multipart
from tests.web.test_live import web_imap  # noqa: F401  (the fixture)


def _mail(n: int, sender: str, to: str, subject: str, body: str, date: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n"
        f"Message-ID: <s{n}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


CORPUS = [
    _mail(
        1,
        "Bob <bob@example.org>",
        "alice@example.test",
        "Quarterly report",
        "figures attached",
        "Mon, 02 Nov 2026 09:00:00 +0000",
    ),
    _mail(
        2,
        "Carol <carol@example.net>",
        "alice@example.test",
        "Lunch?",
        "the report can wait",
        "Tue, 10 Nov 2026 12:00:00 +0100",
    ),
    _mail(
        3,
        "Bob <bob@example.org>",
        "team@example.test",
        "Re: Lunch?",
        "yes, noon",
        "Wed, 18 Nov 2026 23:30:00 -0500",
    ),
    _mail(
        4,
        "=?utf-8?q?J=C3=BCrgen?= <j@example.de>",
        "alice@example.test",
        "=?utf-8?q?Gr=C3=BC=C3=9Fe?=",
        "Schöne Grüße",
        "Thu, 26 Nov 2026 08:00:00 +0100",
    ),
    _mail(
        5,
        "Dave <dave@example.com>",
        "bob@example.org",
        "Invoice 42",
        "Please pay the report fee",
        "Fri, 04 Dec 2026 10:00:00 +0000",
    ),
]

# (web form, the IMAP UID SEARCH program that means the same)
CASES = [
    ({"from": "bob"}, "FROM bob"),
    ({"to": "alice"}, "TO alice"),
    ({"subject": "lunch"}, "SUBJECT lunch"),
    ({"body": "report"}, "BODY report"),
    ({"q": "report"}, "TEXT report"),
    ({"subject": "grüße"}, "CHARSET UTF-8 SUBJECT {grüße}"),
    (
        {"since": "2026-11-10", "until": "2026-11-26"},
        "SENTSINCE 10-Nov-2026 SENTBEFORE 27-Nov-2026",
    ),
    ({"from": "bob", "body": "noon"}, "FROM bob BODY noon"),
    # Fields too short for the trigram index, alone and with one it can look up:
    # every field still holds for every result, however many the index names.
    ({"subject": "42"}, "SUBJECT 42"),
    ({"q": "report", "subject": "42"}, "TEXT report SUBJECT 42"),
    ({"to": "al", "body": "report"}, "TO al BODY report"),
]


async def _page_uids(client: httpx.AsyncClient, mailbox: int, params: dict[str, str]) -> list[int]:
    response = await client.get(f"/mail/{mailbox}/search", params=params)
    assert response.status_code == 200
    return sorted(int(u) for u in re.findall(r'<tr data-uid="(\d+)"', response.text))


def _imap_search(port: int, program: str) -> list[int]:
    conn = imaplib.IMAP4("127.0.0.1", port)
    try:
        conn.login(ALICE, PASSWORD)
        conn.select("INBOX", readonly=True)
        if "{" in program:  # a literal: imaplib sends it itself
            head, _, word = program.partition("{")
            conn.literal = word.rstrip("}").encode()  # type: ignore[attr-defined]
            typ, data = conn.uid("SEARCH", *head.split())
        else:
            typ, data = conn.uid("SEARCH", *program.split())
        assert typ == "OK", data
        return sorted(int(u) for u in data[0].split())
    finally:
        conn.logout()


@pytest.mark.parametrize("confirm_limit", [search.CONFIRM_LIMIT, 0])
async def test_web_search_finds_what_imap_uid_search_finds(
    web_imap: tuple[WebServer, int],  # noqa: F811
    confirm_limit: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the index's hits confirmed by the engine, and (limit 0) taken as they are."""
    monkeypatch.setattr(search, "CONFIRM_LIMIT", confirm_limit)
    web, port = web_imap
    for raw in CORPUS:
        await deliver(web.store, ALICE, raw)
    account = await web.store.get_account(ALICE)
    inbox = (await web.store.get_mailbox(account.id, "INBOX")).id
    async with web.logged_in() as client:
        for form, program in CASES:
            imap = await asyncio.to_thread(_imap_search, port, program)
            assert imap, program  # each case finds something...
            assert len(imap) < len(CORPUS), program  # ...and not everything
            assert await _page_uids(client, inbox, form) == imap, (form, program)


async def test_search_in_all_folders_attachments_and_paging(
    web_imap: tuple[WebServer, int],  # noqa: F811
) -> None:
    web, _ = web_imap
    account = await web.store.get_account(ALICE)
    inbox = (await web.store.get_mailbox(account.id, "INBOX")).id
    archive = (await web.store.get_mailbox(account.id, "Archive")).id
    for raw in CORPUS:
        await deliver(web.store, ALICE, raw)
    await deliver(web.store, ALICE, multipart(), mailbox="Archive")
    async with web.logged_in() as client:
        # "report" is in 1, 2 and 5 of INBOX; the Archive's message has no "report"
        assert await _page_uids(client, inbox, {"q": "report"}) == [1, 2, 5]
        # the multipart message (with attachments) is only found in all folders
        only_here = await _page_uids(client, inbox, {"from": "juergen"})
        assert only_here == []
        everywhere = await client.get(
            f"/mail/{inbox}/search", params={"from": "juergen", "scope": "all"}
        )
        assert f'href="/mail/{archive}/1"' in everywhere.text
        # has attachment: only the Archive's message
        found = await client.get(
            f"/mail/{inbox}/search", params={"attachment": "1", "scope": "all"}
        )
        assert re.findall(r'href="/mail/(\d+)/(\d+)"', found.text) == [(str(archive), "1")]
        # newest first, paged like the list (50 to a page)
        for n in range(60):
            await deliver(
                web.store,
                ALICE,
                _mail(
                    100 + n,
                    "x@example.org",
                    "alice@example.test",
                    f"bulk {n}",
                    "-",
                    "Mon, 07 Dec 2026 10:00:00 +0000",
                ),
            )
        first = await client.get(f"/mail/{inbox}/search", params={"subject": "bulk"})
        uids = [int(u) for u in re.findall(r'<tr data-uid="(\d+)"', first.text)]
        assert len(uids) == 50 and uids == sorted(uids, reverse=True)
        assert "60 messages" in first.text and 'rel="next"' in first.text
        second = await client.get(f"/mail/{inbox}/search", params={"subject": "bulk", "page": "2"})
        rest = [int(u) for u in re.findall(r'<tr data-uid="(\d+)"', second.text)]
        assert len(rest) == 10 and max(rest) < min(uids)


async def test_act_on_search_results_and_refresh_their_rows(web: WebServer) -> None:
    for raw in CORPUS:
        await deliver(web.store, ALICE, raw)
    account = await web.store.get_account(ALICE)
    inbox = (await web.store.get_mailbox(account.id, "INBOX")).id
    async with web.logged_in() as client:
        page = await client.get(f"/mail/{inbox}/search", params={"from": "bob"})
        assert 'id="rows"' in page.text and 'name="uid" value="3"' in page.text
        done = await client.post(
            f"/mail/{inbox}/action",
            data={
                "csrf": csrf_of(page.text),
                "action": "flag",
                "uid": ["1", "3"],
                "next": f"/mail/{inbox}/search?from=bob",
            },
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/mail/{inbox}/search?from=bob"
        rows = await client.get(f"/mail/{inbox}/search", params={"from": "bob", "part": "rows"})
        assert rows.text.lstrip().startswith("<tr")
        assert rows.text.count("flagged") == 2
    flagged = {m.uid for m in await web.store.get_messages(inbox, [1, 2, 3]) if FLAGGED in m.flags}
    assert flagged == {1, 3}
