"""Answering in real headless Chromium (Debian's chromium via Playwright's
`executable_path`): Alice opens Bob's message, presses `r`, writes, sends; the
undo page counts down; Bob's open inbox shows the reply arrive (live, no reload).
And rich text: bold, a list and a link from the toolbar arrive as HTML with a text part."""

from __future__ import annotations

import asyncio
import email
import os
import re
import shutil
from email.policy import default as default_policy
from pathlib import Path

import pytest

from posteingang.delivery.deliver import deliver
from tests.serving import ALICE, PASSWORD
from tests.web.conftest import BOB, WebServer
from tests.web.messages import plain
from tests.web.test_compose import WAIT, folder, serve_compose

CHROMIUM = os.environ.get("POSTEINGANG_CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None,
    reason="Debian's chromium is not installed",
)

playwright_api = pytest.importorskip("playwright.async_api")


async def _page(browser: object, web: WebServer, user: str, password: str) -> object:
    context = await browser.new_context()  # type: ignore[attr-defined]
    page = await context.new_page()
    await page.goto(web.base + "/")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/mail/*")
    return page


async def test_reply_with_r_and_see_it_arrive(tmp_path: Path) -> None:
    async with serve_compose(tmp_path) as web, playwright_api.async_playwright() as p:
        hello = plain(1, "Are you coming?", to=ALICE, subject="dinner")
        await deliver(web.store, ALICE, hello.replace(b"sender1@example.org", BOB.encode()))
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            bob = await _page(browser, web, BOB, "bobs password")
            alice = await _page(browser, web, ALICE, PASSWORD)
            await alice.click("#rows a:has-text('dinner')")  # type: ignore[attr-defined]
            await alice.wait_for_selector("#reply")  # type: ignore[attr-defined]
            await alice.keyboard.press("r")  # type: ignore[attr-defined]
            await alice.wait_for_url("**/compose?mode=reply*")  # type: ignore[attr-defined]
            assert await alice.input_value("#c-to") == BOB  # type: ignore[attr-defined]
            assert await alice.input_value("#c-subject") == "Re: dinner"  # type: ignore[attr-defined]
            quoted = await alice.input_value("#c-body")  # type: ignore[attr-defined]
            assert "> Are you coming?" in quoted
            await alice.focus("#c-body")  # type: ignore[attr-defined]
            await alice.keyboard.press("Control+Home")  # type: ignore[attr-defined]
            await alice.keyboard.type("Yes, at eight.")  # type: ignore[attr-defined]
            await alice.click("#send")  # type: ignore[attr-defined]
            await alice.wait_for_selector("#undo-send")  # type: ignore[attr-defined]
            # Bob's inbox, open all along, shows the reply when it has left.
            row = bob.locator("#rows tr", has_text="Re: dinner")  # type: ignore[attr-defined]
            await row.wait_for(timeout=(WAIT + 20) * 1000)
            await alice.wait_for_selector(".sent-done", timeout=10_000)  # type: ignore[attr-defined]
        finally:
            await browser.close()
        (reply,) = await folder(web, BOB, "INBOX")
        msg = email.message_from_bytes(reply, policy=default_policy)
        assert msg["In-Reply-To"] == "<p1@example.org>" and msg["From"] == ALICE
        body = msg.get_body(("plain",))
        assert body is not None and body.get_content().startswith("Yes, at eight.")


async def test_write_in_rich_text(tmp_path: Path) -> None:
    async with serve_compose(tmp_path) as web, playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            alice = await _page(browser, web, ALICE, PASSWORD)
            await alice.goto(web.base + "/compose")  # type: ignore[attr-defined]
            await alice.fill("#c-to", BOB)  # type: ignore[attr-defined]
            await alice.fill("#c-subject", "formatted")  # type: ignore[attr-defined]
            await alice.fill("#c-body", "First line")  # type: ignore[attr-defined]
            await alice.check("#c-rich")  # type: ignore[attr-defined]
            assert not await alice.is_visible("#c-body")  # type: ignore[attr-defined]
            editor = alice.locator("#c-html")  # type: ignore[attr-defined]
            assert await editor.inner_text() == "First line"
            await editor.press("End")
            await editor.press("Enter")
            await alice.click(".rich-tools [data-cmd=bold]")  # type: ignore[attr-defined]
            await alice.keyboard.type("bold words")  # type: ignore[attr-defined]
            await alice.click(".rich-tools [data-cmd=bold]")  # type: ignore[attr-defined]
            await editor.press("Enter")
            await alice.click(".rich-tools [data-cmd=insertUnorderedList]")  # type: ignore[attr-defined]
            await alice.keyboard.type("an item")  # type: ignore[attr-defined]
            alice.once("dialog", lambda d: d.accept("https://example.org/x"))  # type: ignore[attr-defined]
            await alice.keyboard.press("Shift+Home")  # type: ignore[attr-defined]
            await alice.click(".rich-tools [data-cmd=createLink]")  # type: ignore[attr-defined]
            await editor.locator("a[href='https://example.org/x']").wait_for()
            await alice.click("#send")  # type: ignore[attr-defined]
            await alice.wait_for_selector("#undo-send")  # type: ignore[attr-defined]
        finally:
            await browser.close()
        for _ in range(int(WAIT + 20) * 5):
            if await folder(web, BOB, "INBOX"):
                break
            await asyncio.sleep(0.2)
        (raw,) = await folder(web, BOB, "INBOX")
        msg = email.message_from_bytes(raw, policy=default_policy)
        assert msg.get_content_type() == "multipart/alternative"
        html = msg.get_body(("html",))
        text = msg.get_body(("plain",))
        assert html is not None and text is not None
        markup = html.get_content()
        assert re.search(r"<b>bold words</b>", markup), markup
        assert re.search(r'<li><a href="https://example.org/x"[^>]*>an item</a></li>', markup)
        assert text.get_content().replace("\r\n", "\n") == (
            "First line\nbold words\n- an item <https://example.org/x>\n"
        )
