"""The "set up your mail program" page of the webmail, and the Apple profile.

* ``GET /account/setup`` (linked from the account page): the settings to type
  in, IMAP versus POP3 for several devices (with the account's "leave on
  server for N days"), profile links, a QR code that opens this page on a
  phone, and the DNS records the operator should publish. In the webmail's
  layout and language (i18n.py); ``/setup`` redirects here.
* ``GET /account/setup/apple.mobileconfig?type=imap|pop3``: an Apple
  configuration profile for the logged-in account (never another's).

Everything shown comes from `autoconfig.py` applied to the listeners as bound
(`setup_routes.current_setup`), the same source as the autoconfig and
Autodiscover answers, so the page and the files never disagree.
"""

from __future__ import annotations

import base64
from typing import Literal

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from posteingang.web.autoconfig import (
    MOBILECONFIG_TYPE,
    Security,
    dns_records,
    domain_of,
    mobileconfig,
    qr_svg,
)
from posteingang.web.context import web_of
from posteingang.web.guard import require_session
from posteingang.web.security import download_headers, own_origin
from posteingang.web.setup_routes import current_setup

__all__ = ["PAGE", "PROFILE", "apple_profile", "qr_data_uri", "setup_page", "to_setup_page"]

PAGE = "/account/setup"
PROFILE = "/account/setup/apple.mobileconfig"
SECURITY_NAMES = {
    Security.TLS: "SSL/TLS",
    Security.STARTTLS: "STARTTLS",
    Security.NONE: "none (unencrypted)",
}


def qr_data_uri(url: str) -> str:
    """The URL as a QR code, an SVG in a data: URI (the page's CSP allows data: images)."""
    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(url).encode()).decode()


async def setup_page(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    setup = current_setup(request)
    domain = domain_of(session.address) or session.address.rpartition("@")[2]
    account = await web.store.get_account_by_id(session.account_id)
    retention = account.settings.pop3_retention_days if account else None
    page_url = own_origin(request) + PAGE
    return web.templates.TemplateResponse(
        request,
        "setup.html",
        {
            "session": session,
            "setup": setup,
            "domain": domain,
            "retention": retention if retention is not None else web.pop3_retention,
            "security_names": SECURITY_NAMES,
            "profile_url": PROFILE,
            "page_url": page_url,
            "qr": qr_data_uri(page_url),
            "records": [r for r in dns_records(setup, [domain]) if r.type == "SRV"],
            "names": [r for r in dns_records(setup, [domain]) if r.type == "CNAME"],
        },
    )


async def to_setup_page(request: Request) -> Response:
    """``/setup`` (the short URL in the docs and older QR codes): the page."""
    return RedirectResponse(PAGE, 303)


async def apple_profile(request: Request) -> Response:
    """The profile for the logged-in account; no password inside (the device asks)."""
    session = require_session(request)
    setup = current_setup(request)
    kind: Literal["imap", "pop3"] = "pop3" if request.query_params.get("type") == "pop3" else "imap"
    if setup.best(kind) is None:
        raise HTTPException(404)
    data = mobileconfig(setup, session.address, account_type=kind)
    domain = domain_of(session.address) or "mail"
    headers = download_headers(
        MOBILECONFIG_TYPE, f'attachment; filename="{domain}-{kind}.mobileconfig"'
    )
    return Response(data, headers=headers)
