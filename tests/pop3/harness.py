"""Scripted POP3 conversations against `Pop3Session` and a real SQLite store, no sockets.

`MemoryTransport` stands in for the socket; `Client` is a tiny POP3 client on
top of it that speaks in lines, so tests read like C:/S: transcripts::

    async with open_client(services) as c:
        assert await c.cmd("USER alice@example.test") == "+OK send PASS"
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from posteingang.delivery.deliver import deliver
from posteingang.pop3.locks import LoginDelays, MaildropLocks
from posteingang.pop3.maildrop import SizeCache
from posteingang.pop3.policy import Pop3Settings
from posteingang.pop3.services import Pop3Services
from posteingang.pop3.session import Pop3Session
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

    async def read(self) -> bytes:
        return await self.incoming.get()

    def write(self, data: bytes) -> None:
        self.output += data
        self.wrote.set()

    async def drain(self) -> None:
        await asyncio.sleep(0)

    async def start_tls(self) -> None:
        if self.fail_tls:
            raise ConnectionError("handshake failed")
        self.tls = True


@dataclass
class Client:
    transport: MemoryTransport
    session: Pop3Session
    task: asyncio.Task[None]
    _pos: int = 0
    log: list[str] = field(default_factory=list)

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.transport.incoming.put_nowait(data)

    async def _wait_for(self, predicate: Callable[[bytes], int]) -> bytes:
        """Wait until predicate(unread output) returns an end offset > 0."""
        async with asyncio.timeout(10):
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

    def close(self) -> None:
        self.send(b"")

    async def finished(self) -> None:
        async with asyncio.timeout(10):
            await self.task


@contextlib.asynccontextmanager
async def open_client(
    services: Pop3Services,
    *,
    address: str = "127.0.0.1",
    tls_active: bool = False,
    tls_available: bool = True,
    acquire_account: Callable[[str], bool] | None = None,
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
    task = asyncio.create_task(session.run())
    client = Client(transport, session, task)
    greeting = await client.line()
    assert greeting.startswith("+OK"), greeting
    client.log.append(greeting)
    try:
        yield client
    finally:
        if not task.done():
            client.close()
            with contextlib.suppress(Exception):
                await client.finished()


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


def message(n: int, body: str = "") -> bytes:
    return (
        f"From: sender{n}@example.org\r\nTo: {ALICE}\r\nSubject: message {n}\r\n"
        f"Message-ID: <m{n}@example.org>\r\n\r\n{body or f'body of message {n}'}\r\n"
    ).encode()


async def deliver_many(store: Store, count: int, address: str = ALICE) -> list[bytes]:
    raws = [message(i) for i in range(1, count + 1)]
    for raw in raws:
        await deliver(store, address, raw)
    return raws
