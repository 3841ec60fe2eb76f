"""What a mail program needs to know, and every format that tells it.

Theory of operation. `mail_setup` turns the runtime's ``[[listener]]`` tables and
the server's host name into a `MailSetup`: for each client protocol (IMAP, POP3,
SMTP submission) the endpoints a user may enter, best first (RFC 8314 §3:
implicit TLS before STARTTLS before plaintext). Everything else renders that one
value:

* `mozilla_autoconfig`: Thunderbird's ``clientConfig`` version 1.1 document
  (also read by K-9/Thunderbird for Android, Evolution, KMail and others);
* `parse_autodiscover_request` / `autodiscover_response`: Outlook's "POX"
  Autodiscover (request and response schema 2006/2006a);
* `mobileconfig`: an Apple configuration profile with one
  ``com.apple.mail.managed`` payload (no password in it: the device asks);
* `dns_records`: the SRV records of RFC 6186 and RFC 8314 and the
  autoconfig/autodiscover names an operator publishes;
* `qr_svg`: a QR code (segno) a phone scans to reach the download page.

Pure: no store, no sockets, no clock. What it must never do: build XML by string
concatenation without escaping (every document here comes from ElementTree or
plistlib), or let a request's XML declare a DTD or entity (the parser refuses any
DOCTYPE, so entity expansion attacks such as "billion laughs" cannot start).
"""

from __future__ import annotations

import enum
import io
import plistlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from xml.parsers import expat

import segno

from posteingang.net.settings import ListenerSettings, TlsMode

__all__ = [
    "MAX_AUTODISCOVER_REQUEST",
    "AutodiscoverRequestError",
    "BoundListener",
    "DnsRecord",
    "Endpoint",
    "MailSetup",
    "Security",
    "autodiscover_response",
    "dns_records",
    "domain_of",
    "listener_view",
    "mail_setup",
    "mobileconfig",
    "mozilla_autoconfig",
    "parse_autodiscover_request",
    "qr_svg",
    "zone_text",
]

Protocol = Literal["imap", "pop3", "smtp"]

# Ports on which an SMTP listener is a submission service for mail programs
# (RFC 8314 §3.3: 465 implicit TLS; RFC 6409: 587). Port 25 is the MX: a mail
# program must never be told to send there.
SUBMISSION_PORTS = frozenset({465, 587})
# An Autodiscover request is a few hundred octets; anything much larger is not one.
MAX_AUTODISCOVER_REQUEST = 16 * 1024
_MAX_ADDRESS = 320  # RFC 5321 §4.5.3.1: 64 local + @ + 255 domain


class Security(enum.StrEnum):
    """How a client protects the connection, in the words users see in settings."""

    TLS = "tls"  # implicit TLS from the first byte ("SSL/TLS")
    STARTTLS = "starttls"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One server a mail program can talk to."""

    protocol: Protocol
    host: str
    port: int
    security: Security

    @property
    def tls(self) -> bool:
        return self.security is not Security.NONE


@dataclass(frozen=True, slots=True)
class MailSetup:
    """The settings to enter, best endpoint of each protocol first. The user name is
    always the full address (posteingang's login name)."""

    hostname: str
    imap: tuple[Endpoint, ...] = ()
    pop3: tuple[Endpoint, ...] = ()
    smtp: tuple[Endpoint, ...] = ()

    @property
    def incoming(self) -> tuple[Endpoint, ...]:
        """IMAP before POP3: IMAP keeps several devices in sync (the page explains)."""
        return self.imap + self.pop3

    def best(self, protocol: Protocol) -> Endpoint | None:
        found: tuple[Endpoint, ...] = getattr(self, protocol)
        return found[0] if found else None


_PROTOCOLS: dict[str, Protocol] = {"IMAP": "imap", "POP3": "pop3", "SMTP": "smtp"}
_ORDER = {Security.TLS: 0, Security.STARTTLS: 1, Security.NONE: 2}
_SECURITY = {
    TlsMode.IMPLICIT: Security.TLS,
    TlsMode.STARTTLS: Security.STARTTLS,
    TlsMode.NONE: Security.NONE,
}


# A listener as the runtime bound it: (protocol, bind address, port, TLS mode).
BoundListener = tuple[str, str, int, TlsMode]


def listener_view(settings: ListenerSettings) -> BoundListener:
    """A configured ``[[listener]]`` table as a `BoundListener` (port as configured)."""
    return (settings.protocol, settings.host, settings.port, settings.tls)


def mail_setup(
    hostname: str,
    listeners: Iterable[BoundListener],
    submission: Sequence[Endpoint] = (),
    *,
    smtp_submission: bool = False,
) -> MailSetup:
    """The client settings the listeners offer on `hostname`.

    Unix-socket and plaintext listeners are not for mail programs. SMTP listeners count only
    with `smtp_submission` (a service that takes AUTH from mail programs), and
    then only on the submission ports: posteingang's SMTP service is the MX
    today and refuses AUTH (smtp/proto/commands.py), so advertising it would
    give users an outgoing server that cannot work. `submission` adds outgoing
    servers that are not posteingang's own (the provider's submission relay).
    """
    found: dict[Protocol, list[Endpoint]] = {"imap": [], "pop3": [], "smtp": list(submission)}
    for name, address, port, tls in listeners:
        protocol = _PROTOCOLS.get(name.upper())
        # RFC 8314 §5: mail programs should not log in without TLS (and posteingang
        # refuses plaintext logins except from loopback), so plaintext listeners are
        # not offered.
        if protocol is None or address.startswith("/") or port == 0 or tls is TlsMode.NONE:
            continue
        if protocol == "smtp" and (not smtp_submission or port not in SUBMISSION_PORTS):
            continue
        endpoint = Endpoint(protocol, hostname, port, _SECURITY[tls])
        if endpoint not in found[protocol]:
            found[protocol].append(endpoint)

    def ordered(protocol: Protocol) -> tuple[Endpoint, ...]:
        return tuple(sorted(found[protocol], key=lambda e: _ORDER[e.security]))

    return MailSetup(hostname, ordered("imap"), ordered("pop3"), ordered("smtp"))


def domain_of(address: str) -> str | None:
    """The lower-cased domain of a plausible mail address, else None."""
    address = address.strip()
    if not address or len(address) > _MAX_ADDRESS or any(c.isspace() for c in address):
        return None
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "/" in domain or "<" in address:
        return None
    return domain.lower().rstrip(".")


# --- Mozilla autoconfig ---------------------------------------------------------------

_MOZILLA_SOCKET = {Security.TLS: "SSL", Security.STARTTLS: "STARTTLS", Security.NONE: "plain"}
AUTOCONFIG_USERNAME = "%EMAILADDRESS%"  # the client fills in the address the user typed


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _document(root: ET.Element) -> bytes:
    ET.indent(root)
    out = io.BytesIO()
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    return out.getvalue() + b"\n"


def mozilla_autoconfig(setup: MailSetup, domain: str) -> bytes:
    """Thunderbird's clientConfig v1.1 for `domain`
    (wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).

    The user name is the ``%EMAILADDRESS%`` placeholder the client replaces with
    the address the user typed (so nothing from the request is echoed). Only
    password authentication is offered ("password-cleartext" means PLAIN/LOGIN,
    inside TLS where the socketType says so).
    """
    username = AUTOCONFIG_USERNAME
    root = ET.Element("clientConfig", version="1.1")
    provider = _sub(root, "emailProvider", id=domain)
    _sub(provider, "domain", domain)
    _sub(provider, "displayName", domain)
    _sub(provider, "displayShortName", domain)
    for endpoint in setup.incoming:
        server = _sub(provider, "incomingServer", type=endpoint.protocol)
        _server_fields(server, endpoint, username)
    for endpoint in setup.smtp:
        server = _sub(provider, "outgoingServer", type="smtp")
        _server_fields(server, endpoint, username)
    return _document(root)


def _server_fields(server: ET.Element, endpoint: Endpoint, username: str) -> None:
    _sub(server, "hostname", endpoint.host)
    _sub(server, "port", str(endpoint.port))
    _sub(server, "socketType", _MOZILLA_SOCKET[endpoint.security])
    _sub(server, "username", username)
    _sub(server, "authentication", "password-cleartext")


# --- Microsoft Autodiscover (POX) -----------------------------------------------------

RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


class AutodiscoverRequestError(ValueError):
    """The request body is not an Autodiscover request we answer (HTTP 400)."""


def parse_autodiscover_request(body: bytes) -> str:
    """The EMailAddress of an Autodiscover POX request.

    A strict parser on expat: any DOCTYPE (so any entity declaration) is
    refused before expat reads it, an undeclared entity is an expat error, and
    the body is size-limited. Only the element names matter (namespaces are
    accepted as sent: clients differ).
    """
    if len(body) > MAX_AUTODISCOVER_REQUEST:
        raise AutodiscoverRequestError("request too large")
    parser = expat.ParserCreate(namespace_separator=" ")
    path: list[str] = []
    text: list[str] = []
    found: list[str] = []

    def refuse(*_: object) -> None:
        raise AutodiscoverRequestError("DTDs and entities are not accepted")

    def start(name: str, _attrs: object) -> None:
        path.append(name.rpartition(" ")[2])
        if len(path) > 8:
            raise AutodiscoverRequestError("too deeply nested")
        text.clear()

    def end(name: str) -> None:
        if path and path[-1] == "EMailAddress" and path[:2] == ["Autodiscover", "Request"]:
            found.append("".join(text).strip())
        path.pop()
        text.clear()

    def chars(data: str) -> None:
        if sum(len(t) for t in text) + len(data) > _MAX_ADDRESS:
            raise AutodiscoverRequestError("element text too long")
        text.append(data)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(body, True)
    except expat.ExpatError as e:
        raise AutodiscoverRequestError(f"not well-formed XML: {e}") from None
    if len(found) != 1 or domain_of(found[0]) is None:
        raise AutodiscoverRequestError("no EMailAddress")
    return found[0]


_POX_TYPES: dict[Protocol, str] = {"imap": "IMAP", "pop3": "POP3", "smtp": "SMTP"}


def autodiscover_response(setup: MailSetup, address: str) -> bytes:
    """The POX response: one Protocol element per endpoint, best first.

    ``Encryption`` (Outlook 2010 and later) says which TLS: "SSL" is implicit,
    "TLS" is STARTTLS, "None" plaintext; ``SSL`` on/off is kept for older
    clients, which read only it.
    """
    root = ET.Element("Autodiscover", xmlns=RESPONSE_NS)
    response = _sub(root, "Response", xmlns=OUTLOOK_NS)
    account = _sub(response, "Account")
    _sub(account, "AccountType", "email")
    _sub(account, "Action", "settings")
    for endpoint in (*setup.incoming, *setup.smtp):
        protocol = _sub(account, "Protocol")
        _sub(protocol, "Type", _POX_TYPES[endpoint.protocol])
        _sub(protocol, "Server", endpoint.host)
        _sub(protocol, "Port", str(endpoint.port))
        _sub(protocol, "DomainRequired", "off")
        _sub(protocol, "LoginName", address)
        _sub(protocol, "SPA", "off")
        _sub(protocol, "SSL", "on" if endpoint.tls else "off")
        _sub(
            protocol,
            "Encryption",
            {Security.TLS: "SSL", Security.STARTTLS: "TLS", Security.NONE: "None"}[
                endpoint.security
            ],
        )
        _sub(protocol, "AuthRequired", "on")
        if endpoint.protocol == "smtp":
            _sub(protocol, "UsePOPAuth", "off")
            _sub(protocol, "SMTPLast", "off")
    return _document(root)


# --- Apple configuration profile --------------------------------------------------------

MOBILECONFIG_TYPE = "application/x-apple-aspen-config"
_UUID_NAMESPACE = uuid.UUID("6f1d2b7e-4b7e-4a0b-9a55-0c2d3b1f9e01")


def mobileconfig(setup: MailSetup, address: str, *, account_type: Protocol = "imap") -> bytes:
    """A configuration profile with one mail account (Apple's "Mail" payload,
    ``com.apple.mail.managed``). Identifiers and UUIDs are derived from the
    address and host name, so installing it again replaces the profile instead of
    adding a second account. The password is not in it: the device asks.
    """
    incoming = setup.best(account_type)
    if incoming is None:
        raise ValueError(f"no {account_type} listener to configure")
    outgoing = setup.best("smtp")
    identifier = ".".join(reversed(setup.hostname.split("."))) + ".posteingang." + address
    account_uuid = uuid.uuid5(_UUID_NAMESPACE, f"mail:{identifier}")
    profile_uuid = uuid.uuid5(_UUID_NAMESPACE, f"profile:{identifier}")
    payload: dict[str, object] = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier + ".mail",
        "PayloadUUID": str(account_uuid).upper(),
        "PayloadDisplayName": address,
        "EmailAccountType": "EmailTypeIMAP" if account_type == "imap" else "EmailTypePOP",
        "EmailAccountDescription": address,
        "EmailAddress": address,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerHostName": incoming.host,
        "IncomingMailServerPortNumber": incoming.port,
        # Apple Mail speaks STARTTLS on a plain port when asked for SSL there.
        "IncomingMailServerUseSSL": incoming.tls,
        "IncomingMailServerUsername": address,
    }
    if outgoing is not None:
        payload |= {
            "OutgoingMailServerAuthentication": "EmailAuthPassword",
            "OutgoingMailServerHostName": outgoing.host,
            "OutgoingMailServerPortNumber": outgoing.port,
            "OutgoingMailServerUseSSL": outgoing.tls,
            "OutgoingMailServerUsername": address,
            "OutgoingPasswordSameAsIncomingPassword": True,
        }
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": str(profile_uuid).upper(),
        "PayloadDisplayName": f"E-Mail {address}",
        "PayloadDescription": f"Mail account {address} on {setup.hostname}",
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [payload],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)


# --- DNS ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DnsRecord:
    name: str  # fully qualified, with the trailing dot
    type: Literal["SRV", "CNAME"]
    value: str

    def line(self) -> str:
        return f"{self.name}\t3600\tIN\t{self.type}\t{self.value}"


# RFC 6186 §3.1-3.3 and RFC 8314 §5.1: service label -> (protocol, security).
_SRV_SERVICES: tuple[tuple[str, Protocol, Security], ...] = (
    ("_imaps._tcp", "imap", Security.TLS),
    ("_imap._tcp", "imap", Security.STARTTLS),
    ("_pop3s._tcp", "pop3", Security.TLS),
    ("_pop3._tcp", "pop3", Security.STARTTLS),
    ("_submissions._tcp", "smtp", Security.TLS),
    ("_submission._tcp", "smtp", Security.STARTTLS),
)


def dns_records(setup: MailSetup, domains: Iterable[str]) -> list[DnsRecord]:
    """What to publish for each hosted domain so mail programs find the server.

    SRV records (RFC 6186 §3, RFC 8314 §5.1): priority 0 for the implicit-TLS
    services and 10 for STARTTLS, since a program that finds both compares the
    priorities across them (RFC 6186 §3.4, lower first; RFC 8314 §5.1 prefers
    implicit TLS); a service that is not offered gets target "." (RFC 6186
    §4: "service not available"), so clients do not guess. Then Outlook's
    ``_autodiscover._tcp`` SRV and the ``autoconfig`` and ``autodiscover`` host
    names Thunderbird and Outlook try, as CNAMEs to the server (all of them need
    HTTPS on port 443 there).
    """
    target = setup.hostname.rstrip(".") + "."
    out: list[DnsRecord] = []
    for domain in sorted({d.lower().rstrip(".") for d in domains}):
        for label, protocol, security in _SRV_SERVICES:
            endpoints = getattr(setup, protocol)
            match = next((e for e in endpoints if e.security is security), None)
            priority = 0 if security is Security.TLS else 10
            value = f"{priority} 1 {match.port} {target}" if match else "0 0 0 ."
            out.append(DnsRecord(f"{label}.{domain}.", "SRV", value))
        # Outlook's last resort (MS-OXDSCLI §3.1.5.2): HTTPS on this host, port 443.
        out.append(DnsRecord(f"_autodiscover._tcp.{domain}.", "SRV", f"0 1 443 {target}"))
        out.append(DnsRecord(f"autoconfig.{domain}.", "CNAME", target))
        out.append(DnsRecord(f"autodiscover.{domain}.", "CNAME", target))
    return out


def zone_text(records: Iterable[DnsRecord]) -> str:
    """The records as zone-file lines (RFC 1035 §5), ready to paste."""
    return "".join(r.line() + "\n" for r in records)


# --- QR code ------------------------------------------------------------------------------


def qr_svg(url: str) -> str:
    """`url` as a QR code in SVG: paths only (segno writes no script), error level M,
    dark on light whatever the page's colour scheme, so every camera reads it."""
    qr = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=4, border=4, dark="#000", light="#fff", xmldecl=False)
    return out.getvalue().decode("utf-8")
