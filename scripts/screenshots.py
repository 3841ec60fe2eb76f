"""Take the webmail screenshots in docs/screenshots/ (desktop and phone, light and dark).

Runs the real server (web, IMAP and POP3) on a temporary store with a few sample
messages, a device password, a sender whose images are allowed and two mail
programs connected (an IMAP client that says who it is, a POP3 client with the
device password), and drives Debian's Chromium with Playwright (`executable_path`;
never `playwright install`): the login, inbox, message, compose (with the
formatting toolbar) and account pages.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import imaplib
import poplib
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402
from tests.serving import ALICE, PASSWORD, add_account, running  # noqa: E402
from tests.web.conftest import web_config  # noqa: E402
from tests.web.messages import multipart, plain  # noqa: E402

from posteingang.auth.devices import new_device_password  # noqa: E402
from posteingang.auth.passwords import hash_password  # noqa: E402
from posteingang.delivery.deliver import deliver  # noqa: E402
from posteingang.imap.server import IMAP  # noqa: E402
from posteingang.net.settings import ListenerSettings, TlsMode  # noqa: E402
from posteingang.pop3.server import POP3  # noqa: E402
from posteingang.store.model import FLAGGED, SEEN, FlagOp  # noqa: E402
from posteingang.web.server import WEB  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SUBJECTS = [
    "Quarterly report draft",
    "Lunch on Friday?",
    "Your parcel is on its way",
    "Re: Kita-Anmeldung",
    "Invoice 2026-114",
    "Photos from the weekend",
    "Server maintenance tonight",
]


def connect_programs(ports: dict[str, int], device_password: str) -> tuple[Any, Any]:
    """Two mail programs logged in for the account page's list (run in a thread: the
    server answers on this script's event loop)."""
    imap = imaplib.IMAP4("127.0.0.1", ports["IMAP"], timeout=30)
    imap.xatom("ID", '("name" "Thunderbird" "version" "128.5.0")')
    imap.login(ALICE, PASSWORD)
    pop3 = poplib.POP3("127.0.0.1", ports["POP3"], timeout=30)
    pop3.user(ALICE)
    pop3.pass_(device_password)
    return imap, pop3


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        config = web_config(
            Path(tmp),
            ListenerSettings(protocol="IMAP", host="127.0.0.1", port=0, tls=TlsMode.NONE),
            ListenerSettings(protocol="POP3", host="127.0.0.1", port=0, tls=TlsMode.NONE),
        )
        async with running(config, [WEB, IMAP, POP3]) as rt, async_playwright() as p:
            store = rt.store
            await add_account(store)
            ports = {lst.protocol: lst.port for lst in rt.listeners}
            base = f"http://127.0.0.1:{ports['HTTP']}"
            for n, subject in enumerate(SUBJECTS, 1):
                await deliver(store, ALICE, plain(n, f"Hello,\r\n\r\n{subject}.", subject=subject))
            await deliver(store, ALICE, multipart())
            account = await store.get_account(ALICE)
            inbox = await store.get_mailbox(account.id, "INBOX")
            await store.store_flags(inbox.id, [1, 3, 4], FlagOp.ADD, frozenset({SEEN}))
            await store.store_flags(inbox.id, [2], FlagOp.ADD, frozenset({FLAGGED}))
            await store.allow_images(account.id, "newsletter@shop.example")
            device_password, selector = new_device_password()
            await store.add_device(account.id, "phone", hash_password(device_password), selector)
            imap, pop3 = await asyncio.to_thread(connect_programs, ports, device_password)
            browser = await p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox"]
            )
            for device, viewport in (("desktop", (1280, 800)), ("phone", (390, 844))):
                for scheme in ("light", "dark"):
                    context = await browser.new_context(
                        viewport={"width": viewport[0], "height": viewport[1]},
                        color_scheme=scheme,
                        device_scale_factor=1,
                    )
                    page = await context.new_page()
                    await page.goto(base + "/login")
                    await page.screenshot(path=OUT / f"login-{device}-{scheme}.png")
                    await page.fill("input[name=username]", ALICE)
                    await page.fill("input[name=password]", PASSWORD)
                    await page.click("button[type=submit]")
                    await page.wait_for_url("**/mail/*")
                    await page.screenshot(path=OUT / f"inbox-{device}-{scheme}.png")
                    await page.goto(f"{base}/mail/{inbox.id}/8")
                    await page.frame_locator("#body-frame").locator("text=Hallo").wait_for()
                    await page.screenshot(path=OUT / f"message-{device}-{scheme}.png")
                    await page.goto(f"{base}/compose")
                    await page.fill("#c-to", "bob@example.test")
                    await page.fill("#c-subject", "Plans for Saturday")
                    await page.check("#c-rich")
                    await page.click("#c-html")
                    await page.keyboard.type("Shall we meet at ten? ")
                    await page.keyboard.press("Control+B")
                    await page.keyboard.type("Bring the map.")
                    await page.evaluate("window.scrollTo(0, 0)")
                    await page.screenshot(path=OUT / f"compose-{device}-{scheme}.png")
                    await page.goto(f"{base}/account")
                    await page.locator("tr[data-connection]").nth(1).wait_for()
                    await page.screenshot(
                        path=OUT / f"account-{device}-{scheme}.png", full_page=True
                    )
                    await context.close()
            await browser.close()
            await asyncio.to_thread(imap.logout)
            await asyncio.to_thread(pop3.quit)


if __name__ == "__main__":
    asyncio.run(main())
