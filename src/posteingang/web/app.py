"""The webmail's Starlette application: routes, error pages and the security middleware.

`create_app(web)` is all the runtime needs (server.py serves it over the shared
listeners). URLs name mailboxes and messages by store ids; every handler checks
them against the logged-in account (context.py).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from posteingang.web import (
    account,
    actions,
    compose,
    contacts,
    conversation,
    export,
    folders,
    i18n,
    images,
    login,
    manage,
    message,
    search,
    setup,
    sse,
)
from posteingang.web.context import STATIC, Web, current_session
from posteingang.web.guard import LoginRequired
from posteingang.web.security import SecurityHeaders
from posteingang.web.setup_routes import setup_routes

__all__ = ["create_app"]


async def home(request: Request) -> Response:
    return RedirectResponse("/mail" if current_session(request) else "/login", 303)


async def _no_icon(request: Request) -> Response:
    return Response(status_code=204, headers={"cache-control": "public, max-age=86400"})


async def _login_required(request: Request, exc: Exception) -> Response:
    if request.method == "GET" and "text/event-stream" not in request.headers.get("accept", ""):
        return RedirectResponse("/login", 303)
    return PlainTextResponse("login required", 401)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    text = {404: "Not found", 403: "Forbidden"}.get(exc.status_code) or exc.detail
    return PlainTextResponse(i18n.translator(request)(text), exc.status_code)


class _CachedStatic(StaticFiles):
    """Static files: small, versioned with the package; an hour in the browser cache."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["cache-control"] = "public, max-age=3600"
        return response


def create_app(web: Web) -> Starlette:
    mail = "/mail/{mailbox_id:int}"
    msg = mail + "/{uid:int}"
    routes = [
        Route("/", home),
        Route("/favicon.ico", _no_icon),
        Route("/lang", i18n.set_language),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login_submit, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/mail", folders.mail_home),
        Route(mail, folders.mailbox_page),
        Route(mail + "/action", actions.act, methods=["POST"]),
        Route(mail + "/search", search.search_page),
        Route(mail + "/images/always", images.allow_sender, methods=["POST"]),
        Route("/folders", manage.create_folder, methods=["POST"]),
        Route(mail + "/rename", manage.rename_folder, methods=["POST"]),
        Route(mail + "/delete", manage.delete_folder, methods=["POST"]),
        Route(mail + "/empty", export.empty_folder, methods=["POST"]),
        Route(mail + "/mbox", export.folder_mbox),
        Route(msg, message.message_page),
        Route(msg + "/body", message.body_frame),
        Route(msg + "/raw", message.original),
        Route(msg + "/print", message.print_view),
        Route(msg + "/conversation", conversation.conversation_page),
        Route(msg + "/conversation/print", conversation.conversation_print),
        Route(msg + "/part/{part}", message.attachment),
        Route("/events", sse.events),
        Route("/compose", compose.compose_page),
        Route("/compose/send", compose.send, methods=["POST"]),
        Route("/compose/undo", compose.undo, methods=["POST"]),
        Route("/compose/draft", compose.save_draft, methods=["POST"]),
        Route("/contacts", contacts.contacts),
        Route("/account", account.account_page),
        Route("/account/setup", setup.setup_page),
        Route("/account/setup/apple.mobileconfig", setup.apple_profile),
        Route("/setup", setup.to_setup_page),
        Route("/account/sessions/end", account.end_session, methods=["POST"]),
        Route("/account/connections/end", account.disconnect, methods=["POST"]),
        Route("/account/devices/add", account.add_device, methods=["POST"]),
        Route("/account/devices/revoke", account.revoke_device, methods=["POST"]),
        Route("/account/password", account.change_password, methods=["POST"]),
        Route("/account/pop3", account.pop3_settings, methods=["POST"]),
        Route("/account/images/remove", images.remove_sender, methods=["POST"]),
        Mount("/static", _CachedStatic(directory=str(STATIC)), name="static"),
    ]
    # Automatic configuration of mail programs (setup_routes.py): autoconfig, Autodiscover.
    # First, so that no later pattern (e.g. a /mail/{name}) can shadow them.
    routes = [*setup_routes(), *routes]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={LoginRequired: _login_required, HTTPException: _http_error},
    )
    app.state.web = web
    return app
