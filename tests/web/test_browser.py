"""The webmail in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright
with `executable_path`; never `playwright install`): log in, read a multipart message
whose HTML tries to run script, load its images on request, download the .eml and an
attachment (bytes compared), see an IMAP-side change on the open page within 1 s, and
disconnect an IMAP client from the account page."""

from __future__ import annotations

import asyncio
import imaplib
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from posteingang.delivery.deliver import deliver
from posteingang.imap.server import IMAP
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.web.server import WEB
from tests.serving import ALICE, PASSWORD, add_account, running
from tests.web.conftest import WebServer, web_config
from tests.web.messages import PDF, multipart, plain

CHROMIUM = os.environ.get("POSTEINGANG_CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None,
    reason="Debian's chromium is not installed",
)

playwright_api = pytest.importorskip("playwright.async_api")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[WebServer, int]]:
    imap = ListenerSettings(protocol="IMAP", host="127.0.0.1", port=0, tls=TlsMode.NONE)
    config = web_config(tmp_path, imap)
    async with running(config, [WEB, IMAP]) as rt:
        await add_account(rt.store)
        ports = {lst.protocol: lst.port for lst in rt.listeners}
        yield WebServer(rt, f"http://127.0.0.1:{ports['HTTP']}"), ports["IMAP"]


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def _log_in(browser: object, web: WebServer) -> object:
    context = await browser.new_context(accept_downloads=True)  # type: ignore[attr-defined]
    # Nothing leaves the machine: a remote request (a tracker, once images are allowed)
    # fails at once instead of waiting for a DNS answer that never comes.
    await context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    page = await context.new_page()
    page.scripts_run = []  # type: ignore[attr-defined]
    await page.goto(web.base + "/")
    await page.fill("input[name=username]", ALICE)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/mail/*")
    return page


async def _inbox(web: WebServer) -> int:
    account = await web.store.get_account(ALICE)
    return int((await web.store.get_mailbox(account.id, "INBOX")).id)


async def test_log_in_and_read_a_multipart_message(
    server: tuple[WebServer, int], browser: object, tmp_path: Path
) -> None:
    web, _ = server
    await deliver(web.store, ALICE, multipart())
    page = await _log_in(browser, web)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))  # type: ignore[attr-defined]
    remote: list[str] = []
    page.on(  # type: ignore[attr-defined]
        "request", lambda r: remote.append(r.url) if "tracker.example.net" in r.url else None
    )
    assert await page.locator("tr.unread").count() == 1  # type: ignore[attr-defined]
    await page.click("td.subject a")  # type: ignore[attr-defined]
    await page.wait_for_selector("h1.subject")  # type: ignore[attr-defined]
    assert await page.inner_text("h1.subject") == "Grüße aus Köln"  # type: ignore[attr-defined]
    frame = page.frame_locator("#body-frame")  # type: ignore[attr-defined]
    await frame.locator("text=Hallo").wait_for()
    # The cid: image is shown, the remote one is not requested, no script ran.
    logo = frame.locator("img[alt=logo]")
    assert await logo.evaluate("img => img.naturalWidth") == 1
    assert remote == []
    assert await page.evaluate("() => window.pwned === undefined")  # type: ignore[attr-defined]
    # Images on request: the tracker is fetched now (and fails: no such host).
    await page.click("#load-images")  # type: ignore[attr-defined]
    await frame.locator("img[alt=remote]").wait_for(state="attached")
    for _ in range(50):
        if remote:
            break
        await asyncio.sleep(0.1)
    assert remote and remote[0].startswith("https://tracker.example.net/")
    assert errors == []

    # Downloads: the original and an attachment, byte for byte.
    inbox = await _inbox(web)
    (message,) = await web.store.get_messages(inbox, [1])
    async with page.expect_download() as info:  # type: ignore[attr-defined]
        await page.click("text=Download (.eml)")  # type: ignore[attr-defined]
    download = await info.value
    target = tmp_path / "saved.eml"
    await download.save_as(target)
    assert target.read_bytes() == await web.store.blobs.get(message.blob_id)
    assert download.suggested_filename == "Grüße aus Köln.eml"
    async with page.expect_download() as info:  # type: ignore[attr-defined]
        await page.click("text=Rechnung März.pdf")  # type: ignore[attr-defined]
    pdf = await info.value
    await pdf.save_as(tmp_path / "r.pdf")
    assert (tmp_path / "r.pdf").read_bytes() == PDF
    assert pdf.suggested_filename == "Rechnung März.pdf"


async def test_imap_changes_show_on_the_open_page(
    server: tuple[WebServer, int], browser: object
) -> None:
    web, imap_port = server
    for n in (1, 2, 3):
        await deliver(web.store, ALICE, plain(n, "hello"))
    page = await _log_in(browser, web)
    await page.wait_for_function("() => document.documentElement.dataset.live === '1'")  # type: ignore[attr-defined]
    assert await page.locator("tr.unread").count() == 3  # type: ignore[attr-defined]

    def imap() -> None:
        conn = imaplib.IMAP4("127.0.0.1", imap_port)
        conn.login(ALICE, PASSWORD)
        conn.select("INBOX")
        conn.uid("STORE", "1", "+FLAGS", "(\\Seen)")
        conn.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
        conn.expunge()
        conn.logout()

    await asyncio.to_thread(imap)
    started = time.monotonic()
    await page.wait_for_function(  # type: ignore[attr-defined]
        """() => !document.querySelector('tr[data-uid="1"]').classList.contains('unread')
              && !document.querySelector('tr[data-uid="2"]')""",
        timeout=1000,
    )
    assert time.monotonic() - started < 1
    count = page.locator(".folders li.current .count")  # type: ignore[attr-defined]
    assert await count.inner_text() == "1"
    # A new message appears without a reload.
    await deliver(web.store, ALICE, plain(4, "new"))
    await page.wait_for_selector('tr[data-uid="4"].unread', timeout=1000)  # type: ignore[attr-defined]


async def test_a_page_action_marks_read_for_everyone(
    server: tuple[WebServer, int], browser: object
) -> None:
    web, _ = server
    await deliver(web.store, ALICE, plain(1, "hello"))
    page = await _log_in(browser, web)
    await page.check('input[name=uid][value="1"]')  # type: ignore[attr-defined]
    await page.click('button[value="read"]')  # type: ignore[attr-defined]
    await page.wait_for_selector('tr[data-uid="1"]:not(.unread)')  # type: ignore[attr-defined]
    (message,) = await web.store.get_messages(await _inbox(web), [1])
    assert "\\Seen" in message.flags


async def test_keyboard_shortcuts(server: tuple[WebServer, int], browser: object) -> None:
    web, _ = server
    for n in (1, 2, 3):
        await deliver(web.store, ALICE, plain(n, "hello"))
    inbox = await _inbox(web)
    page = await _log_in(browser, web)
    await page.wait_for_function("() => document.documentElement.dataset.live === '1'")  # type: ignore[attr-defined]
    await page.keyboard.press("j")  # type: ignore[attr-defined]
    await page.keyboard.press("j")  # type: ignore[attr-defined]
    assert await page.get_attribute("tr.cursor", "data-uid") == "2"  # type: ignore[attr-defined]
    await page.keyboard.press("s")  # type: ignore[attr-defined]
    await page.wait_for_selector('tr[data-uid="2"].flagged', timeout=10_000)  # type: ignore[attr-defined]
    await page.keyboard.press("k")  # type: ignore[attr-defined]
    await page.keyboard.press("e")  # type: ignore[attr-defined]
    await page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('tr[data-uid=\"3\"]')", timeout=10_000
    )
    account = await web.store.get_account(ALICE)
    archive = await web.store.get_mailbox(account.id, "Archive")
    assert len(await web.store.get_messages(archive.id, [1])) == 1
    await page.keyboard.press("?")  # type: ignore[attr-defined]
    assert await page.is_visible("#keys-help")  # type: ignore[attr-defined]
    await page.keyboard.press("Escape")  # type: ignore[attr-defined]
    await page.keyboard.press("j")  # type: ignore[attr-defined]
    await page.keyboard.press("o")  # type: ignore[attr-defined]
    await page.wait_for_url(f"**/mail/{inbox}/*")  # type: ignore[attr-defined]
    await page.keyboard.press("#")  # type: ignore[attr-defined]
    await page.wait_for_url(f"**/mail/{inbox}")  # type: ignore[attr-defined]
    assert len(await web.store.get_messages(inbox, [1, 2, 3])) == 1


async def test_drag_and_drop_to_a_folder_and_undo(
    server: tuple[WebServer, int], browser: object
) -> None:
    web, _ = server
    for n in (1, 2):
        await deliver(web.store, ALICE, plain(n, "hello"))
    inbox = await _inbox(web)
    account = await web.store.get_account(ALICE)
    archive = await web.store.get_mailbox(account.id, "Archive")
    page = await _log_in(browser, web)
    await page.wait_for_function("() => document.documentElement.dataset.live === '1'")  # type: ignore[attr-defined]
    await page.drag_and_drop(  # type: ignore[attr-defined]
        'tr[data-uid="1"] td.from', f'.folders li[data-mailbox="{archive.id}"]'
    )
    await page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('tr[data-uid=\"1\"]')", timeout=10_000
    )
    assert [m.uid for m in await web.store.get_messages(inbox, [1, 2])] == [2]
    assert len((await web.store.get_index(archive.id)).uids) == 1
    # The row can go (pushed by the change feed) before the move's own answer, which
    # records what z undoes, has arrived: wait for that, as a user's z would.
    await page.wait_for_function(  # type: ignore[attr-defined]
        "() => sessionStorage.getItem('posteingang-undo') !== null", timeout=10_000
    )
    await page.keyboard.press("z")  # type: ignore[attr-defined]
    await page.wait_for_selector('tr[data-uid="3"]', timeout=10_000)  # type: ignore[attr-defined]
    assert (await web.store.get_index(archive.id)).uids == []
    assert (await web.store.get_index(inbox)).uids == [2, 3]


async def test_print_to_pdf_and_a_phone_sized_viewport(
    server: tuple[WebServer, int], browser: object
) -> None:
    web, _ = server
    await deliver(web.store, ALICE, multipart())
    inbox = await _inbox(web)
    page = await _log_in(browser, web)
    # The print view opens the print dialogue itself; here Chromium prints instead.
    await page.route("**/static/print.js", lambda route: route.abort())  # type: ignore[attr-defined]
    await page.goto(f"{web.base}/mail/{inbox}/1/print")  # type: ignore[attr-defined]
    await page.emulate_media(media="print")  # type: ignore[attr-defined]
    pdf = await page.pdf()  # type: ignore[attr-defined]
    assert pdf.startswith(b"%PDF-") and len(pdf) > 1000
    text = await page.inner_text("article")  # type: ignore[attr-defined]
    assert "Grüße aus Köln" in text and "Jürgen Müller" in text and "Hallo Alice" in text

    phone = await browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    small = await phone.new_page()
    await small.goto(web.base + "/login")
    await small.fill("input[name=username]", ALICE)
    await small.fill("input[name=password]", PASSWORD)
    await small.tap("button[type=submit]")
    await small.wait_for_url("**/mail/*")
    # Nothing wider than the screen; the folders sit above the list.
    width = await small.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390
    folders = await small.locator("nav.folders").bounding_box()
    table = await small.locator("table.messages").bounding_box()
    assert folders["y"] < table["y"]
    await small.tap("td.subject a")
    await small.wait_for_selector("#body-frame")
    assert await small.evaluate("() => document.documentElement.scrollWidth") <= 390
    await phone.close()


async def test_images_always_for_a_trusted_sender(
    server: tuple[WebServer, int], browser: object
) -> None:
    web, _ = server
    await deliver(web.store, ALICE, multipart())
    await deliver(web.store, ALICE, multipart().replace(b"<multi@", b"<second@"))
    inbox = await _inbox(web)
    page = await _log_in(browser, web)
    remote: list[str] = []
    page.on("request", lambda r: remote.append(r.url) if "tracker" in r.url else None)  # type: ignore[attr-defined]
    await page.goto(f"{web.base}/mail/{inbox}/1")  # type: ignore[attr-defined]
    await page.frame_locator("#body-frame").locator("text=Hallo").wait_for()  # type: ignore[attr-defined]
    assert remote == []
    async with page.expect_request(lambda r: "tracker" in r.url, timeout=10_000):  # type: ignore[attr-defined]
        await page.click("#trust-sender")  # type: ignore[attr-defined]
    await page.frame_locator("#body-frame").locator("img[alt=remote]").wait_for(state="attached")  # type: ignore[attr-defined]
    assert remote  # now fetched
    assert page.url.endswith(f"/mail/{inbox}/1")  # type: ignore[attr-defined]  # no reload
    # The choice is kept on the server: a new browser (a fresh context, no storage
    # shared) logged in afresh loads the second message's images by itself.
    fresh = await _log_in(browser, web)
    elsewhere: list[str] = []
    fresh.on("request", lambda r: elsewhere.append(r.url) if "tracker" in r.url else None)  # type: ignore[attr-defined]
    async with fresh.expect_request(lambda r: "tracker" in r.url, timeout=10_000):  # type: ignore[attr-defined]
        await fresh.goto(f"{web.base}/mail/{inbox}/2")  # type: ignore[attr-defined]
    await fresh.wait_for_function(  # type: ignore[attr-defined]
        "() => document.getElementById('body-frame').src.endsWith('images=1')", timeout=10_000
    )
    await (
        fresh.frame_locator("#body-frame")
        .locator("img[alt=remote][src^=https]")
        .wait_for(state="attached")
    )  # type: ignore[attr-defined]
    assert elsewhere  # requested (and aborted by the test's route: nothing leaves)
    assert await fresh.locator(".images-allowed").count() == 1  # type: ignore[attr-defined]
    await fresh.context.close()  # type: ignore[attr-defined]


async def test_switch_language(server: tuple[WebServer, int], browser: object) -> None:
    web, _ = server
    context = await browser.new_context(locale="en-US")  # type: ignore[attr-defined]
    page = await context.new_page()
    await page.goto(web.base + "/login")
    assert await page.inner_text("button[type=submit] >> nth=0") == "Log in"
    await page.select_option("#lang-select", "de")
    await page.click("text=Change language")
    await page.wait_for_selector("text=Anmelden")
    assert await page.get_attribute("html", "lang") == "de"
    await page.fill("input[name=username]", ALICE)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("text=Anmelden")
    await page.wait_for_url("**/mail/*")
    assert "Posteingang" in await page.inner_text("nav.folders")
    await context.close()


async def test_disconnect_a_mail_program_from_the_account_page(
    server: tuple[WebServer, int], browser: object
) -> None:
    web, imap_port = server

    def connect() -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", imap_port, timeout=30)
        client.xatom("ID", '("name" "Testmail" "version" "1.5")')
        client.login(ALICE, PASSWORD)
        return client

    client = await asyncio.to_thread(connect)
    page = await _log_in(browser, web)
    await page.goto(web.base + "/account")  # type: ignore[attr-defined]
    row = page.locator("tr[data-connection]")  # type: ignore[attr-defined]
    assert "Testmail/1.5" in await row.inner_text()
    assert "IMAP" in await row.inner_text()
    await row.get_by_role("button", name="Disconnect").click()
    await page.wait_for_selector("text=The mail program was disconnected.")  # type: ignore[attr-defined]
    assert await page.locator("tr[data-connection]").count() == 0  # type: ignore[attr-defined]

    def goodbye() -> list[bytes]:
        lines = []
        while line := client.readline():
            lines.append(line)
        return lines

    said = await asyncio.to_thread(goodbye)
    assert said and said[-1].startswith(b"* BYE")
