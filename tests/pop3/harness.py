"""Scripted POP3 conversations against `Pop3Session` and a real SQLite store, no sockets.

`MemoryTransport` stands in for the socket; `Client` is a tiny POP3 client on
top of it that speaks in lines, so tests read like C:/S: transcripts::

    async with open_client(services) as c:
        assert await c.cmd("USER alice@example.test") == "+OK send PASS"
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from posteingang.net.session import serve_session
from posteingang.pop3.locks import LoginDelays, MaildropLocks
from posteingang.pop3.maildrop import SizeCache
from posteingang.pop3.policy import Pop3Settings
from posteingang.pop3.services import Pop3Services
from posteingang.pop3.session import Pop3Session
from posteingang.store.interface import Store

# ALICE, PASSWORD, add_account, open_store, store_with_account, MemoryTransport, message
# and deliver_many are re-exported for the protocol tests.
from tests.serving import (  # noqa: F401
    ALICE,
    PASSWORD,
    MemoryClient,
    MemoryTransport,
    add_account,
    deliver_many,
    message,
    open_store,
    patient_throttle,
    store_with_account,
)


@dataclass
class Client(MemoryClient[MemoryTransport, Pop3Session]):
    log: list[str] = field(default_factory=list)

    async def line(self) -> str:
        raw = await self._wait_for(lambda b: b.find(b"\r\n") + 2 if b"\r\n" in b else 0)
        return raw[:-2].decode()

    async def raw_multiline(self) -> bytes:
        """The body of a multi-line reply, still dot-stuffed, terminator included."""

        def end(b: bytes) -> int:
            if b.startswith(b".\r\n"):
                return 3
            i = b.find(b"\r\n.\r\n")
            return i + 5 if i >= 0 else 0

        return await self._wait_for(end)

    async def multiline(self) -> list[str]:
        raw = await self.raw_multiline()
        lines = raw[:-3].decode().split("\r\n")[:-1] if raw != b".\r\n" else []
        return [ln[1:] if ln.startswith(".") else ln for ln in lines]

    async def message(self) -> bytes:
        """A RETR/TOP body with stuffing removed and CRLFs kept."""
        raw = await self.raw_multiline()
        body = raw[:-3]
        out = []
        for ln in body.split(b"\r\n")[:-1]:
            out.append(ln[1:] if ln.startswith(b".") else ln)
        return b"".join(x + b"\r\n" for x in out)

    async def cmd(self, line: str) -> str:
        self.send(line + "\r\n")
        return await self.line()

    async def login(self, user: str = ALICE, password: str = PASSWORD) -> str:
        first = await self.cmd(f"USER {user}")
        assert first.startswith("+OK"), first
        return await self.cmd(f"PASS {password}")


@contextlib.asynccontextmanager
async def open_client(
    services: Pop3Services,
    *,
    address: str = "127.0.0.1",
    tls_active: bool = False,
    tls_available: bool = True,
    acquire_account: Callable[[str], Awaitable[bool]] | None = None,
) -> AsyncIterator[Client]:
    transport = MemoryTransport()
    session = Pop3Session(
        services,
        transport,
        address=address,
        tls_active=tls_active,
        tls_available=tls_available,
        acquire_account=acquire_account,
    )
    task = asyncio.create_task(serve_session(session, transport))
    client = Client(transport, session, task)
    greeting = await client.line()
    assert greeting.startswith("+OK"), greeting
    client.log.append(greeting)
    try:
        yield client
    finally:
        await client.hang_up()


def make_services(store: Store, settings: Pop3Settings | None = None, **kw: object) -> Pop3Services:
    throttle = patient_throttle()
    return Pop3Services(
        store,
        settings or Pop3Settings(),
        throttle=throttle,
        locks=MaildropLocks(),
        login_delays=LoginDelays(),
        sizes=SizeCache(),
        **kw,  # type: ignore[arg-type]
    )
