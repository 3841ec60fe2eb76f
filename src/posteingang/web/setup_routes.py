"""Setting up a mail program: the page, the profile download and the automatic configuration.

* ``GET /.well-known/autoconfig/mail/config-v1.1.xml`` and
  ``GET /mail/config-v1.1.xml?emailaddress=…``: Mozilla autoconfig (Thunderbird
  asks ``autoconfig.<domain>`` and ``<domain>/.well-known/…``); no login.
* ``POST /autodiscover/autodiscover.xml`` (and the capitalised spelling Outlook
  uses): Microsoft Autodiscover POX; no login, a size-limited body, no DTDs.
* ``GET /setup``: the settings to enter, POP3 versus IMAP, links and a QR code
  (logged in, German or English).
* ``GET /setup/mail.mobileconfig``: an Apple profile for the logged-in account.

The unauthenticated answers are given only for domains this server hosts
(anything else is 404), and they are the same for every address of a hosted
domain: whether an account exists is never revealed. The settings come from
the runtime's listeners as bound (`app.state.mail_setup`, a callable the
runtime provides), so they are never out of date with the ports that answer.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from posteingang.net.settings import TlsMode
from posteingang.store.interface import InvalidName
from posteingang.store.names import normalize_domain
from posteingang.web.autoconfig import (
    MAX_AUTODISCOVER_REQUEST,
    MOBILECONFIG_TYPE,
    AutodiscoverRequestError,
    MailSetup,
    autodiscover_response,
    domain_of,
    mail_setup,
    mobileconfig,
    mozilla_autoconfig,
    parse_autodiscover_request,
    qr_svg,
)
from posteingang.web.context import web_of
from posteingang.web.guard import require_session
from posteingang.web.security import download_headers

if TYPE_CHECKING:
    from posteingang.runtime import Runtime

__all__ = ["SetupSource", "attach_mail_setup", "runtime_setup", "setup_routes"]

SetupSource = Callable[[], MailSetup]
XML = "application/xml; charset=utf-8"
LANGUAGES = ("en", "de")


def runtime_setup(rt: Runtime) -> SetupSource:
    """The settings of `rt`'s listeners as bound at the time of asking (a listener
    configured with port 0 shows the port it got), on the configured host name."""

    def current() -> MailSetup:
        bound = [
            (lst.protocol, lst.address, lst.port, TlsMode(str(lst.tls))) for lst in rt.listeners
        ]
        return mail_setup(rt.config.server.hostname, bound)

    return current


def attach_mail_setup(app: ASGIApp, rt: Runtime) -> None:
    """Give `app` (from `app.create_app`) the settings of `rt`'s listeners."""
    assert isinstance(app, Starlette)
    app.state.mail_setup = runtime_setup(rt)


def _setup(request: Request) -> MailSetup:
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
    return Response(mozilla_autoconfig(_setup(request), domain), media_type=XML)


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
    return Response(autodiscover_response(_setup(request), address), media_type=XML)


# --- the page ------------------------------------------------------------------------


def language(request: Request) -> str:
    """``?lang=`` if given, else the first of German or English in Accept-Language."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    for item in request.headers.get("accept-language", "").split(","):
        tag = item.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "en"


async def setup_page(request: Request) -> Response:
    session = require_session(request)
    setup = _setup(request)
    lang = language(request)
    page_url = str(request.url.replace(query=f"lang={lang}"))
    qr = base64.b64encode(qr_svg(page_url).encode()).decode()
    account = await web_of(request).store.get_account_by_id(session.account_id)
    retention = account.settings.pop3_retention_days if account else None
    context: dict[str, Any] = {
        "session": session,
        "setup": setup,
        "lang": lang,
        "t": TEXTS[lang],
        "other_lang": "de" if lang == "en" else "en",
        "qr_data_uri": "data:image/svg+xml;base64," + qr,
        "page_url": page_url,
        "retention": retention,
        "security_names": SECURITY_NAMES[lang],
    }
    return web_of(request).templates.TemplateResponse(request, "setup/setup.html", context)


async def profile(request: Request) -> Response:
    session = require_session(request)
    setup = _setup(request)
    kind: Literal["imap", "pop3"] = "pop3" if request.query_params.get("type") == "pop3" else "imap"
    if setup.best(kind) is None:
        raise HTTPException(404)
    data = mobileconfig(setup, session.address, account_type=kind)
    domain = domain_of(session.address) or "mail"
    filename = f"{domain}-{kind}.mobileconfig"
    headers = download_headers(MOBILECONFIG_TYPE, f'attachment; filename="{filename}"')
    return Response(data, headers=headers)


def setup_routes() -> list[Route]:
    return [
        Route("/.well-known/autoconfig/mail/config-v1.1.xml", autoconfig),
        Route("/mail/config-v1.1.xml", autoconfig),
        Route("/autodiscover/autodiscover.xml", autodiscover, methods=["POST"]),
        Route("/Autodiscover/Autodiscover.xml", autodiscover, methods=["POST"]),
        Route("/setup", setup_page),
        Route("/setup/mail.mobileconfig", profile),
    ]


SECURITY_NAMES = {
    "en": {"tls": "SSL/TLS", "starttls": "STARTTLS", "none": "none (unencrypted)"},
    "de": {"tls": "SSL/TLS", "starttls": "STARTTLS", "none": "keine (unverschlüsselt)"},
}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Set up your mail program",
        "back": "Back to mail",
        "intro": (
            "Most mail programs set themselves up: enter your e-mail address and password, "
            "and they find these settings on their own. If yours asks, enter them by hand."
        ),
        "settings": "Settings",
        "protocol": "Protocol",
        "server": "Server",
        "port": "Port",
        "security": "Security",
        "username": "User name",
        "password": "Password: your account password, or a device password (Account page).",
        "incoming_imap": "Incoming mail (IMAP)",
        "incoming_pop3": "Incoming mail (POP3)",
        "outgoing": "Outgoing mail (SMTP)",
        "no_outgoing": (
            "This server has no outgoing mail server for mail programs; "
            "ask your provider which one to use."
        ),
        "which": "IMAP or POP3?",
        "imap_text": (
            "IMAP keeps your mail on the server. Every device — phone, computer, tablet and "
            "this webmail — shows the same folders, the same read and unread marks and the "
            "same deleted messages. Choose IMAP if you read mail on more than one device."
        ),
        "pop3_text": (
            "POP3 downloads your inbox to one device. By default most mail programs delete "
            "the messages on the server after downloading them, so other devices and the "
            "webmail no longer see them. If you use POP3 on more than one device, turn on "
            "“Leave messages on server” (often with “for at most N days”) in the mail "
            "program. POP3 only sees the inbox, and it does not share read marks or folders."
        ),
        "retention": "Your account keeps POP3 messages on the server for {days} days.",
        "automatic": "Automatic setup",
        "auto_text": (
            "Thunderbird, K-9 Mail, Evolution, KMail and Outlook configure themselves from "
            "your e-mail address. On an iPhone, iPad or Mac, install a profile:"
        ),
        "profile_imap": "Download the profile (IMAP)",
        "profile_pop3": "Download the profile (POP3)",
        "profile_note": (
            "The profile holds no password: the device asks for it. On an iPhone: open the "
            "downloaded profile under Settings › General › VPN & Device Management."
        ),
        "qr": "Scan with your phone to open this page there:",
        "qr_alt": "QR code linking to this page",
        "language": "Deutsch",
    },
    "de": {
        "title": "E-Mail-Programm einrichten",
        "back": "Zurück zur Post",
        "intro": (
            "Die meisten E-Mail-Programme richten sich selbst ein: Geben Sie Ihre "
            "E-Mail-Adresse und Ihr Passwort ein, den Rest finden sie allein. Fragt Ihr "
            "Programm nach den Einstellungen, tragen Sie diese von Hand ein."
        ),
        "settings": "Einstellungen",
        "protocol": "Protokoll",
        "server": "Server",
        "port": "Port",
        "security": "Verschlüsselung",
        "username": "Benutzername",
        "password": (
            "Passwort: das Passwort Ihres Kontos oder ein Geräte-Passwort (Seite „Konto“)."
        ),
        "incoming_imap": "Posteingang (IMAP)",
        "incoming_pop3": "Posteingang (POP3)",
        "outgoing": "Postausgang (SMTP)",
        "no_outgoing": (
            "Dieser Server bietet E-Mail-Programmen keinen Postausgangsserver an; "
            "fragen Sie Ihren Anbieter, welchen Sie verwenden sollen."
        ),
        "which": "IMAP oder POP3?",
        "imap_text": (
            "Mit IMAP bleibt Ihre Post auf dem Server. Jedes Gerät – Handy, Computer, Tablet "
            "und dieses Webmail – zeigt dieselben Ordner, dieselben Gelesen-Markierungen und "
            "dieselben gelöschten Nachrichten. Wählen Sie IMAP, wenn Sie Ihre Post auf mehr "
            "als einem Gerät lesen."
        ),
        "pop3_text": (
            "POP3 lädt Ihren Posteingang auf ein Gerät herunter. Die meisten Programme "
            "löschen die Nachrichten danach auf dem Server, sodass andere Geräte und das "
            "Webmail sie nicht mehr sehen. Wenn Sie POP3 auf mehreren Geräten nutzen, "
            "schalten Sie im Programm „Nachrichten auf dem Server belassen“ ein (oft mit "
            "„höchstens N Tage“). POP3 sieht nur den Posteingang und gleicht weder "
            "Gelesen-Markierungen noch Ordner ab."
        ),
        "retention": (
            "Ihr Konto bewahrt per POP3 abgerufene Nachrichten {days} Tage auf dem Server auf."
        ),
        "automatic": "Automatische Einrichtung",
        "auto_text": (
            "Thunderbird, K-9 Mail, Evolution, KMail und Outlook richten sich anhand Ihrer "
            "E-Mail-Adresse selbst ein. Auf iPhone, iPad oder Mac installieren Sie ein Profil:"
        ),
        "profile_imap": "Profil herunterladen (IMAP)",
        "profile_pop3": "Profil herunterladen (POP3)",
        "profile_note": (
            "Das Profil enthält kein Passwort: Das Gerät fragt danach. Auf dem iPhone: das "
            "geladene Profil unter Einstellungen › Allgemein › VPN und Geräteverwaltung öffnen."
        ),
        "qr": "Mit dem Handy scannen, um diese Seite dort zu öffnen:",
        "qr_alt": "QR-Code mit einem Link auf diese Seite",
        "language": "English",
    },
}
