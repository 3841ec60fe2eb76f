"""Who may do what: the login requirement and the CSRF check of state-changing requests."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from posteingang.web.context import current_session
from posteingang.web.security import check_origin
from posteingang.web.sessions import WebSession

__all__ = ["LoginRequired", "checked_form", "local_path", "require_session"]


class LoginRequired(Exception):
    """No live session: pages redirect to the login form, scripts get 401."""


def require_session(request: Request) -> WebSession:
    session = current_session(request)
    if session is None:
        raise LoginRequired
    return session


async def checked_form(request: Request, session: WebSession) -> FormData:
    """The form of a state-changing request, after the Origin and CSRF checks (403)."""
    if not check_origin(request):
        raise HTTPException(403, "cross-site request refused")
    form = await request.form(max_files=0, max_fields=2000)
    token = request.headers.get("x-csrf-token") or form.get("csrf")
    if not isinstance(token, str) or not session.csrf_ok(token):
        raise HTTPException(403, "missing or wrong CSRF token")
    return form


def local_path(target: object, default: str) -> str:
    """A redirect target from a form: only a path on this site (no open redirect:
    ``//evil.example``, ``/\\evil.example`` and absolute URLs become `default`)."""
    if (
        not isinstance(target, str)
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(c in target for c in "\r\n\\")
        or len(target) > 2000
    ):
        return default
    return target
