"""The web app's defences that every response and every state-changing request share.

* Every response gets ``Referrer-Policy: no-referrer``, ``X-Content-Type-Options:
  nosniff`` and a Content-Security-Policy: the app's pages load scripts, styles,
  images and frames only from their own origin and may only be framed by it
  (``frame-ancestors 'self'``). A response that brings its own policy (the message
  body frame, downloads) keeps it.
* `check_request` guards every state-changing request (anything but GET/HEAD):
  the browser's ``Origin`` must be ours, ``Sec-Fetch-Site`` (where sent) must say
  same-origin, and the form or ``X-CSRF-Token`` header must carry the session's
  token. The Origin/Sec-Fetch-Site check alone stops a cross-site form post in
  every current browser; the token stops the rest (old browsers, a same-site but
  different-origin page).

What it must never do: trust a Referer, accept a missing token, or let a page
be framed by another origin.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "PAGE_CSP",
    "SecurityHeaders",
    "body_frame_csp",
    "check_origin",
    "download_headers",
]

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; font-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'self'"
)

_COMMON = {
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


def body_frame_csp(*, remote_images: bool) -> str:
    """The policy of a message's HTML body, served as its own document in an iframe.

    ``sandbox`` without ``allow-scripts`` or ``allow-same-origin``: the body runs no
    script and lives in an opaque origin, so even markup that slipped past the
    sanitiser cannot read the app's cookies, DOM or API. ``default-src 'none'``
    blocks every fetch but images (inline ``data:`` ones, which is how ``cid:``
    parts are embedded, and remote ones only once the user allowed them). Links
    open in a new top-level tab (``allow-popups``, escaping the sandbox so the
    site works, with ``noreferrer`` set by the sanitiser).
    """
    images = "data: http: https:" if remote_images else "data:"
    return (
        "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
        f"img-src {images}; style-src 'unsafe-inline'; font-src data:; "
        "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
    )


def download_headers(content_type: str, disposition: str) -> dict[str, str]:
    """Headers of a file the browser must save, never render: attachments, .eml."""
    return {
        "content-type": content_type,
        "content-disposition": disposition,
        "content-security-policy": "sandbox; default-src 'none'",
        "x-content-type-options": "nosniff",
        "cache-control": "private, no-store",
    }


class SecurityHeaders:
    """ASGI middleware: the headers in the module docstring, on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _COMMON.items():
                    if name not in headers:
                        headers[name] = value
                if "content-security-policy" not in headers:
                    headers["content-security-policy"] = PAGE_CSP
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def own_origin(request: Request) -> str:
    """scheme://host[:port] of this request as the browser addressed it."""
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}".lower()


def check_origin(request: Request) -> bool:
    """Did this state-changing request come from one of our own pages?

    ``Sec-Fetch-Site`` (Fetch Metadata; sent by Chromium, Firefox and Safari
    16.4+, and no page can forge it) must say ``same-origin`` where it is sent.
    ``Origin`` must be ours, except that it is ``null`` on our own form posts:
    under ``Referrer-Policy: no-referrer`` the Fetch standard serialises a
    non-GET request's origin as ``null`` ("append a request Origin header"), so
    ``null`` passes only together with ``Sec-Fetch-Site: same-origin``. A request
    with neither header (no browser sends such a POST) is refused.
    """
    headers: Mapping[str, str] = request.headers
    origin = headers.get("origin")
    ours = origin is not None and origin.lower() == own_origin(request)
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin" and (ours or origin in (None, "null"))
    return ours
