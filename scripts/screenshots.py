"""Take the webmail screenshots in docs/screenshots/ (desktop and phone, light and dark).

Runs the real server on a temporary store with a few sample messages and drives
Debian's Chromium with Playwright (`executable_path`; never `playwright install`):

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402
from tests.serving import ALICE, PASSWORD  # noqa: E402
from tests.web.conftest import serve_web  # noqa: E402
from tests.web.messages import multipart, plain  # noqa: E402

from posteingang.delivery.deliver import deliver  # noqa: E402
from posteingang.store.model import FLAGGED, SEEN, FlagOp  # noqa: E402

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


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        async with serve_web(Path(tmp)) as web, async_playwright() as p:
            for n, subject in enumerate(SUBJECTS, 1):
                await deliver(
                    web.store, ALICE, plain(n, f"Hello,\r\n\r\n{subject}.", subject=subject)
                )
            await deliver(web.store, ALICE, multipart())
            account = await web.store.get_account(ALICE)
            inbox = await web.store.get_mailbox(account.id, "INBOX")
            await web.store.store_flags(inbox.id, [1, 3, 4], FlagOp.ADD, frozenset({SEEN}))
            await web.store.store_flags(inbox.id, [2], FlagOp.ADD, frozenset({FLAGGED}))
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
                    await page.goto(web.base + "/login")
                    await page.screenshot(path=OUT / f"login-{device}-{scheme}.png")
                    await page.fill("input[name=username]", ALICE)
                    await page.fill("input[name=password]", PASSWORD)
                    await page.click("button[type=submit]")
                    await page.wait_for_url("**/mail/*")
                    await page.screenshot(path=OUT / f"inbox-{device}-{scheme}.png")
                    await page.goto(f"{web.base}/mail/{inbox.id}/8")
                    await page.frame_locator("#body-frame").locator("text=Hallo").wait_for()
                    await page.screenshot(path=OUT / f"message-{device}-{scheme}.png")
                    await context.close()
            await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
