"""Remote images "always for this sender", kept on the server (web/images.py): over
real HTTP, across browser sessions, revocable on the account page, per account,
CSRF-protected."""

from __future__ import annotations

import re

from posteingang.delivery.deliver import deliver
from tests.serving import ALICE
from tests.web.conftest import BOB, WebServer, csrf_of
from tests.web.messages import multipart

SENDER = "juergen@example.org"  # multipart()'s From


def _second() -> bytes:
    return multipart().replace(b"<multi@", b"<second@")


async def _inbox(web: WebServer, user: str = ALICE) -> int:
    account = await web.store.get_account(user)
    return int((await web.store.get_mailbox(account.id, "INBOX")).id)


def _frame_src(html: str) -> str:
    found = re.search(r'id="body-frame"[^>]*\ssrc="([^"]+)"', html, re.S)
    assert found is not None
    return found.group(1)


async def test_allowed_sender_loads_images_in_every_session_until_removed(
    web: WebServer,
) -> None:
    await deliver(web.store, ALICE, multipart())
    await deliver(web.store, ALICE, _second())
    inbox = await _inbox(web)
    async with web.logged_in() as first:
        page = await first.get(f"/mail/{inbox}/1")
        assert _frame_src(page.text) == f"/mail/{inbox}/1/body"
        assert 'id="trust-sender"' in page.text
        token = csrf_of(page.text)
        # Without the token, or from another site: refused, nothing stored.
        refused = await first.post(f"/mail/{inbox}/images/always", data={"uid": "1"})
        assert refused.status_code == 403
        evil = await first.post(
            f"/mail/{inbox}/images/always",
            data={"uid": "1", "csrf": token},
            headers={"origin": "https://evil.example"},
        )
        assert evil.status_code == 403
        assert await web.store.image_senders((await web.store.get_account(ALICE)).id) == []
        # The plain form: back to the message, which now shows the images.
        allowed = await first.post(f"/mail/{inbox}/images/always", data={"uid": "1", "csrf": token})
        assert allowed.status_code == 303
        assert allowed.headers["location"] == f"/mail/{inbox}/1"
        # From script: 204.
        again = await first.post(
            f"/mail/{inbox}/images/always",
            data={"uid": "1"},
            headers={"x-csrf-token": token, "accept": "application/json"},
        )
        assert again.status_code == 204
    # Another browser session (a fresh login): the second message from that sender
    # loads its images at once.
    async with web.logged_in() as second:
        page = await second.get(f"/mail/{inbox}/2")
        assert _frame_src(page.text) == f"/mail/{inbox}/2/body?images=1"
        assert 'id="trust-sender"' not in page.text
        assert SENDER in page.text
        frame = await second.get(f"/mail/{inbox}/2/body?images=1")
        assert "https://tracker.example.net/pixel.gif" in frame.text
        assert "https:" in frame.headers["content-security-policy"]
        account = await second.get("/account")
        assert f'data-image-sender="{SENDER}"' in account.text
        # Removing it needs the token too; then the images are blocked again.
        token = csrf_of(account.text)
        refused = await second.post("/account/images/remove", data={"sender": SENDER})
        assert refused.status_code == 403
        removed = await second.post(
            "/account/images/remove", data={"sender": SENDER, "csrf": token}
        )
        assert removed.status_code == 303
        assert removed.headers["location"] == "/account#h-images"
        gone = await second.post("/account/images/remove", data={"sender": SENDER, "csrf": token})
        assert gone.status_code == 404
        page = await second.get(f"/mail/{inbox}/2")
        assert _frame_src(page.text) == f"/mail/{inbox}/2/body"
        assert f'data-image-sender="{SENDER}"' not in (await second.get("/account")).text


async def test_senders_are_per_account_and_only_of_own_messages(web: WebServer) -> None:
    await deliver(web.store, ALICE, multipart())
    await deliver(web.store, BOB, multipart(BOB))
    alices, bobs = await _inbox(web), await _inbox(web, BOB)
    async with web.logged_in() as alice:
        token = csrf_of((await alice.get(f"/mail/{alices}/1")).text)
        # Bob's message (or one that does not exist) cannot be used to allow its sender.
        for mailbox, uid in ((bobs, "1"), (alices, "99")):
            response = await alice.post(
                f"/mail/{mailbox}/images/always", data={"uid": uid, "csrf": token}
            )
            assert response.status_code == 404, (mailbox, uid)
        bad = await alice.post(f"/mail/{alices}/images/always", data={"uid": "x", "csrf": token})
        assert bad.status_code == 400
        ok = await alice.post(f"/mail/{alices}/images/always", data={"uid": "1", "csrf": token})
        assert ok.status_code == 303
    async with web.logged_in(BOB, "bobs password") as bob:
        page = await bob.get(f"/mail/{bobs}/1")
        assert _frame_src(page.text) == f"/mail/{bobs}/1/body"
        assert "data-image-sender" not in (await bob.get("/account")).text


async def test_account_page_in_german(web: WebServer) -> None:
    await web.store.allow_images((await web.store.get_account(ALICE)).id, SENDER)
    async with web.logged_in() as client:
        page = await client.get("/account", headers={"accept-language": "de"})
        assert "Bilder von diesen Absendern" in page.text
        assert "Entfernen" in page.text
