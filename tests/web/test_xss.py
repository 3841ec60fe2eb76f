"""The XSS corpus (tests/web/xss_corpus.py) opened in headless Chromium.

Every hostile message is delivered, listed and opened, each attachment is
requested by navigating to it, with hooks that record: dialogs (every payload
calls ``alert``), requests to any host but the server (every tracking or
exfiltration payload points at ``xss.example``), and whether something covers
the app outside the message frame. All three must stay empty. Then the same for
CSRF: every state-changing route refuses a request from another origin.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.routing import Route

from posteingang.delivery.deliver import deliver
from posteingang.web.server import serving_for
from tests.serving import ALICE, PASSWORD
from tests.web.conftest import WebServer, serve_web
from tests.web.test_browser import CHROMIUM, pytestmark  # noqa: F401
from tests.web.xss_corpus import corpus

playwright_api = pytest.importorskip("playwright.async_api")

HOOK = """
window.__xss = [];
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = (...args) => { (window.top.__xss || window.__xss).push(name + ":" + args); };
}
"""


@pytest.fixture
async def loaded(tmp_path: Path) -> AsyncIterator[WebServer]:
    async with serve_web(tmp_path) as web:
        for hostile in corpus():
            await deliver(web.store, ALICE, hostile.raw)
        yield web


async def test_no_hostile_message_runs_script_or_fetches_remotely(loaded: WebServer) -> None:
    web = loaded
    hostiles = corpus()
    assert len(hostiles) >= 80
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(accept_downloads=True)
        await context.add_init_script(HOOK)
        remote: list[str] = []
        dialogs: list[str] = []

        async def route(r: object) -> None:
            url = r.request.url  # type: ignore[attr-defined]
            host = urlsplit(url).hostname
            if host not in ("127.0.0.1", None) and not url.startswith(("data:", "blob:")):
                remote.append(url)
                await r.abort()  # type: ignore[attr-defined]
            else:
                await r.continue_()  # type: ignore[attr-defined]

        await context.route("**/*", route)
        page = await context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        await page.goto(web.base + "/login")
        await page.fill("input[name=username]", ALICE)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/mail/*")
        inbox = int(page.url.rsplit("/", 1)[1])
        for list_page in (1, 2):
            await page.goto(f"{web.base}/mail/{inbox}?page={list_page}")
            assert await page.evaluate("() => window.__xss") == []
        failures: list[str] = []
        for uid, hostile in enumerate(hostiles, 1):
            await page.goto(f"{web.base}/mail/{inbox}/{uid}")
            if hostile.kind == "html":
                frame = page.frame_locator("#body-frame")
                await frame.locator("text=case").first.wait_for(timeout=5000)
            # Nothing of the message lies over the app: the top-left corner and the
            # folder list are still the app's own elements.
            covered = await page.evaluate(
                """() => [[5, 5], [40, 120], [window.innerWidth - 5, 5]].map(
                    ([x, y]) => document.elementFromPoint(x, y)?.tagName)"""
            )
            if "IFRAME" in covered:
                failures.append(f"{hostile.name}: overlay {covered}")
            for link in re.findall(r'href="(/mail/\d+/\d+/part/[0-9.]+)"', await page.content()):
                try:
                    await page.goto(web.base + link)
                except playwright_api.Error:
                    pass  # a download starts instead of a page: the wanted outcome
                if page.url.endswith(link):
                    failures.append(f"{hostile.name}: attachment {link} rendered as a page")
            executed = await page.evaluate("() => window.__xss")
            if executed or dialogs or remote:
                failures.append(f"{hostile.name}: ran {executed} {dialogs} fetched {remote}")
                dialogs.clear()
                remote.clear()
        # Controls: the hooks do see a script run and a remote fetch when there is one.
        await page.evaluate("() => alert('control')")
        assert await page.evaluate("() => window.__xss") == ["alert:control"]
        pixel = 1 + [h.name for h in hostiles].index("tracking-pixel")
        await page.goto(f"{web.base}/mail/{inbox}/{pixel}/body?images=1")
        assert any("xss.example" in url for url in remote)
        await browser.close()
    assert failures == []


async def test_every_state_changing_route_refuses_other_origins(web: WebServer) -> None:
    app = serving_for(web.runtime).app
    # Autodiscover is a POST by protocol (Outlook asks from anywhere); it changes
    # nothing and reads no session, so it is not state-changing.
    posts = [
        r.path
        for r in app.routes
        if isinstance(r, Route)
        and "POST" in (r.methods or ())
        and not r.path.lower().startswith("/autodiscover/")
    ]
    assert {"/login", "/logout", "/mail/{mailbox_id:int}/action", "/account/password"} <= set(posts)
    async with web.logged_in() as client:
        page = await client.get("/mail", follow_redirects=True)
        inbox = re.search(r'data-mailbox="(\d+)"', page.text)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert inbox and token
        for path in posts:
            url = path.replace("{mailbox_id:int}", inbox.group(1))
            data = {"csrf": token.group(1), "action": "read", "uid": "1"}
            for headers in (
                {"origin": "https://evil.example"},
                {"origin": "null"},
                {"origin": web.base, "sec-fetch-site": "cross-site"},
                {"origin": web.base, "sec-fetch-site": "same-site"},
            ):
                response = await client.post(url, data=data, headers=headers)
                assert response.status_code == 403, (url, headers, response.status_code)
        # Still logged in: none of them was carried out.
        assert (await client.get("/mail")).status_code == 303
        assert (await client.get("/mail")).headers["location"] != "/login"
