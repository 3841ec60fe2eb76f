"""Address suggestions: the logged-in account's recent correspondents (senders of its
INBOX, recipients of its Sent), best first, never another account's; and in Chromium,
the To field's datalist offers them as one types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from posteingang.delivery.deliver import deliver
from posteingang.delivery.ingest import prepare_message
from tests.serving import ALICE, PASSWORD
from tests.web.conftest import BOB, WebServer
from tests.web.test_browser import browser, pytestmark, server  # noqa: F401


def _mail(sender: str, to: str, n: int, cc: str = "") -> bytes:
    copies = f"Cc: {cc}\r\n" if cc else ""
    return (
        f"From: {sender}\r\nTo: {to}\r\n{copies}Subject: m{n}\r\n"
        f"Message-ID: <m{n}@example.org>\r\n\r\nhello\r\n"
    ).encode()


async def _sent(web: WebServer, address: str, raw: bytes, hours: int = 0) -> None:
    account = await web.store.get_account(address)
    sent = (await web.store.get_mailbox(account.id, "Sent")).id
    when = datetime.now(UTC) + timedelta(hours=hours)
    await web.store.append(sent, await prepare_message(web.store, raw, internal_date=when))


async def _correspondence(web: WebServer) -> None:
    """Carol wrote twice, Dave once (with a name); Alice wrote to Erin (counts twice) and
    to herself; Bob's own correspondent is Mallory."""
    await deliver(web.store, ALICE, _mail("Carol Cook <carol@example.org>", ALICE, 1))
    await deliver(web.store, ALICE, _mail("carol@example.org", ALICE, 2))
    await deliver(web.store, ALICE, _mail("=?utf-8?q?D=C3=B6rte?= <dave@example.net>", ALICE, 3))
    await _sent(web, ALICE, _mail(ALICE, "erin@example.com", 4, cc=ALICE), hours=1)
    await deliver(web.store, BOB, _mail("mallory@evil.example", BOB, 5))
    await _sent(web, BOB, _mail(BOB, "trent@secret.example", 6))


async def test_recent_correspondents_of_this_account_only(web: WebServer) -> None:
    await _correspondence(web)
    await web.store.add_alias("info@example.test", ALICE)
    await deliver(web.store, ALICE, _mail("info@example.test", ALICE, 7))
    async with web.logged_in() as client:
        everyone = (await client.get("/contacts")).json()["contacts"]
        by_name = (await client.get("/contacts", params={"q": "DÖR"})).json()["contacts"]
        nobody = (await client.get("/contacts", params={"q": "mallory"})).json()["contacts"]
    # Erin (Sent, counts twice) and Carol (twice) first, the newer first; then Dave.
    assert [c["address"] for c in everyone] == [
        "erin@example.com",
        "carol@example.org",
        "dave@example.net",
    ]
    assert everyone[1]["name"] == "Carol Cook"  # the name kept from the other message
    assert by_name == [{"address": "dave@example.net", "name": "Dörte"}]
    assert nobody == []
    async with web.logged_in(BOB, "bobs password") as client:
        bobs = (await client.get("/contacts")).json()["contacts"]
    assert [c["address"] for c in bobs] == ["trent@secret.example", "mallory@evil.example"]
    async with web.client() as client:
        anonymous = await client.get("/contacts")
    assert anonymous.status_code in (303, 401) and "carol" not in anonymous.text


async def test_the_to_field_suggests_as_one_types(
    server: tuple[WebServer, int],  # noqa: F811
    browser: object,  # noqa: F811
) -> None:
    web, _ = server
    await deliver(web.store, ALICE, _mail("Carol Cook <carol@example.org>", ALICE, 1))
    await _sent(web, ALICE, _mail(ALICE, "dave@example.net", 2))
    page = await browser.new_page()  # type: ignore[attr-defined]
    await page.goto(web.base + "/login")
    await page.fill("input[name=username]", ALICE)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/mail/*")
    await page.goto(web.base + "/compose")

    async def suggested(values: list[str]) -> None:
        await page.wait_for_function(
            "(want) => [...document.querySelectorAll('#contacts option')]"
            ".map((o) => o.value).join('|') === want",
            arg="|".join(values),
        )

    await page.fill("#c-to", "car")
    await suggested(["carol@example.org"])
    assert await page.get_attribute("#contacts option", "label") == "Carol Cook"
    # A second address: the option completes the whole field.
    await page.fill("#c-to", "carol@example.org, d")
    await suggested(["carol@example.org, dave@example.net"])
    assert await page.get_attribute("#c-to", "list") == "contacts"
    await page.close()
