"""The account page's mail programs connected now (issue 14 item 7): real IMAP and POP3
clients over loopback, listed on the page with protocol, address, IMAP ID and device,
and disconnected from it (IMAP gets ``* BYE``, POP3 the connection closed); revoking a
device or changing the password ends those sessions too; another account can neither
see nor end them.  The last test serves IMAP from two processes (`net/register.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import html
import imaplib
import os
import poplib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from posteingang.config import config_from_mapping
from posteingang.imap.server import IMAP
from posteingang.imap.session import REVOKED
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.pop3.server import POP3
from posteingang.runtime import Runtime
from posteingang.web.server import WEB
from tests.serving import ALICE, PASSWORD, add_account, running
from tests.web.conftest import BOB, WebServer, csrf_of, web_config

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def mail(tmp_path: Path) -> AsyncIterator[WebServer]:
    """The web, IMAP and POP3 in one runtime, with ALICE and BOB."""
    config = web_config(
        tmp_path,
        ListenerSettings(protocol="IMAP", host="127.0.0.1", port=0, tls=TlsMode.NONE),
        ListenerSettings(protocol="POP3", host="127.0.0.1", port=0, tls=TlsMode.NONE),
    )
    async with running(config, [WEB, IMAP, POP3]) as rt:
        await add_account(rt.store)
        await add_account(rt.store, BOB, "bobs password")
        yield WebServer(rt, _base(rt))


def _base(rt: Runtime) -> str:
    return f"http://127.0.0.1:{_port(rt, 'HTTP')}"


def _port(rt: Runtime, protocol: str) -> int:
    return next(x.port for x in rt.listeners if x.protocol == protocol)


async def _imap(rt: Runtime, user: str = ALICE, password: str = PASSWORD) -> imaplib.IMAP4:
    def connect() -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", _port(rt, "IMAP"), timeout=30)
        client.xatom("ID", '("name" "Testmail" "version" "1.5")')
        client.login(user, password)
        return client

    return await asyncio.to_thread(connect)


async def _pop3(rt: Runtime, user: str = ALICE, password: str = PASSWORD) -> poplib.POP3:
    def connect() -> poplib.POP3:
        client = poplib.POP3("127.0.0.1", _port(rt, "POP3"), timeout=30)
        client.user(user)
        client.pass_(password)
        return client

    return await asyncio.to_thread(connect)


def _imap_goodbye(client: imaplib.IMAP4) -> list[bytes]:
    """What the server says until it closes the connection (the client sends nothing)."""
    lines = []
    while line := client.readline():
        lines.append(line)
    return lines


def _pop3_goodbye(client: poplib.POP3) -> list[bytes]:
    lines = []
    while line := client.file.readline():
        lines.append(line)
    return lines


def _connections(page: str) -> dict[str, str]:
    """The listed connections: id -> the text of its row."""
    rows = re.findall(r'<tr data-connection="([^"]+)">(.*?)</tr>', page, re.S)
    return {cid: html.unescape(re.sub(r"<[^>]+>|\s+", " ", row)) for cid, row in rows}


async def _post(client: httpx.AsyncClient, url: str, **data: object) -> httpx.Response:
    page = await client.get("/account")
    return await client.post(url, data={"csrf": csrf_of(page.text), **data})


async def _until_listed(client: httpx.AsyncClient, count: int) -> dict[str, str]:
    """The page's connections once ``count`` are listed (a session leaves the register
    when its connection is released, a moment after the client read its goodbye)."""
    for _ in range(400):
        found = _connections((await client.get("/account")).text)
        if len(found) == count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} connections were not listed: {found}")


async def _device(client: httpx.AsyncClient, name: str) -> str:
    made = await _post(client, "/account/devices/add", name=name, password=PASSWORD)
    found = re.search(r'<code id="device-password">([a-z0-9-]+)</code>', made.text)
    assert found is not None
    return found.group(1)


async def test_connected_programs_are_listed_and_disconnected(mail: WebServer) -> None:
    rt = mail.runtime
    async with mail.logged_in() as browser:
        assert "No mail program is connected." in (await browser.get("/account")).text
        phone_password = await _device(browser, "phone")
        imap = await _imap(rt)
        pop3 = await _pop3(rt, ALICE, phone_password)
        listed = await _until_listed(browser, 2)
        (imap_id,) = [i for i, row in listed.items() if "IMAP" in row]
        (pop3_id,) = [i for i, row in listed.items() if "POP3" in row]
        assert "Testmail/1.5" in listed[imap_id] and "127.0.0.1" in listed[imap_id]
        assert "account password" in listed[imap_id]
        assert "phone" in listed[pop3_id] and "unknown" in listed[pop3_id]

        ended = await _post(browser, "/account/connections/end", connection=imap_id)
        assert ended.status_code == 200 and "The mail program was disconnected." in ended.text
        assert imap_id not in _connections(ended.text)
        goodbye = await asyncio.to_thread(_imap_goodbye, imap)
        assert goodbye == [b"* BYE Disconnected from the account page\r\n"]

        ended = await _post(browser, "/account/connections/end", connection=pop3_id)
        assert ended.status_code == 200
        # Returns once the server closed the connection.
        goodbye = await asyncio.to_thread(_pop3_goodbye, pop3)
        assert goodbye == [b"-ERR Disconnected from the account page\r\n"]
        assert await _until_listed(browser, 0) == {}
        # Gone already: nothing to end.
        again = await _post(browser, "/account/connections/end", connection=pop3_id)
        assert again.status_code == 404


async def test_the_list_is_in_german_too(mail: WebServer) -> None:
    imap = await _imap(mail.runtime)
    try:
        async with mail.logged_in() as browser:
            await _until_listed(browser, 1)
            page = await browser.get("/account", headers={"accept-language": "de"})
            assert "Jetzt verbundene E-Mail-Programme" in page.text
            assert ">Trennen<" in page.text and "Kontopasswort" in page.text
    finally:
        await asyncio.to_thread(imap.logout)


async def test_another_account_can_neither_see_nor_end_them(mail: WebServer) -> None:
    rt = mail.runtime
    imap = await _imap(rt)
    try:
        async with mail.logged_in() as alice, mail.logged_in(BOB, "bobs password") as bob:
            (alices,) = await _until_listed(alice, 1)
            assert _connections((await bob.get("/account")).text) == {}
            refused = await _post(bob, "/account/connections/end", connection=alices)
            assert refused.status_code == 404
            # Without the page's CSRF token, not even the account's own.
            forged = await alice.post("/account/connections/end", data={"connection": alices})
            assert forged.status_code == 403
            typ, _ = await asyncio.to_thread(imap.noop)
            assert typ == "OK"
            assert list(await _until_listed(alice, 1)) == [alices]
    finally:
        await asyncio.to_thread(imap.logout)


async def test_revoking_a_device_ends_its_sessions_only(mail: WebServer) -> None:
    rt = mail.runtime
    async with mail.logged_in() as browser:
        tablet = await _imap(rt, ALICE, await _device(browser, "tablet"))
        desktop = await _imap(rt)
        try:
            await _until_listed(browser, 2)
            revoked = await _post(
                browser, "/account/devices/revoke", name="tablet", password=PASSWORD
            )
            assert revoked.status_code == 200
            goodbye = await asyncio.to_thread(_imap_goodbye, tablet)
            assert goodbye == [REVOKED]
            typ, _ = await asyncio.to_thread(desktop.noop)
            assert typ == "OK"
            (left,) = (await _until_listed(browser, 1)).values()
            assert "account password" in left
        finally:
            await asyncio.to_thread(desktop.logout)


async def test_a_new_password_ends_every_mail_session(mail: WebServer) -> None:
    rt = mail.runtime
    async with mail.logged_in() as browser:
        laptop = await _imap(rt, ALICE, await _device(browser, "laptop"))
        desktop = await _imap(rt)
        pop3 = await _pop3(rt)
        await _until_listed(browser, 3)
        new = "a brand new password"
        changed = await _post(
            browser,
            "/account/password",
            password=PASSWORD,
            new_password=new,
            repeat_password=new,
        )
        assert changed.status_code == 200 and "Your password was changed." in changed.text
        assert _connections(changed.text) == {}
        for goodbye in await asyncio.gather(
            asyncio.to_thread(_imap_goodbye, laptop), asyncio.to_thread(_imap_goodbye, desktop)
        ):
            assert goodbye and goodbye[-1].startswith(b"* BYE")
        await asyncio.to_thread(_pop3_goodbye, pop3)
        # The device's own password still works; the old account password does not.
        again = await _imap(rt, ALICE, new)
        await asyncio.to_thread(again.logout)
        with pytest.raises(imaplib.IMAP4.error):
            await _imap(rt)


@contextlib.asynccontextmanager
async def _two_processes(tmp_path: Path) -> AsyncIterator[WebServer]:
    config = config_from_mapping(
        {
            "server": {"hostname": "localhost", "data_dir": str(tmp_path)},
            "imap": {"processes": 2},
            "listener": [
                {"protocol": "HTTP", "port": 0, "host": "127.0.0.1", "tls": "none"},
                {"protocol": "IMAP", "port": 0, "host": "127.0.0.1", "tls": "none"},
            ],
        },
        base_dir=tmp_path,
        env={},
    )
    async with running(config, [WEB, IMAP]) as rt:
        await add_account(rt.store)
        await add_account(rt.store, BOB, "bobs password")
        yield WebServer(rt, _base(rt))


async def test_sessions_of_a_worker_process_are_listed_and_disconnected(
    tmp_path: Path,
) -> None:
    async with _two_processes(tmp_path) as web:
        supervisor = web.runtime.serving(IMAP).supervisor
        assert supervisor is not None
        supervisor.pin = 1  # the worker process
        remote = await _imap(web.runtime)
        supervisor.pin = 0  # the server process, where the web runs
        local = await _imap(web.runtime)
        async with web.logged_in() as browser, web.logged_in(BOB, "bobs password") as bob:
            listed = await _until_listed(browser, 2)
            pids = {cid.split("-")[0] for cid in listed}
            assert str(os.getpid()) in pids and len(pids) == 2
            (remote_id,) = [cid for cid in listed if not cid.startswith(f"{os.getpid()}-")]
            assert "Testmail/1.5" in listed[remote_id]
            # Not even through the worker can another account end it.
            refused = await _post(bob, "/account/connections/end", connection=remote_id)
            assert refused.status_code == 404
            ended = await _post(browser, "/account/connections/end", connection=remote_id)
            assert ended.status_code == 200
            goodbye = await asyncio.to_thread(_imap_goodbye, remote)
            assert goodbye and goodbye[-1].startswith(b"* BYE")
            typ, _ = await asyncio.to_thread(local.noop)
            assert typ == "OK"
            assert list(await _until_listed(browser, 1)) != [remote_id]
            # A new password ends the sessions of both processes, the worker's device
            # session too (which only the page's question to the worker ends).
            phone = await _device(browser, "phone")
            supervisor.pin = 1
            remote = await _imap(web.runtime, ALICE, phone)
            await _until_listed(browser, 2)
            new = "a brand new password"
            changed = await _post(
                browser,
                "/account/password",
                password=PASSWORD,
                new_password=new,
                repeat_password=new,
            )
            assert changed.status_code == 200
            for goodbye in await asyncio.gather(
                asyncio.to_thread(_imap_goodbye, remote), asyncio.to_thread(_imap_goodbye, local)
            ):
                assert goodbye and goodbye[-1].startswith(b"* BYE")
