"""The message list sorted on the server by date sent, sender and subject."""

from __future__ import annotations

import re

from posteingang.delivery.deliver import deliver
from tests.serving import ALICE
from tests.web.conftest import WebServer


def _mail(sender: str, subject: str, date: str) -> bytes:
    return f"From: {sender}\r\nSubject: {subject}\r\nDate: {date}\r\n\r\nx\r\n".encode()


async def test_list_sorted_by_date_sender_and_subject(web: WebServer) -> None:
    for raw in (
        _mail("Zoe <z@example.org>", "Re: apples", "Mon, 02 Nov 2026 09:00:00 +0000"),
        _mail("adam@example.org", "cherries", "Sun, 01 Nov 2026 09:00:00 +0000"),
        _mail("Bert <b@example.org>", "Bananas", "Tue, 03 Nov 2026 09:00:00 +0000"),
    ):
        await deliver(web.store, ALICE, raw)
    account = await web.store.get_account(ALICE)
    inbox = (await web.store.get_mailbox(account.id, "INBOX")).id
    async with web.logged_in() as client:

        async def order(name: str) -> list[int]:
            page = await client.get(f"/mail/{inbox}", params={"order": name})
            assert page.status_code == 200
            return [int(u) for u in re.findall(r'<tr data-uid="(\d+)"', page.text)]

        assert await order("sent") == [3, 1, 2]
        assert await order("sent-oldest") == [2, 1, 3]
        assert await order("from") == [2, 3, 1]
        assert await order("from-desc") == [1, 3, 2]
        assert await order("subject") == [1, 3, 2]
        assert await order("subject-desc") == [2, 3, 1]
        # the live refresh of the rows keeps the order
        rows = await client.get(f"/mail/{inbox}", params={"order": "subject", "part": "rows"})
        assert [int(u) for u in re.findall(r'<tr data-uid="(\d+)"', rows.text)] == [1, 3, 2]
