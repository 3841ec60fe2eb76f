"""Accessibility: axe-core (from npm, tests/web/package.json; `scripts/test` installs it
with `npm ci`) run in real headless Chromium over the login, mailbox, message,
conversation, compose, search and account pages, light and dark, desktop and phone:
no `serious` or `critical` violation.

The message bodies' sandboxed frames are the sender's markup, not ours, and run no
script: axe checks the page around them (`iframes: false`), the frame's title included.
"""

from __future__ import annotations

import asyncio
import imaplib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from posteingang.delivery.deliver import deliver
from posteingang.delivery.ingest import prepare_message
from tests.serving import ALICE, PASSWORD
from tests.web.conftest import WebServer
from tests.web.messages import multipart
from tests.web.test_browser import browser, server  # noqa: F401
from tests.web.test_browser import pytestmark as needs_chromium
from tests.web.test_conversation_browser import ANSWER, QUESTION

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [
    needs_chromium,
    pytest.mark.skipif(
        not AXE.exists(),
        reason="axe-core is not installed: run `npm ci --prefix tests/web` (scripts/test does)",
    ),
]

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


async def _violations(page: object) -> list[str]:
    await page.evaluate(AXE.read_text())  # type: ignore[attr-defined]
    found = await page.evaluate(  # type: ignore[attr-defined]
        """async () => {
          const result = await axe.run(document, { iframes: false, resultTypes: ["violations"] });
          const serious = result.violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => ({
              id: v.id,
              impact: v.impact,
              nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
            }));
          return { serious, passed: result.passes.length };
        }"""
    )
    assert found["passed"] > 10  # axe did check the page
    return [json.dumps(v, ensure_ascii=False) for v in found["serious"]]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_no_serious_violations(
    server: tuple[WebServer, int],  # noqa: F811
    browser: object,  # noqa: F811
    scheme: str,
    size: str,
) -> None:
    web, imap_port = server
    # A mail program connected, for the account page's list of them.
    imap = await asyncio.to_thread(imaplib.IMAP4, "127.0.0.1", imap_port, 30)
    await asyncio.to_thread(imap.login, ALICE, PASSWORD)
    await deliver(web.store, ALICE, multipart())
    await deliver(web.store, ALICE, QUESTION)
    account = await web.store.get_account(ALICE)
    inbox = (await web.store.get_mailbox(account.id, "INBOX")).id
    sent = (await web.store.get_mailbox(account.id, "Sent")).id
    later = datetime.now(UTC) + timedelta(hours=1)
    await web.store.append(sent, await prepare_message(web.store, ANSWER, internal_date=later))
    context = await browser.new_context(  # type: ignore[attr-defined]
        viewport=SIZES[size], color_scheme=scheme, is_mobile=size == "phone", locale="en-US"
    )
    page = await context.new_page()
    report: dict[str, list[str]] = {}
    await page.goto(web.base + "/login")
    report["login"] = await _violations(page)
    await page.fill("input[name=username]", ALICE)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/mail/*")
    pages = {
        "mailbox": f"/mail/{inbox}",
        "message": f"/mail/{inbox}/1",
        "conversation": f"/mail/{sent}/1/conversation",
        "compose": f"/compose?mode=reply&mailbox={inbox}&uid=1",
        "search": f"/mail/{inbox}/search?q=Plan",
        "account": "/account",
        "setup": "/account/setup",
    }
    for name, path in pages.items():
        await page.goto(web.base + path)
        report[name] = await _violations(page)
    # The keyboard help (`?`) open over the message list.
    await page.goto(f"{web.base}/mail/{inbox}")
    await page.keyboard.press("?")
    await page.wait_for_selector("#keys-help[open]")
    report["keys-help"] = await _violations(page)
    await context.close()
    await asyncio.to_thread(imap.logout)
    failed = {name: found for name, found in report.items() if found}
    assert failed == {}, json.dumps(failed, indent=1, ensure_ascii=False)
