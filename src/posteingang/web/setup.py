"""Setting up a mail program: the settings to type in, and the files mail programs fetch
to configure themselves.

* ``/account/setup``: IMAP and POP3 server, ports, encryption and user name, POP3
  versus IMAP for several devices, and the DNS SRV records (RFC 6186, with
  RFC 8314's preference for implicit TLS) the operator should publish.
* Mozilla autoconfig (Thunderbird, K-9/Thunderbird for Android, Evolution, KMail):
  ``/.well-known/autoconfig/mail/config-v1.1.xml`` and
  ``/mail/config-v1.1.xml?emailaddress=...``.
* An Apple configuration profile (``/account/setup/apple.mobileconfig``), and a QR
  code of the setup page to open it on a phone.
* Microsoft Autodiscover, the plain-old-XML form (Outlook, many phones):
  ``POST /autodiscover/autodiscover.xml``.

The servers listed are the configured IMAP and POP3 listeners, named by
`server.hostname`. posteingang receives mail only (no submission server), so
the files describe incoming servers. What this module must never do: echo
request data into XML unescaped, or reveal whether an address has an account
(the files are the same for every address of the request's domain).
"""

from __future__ import annotations

import base64
import io
import re
import uuid
from xml.sax.saxutils import escape, quoteattr

import segno
from starlette.requests import Request
from starlette.responses import Response

from posteingang.net.settings import TlsMode
from posteingang.web.context import web_of
from posteingang.web.guard import require_session
from posteingang.web.message import content_disposition
from posteingang.web.security import download_headers, own_origin
from posteingang.web.servers import ServerEntry, entries_from

__all__ = [
    "ServerEntry",
    "apple_profile",
    "autoconfig",
    "autodiscover",
    "entries_from",
    "qr_data_uri",
    "setup_page",
]

_ADDRESS = re.compile(r"[^\s<>&\"'@]{1,64}@[A-Za-z0-9.-]{1,253}")


async def setup_page(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    return web.templates.TemplateResponse(
        request,
        "setup.html",
        {
            "session": session,
            "entries": web.mail_servers,
            "domain": session.address.rpartition("@")[2],
            "qr": qr_data_uri(own_origin(request) + "/account/setup"),
        },
    )


def _address(value: str | None) -> str | None:
    if value and _ADDRESS.fullmatch(value.strip()):
        return value.strip().lower()
    return None


async def autoconfig(request: Request) -> Response:
    """Mozilla's config-v1.1.xml for the address (or the user's own choice of it)."""
    web = web_of(request)
    address = _address(request.query_params.get("emailaddress"))
    domain = address.rpartition("@")[2] if address else web.mail_domain(request)
    servers = []
    for e in web.mail_servers:
        kind = "imap" if e.protocol == "IMAP" else "pop3"
        servers.append(
            f"    <incomingServer type={quoteattr(kind)}>\n"
            f"      <hostname>{escape(e.host)}</hostname>\n"
            f"      <port>{e.port}</port>\n"
            f"      <socketType>{e.mozilla_socket}</socketType>\n"
            "      <username>%EMAILADDRESS%</username>\n"
            "      <authentication>password-cleartext</authentication>\n"
            "    </incomingServer>\n"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<clientConfig version="1.1">\n'
        f"  <emailProvider id={quoteattr(domain)}>\n"
        f"    <domain>{escape(domain)}</domain>\n"
        f"    <displayName>{escape(domain)}</displayName>\n"
        f"{''.join(servers)}"
        "  </emailProvider>\n"
        "</clientConfig>\n"
    )
    return Response(body, media_type="application/xml")


_REQUEST_ADDRESS = re.compile(rb"<EMailAddress>\s*([^<\s]{1,320})\s*</EMailAddress>", re.I)


async def autodiscover(request: Request) -> Response:
    """Outlook's POX Autodiscover (MS-OXDSCLI): the settings for the posted address."""
    web = web_of(request)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > 16 * 1024:
            return Response(status_code=413)
    found = _REQUEST_ADDRESS.search(raw)
    address = _address(found.group(1).decode("utf-8", "replace")) if found else None
    protocols = []
    for e in web.mail_servers:
        protocols.append(
            "      <Protocol>\n"
            f"        <Type>{e.protocol}</Type>\n"
            f"        <Server>{escape(e.host)}</Server>\n"
            f"        <Port>{e.port}</Port>\n"
            f"        <LoginName>{escape(address or '')}</LoginName>\n"
            "        <SPA>off</SPA>\n"
            f"        <SSL>{'on' if e.tls is TlsMode.IMPLICIT else 'off'}</SSL>\n"
            f"        <Encryption>{'SSL' if e.tls is TlsMode.IMPLICIT else 'TLS'}</Encryption>\n"
            "        <AuthRequired>on</AuthRequired>\n"
            "      </Protocol>\n"
        )
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">\n'
        '  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">\n'
        "    <Account>\n"
        "      <AccountType>email</AccountType>\n"
        "      <Action>settings</Action>\n"
        f"{''.join(protocols)}"
        "    </Account>\n"
        "  </Response>\n"
        "</Autodiscover>\n"
    )
    return Response(body, media_type="application/xml")


def _plist_string(value: str) -> str:
    return f"<string>{escape(value)}</string>"


async def apple_profile(request: Request) -> Response:
    """An Apple configuration profile (.mobileconfig) with the IMAP account, for iPhone,
    iPad and Mac: no password inside (the device asks for it)."""
    session = require_session(request)
    web = web_of(request)
    imap = next((e for e in web.mail_servers if e.protocol == "IMAP"), None)
    if imap is None:
        return Response("no IMAP server is configured", 404, media_type="text/plain")
    domain = session.address.rpartition("@")[2]
    ident = ".".join(reversed(domain.split("."))) + ".posteingang." + session.address
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        '<plist version="1.0"><dict>\n'
        "<key>PayloadContent</key><array><dict>\n"
        f"<key>EmailAccountDescription</key>{_plist_string(session.address)}\n"
        f"<key>EmailAccountName</key>{_plist_string(session.address)}\n"
        "<key>EmailAccountType</key><string>EmailTypeIMAP</string>\n"
        f"<key>EmailAddress</key>{_plist_string(session.address)}\n"
        "<key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>\n"
        f"<key>IncomingMailServerHostName</key>{_plist_string(imap.host)}\n"
        f"<key>IncomingMailServerPortNumber</key><integer>{imap.port}</integer>\n"
        "<key>IncomingMailServerUseSSL</key>"
        f"{'<true/>' if imap.tls is TlsMode.IMPLICIT else '<false/>'}\n"
        f"<key>IncomingMailServerUsername</key>{_plist_string(session.address)}\n"
        "<key>OutgoingMailServerAuthentication</key><string>EmailAuthNone</string>\n"
        f"<key>OutgoingMailServerHostName</key>{_plist_string(imap.host)}\n"
        "<key>OutgoingMailServerPortNumber</key><integer>587</integer>\n"
        "<key>OutgoingMailServerUseSSL</key><false/>\n"
        "<key>PayloadType</key><string>com.apple.mail.managed</string>\n"
        f"<key>PayloadIdentifier</key>{_plist_string(ident + '.mail')}\n"
        f"<key>PayloadUUID</key>{_plist_string(str(_uuid(ident + '.mail')))}\n"
        "<key>PayloadVersion</key><integer>1</integer>\n"
        "</dict></array>\n"
        f"<key>PayloadDisplayName</key>{_plist_string(session.address)}\n"
        f"<key>PayloadIdentifier</key>{_plist_string(ident)}\n"
        "<key>PayloadType</key><string>Configuration</string>\n"
        f"<key>PayloadUUID</key>{_plist_string(str(_uuid(ident)))}\n"
        "<key>PayloadVersion</key><integer>1</integer>\n"
        "</dict></plist>\n"
    )
    return Response(
        body,
        headers=download_headers(
            "application/x-apple-aspen-config", content_disposition(f"{domain}.mobileconfig")
        ),
    )


def _uuid(name: str) -> uuid.UUID:
    """Stable per account: installing the profile again replaces it instead of adding one."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "posteingang:" + name)


def qr_data_uri(url: str) -> str:
    """The URL as a QR code, an SVG in a data: URI (the page's CSP allows data: images)."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=4, border=2, xmldecl=False)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
