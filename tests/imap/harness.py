"""Scripted IMAP conversations against `ImapSession` and a real SQLite store, no sockets.

`MemoryTransport` stands in for the socket; `Client` speaks in lines so tests
read like C:/S: transcripts::

    async with open_client(services) as c:
        lines = await c.cmd("a1 LOGIN alice@example.test secret")
        assert lines[-1].startswith("a1 OK")
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from posteingang.delivery.deliver import deliver
from posteingang.imap.session import ImapServices, ImapSession
from posteingang.imap.settings import ImapSettings
from posteingang.store.interface import Store

# ALICE, PASSWORD, add_account and open_store are re-exported for the protocol tests.
from tests.serving import ALICE, PASSWORD, add_account, open_store, patient_throttle  # noqa: F401


class MemoryTransport:
    """The socket of a session under test: a queue in, a buffer out."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.output = bytearray()
        self.wrote = asyncio.Event()
        self.tls = False
        self.fail_tls = False
        self.writes = 0
        self.busy = False  # write_now refuses, as for a client that stopped reading

    async def read(self) -> bytes:
        return await self.incoming.get()

    def write(self, data: bytes) -> None:
        self.output += data
        self.writes += 1
        self.wrote.set()

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def write_now(self, data: bytes) -> bool:
        if self.busy:
            return False
        self.write(data)
        return True

    async def start_tls(self) -> None:
        if self.fail_tls:
            raise ConnectionError("handshake failed")
        self.tls = True


_LITERAL_END = re.compile(rb"\{(\d+)\+?\}\r\n$")


@dataclass
class Client:
    transport: MemoryTransport
    session: ImapSession
    task: asyncio.Task[None]
    _pos: int = 0
    tags: int = 0
    log: list[bytes] = field(default_factory=list)

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.transport.incoming.put_nowait(data)

    async def _wait_for(self, predicate: Callable[[bytes], int], within: float = 10) -> bytes:
        async with asyncio.timeout(within):
            while True:
                pending = bytes(self.transport.output[self._pos :])
                end = predicate(pending)
                if end > 0:
                    self._pos += end
                    return pending[:end]
                if self.task.done():
                    raise EOFError(f"session ended; unread output {pending!r}")
                self.transport.wrote.clear()
                waiter = asyncio.ensure_future(self.transport.wrote.wait())
                await asyncio.wait({waiter, self.task}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()

    async def raw_line(self, within: float = 10) -> bytes:
        """One response line; a line ending in a literal includes the literal and the rest."""

        def end(buf: bytes) -> int:
            pos = 0
            while True:
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    return 0
                m = _LITERAL_END.search(buf[: nl + 2])
                if m is None:
                    return nl + 2
                pos = nl + 2 + int(m[1])
                if pos > len(buf):
                    return 0

        line = await self._wait_for(end, within)
        self.log.append(line)
        return line

    async def line(self, within: float = 10) -> str:
        return (await self.raw_line(within))[:-2].decode("utf-8", "replace")

    async def until_tagged(self, tag: str) -> list[str]:
        out = []
        while True:
            line = await self.line()
            out.append(line)
            if line.startswith(tag + " "):
                return out

    def next_tag(self) -> str:
        self.tags += 1
        return f"t{self.tags}"

    async def cmd(self, line: str) -> list[str]:
        """Send ``line`` (tag included) and return every line up to its tagged reply."""
        tag = line.split(" ", 1)[0]
        self.send(line + "\r\n")
        return await self.until_tagged(tag)

    async def do(self, command: str) -> list[str]:
        """Send ``command`` with a fresh tag; the last line is the tagged reply."""
        tag = self.next_tag()
        return await self.cmd(f"{tag} {command}")

    async def ok(self, command: str) -> list[str]:
        lines = await self.do(command)
        assert lines[-1].split(" ", 2)[1] == "OK", lines
        return lines

    async def login(self, user: str = ALICE, password: str = PASSWORD) -> list[str]:
        return await self.ok(f'LOGIN {user} "{password}"')

    def close(self) -> None:
        self.send(b"")

    async def finished(self) -> None:
        async with asyncio.timeout(10):
            await self.task

    def unread(self) -> bytes:
        return bytes(self.transport.output[self._pos :])


@contextlib.asynccontextmanager
async def open_client(
    services: ImapServices,
    *,
    address: str = "127.0.0.1",
    tls_active: bool = False,
    starttls_available: bool = True,
) -> AsyncIterator[Client]:
    transport = MemoryTransport()
    session = ImapSession(
        services,
        transport,
        address=address,
        tls_active=tls_active,
        starttls_available=starttls_available,
    )
    task = asyncio.create_task(session.run())
    client = Client(transport, session, task)
    greeting = await client.line()
    assert greeting.startswith("* OK [CAPABILITY "), greeting
    try:
        yield client
    finally:
        if not task.done():
            client.close()
            with contextlib.suppress(Exception):
                await client.finished()


def make_services(store: Store, settings: ImapSettings | None = None) -> ImapServices:
    throttle = patient_throttle()
    return ImapServices(store, settings or ImapSettings(), throttle=throttle)


def message(n: int, body: str = "", subject: str | None = None) -> bytes:
    return (
        f"From: sender{n}@example.org\r\nTo: {ALICE}\r\n"
        f"Subject: {subject or f'message {n}'}\r\n"
        f"Message-ID: <m{n}@example.org>\r\n\r\n{body or f'body of message {n}'}\r\n"
    ).encode()


async def deliver_many(store: Store, count: int, address: str = ALICE) -> list[bytes]:
    raws = [message(i) for i in range(1, count + 1)]
    for raw in raws:
        await deliver(store, address, raw)
    return raws


def status_of(line: str) -> str:
    """The status word of a tagged line: "t1 NO [X] text" -> "NO"."""
    return line.split(" ", 2)[1]
