"""Live updates: server-sent events from the change feed, both ways with IMAP.

An IMAP client marks a message read and expunges another: the open page's event
stream carries both within a second. A page action reaches an IMAP client in
IDLE. A reconnect with Last-Event-ID misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from posteingang.delivery.deliver import deliver
from posteingang.imap.server import IMAP
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.web.server import WEB
from tests.serving import ALICE, PASSWORD, add_account, running
from tests.web.conftest import WebServer, csrf_of, web_config
from tests.web.messages import plain


@dataclass
class Sse:
    event: str
    data: dict[str, object]
    id: str | None


class EventReader:
    """The events of one open stream, as a browser's EventSource parses them."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.comments = 0

    async def next(self, within: float = 5) -> Sse:
        event, data, ident = "message", "", None
        async with asyncio.timeout(within):
            async for line in self._lines:
                if line == "":
                    if data:
                        return Sse(event, json.loads(data), ident)
                    continue
                if line.startswith(":"):
                    self.comments += 1
                    continue
                name, _, value = line.partition(": ")
                if name == "event":
                    event = value
                elif name == "data":
                    data += value
                elif name == "id":
                    ident = value
        raise EOFError("stream ended")

    async def until(self, predicate: object, within: float = 5) -> Sse:
        deadline = time.monotonic() + within
        while True:
            sse = await self.next(max(0.01, deadline - time.monotonic()))
            if predicate(sse):  # type: ignore[operator]
                return sse


@contextlib.asynccontextmanager
async def events(
    client: httpx.AsyncClient, since: int, **headers: str
) -> AsyncIterator[EventReader]:
    async with client.stream(
        "GET", f"/events?since={since}", headers={"accept": "text/event-stream", **headers}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventReader(response)


@pytest.fixture
async def web_imap(tmp_path: Path) -> AsyncIterator[tuple[WebServer, int]]:
    config = web_config(
        tmp_path, ListenerSettings(protocol="IMAP", host="127.0.0.1", port=0, tls=TlsMode.NONE)
    )
    async with running(config, [WEB, IMAP]) as rt:
        await add_account(rt.store)
        ports = {lst.protocol: lst.port for lst in rt.listeners}
        yield WebServer(rt, f"http://127.0.0.1:{ports['HTTP']}"), ports["IMAP"]


async def _inbox(web: WebServer) -> int:
    account = await web.store.get_account(ALICE)
    return int((await web.store.get_mailbox(account.id, "INBOX")).id)


async def _page_modseq(client: httpx.AsyncClient, inbox: int) -> tuple[int, str]:
    page = await client.get(f"/mail/{inbox}")
    found = re.search(r'data-modseq="(\d+)"', page.text)
    assert found is not None
    return int(found.group(1)), csrf_of(page.text)


async def test_imap_changes_reach_the_page_within_a_second(
    web_imap: tuple[WebServer, int],
) -> None:
    web, imap_port = web_imap
    for n in (1, 2):
        await deliver(web.store, ALICE, plain(n, "hello"))
    inbox = await _inbox(web)
    async with web.logged_in() as client:
        modseq, _ = await _page_modseq(client, inbox)
        async with events(client, modseq) as stream:

            def imap() -> None:
                conn = imaplib.IMAP4("127.0.0.1", imap_port)
                conn.login(ALICE, PASSWORD)
                conn.select("INBOX")
                conn.uid("STORE", "1", "+FLAGS", "(\\Seen)")
                conn.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
                conn.expunge()
                conn.logout()

            started = time.monotonic()
            imap_task = asyncio.ensure_future(asyncio.to_thread(imap))
            seen = await stream.until(
                lambda e: e.data.get("kind") == "flags" and e.data.get("seen") == [True]
            )
            assert seen.data["uids"] == [1] and seen.data["mailbox"] == inbox
            assert seen.data["unseen"] == 1
            gone = await stream.until(lambda e: e.data.get("kind") == "expunge")
            assert gone.data["uids"] == [2] and gone.data["messages"] == 1
            assert time.monotonic() - started < 1.5  # the IMAP session itself included
            await imap_task
            assert gone.id is not None and int(gone.id) > modseq


async def test_a_page_action_reaches_an_imap_idle_client(
    web_imap: tuple[WebServer, int],
) -> None:
    web, imap_port = web_imap
    await deliver(web.store, ALICE, plain(1, "hello"))
    inbox = await _inbox(web)
    idling = asyncio.Event()
    loop = asyncio.get_running_loop()

    def idle() -> bytes:
        conn = imaplib.IMAP4("127.0.0.1", imap_port)
        conn.login(ALICE, PASSWORD)
        conn.select("INBOX")
        conn.send(b"i1 IDLE\r\n")
        assert conn.readline().startswith(b"+")
        loop.call_soon_threadsafe(idling.set)
        conn.sock.settimeout(5)
        line = conn.readline()
        conn.send(b"DONE\r\n")
        conn.readline()
        conn.logout()
        return line

    async with web.logged_in() as client:
        _, csrf = await _page_modseq(client, inbox)
        task = asyncio.ensure_future(asyncio.to_thread(idle))
        await asyncio.wait_for(idling.wait(), 10)
        started = time.monotonic()
        response = await client.post(
            f"/mail/{inbox}/action",
            data={"csrf": csrf, "action": "read", "uid": "1"},
            headers={"accept": "application/json"},
        )
        assert response.json() == {"ok": True}
        line = await task
    assert line.startswith(b"* 1 FETCH") and b"\\Seen" in line
    assert time.monotonic() - started < 1


async def test_a_reconnect_with_last_event_id_misses_nothing(web: WebServer) -> None:
    for n in (1, 2, 3):
        await deliver(web.store, ALICE, plain(n, "hello"))
    inbox = await _inbox(web)
    async with web.logged_in() as client:
        modseq, _ = await _page_modseq(client, inbox)
        # The page is closed (or the network drops) while things change.
        from posteingang.store.model import SEEN, FlagOp

        await web.store.store_flags(inbox, [1], FlagOp.ADD, frozenset({SEEN}))
        await web.store.expunge(inbox, [3])
        await deliver(web.store, ALICE, plain(4, "new"))
        async with events(client, 0, **{"last-event-id": str(modseq)}) as stream:
            sync = await stream.until(lambda e: e.event == "sync" and e.data["mailbox"] == inbox)
            assert sync.data["vanished"] == [3]
            changed = dict(zip(sync.data["uids"], sync.data["seen"], strict=True))  # type: ignore[call-overload]
            assert changed == {1: True, 4: False}
            assert sync.data["unseen"] == 2 and sync.data["messages"] == 3
            done = await stream.until(lambda e: e.event == "synced")
            account = await web.store.get_account(ALICE)
            ids = sorted(m.id for m in await web.store.list_mailboxes(account.id))
            assert done.data["mailboxes"] == ids
            assert done.id == str(
                await web.store.account_modseq((await web.store.get_account(ALICE)).id)
            )


async def test_heartbeats_keep_the_stream_open(tmp_path: Path) -> None:
    from posteingang.web.server import serving_for
    from tests.web.conftest import serve_web

    async with serve_web(tmp_path) as web, web.logged_in() as client:
        serving = serving_for(web.runtime)
        serving.web.settings = type(serving.web.settings)(heartbeat=0.1)
        async with events(client, 0) as stream:
            hello = await stream.next()
            assert hello.event == "hello"
            with pytest.raises(TimeoutError):
                await stream.next(within=0.5)
            assert stream.comments >= 3


async def test_the_stream_only_carries_the_accounts_own_changes(web: WebServer) -> None:
    from tests.web.conftest import BOB

    async with web.logged_in() as client, events(client, 0) as stream:
        assert (await stream.next()).event == "hello"
        await deliver(web.store, BOB, plain(1, "for bob", to=BOB))
        await deliver(web.store, ALICE, plain(2, "for alice"))
        event = await stream.next()
        assert event.data["kind"] == "append"
        assert event.data["mailbox"] == await _inbox(web)


async def test_many_open_pages_share_one_count_read_per_change(web: WebServer) -> None:
    """With 500 pages open on a 100,000-message INBOX, reading the counts once per
    stream made each change cost 500 status queries (seen in bench_web)."""
    reads: list[list[int]] = []
    original = web.store.mailbox_counts

    async def counting(mailbox_ids: list[int]) -> object:
        reads.append(list(mailbox_ids))
        return await original(mailbox_ids)

    web.store.mailbox_counts = counting
    try:
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(web.logged_in())
            streams = [await stack.enter_async_context(events(client, 0)) for _ in range(5)]
            for stream in streams:
                assert (await stream.next()).event == "hello"
            reads.clear()
            await deliver(web.store, ALICE, plain(1, "hello"))
            for stream in streams:
                event = await stream.next()
                assert event.data["kind"] == "append" and event.data["messages"] == 1
        assert len(reads) == 1
    finally:
        del web.store.mailbox_counts


async def test_logging_out_ends_the_open_stream(tmp_path: Path) -> None:
    from posteingang.web.server import serving_for
    from tests.web.conftest import serve_web

    async with serve_web(tmp_path) as web, web.logged_in() as client:
        serving = serving_for(web.runtime)
        serving.web.settings = type(serving.web.settings)(heartbeat=0.1)
        page = await client.get("/mail", follow_redirects=True)
        async with events(client, 0) as stream:
            assert (await stream.next()).event == "hello"
            out = await client.post("/logout", data={"csrf": csrf_of(page.text)})
            assert out.status_code == 303
            await deliver(web.store, ALICE, plain(1, "after logout"))
            with pytest.raises(EOFError):
                await stream.next(within=2)


async def test_shutdown_ends_open_streams_at_once(tmp_path: Path) -> None:
    from tests.web.conftest import serve_web

    server = serve_web(tmp_path)
    web = await server.__aenter__()
    try:
        async with web.logged_in() as client, events(client, 0) as stream:
            assert (await stream.next()).event == "hello"
            started = time.monotonic()
            await server.__aexit__(None, None, None)
            assert time.monotonic() - started < 1.5
            with pytest.raises((EOFError, httpx.HTTPError)):
                await stream.next(within=2)
    finally:
        with contextlib.suppress(Exception):
            await server.__aexit__(None, None, None)


async def test_closed_streams_leave_no_subscription(web: WebServer) -> None:
    account = await web.store.get_account(ALICE)
    hub = web.store.hub
    async with web.logged_in() as client:
        for _ in range(3):
            async with events(client, 0) as stream:
                assert (await stream.next()).event == "hello"
                assert hub.subscriber_count(account.id) == 1
        for _ in range(50):
            if hub.subscriber_count(account.id) == 0:
                break
            await asyncio.sleep(0.05)
    assert hub.subscriber_count(account.id) == 0


async def test_a_page_action_reaches_a_pop3_listing(tmp_path: Path) -> None:
    import poplib

    from posteingang.pop3.server import POP3

    pop3 = ListenerSettings(protocol="POP3", host="127.0.0.1", port=0, tls=TlsMode.NONE)
    config = web_config(tmp_path, pop3)
    async with running(config, [WEB, POP3]) as rt:
        await add_account(rt.store)
        ports = {lst.protocol: lst.port for lst in rt.listeners}
        web = WebServer(rt, f"http://127.0.0.1:{ports['HTTP']}")
        for n in (1, 2, 3):
            await deliver(web.store, ALICE, plain(n, "hello"))
        inbox = await _inbox(web)

        def listing() -> int:
            client = poplib.POP3("127.0.0.1", ports["POP3"], timeout=10)
            client.user(ALICE)
            client.pass_(PASSWORD)
            count = int(client.stat()[0])
            client.quit()
            return count

        assert await asyncio.to_thread(listing) == 3
        async with web.logged_in() as client:
            _, csrf = await _page_modseq(client, inbox)
            response = await client.post(
                f"/mail/{inbox}/action",
                data={"csrf": csrf, "action": "delete", "uid": "2"},
                headers={"accept": "application/json"},
            )
            assert response.json()["ok"] is True
        assert await asyncio.to_thread(listing) == 2
