"""What the end-to-end fixtures of every protocol share: test certificates and a loop thread.

A server under test runs on its own event loop in a background thread, so that
blocking clients (imaplib, poplib, smtplib, mbsync, fetchmail, Postfix...) can
run in the test's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import trustme

from posteingang.auth.throttle import Throttle, ThrottlePolicy
from posteingang.config import Config
from posteingang.net.tls import CertPair, TlsContexts
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.interface import Store
from posteingang.store.sqlite.store import SqliteStore

T = TypeVar("T")


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


def patient_throttle() -> Throttle:
    """A throttle that never delays or blocks: protocol tests log in wrongly on purpose."""
    return Throttle(ThrottlePolicy(free_failures=1000, block_after=10_000))


@contextlib.asynccontextmanager
async def running(
    config: Config, protocols: dict[str, Any], starters: list[Any]
) -> AsyncIterator[Any]:
    """`runtime.run(config)` in a task of this loop; yields the `Runtime` once every
    listener is bound and every starter ran, and shuts it down afterwards."""
    from posteingang.runtime import run

    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(config, protocols=protocols, starters=starters, on_ready=ready.set_result, stop=stop)
    )
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
