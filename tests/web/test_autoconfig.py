"""The client settings and every document that carries them, parsed back."""

from __future__ import annotations

import plistlib
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.web.autoconfig import (
    MAX_AUTODISCOVER_REQUEST,
    AutodiscoverRequestError,
    Endpoint,
    MailSetup,
    Security,
    autodiscover_response,
    dns_records,
    domain_of,
    listener_view,
    mail_setup,
    mobileconfig,
    mozilla_autoconfig,
    parse_autodiscover_request,
    qr_svg,
    zone_text,
)

HOST = "mail.example.test"
LISTENERS = [
    listener_view(s)
    for s in [
        ListenerSettings(protocol="IMAP", port=143, tls=TlsMode.STARTTLS),
        ListenerSettings(protocol="IMAP", port=993, tls=TlsMode.IMPLICIT),
        ListenerSettings(protocol="POP3", port=995, tls=TlsMode.IMPLICIT),
        ListenerSettings(protocol="POP3", port=110, tls=TlsMode.STARTTLS),
        ListenerSettings(protocol="SMTP", port=25, tls=TlsMode.STARTTLS),
        ListenerSettings(protocol="SMTP", port=587, tls=TlsMode.STARTTLS),
        ListenerSettings(protocol="LMTP", host="/run/lmtp.sock", port=24),
        ListenerSettings(protocol="HTTP", port=8080),
        ListenerSettings(protocol="IMAP", host="127.0.0.1", port=1143, tls=TlsMode.NONE),
    ]
]
SETUP = mail_setup(HOST, LISTENERS, smtp_submission=True)
ADDRESS = "alice@example.test"

REQUEST = b"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>alice@example.test</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<Autodiscover><Request><EMailAddress>&lol3;@example.test</EMailAddress></Request></Autodiscover>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<Autodiscover><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>"""


def test_settings_come_from_the_listeners_best_first() -> None:
    assert [(e.port, e.security) for e in SETUP.imap] == [
        (993, Security.TLS),
        (143, Security.STARTTLS),
    ]
    assert [(e.port, e.security) for e in SETUP.pop3] == [
        (995, Security.TLS),
        (110, Security.STARTTLS),
    ]
    # Port 25 is the MX, never a mail program's outgoing server; plaintext 1143 is not
    # offered at all.
    assert [(e.port, e.security) for e in SETUP.smtp] == [(587, Security.STARTTLS)]
    assert {e.host for e in SETUP.incoming} == {HOST}


def test_the_mx_is_never_an_outgoing_server() -> None:
    # Without a submission service (posteingang's SMTP takes no AUTH), no SMTP listener
    # is offered to mail programs, whatever its port.
    assert mail_setup(HOST, LISTENERS).smtp == ()


def test_an_outgoing_relay_can_be_given() -> None:
    relay = Endpoint("smtp", "smtp.provider.test", 465, Security.TLS)
    setup = mail_setup(HOST, LISTENERS, [relay])
    assert setup.best("smtp") == relay


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("alice@Example.Test", "example.test"),
        ("a@b@example.test", "example.test"),
        ("no-at-sign", None),
        ("@example.test", None),
        ("alice@", None),
        ("alice @example.test", None),
        ("x" * 400 + "@example.test", None),
    ],
)
def test_domain_of(address: str, domain: str | None) -> None:
    assert domain_of(address) == domain


def test_mozilla_autoconfig_parses_back() -> None:
    root = ET.fromstring(mozilla_autoconfig(SETUP, "example.test"))
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None and provider.get("id") == "example.test"
    assert provider.findtext("domain") == "example.test"
    incoming = provider.findall("incomingServer")
    assert [(s.get("type"), s.findtext("port"), s.findtext("socketType")) for s in incoming] == [
        ("imap", "993", "SSL"),
        ("imap", "143", "STARTTLS"),
        ("pop3", "995", "SSL"),
        ("pop3", "110", "STARTTLS"),
    ]
    for server in [*incoming, *provider.findall("outgoingServer")]:
        assert server.findtext("hostname") == HOST
        assert server.findtext("username") == "%EMAILADDRESS%"
        assert server.findtext("authentication") == "password-cleartext"
    (outgoing,) = provider.findall("outgoingServer")
    assert (outgoing.findtext("port"), outgoing.findtext("socketType")) == ("587", "STARTTLS")


def test_mozilla_autoconfig_escapes() -> None:
    setup = mail_setup('m<x>&"', LISTENERS)
    root = ET.fromstring(mozilla_autoconfig(setup, "a&b<c>"))
    assert root.findtext("emailProvider/domain") == "a&b<c>"
    assert root.findtext("emailProvider/incomingServer/hostname") == 'm<x>&"'


def test_autodiscover_request_and_response() -> None:
    assert parse_autodiscover_request(REQUEST) == ADDRESS
    root = ET.fromstring(autodiscover_response(SETUP, ADDRESS))
    ns = {
        "a": "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
        "o": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a",
    }
    assert root.tag == f"{{{ns['a']}}}Autodiscover"
    account = root.find("o:Response/o:Account", ns)
    assert account is not None
    assert account.findtext("o:AccountType", namespaces=ns) == "email"
    assert account.findtext("o:Action", namespaces=ns) == "settings"
    protocols = [
        (
            p.findtext("o:Type", namespaces=ns),
            p.findtext("o:Port", namespaces=ns),
            p.findtext("o:SSL", namespaces=ns),
            p.findtext("o:Encryption", namespaces=ns),
            p.findtext("o:LoginName", namespaces=ns),
        )
        for p in account.findall("o:Protocol", ns)
    ]
    assert protocols == [
        ("IMAP", "993", "on", "SSL", ADDRESS),
        ("IMAP", "143", "on", "TLS", ADDRESS),
        ("POP3", "995", "on", "SSL", ADDRESS),
        ("POP3", "110", "on", "TLS", ADDRESS),
        ("SMTP", "587", "on", "TLS", ADDRESS),
    ]


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        b"<Autodiscover><Request><EMailAddress>a@b",  # not well-formed
        b"<Autodiscover><Request></Request></Autodiscover>",  # no address
        b"<Autodiscover><Request><EMailAddress>nobody</EMailAddress></Request></Autodiscover>",
        b"<Autodiscover><Request><EMailAddress>&amp2;</EMailAddress></Request></Autodiscover>",
        b"<x>" * 20 + b"</x>" * 20,
        REQUEST + b" " * MAX_AUTODISCOVER_REQUEST,
    ],
)
def test_hostile_or_wrong_autodiscover_requests_are_refused(body: bytes) -> None:
    with pytest.raises(AutodiscoverRequestError):
        parse_autodiscover_request(body)


def test_mobileconfig_has_the_account_and_no_password() -> None:
    data = mobileconfig(SETUP, ADDRESS)
    profile = plistlib.loads(data)
    assert profile["PayloadType"] == "Configuration"
    (mail,) = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["EmailAccountType"] == "EmailTypeIMAP"
    assert mail["EmailAddress"] == ADDRESS
    assert mail["IncomingMailServerHostName"] == HOST
    assert mail["IncomingMailServerPortNumber"] == 993
    assert mail["IncomingMailServerUseSSL"] is True
    assert mail["IncomingMailServerUsername"] == ADDRESS
    assert mail["OutgoingMailServerPortNumber"] == 587
    # The keys that would carry a password are absent: the device asks for it.
    assert "IncomingPassword" not in mail and "OutgoingPassword" not in mail
    assert mail["OutgoingPasswordSameAsIncomingPassword"] is True
    # The same address gets the same identifiers: reinstalling replaces the profile.
    assert plistlib.loads(mobileconfig(SETUP, ADDRESS))["PayloadUUID"] == profile["PayloadUUID"]
    other = plistlib.loads(mobileconfig(SETUP, "bob@example.test"))
    assert other["PayloadUUID"] != profile["PayloadUUID"]


def test_mobileconfig_for_pop3() -> None:
    (mail,) = plistlib.loads(mobileconfig(SETUP, ADDRESS, account_type="pop3"))["PayloadContent"]
    assert mail["EmailAccountType"] == "EmailTypePOP"
    assert mail["IncomingMailServerPortNumber"] == 995


def test_mobileconfig_needs_a_listener() -> None:
    with pytest.raises(ValueError):
        mobileconfig(MailSetup(HOST), ADDRESS)


def test_dns_records() -> None:
    setup = mail_setup(HOST, LISTENERS[:4])  # no submission listener
    records = {(r.name, r.type): r.value for r in dns_records(setup, ["Example.Test"])}
    assert records == {
        ("_imaps._tcp.example.test.", "SRV"): f"0 1 993 {HOST}.",
        ("_imap._tcp.example.test.", "SRV"): f"10 1 143 {HOST}.",
        ("_pop3s._tcp.example.test.", "SRV"): f"0 1 995 {HOST}.",
        ("_pop3._tcp.example.test.", "SRV"): f"10 1 110 {HOST}.",
        # RFC 6186 §4: "." says the service is not offered.
        ("_submissions._tcp.example.test.", "SRV"): "0 0 0 .",
        ("_submission._tcp.example.test.", "SRV"): "0 0 0 .",
        ("_autodiscover._tcp.example.test.", "SRV"): f"0 1 443 {HOST}.",
        ("autoconfig.example.test.", "CNAME"): f"{HOST}.",
        ("autodiscover.example.test.", "CNAME"): f"{HOST}.",
    }
    text = zone_text(dns_records(setup, ["example.test"]))
    assert f"_imaps._tcp.example.test.\t3600\tIN\tSRV\t0 1 993 {HOST}.\n" in text


def test_qr_svg_is_plain_svg() -> None:
    svg = qr_svg("https://mail.example.test/setup")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "script" not in svg.lower() and "href" not in svg.lower()


_PIECES = st.sampled_from(
    [
        b"<Autodiscover>",
        b"</Autodiscover>",
        b"<Request>",
        b"</Request>",
        b"<EMailAddress>",
        b"</EMailAddress>",
        b"alice@example.test",
        b"&amp;",
        b"&lol;",
        b"&#65;",
        b"<!DOCTYPE a [<!ENTITY lol 'x'>]>",
        b"<?xml version='1.0'?>",
        b"<![CDATA[x]]>",
        b"<!-- c -->",
        b'<a xmlns="urn:x">',
        b"\xff\xfe",
        b"\x00",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.lists(_PIECES, max_size=12).map(b"".join)))
def test_autodiscover_parser_answers_or_refuses(body: bytes) -> None:
    """Any body: an address with a domain, or AutodiscoverRequestError; nothing else."""
    try:
        address = parse_autodiscover_request(body)
    except AutodiscoverRequestError:
        return
    assert domain_of(address) is not None
    assert b"DOCTYPE" not in body
