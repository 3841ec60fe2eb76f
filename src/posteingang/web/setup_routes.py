"""Setting up a mail program automatically: the files mail programs fetch.

* ``GET /.well-known/autoconfig/mail/config-v1.1.xml`` and
  ``GET /mail/config-v1.1.xml?emailaddress=…``: Mozilla autoconfig (Thunderbird
  asks ``autoconfig.<domain>`` and ``<domain>/.well-known/…``); no login.
* ``POST /autodiscover/autodiscover.xml`` (and the capitalised spelling Outlook
  uses): Microsoft Autodiscover POX; no login, a size-limited body, no DTDs.

The page that shows the same settings to a person, and the Apple profile, are
setup.py's (``/account/setup``), from the same `current_setup`.

The unauthenticated answers are given only for domains this server hosts
(anything else is 404), and they are the same for every address of a hosted
domain: whether an account exists is never revealed. The settings come from
the runtime's listeners as bound (`app.state.mail_setup`, a callable the
runtime provides), so they are never out of date with the ports that answer.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from posteingang.net.settings import TlsMode
from posteingang.service import Context
from posteingang.store.interface import InvalidName
from posteingang.store.names import normalize_domain
from posteingang.web.autoconfig import (
    MAX_AUTODISCOVER_REQUEST,
    AutodiscoverRequestError,
    MailSetup,
    autodiscover_response,
    domain_of,
    mail_setup,
    mozilla_autoconfig,
    parse_autodiscover_request,
)
from posteingang.web.context import web_of

__all__ = [
    "SetupSource",
    "attach_mail_setup",
    "current_setup",
    "runtime_setup",
    "setup_routes",
]

SetupSource = Callable[[], MailSetup]
XML = "application/xml; charset=utf-8"


def runtime_setup(rt: Context) -> SetupSource:
    """The settings of `rt`'s listeners as bound at the time of asking (a listener
    configured with port 0 shows the port it got), on the configured host name."""

    def current() -> MailSetup:
        bound = [
            (lst.protocol, lst.address, lst.port, TlsMode(str(lst.tls))) for lst in rt.listeners
        ]
        return mail_setup(rt.config.server.hostname, bound)

    return current


def attach_mail_setup(app: ASGIApp, rt: Context) -> None:
    """Give `app` (from `app.create_app`) the settings of `rt`'s listeners."""
    assert isinstance(app, Starlette)
    app.state.mail_setup = runtime_setup(rt)


def current_setup(request: Request) -> MailSetup:
    """The settings of the listeners as bound now (404 if the app has none attached)."""
    source: SetupSource | None = getattr(request.app.state, "mail_setup", None)
    if source is None:
        raise HTTPException(404)
    return source()


async def _hosted(request: Request, domain: str | None) -> str:
    """`domain` as the store names it (IDNA A-labels), if this server hosts it; else 404."""
    try:
        name = normalize_domain(domain) if domain is not None else None
    except InvalidName:
        name = None
    if name is None or await web_of(request).store.get_domain(name) is None:
        raise HTTPException(404)
    return name


def _request_domain(request: Request) -> str | None:
    """The domain of ``?emailaddress=``, or else of the host name asked for
    (``autoconfig.example.org`` or ``example.org`` itself)."""
    address = request.query_params.get("emailaddress")
    if address is not None:
        return domain_of(address)
    host = request.headers.get("host", "").lower()
    host = host.rpartition(":")[0] if host.count(":") == 1 else host
    return host.removeprefix("autoconfig.").rstrip(".") or None


async def autoconfig(request: Request) -> Response:
    domain = await _hosted(request, _request_domain(request))
    return Response(mozilla_autoconfig(current_setup(request), domain), media_type=XML)


async def _limited_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (
        not declared.isdigit() or int(declared) > MAX_AUTODISCOVER_REQUEST
    ):
        raise HTTPException(413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_AUTODISCOVER_REQUEST:
            raise HTTPException(413)
    return bytes(body)


async def autodiscover(request: Request) -> Response:
    try:
        address = parse_autodiscover_request(await _limited_body(request))
    except AutodiscoverRequestError:
        raise HTTPException(400) from None
    await _hosted(request, domain_of(address))
    return Response(autodiscover_response(current_setup(request), address), media_type=XML)


def setup_routes() -> list[Route]:
    """The unauthenticated configuration files (app.py puts them first)."""
    return [
        Route("/.well-known/autoconfig/mail/config-v1.1.xml", autoconfig),
        Route("/mail/config-v1.1.xml", autoconfig),
        Route("/autodiscover/autodiscover.xml", autodiscover, methods=["POST"]),
        Route("/Autodiscover/Autodiscover.xml", autodiscover, methods=["POST"]),
    ]
