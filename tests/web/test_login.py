"""Login, sessions, logout and the security headers every page carries."""

from __future__ import annotations

import re
from pathlib import Path

from posteingang.auth.passwords import hash_password
from tests.serving import ALICE, PASSWORD
from tests.web.conftest import WebServer, csrf_of, serve_web


async def test_login_form_has_username_and_password_fields(web: WebServer) -> None:
    async with web.client() as client:
        page = await client.get("/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text


async def test_login_opens_the_inbox_and_sets_a_strict_httponly_cookie(web: WebServer) -> None:
    async with web.client() as client:
        response = await web.login(client)
        assert response.status_code == 303
        assert response.headers["location"] == "/mail"
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("pi_session=")
        )
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback; under TLS: __Host- and Secure
        inbox = await client.get("/mail", follow_redirects=True)
        assert inbox.status_code == 200
        assert "INBOX" in inbox.text and ALICE in inbox.text


async def test_failed_logins_look_the_same_for_unknown_users(web: WebServer) -> None:
    async with web.client() as client:
        wrong = await web.login(client, ALICE, "wrong password")
        unknown = await web.login(client, "nobody@example.test", "wrong password")
    assert wrong.status_code == unknown.status_code == 401

    def visible(html: str) -> str:
        html = re.sub(r'value="[^"]*"', "", html)  # the form's token and the user name typed
        return html

    assert visible(wrong.text) == visible(unknown.text)
    assert "pi_session" not in " ".join(wrong.headers.get_list("set-cookie"))


async def test_device_passwords_log_in(web: WebServer) -> None:
    account = await web.store.get_account(ALICE)
    await web.store.add_device(account.id, "laptop", hash_password("abcd-efgh-ijkl-mnop"))
    async with web.logged_in(ALICE, "abcd-efgh-ijkl-mnop") as client:
        page = await client.get("/mail", follow_redirects=True)
    assert page.status_code == 200 and ALICE in page.text
    (login,) = [r for r in await web.store.list_logins(account.id) if r.protocol.lower() == "http"][
        :1
    ]
    assert login.device_id is not None


async def test_logins_are_throttled_by_the_shared_layer(tmp_path: Path) -> None:
    quick = {"first_delay": 0.01, "max_delay": 0.05, "block_after": 4}
    async with serve_web(tmp_path, **quick) as web, web.client() as client:
        throttle = web.runtime.throttle
        for _ in range(8):
            await web.login(client, ALICE, "wrong")
            if throttle.blocked("127.0.0.1", ALICE):
                break
        assert throttle.blocked("127.0.0.1", ALICE)
        # Blocked: even the right password fails, with the same answer.
        response = await web.login(client, ALICE, PASSWORD)
    assert response.status_code == 401


async def test_login_without_the_form_token_or_from_another_origin_is_refused(
    web: WebServer,
) -> None:
    async with web.client() as client:
        await client.get("/login")
        no_token = await client.post("/login", data={"username": ALICE, "password": PASSWORD})
        assert no_token.status_code == 400
        evil = await client.post(
            "/login",
            data={"username": ALICE, "password": PASSWORD},
            headers={"origin": "http://evil.example"},
        )
        assert evil.status_code == 403


async def test_pages_need_a_session(web: WebServer) -> None:
    async with web.client() as client:
        page = await client.get("/mail")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        events = await client.get("/events", headers={"accept": "text/event-stream"})
        assert events.status_code == 401


async def test_logout_revokes_the_session_on_the_server(web: WebServer) -> None:
    async with web.logged_in() as client:
        page = await client.get("/mail", follow_redirects=True)
        cookie = client.cookies.get("pi_session")
        out = await client.post("/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        # The old cookie, replayed, is worth nothing.
        client.cookies.set("pi_session", cookie or "")
        again = await client.get("/mail")
        assert again.status_code == 303 and again.headers["location"] == "/login"


async def test_revoking_an_account_ends_its_browser_sessions(web: WebServer) -> None:
    async with web.logged_in() as client:
        assert (await client.get("/mail")).status_code == 303
        account = await web.store.get_account(ALICE)
        serving = __import__("posteingang.web.server", fromlist=["serving_for"]).serving_for
        assert serving(web.runtime).web.sessions.revoke_account(account.id) == 1
        page = await client.get("/mail")
        assert page.headers["location"] == "/login"


async def test_every_page_carries_the_security_headers(web: WebServer) -> None:
    async with web.logged_in() as client:
        for path in ("/login", "/mail", "/static/app.js"):
            response = await client.get(path, follow_redirects=True)
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-content-type-options"] == "nosniff"
            csp = response.headers["content-security-policy"]
            assert "frame-ancestors 'self'" in csp
            assert "script-src 'self'" in csp


async def test_state_changing_requests_need_the_csrf_token_and_our_origin(
    web: WebServer,
) -> None:
    async with web.logged_in() as client:
        page = await client.get("/mail", follow_redirects=True)
        inbox = re.search(r'action="/mail/(\d+)/action"', page.text)
        assert inbox is not None
        url = f"/mail/{inbox.group(1)}/action"
        form = {"action": "read", "uid": "1"}
        assert (await client.post(url, data=form)).status_code == 403  # no token
        token = csrf_of(page.text)
        evil = await client.post(
            url, data={**form, "csrf": token}, headers={"origin": "http://evil.example"}
        )
        assert evil.status_code == 403
        cross = await client.post(
            url, data={**form, "csrf": token}, headers={"sec-fetch-site": "cross-site"}
        )
        assert cross.status_code == 403
        no_origin = httpx_post_without_origin = await client.post(
            url, data={**form, "csrf": token}, headers={"origin": ""}
        )
        assert no_origin.status_code == httpx_post_without_origin.status_code == 403
        # Our own form posts under no-referrer: Origin null, but Sec-Fetch-Site same-origin.
        ours = await client.post(
            url,
            data={**form, "csrf": token},
            headers={"origin": "null", "sec-fetch-site": "same-origin"},
        )
        assert ours.status_code == 303
        null_alone = await client.post(
            url, data={**form, "csrf": token}, headers={"origin": "null"}
        )
        assert null_alone.status_code == 403
        logout = await client.post("/logout", data={})
        assert logout.status_code == 403
