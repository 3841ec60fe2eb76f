"""Setting up mail programs: the settings page, Mozilla autoconfig, Outlook Autodiscover."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.web.server import serving_for
from posteingang.web.servers import entries_from
from tests.serving import ALICE
from tests.web.conftest import WebServer

LISTENERS = [
    ListenerSettings(protocol="HTTP", host="0.0.0.0", port=443, tls=TlsMode.IMPLICIT),
    ListenerSettings(protocol="POP3", host="0.0.0.0", port=995, tls=TlsMode.IMPLICIT),
    ListenerSettings(protocol="IMAP", host="0.0.0.0", port=143, tls=TlsMode.STARTTLS),
    ListenerSettings(protocol="IMAP", host="0.0.0.0", port=993, tls=TlsMode.IMPLICIT),
    ListenerSettings(protocol="POP3", host="127.0.0.1", port=1110, tls=TlsMode.NONE),
]


def test_the_servers_come_from_the_listeners_best_first() -> None:
    entries = entries_from(LISTENERS, "mail.example.test")
    assert [(e.protocol, e.port) for e in entries] == [("IMAP", 993), ("IMAP", 143), ("POP3", 995)]


async def test_the_runtime_tells_its_own_listeners(web: WebServer) -> None:
    serving = serving_for(web.runtime)
    assert serving.web.hostname == "localhost"
    assert serving.web.mail_servers == []  # the test runtime has only an HTTP listener


async def test_setup_page_and_autoconfiguration(web: WebServer) -> None:
    serving_for(web.runtime).web.mail_servers = entries_from(LISTENERS, "mail.example.test")
    async with web.logged_in() as client:
        page = await client.get("/account/setup")
        assert page.status_code == 200
        assert "mail.example.test" in page.text and "993" in page.text
        assert "_imaps._tcp  SRV  0 1 993 mail.example.test." in page.text
        assert "_imap._tcp  SRV  10 1 143 mail.example.test." in page.text
        assert "_pop3s._tcp  SRV  0 1 995 mail.example.test." in page.text
        assert "1110" not in page.text  # no plaintext-only listener is offered
    async with web.client() as anonymous:
        for url in (
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            f"/mail/config-v1.1.xml?emailaddress={ALICE}",
        ):
            response = await anonymous.get(url)
            assert response.status_code == 200
            root = ET.fromstring(response.text)
            servers = root.findall("./emailProvider/incomingServer")
            assert [
                (s.get("type"), s.findtext("port"), s.findtext("socketType")) for s in servers
            ] == [
                ("imap", "993", "SSL"),
                ("imap", "143", "STARTTLS"),
                ("pop3", "995", "SSL"),
            ]
            assert servers[0].findtext("hostname") == "mail.example.test"
            assert servers[0].findtext("username") == "%EMAILADDRESS%"
        hostile = await anonymous.get('/mail/config-v1.1.xml?emailaddress="><x>@a.b')
        ET.fromstring(hostile.text)  # still well-formed: bad input is ignored
        request = (
            '<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
            'autodiscover/outlook/requestschema/2006"><Request>'
            f"<EMailAddress>{ALICE}</EMailAddress></Request></Autodiscover>"
        )
        answer = await anonymous.post("/autodiscover/autodiscover.xml", content=request)
        assert answer.status_code == 200
        ns = {
            "r": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
        }
        protocols = ET.fromstring(answer.text).findall(".//r:Protocol", ns)
        assert [
            (p.findtext("r:Type", namespaces=ns), p.findtext("r:Port", namespaces=ns))
            for p in protocols
        ] == [
            ("IMAP", "993"),
            ("IMAP", "143"),
            ("POP3", "995"),
        ]
        assert protocols[0].findtext("r:LoginName", namespaces=ns) == ALICE


async def test_apple_profile_and_qr_code(web: WebServer) -> None:
    import plistlib

    serving_for(web.runtime).web.mail_servers = entries_from(LISTENERS, "mail.example.test")
    async with web.logged_in() as client:
        page = await client.get("/account/setup")
        assert 'class="qr" src="data:image/svg+xml;base64,' in page.text
        profile = await client.get("/account/setup/apple.mobileconfig")
        assert profile.status_code == 200
        assert profile.headers["content-type"] == "application/x-apple-aspen-config"
        assert profile.headers["content-disposition"].startswith("attachment;")
        data = plistlib.loads(profile.content)
        (mail,) = data["PayloadContent"]
        assert mail["EmailAddress"] == ALICE and mail["IncomingMailServerUsername"] == ALICE
        assert mail["IncomingMailServerHostName"] == "mail.example.test"
        assert mail["IncomingMailServerPortNumber"] == 993
        assert mail["IncomingMailServerUseSSL"] is True
        assert "Password" not in "".join(mail)
        again = plistlib.loads((await client.get("/account/setup/apple.mobileconfig")).content)
        assert again["PayloadUUID"] == data["PayloadUUID"]  # installing twice replaces
    async with web.client() as anonymous:
        assert (await anonymous.get("/account/setup/apple.mobileconfig")).status_code == 303
