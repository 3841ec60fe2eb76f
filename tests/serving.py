"""What the end-to-end fixtures of every protocol share: test certificates and a loop thread.

A server under test runs on its own event loop in a background thread, so that
blocking clients (imaplib, poplib, smtplib, mbsync, fetchmail, Postfix...) can
run in the test's thread.

The scripted session tests (no sockets) share `MemoryTransport` and the base of
their line clients, `MemoryClient`, plus the account store and sample messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import trustme

from posteingang.auth.throttle import Throttle, ThrottlePolicy
from posteingang.config import Config
from posteingang.delivery.deliver import deliver
from posteingang.net.tls import CertPair, TlsContexts
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.interface import Store
from posteingang.store.sqlite.store import SqliteStore

T = TypeVar("T")
TransportT = TypeVar("TransportT", bound="MemoryTransport")
SessionT = TypeVar("SessionT")
StoreT = TypeVar("StoreT", bound="_Closable")
ServerT = TypeVar("ServerT", bound="_Stoppable")


@dataclass(frozen=True)
class Certificates:
    """A trustme CA and a certificate for localhost/127.0.0.1, written as PEM files."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    client_context: ssl.SSLContext

    def server_contexts(self) -> TlsContexts:
        return TlsContexts(CertPair(self.cert_file, self.key_file))


def write_certificates(directory: Path) -> Certificates:
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    ca_file = directory / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    return Certificates(
        cert_file, key_file, ca_file, ssl.create_default_context(cafile=str(ca_file))
    )


class LoopThread:
    """An event loop running in a daemon thread until `close`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
        """Run a coroutine function on the loop and wait for its result."""

        async def wrapper() -> T:
            return await fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class _Stoppable(Protocol):
    async def stop(self, grace: float = ...) -> None: ...


class _Closable(Protocol):
    async def close(self) -> None: ...


@dataclass
class OnLoop:
    """The base of a protocol's `RunningServer`: the loop thread its server runs on."""

    thread: LoopThread

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
        """Run a coroutine function on the server's loop and wait for its result."""
        return self.thread.call(fn, timeout)


@contextlib.contextmanager
def serve_on_loop(
    start: Callable[[], Awaitable[tuple[StoreT, ServerT]]],
) -> Iterator[tuple[LoopThread, StoreT, ServerT]]:
    """Run `start` (which opens a store and starts a server) on a new `LoopThread`;
    afterwards stop the server (1 s grace), close the store and end the thread."""
    thread = LoopThread()
    store, server = thread.call(start)
    try:
        yield thread, store, server
    finally:

        async def stop() -> None:
            await server.stop(1)
            await store.close()

        thread.call(stop, 30)
        thread.close()


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
class MemoryClient(Generic[TransportT, SessionT]):
    """The base of a protocol's scripted `Client`: feeds the transport, reads its output."""

    transport: TransportT
    session: SessionT
    task: asyncio.Task[None]
    _pos: int = 0

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.transport.incoming.put_nowait(data)

    async def _wait_for(self, predicate: Callable[[bytes], int], within: float = 10) -> bytes:
        """Wait until predicate(unread output) returns an end offset > 0."""
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

    def close(self) -> None:
        self.send(b"")

    async def finished(self) -> None:
        async with asyncio.timeout(10):
            await self.task

    async def hang_up(self) -> None:
        """The end of `open_client`: close the session if still running, and let it end."""
        if not self.task.done():
            self.close()
            with contextlib.suppress(Exception):
                await self.finished()


ALICE = "alice@example.test"
PASSWORD = "correct horse"


async def open_store(directory: Path) -> SqliteStore:
    """A real SQLite store (the embedded default) in `directory`."""
    return await SqliteStore.open(directory / "store.sqlite3", FsBlobStore(directory / "blobs"))


async def add_account(store: Store, address: str = ALICE, password: str = PASSWORD) -> int:
    """An account (and its domain, if new) whose password is stored as {PLAIN}: fast logins."""
    domain = address.rpartition("@")[2]
    if await store.get_domain(domain) is None:
        await store.add_domain(domain)
    account = await store.create_account(address, "{PLAIN}" + password)
    return account.id


@contextlib.asynccontextmanager
async def store_with_account(directory: Path) -> AsyncIterator[SqliteStore]:
    """`open_store(directory)` with the `ALICE` account, closed afterwards."""
    store = await open_store(directory)
    await add_account(store)
    try:
        yield store
    finally:
        await store.close()


def message(n: int, body: str = "", subject: str | None = None) -> bytes:
    """Sample message `n` to `ALICE`, with a unique Message-ID."""
    return (
        f"From: sender{n}@example.org\r\nTo: {ALICE}\r\n"
        f"Subject: {subject or f'message {n}'}\r\n"
        f"Message-ID: <m{n}@example.org>\r\n\r\n{body or f'body of message {n}'}\r\n"
    ).encode()


async def deliver_many(store: Store, count: int, address: str = ALICE) -> list[bytes]:
    """Deliver `message(1)` .. `message(count)` to `address`; returns them."""
    raws = [message(i) for i in range(1, count + 1)]
    for raw in raws:
        await deliver(store, address, raw)
    return raws


class QuietLog:
    """A throttle logger that drops its warnings (tests that block on purpose)."""

    def warning(self, *args: Any, **kw: Any) -> None:
        pass


def patient_throttle() -> Throttle:
    """A throttle that never delays or blocks: protocol tests log in wrongly on purpose."""
    return Throttle(ThrottlePolicy(free_failures=1000, block_after=10_000))


@contextlib.asynccontextmanager
async def running(config: Config, services: list[Any]) -> AsyncIterator[Any]:
    """`runtime.run(config, services=services)` in a task of this loop; yields the
    `Runtime` once every listener is bound and every service started, and shuts it
    down afterwards."""
    from posteingang.runtime import run

    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, services=services, on_ready=ready.set_result, stop=stop))
    await asyncio.wait({ready, task}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        stop.set()
        await task  # raises what made start-up fail
        raise AssertionError("the runtime did not get ready")
    try:
        yield ready.result()
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def serve_process(config: Path, **popen: Any) -> subprocess.Popen[str]:
    """`posteingang --config CONFIG serve` in a child process, returned once it printed
    ``ready`` (its table goes to the pipe; pass ``stderr`` etc. in `popen`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "posteingang", "--config", str(config), "serve"],
        stdout=subprocess.PIPE,
        text=True,
        **popen,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "ready":
            return proc
    proc.kill()
    proc.wait()
    raise AssertionError("posteingang serve did not start")
