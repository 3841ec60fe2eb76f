"""The conversation page in real headless Chromium: from the message page's link to
the thread, the opened message expanded, another opened by a click (its HTML in the
sandboxed frame, its script not run); the conversation's print view printed to PDF
has every message with its headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from posteingang.delivery.deliver import deliver
from posteingang.delivery.ingest import prepare_message
from tests.serving import ALICE
from tests.web.conftest import WebServer
from tests.web.pdf import pdf_text, squeeze
from tests.web.test_browser import _log_in, browser, pytestmark, server  # noqa: F401

QUESTION = (
    b"From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: Plan\r\n"
    b"Message-ID: <plan@example.org>\r\nContent-Type: text/html\r\n\r\n"
    b"<p>The plan for Monday</p><script>window.pwned = 1</script>\r\n"
)
ANSWER = (
    b"From: alice@example.test\r\nTo: carol@example.org\r\nSubject: Re: Plan\r\n"
    b"Message-ID: <answer@example.test>\r\nIn-Reply-To: <plan@example.org>\r\n"
    b"Content-Type: text/plain\r\n\r\nSounds good.\r\n"
)


async def test_from_the_message_to_its_conversation(
    server: tuple[WebServer, int],  # noqa: F811
    browser: object,  # noqa: F811
) -> None:
    web, _ = server
    await deliver(web.store, ALICE, QUESTION)
    account = await web.store.get_account(ALICE)
    sent = (await web.store.get_mailbox(account.id, "Sent")).id
    later = datetime.now(UTC) + timedelta(hours=1)
    await web.store.append(sent, await prepare_message(web.store, ANSWER, internal_date=later))
    page = await _log_in(browser, web)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))  # type: ignore[attr-defined]
    await page.goto(f"{web.base}/mail/{sent}/1")  # type: ignore[attr-defined]
    await page.click("#conversation")  # type: ignore[attr-defined]
    await page.wait_for_selector("section.conversation")  # type: ignore[attr-defined]
    items = page.locator("details.conversation-item")  # type: ignore[attr-defined]
    assert await items.count() == 2
    assert await items.nth(1).get_attribute("open") is not None
    assert await page.is_visible("text=Sounds good.")  # type: ignore[attr-defined]
    # The question (from INBOX) opens with a click on its line; its HTML is in the frame.
    await items.nth(0).locator("summary").click()
    frame = page.frame_locator("details.conversation-item >> nth=0 >> iframe")  # type: ignore[attr-defined]
    await frame.locator("text=The plan for Monday").wait_for()
    assert await page.evaluate("() => window.pwned === undefined")  # type: ignore[attr-defined]
    assert errors == []


async def test_print_the_whole_conversation_to_pdf(
    server: tuple[WebServer, int],  # noqa: F811
    browser: object,  # noqa: F811
) -> None:
    web, _ = server
    await deliver(web.store, ALICE, QUESTION)
    account = await web.store.get_account(ALICE)
    sent = (await web.store.get_mailbox(account.id, "Sent")).id
    later = datetime.now(UTC) + timedelta(hours=1)
    await web.store.append(sent, await prepare_message(web.store, ANSWER, internal_date=later))
    page = await _log_in(browser, web)
    await page.goto(f"{web.base}/mail/{sent}/1/conversation")  # type: ignore[attr-defined]
    # The print view opens the print dialogue itself; here Chromium prints instead.
    context = page.context  # type: ignore[attr-defined]
    await context.route("**/static/print.js", lambda route: route.abort())
    async with context.expect_page() as info:
        await page.click("#print-conversation")  # type: ignore[attr-defined]
    printed = await info.value
    await printed.wait_for_load_state()
    await printed.emulate_media(media="print")
    pdf = await printed.pdf()
    assert pdf.startswith(b"%PDF-")
    text = squeeze(pdf_text(pdf))
    # Both messages, each with its headers and text, in the order they were written.
    question = text.index(squeeze("Carol <carol@example.org>"))
    assert text.index(squeeze("The plan for Monday")) > question
    answer = text.index("Soundsgood.")
    assert answer > text.index("Sent") > question
    assert text.count("From") == 2 and text.count("To") >= 2
    assert squeeze("2 messages in this conversation") in text
    await printed.close()


FOLLOW_UP = (
    b"From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: Re: Plan\r\n"
    b"Message-ID: <follow@example.org>\r\nIn-Reply-To: <answer@example.test>\r\n"
    b"References: <plan@example.org> <answer@example.test>\r\n"
    b"Content-Type: text/plain\r\n\r\nSee you then.\r\n"
)


async def test_the_keyboard_on_a_conversation(
    server: tuple[WebServer, int],  # noqa: F811
    browser: object,  # noqa: F811
) -> None:
    web, _ = server
    await deliver(web.store, ALICE, QUESTION)
    account = await web.store.get_account(ALICE)
    boxes = {n: (await web.store.get_mailbox(account.id, n)).id for n in ("INBOX", "Sent")}
    boxes["Archive"] = (await web.store.get_mailbox(account.id, "Archive")).id
    later = datetime.now(UTC) + timedelta(hours=1)
    await web.store.append(
        boxes["Sent"], await prepare_message(web.store, ANSWER, internal_date=later)
    )
    even_later = later + timedelta(hours=1)
    follow_up = await prepare_message(web.store, FOLLOW_UP, internal_date=even_later)
    await web.store.append(boxes["INBOX"], follow_up)
    page = await _log_in(browser, web)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))  # type: ignore[attr-defined]
    await page.goto(f"{web.base}/mail/{boxes['Sent']}/1/conversation")  # type: ignore[attr-defined]
    keys = page.keyboard  # type: ignore[attr-defined]

    async def cursor() -> str:
        return (
            await page.get_attribute("details.cursor", "data-uid")
            + "@"
            + (  # type: ignore[attr-defined,operator]
                await page.get_attribute("details.cursor", "data-mailbox")  # type: ignore[attr-defined]
            )
        )

    sent, inbox = f"1@{boxes['Sent']}", boxes["INBOX"]
    assert await cursor() == sent  # the opened message
    # The overlay lists this page's keys.
    await keys.press("?")
    assert await page.is_visible("#keys-help")  # type: ignore[attr-defined]
    assert "n / p" in await page.inner_text("#keys-help")  # type: ignore[attr-defined]
    await keys.press("Escape")
    assert not await page.is_visible("#keys-help")  # type: ignore[attr-defined]
    # j/k and n/p move between the messages, opening the one they reach.
    await keys.press("k")
    assert await cursor() == f"1@{inbox}"
    assert await page.get_attribute("details.cursor", "open") is not None  # type: ignore[attr-defined]
    await keys.press("n")
    await keys.press("j")
    assert await cursor() == f"2@{inbox}"
    await keys.press("p")
    assert await cursor() == sent
    # s flags the message under the cursor, in its own folder.
    await keys.press("s")
    await page.wait_for_selector("details.cursor[data-flagged='1']")  # type: ignore[attr-defined]
    (answer,) = await web.store.get_messages(boxes["Sent"], [1])
    assert "\\Flagged" in answer.flags
    # e archives the follow-up: it leaves the page, z brings it (and the page) back.
    await keys.press("j")
    await keys.press("e")
    await page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelectorAll('details.conversation-item').length === 2"
    )
    assert await cursor() == sent
    assert len((await web.store.get_index(boxes["Archive"])).uids) == 1
    # What z undoes is recorded when the archive's own answer arrives, which can come
    # after the change feed has already taken the item off the page.
    await page.wait_for_function(  # type: ignore[attr-defined]
        "() => sessionStorage.getItem('posteingang-undo') !== null"
    )
    await keys.press("z")
    await page.wait_for_url(f"**/mail/{inbox}/*/conversation")  # type: ignore[attr-defined]
    assert await page.locator("details.conversation-item").count() == 3  # type: ignore[attr-defined]
    assert (await web.store.get_index(boxes["Archive"])).uids == []
    # r answers the message under the cursor; u goes back to the list.
    await keys.press("k")
    await keys.press("r")
    await page.wait_for_url("**/compose?mode=reply*")  # type: ignore[attr-defined]
    assert await page.input_value("#c-subject") == "Re: Plan"  # type: ignore[attr-defined]
    await page.go_back()  # type: ignore[attr-defined]
    await page.wait_for_selector("details.cursor")  # type: ignore[attr-defined]
    await keys.press("u")
    await page.wait_for_url(f"**/mail/{inbox}")  # type: ignore[attr-defined]
    assert errors == []
