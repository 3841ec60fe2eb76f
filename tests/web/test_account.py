"""The account page: browser sessions, device passwords, password change, recent logins."""

from __future__ import annotations

import re

import httpx

from posteingang.auth.devices import selector_of
from posteingang.auth.passwords import hash_password
from tests.serving import ALICE, PASSWORD
from tests.web.conftest import BOB, WebServer, csrf_of


async def _post(client: httpx.AsyncClient, url: str, **data: object) -> httpx.Response:
    page = await client.get("/account")
    return await client.post(url, data={"csrf": csrf_of(page.text), **data})


async def test_sessions_are_listed_and_can_be_ended(web: WebServer) -> None:
    async with web.logged_in() as phone, web.logged_in() as laptop:
        page = await laptop.get("/account")
        ids = re.findall(r'data-session="([0-9a-f]+)"', page.text)
        assert len(ids) == 2 and "this browser" in page.text
        other = [i for i in ids if f'name="session" value="{i}"' in page.text]
        assert len(other) == 1
        ended = await _post(laptop, "/account/sessions/end", session=other[0])
        assert ended.status_code == 303
        assert (await phone.get("/mail")).headers["location"] == "/login"
        assert (await laptop.get("/mail")).status_code == 303
        assert (await laptop.get("/mail")).headers["location"] != "/login"


async def test_another_accounts_sessions_cannot_be_ended(web: WebServer) -> None:
    async with web.logged_in(BOB, "bobs password") as bob, web.logged_in() as alice:
        bobs = re.findall(r'data-session="([0-9a-f]+)"', (await bob.get("/account")).text)
        response = await _post(alice, "/account/sessions/end", session=bobs[0])
        assert response.status_code == 404
        assert (await bob.get("/mail")).headers["location"] != "/login"


async def test_device_passwords_are_made_shown_once_and_revoked(web: WebServer) -> None:
    async with web.logged_in() as client:
        wrong = await _post(client, "/account/devices/add", name="phone", password="nope")
        assert wrong.status_code == 403
        made = await _post(client, "/account/devices/add", name="phone", password=PASSWORD)
        assert made.status_code == 200
        password = re.search(r'<code id="device-password">([a-z0-9-]+)</code>', made.text)
        assert password is not None
        assert password.group(1) not in (await client.get("/account")).text
        # Made here as by the CLI, with a selector (auth/devices.py): a login with it
        # verifies exactly one hash.
        account = await web.store.get_account(ALICE)
        assert account is not None
        (device,) = await web.store.list_devices(account.id)
        assert device.selector is not None and selector_of(password.group(1)) == device.selector
        again = await _post(client, "/account/devices/add", name="phone", password=PASSWORD)
        assert again.status_code == 409
        async with web.logged_in(ALICE, password.group(1)) as device_browser:
            assert (await device_browser.get("/mail")).headers["location"] != "/login"
            # The device password is not the account password for confirmations.
            refused = await _post(
                device_browser, "/account/devices/add", name="x", password=password.group(1)
            )
            assert refused.status_code == 403
            revoked = await _post(
                client, "/account/devices/revoke", name="phone", password=PASSWORD
            )
            assert revoked.status_code == 200
            # The browser that logged in with it is logged out too.
            assert (await device_browser.get("/mail")).headers["location"] == "/login"
        async with web.client() as fresh:
            assert (await web.login(fresh, ALICE, password.group(1))).status_code == 401


async def test_password_change_asks_again_and_logs_out_other_browsers(web: WebServer) -> None:
    account = await web.store.get_account(ALICE)
    await web.store.add_device(account.id, "tablet", hash_password("abcd-efgh-ijkl-mnop"))
    new = "a much longer new password"
    async with web.logged_in() as other, web.logged_in() as client:
        short = await _post(
            client,
            "/account/password",
            password=PASSWORD,
            new_password="short",
            repeat_password="short",
        )
        assert short.status_code == 400
        differ = await _post(
            client,
            "/account/password",
            password=PASSWORD,
            new_password=new,
            repeat_password=new + "x",
        )
        assert differ.status_code == 400
        wrong = await _post(
            client, "/account/password", password="wrong", new_password=new, repeat_password=new
        )
        assert wrong.status_code == 403
        changed = await _post(
            client, "/account/password", password=PASSWORD, new_password=new, repeat_password=new
        )
        assert changed.status_code == 200 and "was changed" in changed.text
        assert (await client.get("/mail")).headers["location"] != "/login"
        assert (await other.get("/mail")).headers["location"] == "/login"
    async with web.client() as fresh:
        assert (await web.login(fresh, ALICE, PASSWORD)).status_code == 401
    async with web.logged_in(ALICE, new) as client:
        page = await client.get("/account")
        assert "tablet" in page.text and "HTTP" in page.text.upper()
    stored = await web.store.get_account(ALICE)
    assert stored.scram_sha256 and stored.scram_sha256 != account.scram_sha256


async def test_pop3_settings_for_the_account(web: WebServer) -> None:
    from posteingang.store.model import DeletionPolicy

    async with web.logged_in() as client:
        page = await client.get("/account")
        assert "server default (delete for good)" in page.text
        wrong = await _post(
            client, "/account/pop3", policy="hide", retention_days="30", password="x"
        )
        assert wrong.status_code == 403
        bad = await _post(
            client, "/account/pop3", policy="shred", retention_days="", password=PASSWORD
        )
        assert bad.status_code == 400
        saved = await _post(
            client, "/account/pop3", policy="hide", retention_days="30", password=PASSWORD
        )
        assert saved.status_code == 200 and "were saved" in saved.text
        account = await web.store.get_account(ALICE)
        assert account.settings.pop3_deletion_policy is DeletionPolicy.HIDE
        assert account.settings.pop3_retention_days == 30
        back = await _post(client, "/account/pop3", policy="", retention_days="", password=PASSWORD)
        assert back.status_code == 200
        account = await web.store.get_account(ALICE)
        assert account.settings.pop3_deletion_policy is None
        assert account.settings.pop3_retention_days is None
