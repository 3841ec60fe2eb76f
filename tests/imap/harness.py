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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from posteingang.imap.session import ImapServices, ImapSession
from posteingang.imap.settings import ImapSettings
from posteingang.net.session import serve_session
from posteingang.store.interface import Store
from tests import serving

# ALICE, PASSWORD, add_account, open_store, message and deliver_many are re-exported
# for the protocol tests.
from tests.serving import (  # noqa: F401
    ALICE,
    PASSWORD,
    MemoryClient,
    add_account,
    deliver_many,
    message,
    open_store,
    patient_throttle,
)


class MemoryTransport(serving.MemoryTransport):
    """The shared memory transport, counting writes; `busy` makes write_now refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.busy = False  # write_now refuses, as for a client that stopped reading

    def write(self, data: bytes) -> None:
        super().write(data)
        self.writes += 1

    def write_now(self, data: bytes) -> bool:
        if self.busy:
            return False
        self.write(data)
        return True


_LITERAL_END = re.compile(rb"\{(\d+)\+?\}\r\n$")


@dataclass
class Client(MemoryClient[MemoryTransport, ImapSession]):
    tags: int = 0
    log: list[bytes] = field(default_factory=list)

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
    task = asyncio.create_task(serve_session(session, transport, wake=session.wake))
    client = Client(transport, session, task)
    greeting = await client.line()
    assert greeting.startswith("* OK [CAPABILITY "), greeting
    try:
        yield client
    finally:
        await client.hang_up()


def make_services(store: Store, settings: ImapSettings | None = None) -> ImapServices:
    throttle = patient_throttle()
    return ImapServices(store, settings or ImapSettings(), throttle=throttle)


def status_of(line: str) -> str:
    """The status word of a tagged line: "t1 NO [X] text" -> "NO"."""
    return line.split(" ", 2)[1]
