"""Search in real headless Chromium: `/` focuses the search field, a search by
subject finds the message (tests/web/test_browser.py has the fixtures)."""

from __future__ import annotations

from posteingang.delivery.deliver import deliver
from tests.serving import ALICE
from tests.web.conftest import WebServer
from tests.web.messages import plain
from tests.web.test_browser import _log_in, browser, pytestmark, server  # noqa: F401


async def test_slash_focuses_search_and_subject_search_finds_the_message(
    server: tuple[WebServer, int],  # noqa: F811
    browser: object,  # noqa: F811
) -> None:
    web, _ = server
    await deliver(web.store, ALICE, plain(1, "x", subject="Agenda for Tuesday"))
    await deliver(web.store, ALICE, plain(2, "y", subject="Holiday photos"))
    page = await _log_in(browser, web)
    await page.keyboard.press("/")  # type: ignore[attr-defined]
    focused = await page.evaluate("document.activeElement.id")  # type: ignore[attr-defined]
    assert focused == "search-q"
    await page.keyboard.type("agenda")  # type: ignore[attr-defined]
    await page.keyboard.press("Enter")  # type: ignore[attr-defined]
    await page.wait_for_url("**/search?q=agenda", timeout=10_000)  # type: ignore[attr-defined]
    quick = await page.locator(".results td.subject a").all_inner_texts()  # type: ignore[attr-defined]
    assert quick == ["Agenda for Tuesday"]
    await page.click("a.more")  # type: ignore[attr-defined]
    await page.fill("input[name=subject]", "holiday")  # type: ignore[attr-defined]
    await page.click(".search-form button[type=submit]")  # type: ignore[attr-defined]
    await page.wait_for_url("**/search?*", timeout=10_000)  # type: ignore[attr-defined]
    subjects = await page.locator(".results td.subject a").all_inner_texts()  # type: ignore[attr-defined]
    assert subjects == ["Holiday photos"]
    await page.click(".results td.subject a")  # type: ignore[attr-defined]
    await page.wait_for_url("**/mail/*/2", timeout=10_000)  # type: ignore[attr-defined]
