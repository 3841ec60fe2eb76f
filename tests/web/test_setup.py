"""Setting up a mail program, over real HTTP against the running runtime: the
/account/setup page (webmail layout, German and English), the Apple profile,
Mozilla autoconfig and Outlook Autodiscover. In `served`, the IMAP and POP3
listeners really run, and a mail program that follows the advertised settings
logs in; the `web` tests give the app a fixed set of listeners."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import imaplib
import os
import plistlib
import poplib
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from posteingang.config.schema import Config
from posteingang.imap.server import IMAP
from posteingang.net.settings import ListenerSettings, TlsMode, TlsSettings
from posteingang.pop3.server import POP3
from posteingang.web.autoconfig import MailSetup, listener_view, mail_setup
from posteingang.web.server import WEB, serving_for
from tests.serving import ALICE, PASSWORD, Certificates, add_account, running, write_certificates
from tests.web.conftest import BOB, WebServer, web_config

LISTENERS = [
    ListenerSettings(protocol="HTTP", host="0.0.0.0", port=443, tls=TlsMode.IMPLICIT),
    ListenerSettings(protocol="POP3", host="0.0.0.0", port=995, tls=TlsMode.IMPLICIT),
    ListenerSettings(protocol="IMAP", host="0.0.0.0", port=143, tls=TlsMode.STARTTLS),
    ListenerSettings(protocol="IMAP", host="0.0.0.0", port=993, tls=TlsMode.IMPLICIT),
    ListenerSettings(protocol="POP3", host="127.0.0.1", port=1110, tls=TlsMode.NONE),
]


def fixed_setup() -> MailSetup:
    return mail_setup("mail.example.test", [listener_view(s) for s in LISTENERS])


def test_the_servers_come_from_the_listeners_best_first() -> None:
    entries = fixed_setup().incoming
    assert [(e.protocol, e.port) for e in entries] == [("imap", 993), ("imap", 143), ("pop3", 995)]


async def test_the_runtime_tells_its_own_listeners(web: WebServer) -> None:
    serving = serving_for(web.runtime)
    assert serving.web.hostname == "localhost"
    setup = serving.app.state.mail_setup()
    assert setup.hostname == "localhost"
    assert setup.incoming == ()  # the test runtime has only an HTTP listener


async def test_setup_page_and_autoconfiguration(web: WebServer) -> None:
    serving_for(web.runtime).app.state.mail_setup = fixed_setup
    async with web.logged_in() as client:
        page = await client.get("/account/setup")
        assert page.status_code == 200
        assert "mail.example.test" in page.text and "993" in page.text
        assert "_imaps._tcp.example.test.\t3600\tIN\tSRV\t0 1 993 mail.example.test." in page.text
        assert "_imap._tcp.example.test.\t3600\tIN\tSRV\t10 1 143 mail.example.test." in page.text
        assert "_pop3s._tcp.example.test.\t3600\tIN\tSRV\t0 1 995 mail.example.test." in page.text
        assert "1110" not in page.text  # no plaintext-only listener is offered
    async with web.client() as anonymous:
        for url, host in (
            ("/.well-known/autoconfig/mail/config-v1.1.xml", "autoconfig.example.test"),
            (f"/mail/config-v1.1.xml?emailaddress={ALICE}", None),
        ):
            response = await anonymous.get(url, headers={"host": host} if host else {})
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
        for hostile_address in ('"><x>@a.b', '"><x>@example.test'):
            hostile = await anonymous.get(
                "/mail/config-v1.1.xml", params={"emailaddress": hostile_address}
            )
            # Refused, and nothing of the input is echoed (no malformed XML).
            assert hostile.status_code == 404 and "<x>" not in hostile.text
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
    serving_for(web.runtime).app.state.mail_setup = fixed_setup
    async with web.logged_in() as client:
        page = await client.get("/account/setup")
        assert 'class="qr" src="data:image/svg+xml;base64,' in page.text
        assert "/account/setup/apple.mobileconfig?type=imap" in page.text
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


OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
NS = {"o": OUTLOOK}


def autodiscover_request(address: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/'
        'requestschema/2006"><Request>'
        f"<EMailAddress>{address}</EMailAddress>"
        f"<AcceptableResponseSchema>{OUTLOOK}</AcceptableResponseSchema>"
        "</Request></Autodiscover>"
    ).encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
<Request><EMailAddress>alice@example.test&lol3;</EMailAddress></Request></Autodiscover>"""


@contextlib.asynccontextmanager
async def serve_all(tmp_path: Path) -> AsyncIterator[tuple[WebServer, Certificates]]:
    """HTTP, IMAP with implicit TLS and POP3 with STARTTLS, all on loopback ports."""
    certs = write_certificates(tmp_path / "certs")
    base = web_config(tmp_path)
    config = Config(
        server=base.server,
        store=base.store,
        tls=TlsSettings(cert=certs.cert_file, key=certs.key_file),
        listener=[
            *base.listener,
            ListenerSettings(protocol="IMAP", host="127.0.0.1", port=0, tls=TlsMode.IMPLICIT),
            ListenerSettings(protocol="POP3", host="127.0.0.1", port=0, tls=TlsMode.STARTTLS),
        ],
    )
    async with running(config, [WEB, IMAP, POP3]) as rt:
        await add_account(rt.store)
        await add_account(rt.store, BOB, "bobs password")
        port = next(lst.port for lst in rt.listeners if lst.protocol == "HTTP")
        yield WebServer(rt, f"http://127.0.0.1:{port}"), certs


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[WebServer, Certificates]]:
    async with serve_all(tmp_path) as pair:
        yield pair


def bound_port(server: WebServer, protocol: str) -> int:
    return next(lst.port for lst in server.runtime.listeners if lst.protocol == protocol)


async def test_thunderbird_autoconfig_leads_to_a_working_login(
    served: tuple[WebServer, Certificates],
) -> None:
    server, certs = served
    async with server.client() as client:
        response = await client.get(
            "/mail/config-v1.1.xml", params={"emailaddress": "Someone@Example.Test"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/xml")
        well_known = await client.get(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            params={"emailaddress": ALICE},
        )
        assert well_known.content == response.content
    root = ET.fromstring(response.content)
    assert root.findtext("emailProvider/domain") == "example.test"
    servers = {
        s.get("type"): (s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"))
        for s in root.iter("incomingServer")
    }
    imap_port, pop3_port = bound_port(server, "IMAP"), bound_port(server, "POP3")
    assert servers == {
        "imap": ("localhost", str(imap_port), "SSL"),
        "pop3": ("localhost", str(pop3_port), "STARTTLS"),
    }
    assert root.find("emailProvider/outgoingServer") is None  # no submission listener

    # A mail program following these settings (user name: the full address) logs in.
    def imap_login() -> str:
        host, port, _ = servers["imap"]
        assert host is not None and port is not None
        with imaplib.IMAP4_SSL(host, int(port), ssl_context=certs.client_context) as imap:
            typ, _ = imap.login(ALICE, PASSWORD)
            imap.logout()
            return typ

    def pop3_login() -> bytes:
        host, port, _ = servers["pop3"]
        assert host is not None and port is not None
        pop = poplib.POP3(host, int(port), timeout=20)
        pop.stls(certs.client_context)
        pop.user(ALICE)
        reply = pop.pass_(PASSWORD)
        pop.quit()
        return reply

    assert await asyncio.to_thread(imap_login) == "OK"
    assert (await asyncio.to_thread(pop3_login)).startswith(b"+OK")


async def test_autoconfig_for_an_international_domain(
    served: tuple[WebServer, Certificates],
) -> None:
    server, _ = served
    await server.store.add_domain("xn--bcher-kva.test")  # bücher.test
    async with server.client() as client:
        for address in ("anna@bücher.test", "anna@xn--bcher-kva.test", "anna@BÜCHER.test"):
            response = await client.get("/mail/config-v1.1.xml", params={"emailaddress": address})
            assert response.status_code == 200, address
            domain = ET.fromstring(response.content).findtext("emailProvider/domain")
            assert domain == "xn--bcher-kva.test"
        request = autodiscover_request("anna@bücher.test")
        assert (
            await client.post("/autodiscover/autodiscover.xml", content=request)
        ).status_code == 200


async def test_autoconfig_by_host_name(served: tuple[WebServer, Certificates]) -> None:
    server, _ = served
    async with server.client() as client:
        response = await client.get(
            "/mail/config-v1.1.xml", headers={"host": "autoconfig.example.test"}
        )
        assert response.status_code == 200
        assert ET.fromstring(response.content).findtext("emailProvider/domain") == "example.test"
        other = await client.get("/mail/config-v1.1.xml", headers={"host": "autoconfig.other.test"})
        assert other.status_code == 404


@pytest.mark.parametrize(
    "address", ["alice@unknown.test", "nobody", "", "a@example.test.evil", "<x>@example.test>"]
)
async def test_autoconfig_unknown_domain_is_404(
    served: tuple[WebServer, Certificates], address: str
) -> None:
    server, _ = served
    async with server.client() as client:
        for path in ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"):
            response = await client.get(path, params={"emailaddress": address})
            assert response.status_code == 404, (path, address)
            assert b"clientConfig" not in response.content


async def test_autodiscover_pox(served: tuple[WebServer, Certificates]) -> None:
    server, _ = served
    async with server.client() as client:
        for path in ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"):
            response = await client.post(
                path, content=autodiscover_request(ALICE), headers={"content-type": "text/xml"}
            )
            assert response.status_code == 200, path
            root = ET.fromstring(response.content)
            protocols = [
                (
                    p.findtext("o:Type", namespaces=NS),
                    p.findtext("o:Server", namespaces=NS),
                    p.findtext("o:Port", namespaces=NS),
                    p.findtext("o:Encryption", namespaces=NS),
                    p.findtext("o:LoginName", namespaces=NS),
                )
                for p in root.iterfind("o:Response/o:Account/o:Protocol", NS)
            ]
            assert protocols == [
                ("IMAP", "localhost", str(bound_port(server, "IMAP")), "SSL", ALICE),
                ("POP3", "localhost", str(bound_port(server, "POP3")), "TLS", ALICE),
            ]
        # Every address of a hosted domain gets the same answer: no account enumeration.
        unknown_user = await client.post(
            "/autodiscover/autodiscover.xml", content=autodiscover_request("x@example.test")
        )
        assert unknown_user.status_code == 200
        unknown_domain = await client.post(
            "/autodiscover/autodiscover.xml", content=autodiscover_request("x@elsewhere.test")
        )
        assert unknown_domain.status_code == 404
        assert (await client.get("/autodiscover/autodiscover.xml")).status_code == 405


async def test_autodiscover_refuses_hostile_xml(served: tuple[WebServer, Certificates]) -> None:
    server, _ = served
    async with server.client() as client:
        laughs = await client.post("/autodiscover/autodiscover.xml", content=BILLION_LAUGHS)
        assert laughs.status_code == 400
        assert b"lol" not in laughs.content
        big = await client.post(
            "/autodiscover/autodiscover.xml", content=autodiscover_request(ALICE) + b" " * 20000
        )
        assert big.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
            for _ in range(40):
                yield b" " * 1000

        streamed = await client.post("/autodiscover/autodiscover.xml", content=chunks())
        assert streamed.status_code == 413
        # The server is still fine afterwards.
        ok = await client.post(
            "/autodiscover/autodiscover.xml", content=autodiscover_request(ALICE)
        )
        assert ok.status_code == 200


async def test_setup_page_needs_login(served: tuple[WebServer, Certificates]) -> None:
    server, _ = served
    async with server.client() as client:
        page = await client.get("/account/setup")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        profile = await client.get("/account/setup/apple.mobileconfig")
        assert profile.status_code == 303
        short = await client.get("/setup")  # the short URL leads to the page
        assert short.status_code == 303 and short.headers["location"] == "/account/setup"


async def test_setup_page_in_english_and_german(served: tuple[WebServer, Certificates]) -> None:
    server, _ = served
    async with server.logged_in() as client:
        page = await client.get("/account/setup", headers={"accept-language": "en-GB,en;q=0.8"})
        assert page.status_code == 200
        html = page.text
        assert '<html lang="en">' in html and "IMAP or POP3?" in html
        assert "Leave messages on server" in html
        rows = re.findall(
            r'data-protocol="(\w+)">.*?class="host"[^>]*>([^<]+)<.*?class="port"[^>]*>(\d+)<'
            r'.*?class="security"[^>]*>([^<]+)<.*?class="username"[^>]*>([^<]+)<',
            html,
            re.S,
        )
        assert rows == [
            ("imap", "localhost", str(bound_port(server, "IMAP")), "SSL/TLS", ALICE),
            ("pop3", "localhost", str(bound_port(server, "POP3")), "STARTTLS", ALICE),
        ]
        assert "/account/setup/apple.mobileconfig?type=imap" in html
        qr = re.search(r'<img [^>]*src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
        assert qr is not None
        svg = base64.b64decode(qr.group(1)).decode()
        assert ET.fromstring(svg).tag.endswith("svg") and "script" not in svg.lower()
        assert "script-src 'self'" in page.headers["content-security-policy"]

        german = await client.get("/account/setup", headers={"accept-language": "de-DE,de;q=0.9"})
        assert '<html lang="de">' in german.text and "IMAP oder POP3?" in german.text
        assert "Nachrichten auf dem Server belassen" in german.text
        assert "Posteingang (IMAP)" in german.text  # the webmail's catalog, in its layout
        assert 'href="/mail">posteingang</a>' in german.text
        assert (await client.get("/lang?set=en&next=/account/setup")).status_code == 303
        switched = await client.get("/account/setup", headers={"accept-language": "de"})
        assert '<html lang="en">' in switched.text


async def test_apple_profile_download(served: tuple[WebServer, Certificates]) -> None:
    server, _ = served
    async with server.logged_in() as client:
        response = await client.get("/account/setup/apple.mobileconfig")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-apple-aspen-config"
        assert response.headers["content-disposition"].startswith("attachment;")
        assert response.headers["x-content-type-options"] == "nosniff"
        profile = plistlib.loads(response.content)
        (mail,) = profile["PayloadContent"]
        assert mail["PayloadType"] == "com.apple.mail.managed"
        assert mail["EmailAddress"] == ALICE
        assert mail["IncomingMailServerPortNumber"] == bound_port(server, "IMAP")
        assert PASSWORD.encode() not in response.content
        pop = plistlib.loads(
            (await client.get("/account/setup/apple.mobileconfig?type=pop3")).content
        )
        assert pop["PayloadContent"][0]["EmailAccountType"] == "EmailTypePOP"


async def test_profile_is_the_logged_in_users(served: tuple[WebServer, Certificates]) -> None:
    server, _ = served
    async with server.logged_in(BOB, "bobs password") as client:
        response = await client.get("/account/setup/apple.mobileconfig", params={"address": ALICE})
        profile = plistlib.loads(response.content)
        assert profile["PayloadContent"][0]["EmailAddress"] == BOB
        assert ALICE.encode() not in response.content


async def test_without_listeners_the_page_says_so(tmp_path: Path) -> None:
    config = web_config(tmp_path)
    async with running(config, [WEB]) as rt:
        await add_account(rt.store)
        port = rt.listeners[0].port
        server = WebServer(rt, f"http://127.0.0.1:{port}")
        async with server.logged_in() as client:
            page = await client.get("/account/setup")
            assert page.status_code == 200 and 'data-protocol="' not in page.text
            assert "no IMAP or POP3 listener" in page.text
            assert (await client.get("/account/setup/apple.mobileconfig")).status_code == 404
        async with httpx.AsyncClient(base_url=server.base) as anonymous:
            xml = await anonymous.get("/mail/config-v1.1.xml", params={"emailaddress": ALICE})
            assert xml.status_code == 200
            assert ET.fromstring(xml.content).find("emailProvider/incomingServer") is None


CHROMIUM = os.environ.get("POSTEINGANG_CHROMIUM", "/usr/bin/chromium")


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None,
    reason="Debian's chromium is not installed",
)
async def test_setup_page_on_a_phone_in_chromium(
    served: tuple[WebServer, Certificates], tmp_path: Path
) -> None:
    """The page in real Chromium at phone size: the QR image renders under the page's
    CSP (no violation), the settings are readable, and the profile downloads."""
    api = pytest.importorskip("playwright.async_api")
    server, _ = served
    async with api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = await browser.new_context(
                accept_downloads=True,
                viewport={"width": 390, "height": 844},
                is_mobile=True,
                locale="de-DE",
            )
            page = await context.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            await page.goto(server.base + "/login")
            await page.fill("input[name=username]", ALICE)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url("**/mail/*")
            await page.goto(server.base + "/setup")  # the short URL leads to the page
            await page.wait_for_url("**/account/setup")
            assert await page.inner_text("h1") == "Mailprogramm einrichten"
            qr = page.locator(".qr img")
            assert await qr.evaluate("img => img.complete && img.naturalWidth > 0")
            assert await page.locator("tr.endpoint").count() == 2
            port = page.locator("tr.endpoint[data-protocol=imap] td.port")
            assert await port.inner_text() == str(bound_port(server, "IMAP"))
            # No horizontal scrolling at phone width.
            assert await page.evaluate(
                "() => document.documentElement.scrollWidth <= window.innerWidth"
            )
            async with page.expect_download() as info:
                await page.click("text=Profil herunterladen (IMAP)")
            download = await info.value
            target = tmp_path / "profile.mobileconfig"
            await download.save_as(target)
            profile = plistlib.loads(target.read_bytes())
            assert profile["PayloadContent"][0]["EmailAddress"] == ALICE
            assert not [m for m in console if "Content Security Policy" in m], console
        finally:
            await browser.close()


async def test_page_tells_how_long_pop3_mail_stays(web: WebServer) -> None:
    """The account's own leave-on-server days, else the server's default, else nothing."""
    serving_for(web.runtime).app.state.mail_setup = fixed_setup
    async with web.logged_in() as client:
        assert 'class="retention"' not in (await client.get("/account/setup")).text
        serving_for(web.runtime).web.pop3_retention = 14
        assert "on the server for 14 days." in (await client.get("/account/setup")).text
        account = await web.store.get_account(ALICE)
        assert account is not None
        await web.store.set_settings(account.id, replace(account.settings, pop3_retention_days=30))
        page = await client.get("/account/setup")
        assert "on the server for 30 days." in page.text and "14 days" not in page.text
