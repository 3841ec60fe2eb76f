"""Interop with real client libraries and programs: IMAPClient, imap-tools, aioimaplib
(IDLE), curl. Each test skips cleanly when its client is not installed."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from posteingang.delivery.deliver import deliver
from tests.imap.harness import ALICE, PASSWORD, message
from tests.imap.server_fixture import RunningServer, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    async def setup(store: object) -> None:
        for n in range(1, 4):
            await deliver(store, ALICE, message(n))  # type: ignore[arg-type]

    with running_server(Path(tmp_path_factory.mktemp("interop")), setup=setup) as running:
        yield running


def test_imapclient_basics(server: RunningServer) -> None:
    imapclient = pytest.importorskip("imapclient")
    with imapclient.IMAPClient(
        "127.0.0.1", port=server.imaps_port, ssl=True, ssl_context=server.client_context
    ) as c:
        c.login(ALICE, PASSWORD)
        assert b"MOVE" in c.capabilities()
        folders = {name for _, _, name in c.list_folders()}
        assert {"INBOX", "Sent", "Trash"} <= folders
        info = c.select_folder("INBOX")
        assert info[b"EXISTS"] >= 3
        uids = c.search(["ALL"])
        data = c.fetch(uids[:2], ["ENVELOPE", "FLAGS", "RFC822.SIZE", "BODY.PEEK[]"])
        first = data[uids[0]]
        assert first[b"ENVELOPE"].subject == b"message 1"
        assert first[b"BODY[]"] == message(1)
        c.add_flags(uids[0], [b"\\Flagged"])
        assert b"\\Flagged" in c.get_flags(uids[0])[uids[0]]
        c.create_folder("ViaIMAPClient")
        c.copy(uids[0], "ViaIMAPClient")
        assert c.folder_status("ViaIMAPClient", ["MESSAGES"])[b"MESSAGES"] == 1
        c.delete_folder("ViaIMAPClient")
        c.unselect_folder()


def test_imap_tools_basics(server: RunningServer) -> None:
    imap_tools = pytest.importorskip("imap_tools")
    with imap_tools.MailBox(
        "127.0.0.1", port=server.imaps_port, ssl_context=server.client_context
    ).login(ALICE, PASSWORD) as mailbox:
        subjects = [m.subject for m in mailbox.fetch(imap_tools.AND(all=True), mark_seen=False)]
        assert {"message 1", "message 2", "message 3"} <= set(subjects)
        names = [f.name for f in mailbox.folder.list()]
        assert "Archive" in names
        mailbox.folder.create("ToolsBox")
        uids = mailbox.uids()
        mailbox.copy(uids[:1], "ToolsBox")
        assert mailbox.folder.status("ToolsBox")["MESSAGES"] == 1
        mailbox.folder.delete("ToolsBox")


def test_aioimaplib_idle_receives_exists(server: RunningServer) -> None:
    aioimaplib = pytest.importorskip("aioimaplib")

    async def scenario() -> list[bytes]:
        client = aioimaplib.IMAP4(host="127.0.0.1", port=server.imap_port, timeout=10)
        await client.wait_hello_from_server()
        await client.login(ALICE, PASSWORD)
        await client.select("INBOX")
        idle = await client.idle_start(timeout=5)
        loop = asyncio.get_running_loop()
        loop.call_later(
            0.2,
            lambda: server.thread.loop.call_soon_threadsafe(
                lambda: server.thread.loop.create_task(deliver(server.store, ALICE, message(50)))
            ),
        )
        pushed = await client.wait_server_push(timeout=5)
        client.idle_done()
        await asyncio.wait_for(idle, 5)
        await client.logout()
        return list(pushed)

    pushed = asyncio.run(scenario())
    assert any(line.endswith(b"EXISTS") for line in pushed), pushed


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_lists_and_fetches(server: RunningServer) -> None:
    base = f"imap://127.0.0.1:{server.imap_port}"
    user = ["--user", f"{ALICE}:{PASSWORD}"]
    listing = subprocess.run(
        ["curl", "-s", "--max-time", "10", *user, base + "/"],
        capture_output=True,
        check=True,
    ).stdout
    assert b"INBOX" in listing and b"Archive" in listing
    body = subprocess.run(
        ["curl", "-s", "--max-time", "10", *user, base + "/INBOX;UID=2"],
        capture_output=True,
        check=True,
    ).stdout
    assert body.replace(b"\r\n", b"\n") == message(2).replace(b"\r\n", b"\n")
    examine = subprocess.run(
        ["curl", "-s", "--max-time", "10", *user, base + "/INBOX", "-X", "SEARCH ALL"],
        capture_output=True,
        check=True,
    ).stdout
    assert examine.startswith(b"* SEARCH 1 2 3")
