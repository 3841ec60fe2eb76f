"""The login form and logout.

The form's fields are ``username`` and ``password`` (password managers and the
issue ask for these names). A login goes through `auth.login.authenticate`, the
same path, throttle and block list as IMAP, POP3 and SMTP, with protocol
"HTTP"; device passwords work there too. Every failure, unknown user or wrong
password or blocked address, gets the same page with the same status.

The form has its own CSRF token (login CSRF would log a victim into the
attacker's account): a random value in a cookie and in the form, compared on
POST, together with the Origin check.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from posteingang.auth.login import authenticate, cleartext_allowed, is_loopback
from posteingang.web.context import LOGIN_COOKIE, cookie_name, current_session, web_of
from posteingang.web.guard import checked_form, require_session
from posteingang.web.i18n import translator
from posteingang.web.security import check_origin

__all__ = ["login_form", "login_submit", "logout"]

FAILED = "Login failed: wrong user name or password, or too many attempts. Please try again."
EXPIRED = "The login form had expired. Please try again."


def _set_cookie(request: Request, response: Response, name: str, value: str, **kw: object) -> None:
    response.set_cookie(
        cookie_name(request, name),
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
        **kw,  # type: ignore[arg-type]
    )


def _form(request: Request, *, error: str = "", username: str = "", status: int = 200) -> Response:
    web = web_of(request)
    error = translator(request)(error) if error else ""
    token = secrets.token_urlsafe(24)
    plain_refused = not _cleartext_ok(request)
    response = web.templates.TemplateResponse(
        request,
        "login.html",
        {
            "error": error,
            "username": username,
            "login_token": token,
            "plain_refused": plain_refused,
        },
        status_code=status,
    )
    _set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600)
    return response


def _cleartext_ok(request: Request) -> bool:
    client = request.client.host if request.client else ""
    return cleartext_allowed(
        request.url.scheme == "https", is_loopback(client), web_of(request).auth.allow_plaintext
    )


async def login_form(request: Request) -> Response:
    if current_session(request) is not None:
        return RedirectResponse("/mail", 303)
    return _form(request)


async def login_submit(request: Request) -> Response:
    web = web_of(request)
    if not check_origin(request):
        return Response("cross-site request refused", 403, media_type="text/plain")
    form = await request.form(max_files=0, max_fields=10)
    expected = request.cookies.get(cookie_name(request, LOGIN_COOKIE))
    token = form.get("login_token")
    if not expected or not isinstance(token, str) or not secrets.compare_digest(token, expected):
        return _form(request, error=EXPIRED, status=400)
    username = form.get("username")
    password = form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return _form(request, error=FAILED, status=401)
    if not _cleartext_ok(request):
        return _form(request, username=username, status=403)
    client = request.client.host if request.client else ""
    user_agent = request.headers.get("user-agent", "")
    result = await authenticate(
        web.store,
        web.throttle,
        protocol="HTTP",
        address=client,
        username=username,
        password=password,
        client_id=user_agent[:100] or None,
    )
    if not result.ok or result.account is None:
        return _form(request, error=FAILED, username=username[:320], status=401)
    token, _ = web.sessions.create(
        result.account.id,
        result.account.address,
        client=client,
        user_agent=user_agent,
        device_id=result.device.id if result.device else None,
    )
    response = RedirectResponse("/mail", 303)
    _set_cookie(request, response, "pi_session", token)
    response.delete_cookie(cookie_name(request, LOGIN_COOKIE), path="/")
    return response


async def logout(request: Request) -> Response:
    session = require_session(request)
    await checked_form(request, session)
    web_of(request).sessions.revoke(request.cookies.get(cookie_name(request)))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(cookie_name(request), path="/")
    return response
