"""German and English: every string translated, Accept-Language, the switch, dates."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from posteingang.delivery.deliver import deliver
from posteingang.web import account, actions, export, guard, login, manage
from posteingang.web.catalog_de import GERMAN
from tests.serving import ALICE
from tests.web.conftest import WebServer
from tests.web.messages import multipart

WEB = Path(login.__file__).parent
# Python views whose messages reach the page through the translator.
_PYTHON_STRINGS = [
    login.FAILED,
    login.EXPIRED,
    "Give the device a name.",
    "Wrong password.",
    "A device has this name.",
    "The device {name} can no longer log in.",
    "The new passwords differ.",
    "A password needs at least {n} characters.",
    "Your password was changed.",
    "Choose a policy and a number of days.",
    "The POP3 settings were saved.",
    "policy-expunge",
    "policy-trash",
    "policy-hide",
    "none (unencrypted)",  # setup.py SECURITY_NAMES
]


def _template_strings() -> set[str]:
    found: set[str] = set()
    for path in (WEB / "templates").glob("*.html"):
        for literal in re.findall(r'_\(("(?:[^"\\]|\\.)*")\)', path.read_text()):
            found.add(ast.literal_eval(literal))
    # The shortcut overlay's rows: ("key", "what it does"), translated with _(what).
    keys = (WEB / "templates" / "_keys.html").read_text()
    for literal in re.findall(r'\(".*?", ("(?:[^"\\]|\\.)*")\)', keys):
        found.add(ast.literal_eval(literal))
    return found


def _http_details() -> set[str]:
    found: set[str] = set()
    for module in (manage, account, actions, guard, export):
        source = Path(module.__file__).read_text()  # type: ignore[arg-type]
        found.update(re.findall(r'HTTPException\(\d+, "([^"]+)"\)', source))
    return found


def test_every_string_has_a_german_text() -> None:
    wanted = _template_strings() | set(_PYTHON_STRINGS) | _http_details()
    assert len(wanted) > 80
    missing = sorted(s for s in wanted if s not in GERMAN)
    assert missing == []
    for english, german in GERMAN.items():
        assert re.findall(r"\{\w+\}", english) == re.findall(r"\{\w+\}", german), english


async def test_accept_language_picks_german_and_the_switch_overrides(web: WebServer) -> None:
    async with web.client() as client:
        german = await client.get("/login", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})
        assert '<html lang="de">' in german.text and "Anmelden" in german.text
        english = await client.get("/login", headers={"accept-language": "fr, en;q=0.8"})
        assert '<html lang="en">' in english.text and "Log in" in english.text
        switched = await client.get("/lang?set=de&next=/login")
        assert switched.status_code == 303 and switched.headers["location"] == "/login"
        page = await client.get("/login", headers={"accept-language": "en"})
        assert "Anmelden" in page.text
        away = await client.get("/lang?set=en&next=//evil.example/")
        assert away.headers["location"] == "/"


async def test_mail_pages_in_german(web: WebServer) -> None:
    await deliver(web.store, ALICE, multipart())
    async with web.logged_in() as client:
        client.cookies.set("pi_lang", "de")
        inbox = await client.get("/mail", follow_redirects=True)
        assert "Posteingang" in inbox.text and "Papierkorb" in inbox.text
        assert "Als gelesen markieren" in inbox.text and "1 Nachricht" in inbox.text
        mailbox = re.search(r'data-mailbox="(\d+)"', inbox.text)
        assert mailbox is not None
        message = await client.get(f"/mail/{mailbox.group(1)}/1")
        assert "Herunterladen (.eml)" in message.text and "Bilder laden" in message.text
        assert "07.12.2026 09:00 UTC" in message.text  # German date
        assert "0,1 KB" in message.text  # German decimal comma
        account_page = await client.get("/account")
        assert "Ihr Konto" in account_page.text and "Gerätepasswort erzeugen" in account_page.text
