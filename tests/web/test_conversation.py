"""The conversation page: a thread across INBOX and Sent on one page, from the store's
thread ids; ids checked against the logged-in account; the link from the message page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from posteingang.delivery.deliver import deliver
from posteingang.delivery.ingest import prepare_message
from tests.serving import ALICE
from tests.web.conftest import BOB, WebServer


def _mail(
    sender: str, to: str, subject: str, message_id: str, body: str, *, parent: str = ""
) -> bytes:
    answers = f"In-Reply-To: <{parent}>\r\nReferences: <{parent}>\r\n" if parent else ""
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{message_id}>\r\n{answers}"
        "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


async def _mailbox(web: WebServer, name: str, address: str = ALICE) -> int:
    account = await web.store.get_account(address)
    return int((await web.store.get_mailbox(account.id, name)).id)


async def _question_and_answer(web: WebServer) -> tuple[int, int]:
    """A question in Alice's INBOX and her answer in Sent (stored an hour later)."""
    question = _mail("carol@example.org", ALICE, "Lunch?", "q1@example.org", "Lunch at <noon>?")
    await deliver(web.store, ALICE, question)
    answer = _mail(
        ALICE, "carol@example.org", "Re: Lunch?", "a1@example.test", "Yes, 12:30.",
        parent="q1@example.org",
    )  # fmt: skip
    sent = await _mailbox(web, "Sent")
    later = datetime.now(UTC) + timedelta(hours=1)
    await web.store.append(sent, await prepare_message(web.store, answer, internal_date=later))
    return await _mailbox(web, "INBOX"), sent


async def test_a_question_in_inbox_and_its_answer_in_sent_on_one_page(web: WebServer) -> None:
    inbox, sent = await _question_and_answer(web)
    await deliver(web.store, ALICE, _mail("dave@example.org", ALICE, "Other", "o@x", "unrelated"))
    async with web.logged_in() as client:
        page = await client.get(f"/mail/{sent}/1/conversation")
    assert page.status_code == 200, page.text
    items = re.findall(
        r'<details class="conversation-item" data-mailbox="(\d+)" data-uid="(\d+)"( open)?',
        page.text,
    )
    # Oldest first; the opened one (the answer in Sent) expanded.
    assert items == [(str(inbox), "1", ""), (str(sent), "1", " open")]
    assert page.text.index("Lunch at &lt;noon&gt;?") < page.text.index("Yes, 12:30.")
    assert "carol@example.org" in page.text and "unrelated" not in page.text
    assert re.search(r'class="folder">INBOX<.*class="folder">Sent<', page.text, re.S)
    # In German, the folder names too.
    async with web.logged_in() as client:
        german = await client.get(
            f"/mail/{inbox}/1/conversation", headers={"accept-language": "de"}
        )
    assert "Posteingang" in german.text and "Gesendet" in german.text
    assert "2 Nachrichten in dieser Unterhaltung" in german.text


async def test_html_bodies_get_their_own_sandboxed_frame(web: WebServer) -> None:
    html = (
        b"From: carol@example.org\r\nTo: alice@example.test\r\nSubject: Plan\r\n"
        b"Message-ID: <h1@example.org>\r\nContent-Type: text/html\r\n\r\n"
        b'<p>The plan</p><script>alert(1)</script><img src="https://t.example/x.png">\r\n'
    )
    await deliver(web.store, ALICE, html)
    reply = _mail("carol@example.org", ALICE, "Re: Plan", "h2@x", "ok", parent="h1@example.org")
    await deliver(web.store, ALICE, reply)
    inbox = await _mailbox(web, "INBOX")
    async with web.logged_in() as client:
        page = await client.get(f"/mail/{inbox}/2/conversation")
        frame = await client.get(f"/mail/{inbox}/1/body")
    assert f'src="/mail/{inbox}/1/body"' in page.text
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page.text
    assert "<script>" not in page.text and "The plan" not in page.text
    assert "sandbox" in frame.headers["content-security-policy"]
    # The notice about blocked images leads to the message, where they can be loaded.
    assert f'<a href="/mail/{inbox}/1">Open message</a>' in page.text


async def test_another_accounts_message_is_not_found(web: WebServer) -> None:
    await _question_and_answer(web)
    bob_inbox = await _mailbox(web, "INBOX", BOB)
    await deliver(web.store, BOB, _mail("carol@example.org", BOB, "Hi", "b1@x", "for bob"))
    async with web.logged_in() as client:
        other = await client.get(f"/mail/{bob_inbox}/1/conversation")
        missing = await client.get(f"/mail/{bob_inbox}/99/conversation")
        printed = await client.get(f"/mail/{bob_inbox}/1/conversation/print")
    assert other.status_code == 404 and missing.status_code == 404
    assert printed.status_code == 404
    assert "for bob" not in other.text and "for bob" not in printed.text


async def test_the_print_view_has_every_message_with_its_headers(web: WebServer) -> None:
    inbox, _ = await _question_and_answer(web)
    async with web.logged_in() as client:
        page = await client.get(f"/mail/{inbox}/1/conversation")
        printed = await client.get(f"/mail/{inbox}/1/conversation/print")
    assert f'href="/mail/{inbox}/1/conversation/print"' in page.text
    assert printed.status_code == 200
    articles = printed.text.split('<article class="message">')[1:]
    assert len(articles) == 2
    assert "carol@example.org" in articles[0] and "Lunch at &lt;noon&gt;?" in articles[0]
    assert "Re: Lunch?" in articles[1] and "Yes, 12:30." in articles[1]
    assert all("<dt>From</dt>" in a and "<dt>Date</dt>" in a for a in articles)
    assert "/static/print.css" in printed.text


async def test_a_reply_in_another_account_does_not_join(web: WebServer) -> None:
    """Bob answers the same Message-ID: his copy is his thread, not Alice's."""
    inbox, _ = await _question_and_answer(web)
    question = "q1@example.org"  # Alice's question: Bob got it too
    reply = _mail("carol@example.org", BOB, "Re: Lunch?", "b2@x", "bob's reply", parent=question)
    await deliver(web.store, BOB, reply)
    async with web.logged_in() as client:
        page = await client.get(f"/mail/{inbox}/1/conversation")
    assert page.status_code == 200
    assert "bob&#39;s reply" not in page.text and "bob's reply" not in page.text


async def test_the_message_page_links_to_the_conversation_only_for_a_thread(
    web: WebServer,
) -> None:
    inbox, _ = await _question_and_answer(web)
    await deliver(web.store, ALICE, _mail("dave@example.org", ALICE, "Alone", "alone@x", "hi"))
    async with web.logged_in() as client:
        threaded = await client.get(f"/mail/{inbox}/1")
        alone = await client.get(f"/mail/{inbox}/2")
    assert f'href="/mail/{inbox}/1/conversation"' in threaded.text
    assert "Conversation (2 messages)" in threaded.text
    assert "/conversation" not in alone.text
