"""A password-guessing attack over loopback against a tiny line protocol built on the layer.

The protocol: greeting ``* OK``, then ``LOGIN <user> <password>`` answered ``OK`` or
``NO``.  One address (127.0.0.1) guesses from many parallel connections while another
(127.0.0.2) logs in correctly: that login must finish within 1 s, password checks must
stay bounded in concurrency, and the event loop must stay responsive.

The default suite makes 2,000 guesses; set ``POSTEINGANG_FULL_ATTACK=1`` for the full
10,000 of issue 3 (docs/connections.md).  Throttle delays are scaled down (10 ms instead
of 1 s) so the test measures the server, not the sleep.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator

import pytest

from posteingang.auth import passwords
from posteingang.auth.login import authenticate
from posteingang.auth.passwords import hash_password
from posteingang.auth.throttle import Throttle, ThrottlePolicy
from posteingang.net.connection import Connection
from posteingang.net.server import ListenerServer
from posteingang.store.memory import MemoryStore
from tests.net.conftest import listener
from tests.serving import QuietLog

GOOD = "the-right-password"
ATTEMPTS = 10_000 if os.environ.get("POSTEINGANG_FULL_ATTACK") == "1" else 2_000


class VerifyMeter:
    """Counts password verifications running at once in the password pool."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = self.peak = self.total = 0


@pytest.fixture
def meter(monkeypatch: pytest.MonkeyPatch) -> VerifyMeter:
    m = VerifyMeter()
    real = passwords.verify_password

    def metered(stored: str, password: str) -> bool:
        with m.lock:
            m.running += 1
            m.total += 1
            m.peak = max(m.peak, m.running)
        try:
            return real(stored, password)
        finally:
            with m.lock:
                m.running -= 1

    monkeypatch.setattr(passwords, "verify_password", metered)
    return m


async def start_server(policy: ThrottlePolicy) -> tuple[ListenerServer, MemoryStore]:
    store = MemoryStore()
    await store.add_domain("example.test")
    await store.create_account("victim@example.test", hash_password(GOOD))
    await store.create_account("user@example.test", hash_password(GOOD))
    throttle = Throttle(policy, logger=QuietLog())

    async def handler(conn: Connection) -> None:
        await conn.write(b"* OK\r\n")
        while True:
            line = (await conn.read_line(1024)).decode().split()
            if len(line) != 3 or line[0] != "LOGIN":
                await conn.write(b"BAD\r\n")
                continue
            result = await authenticate(
                store,
                throttle,
                protocol="test",
                address=conn.peer.host,
                username=line[1],
                password=line[2],
            )
            await conn.write(b"OK\r\n" if result.ok else b"NO\r\n")

    server = ListenerServer(listener(max_connections_per_ip=100, max_connections=1000), handler)
    await server.start()
    return server, store


async def attacker(port: int, attempts: int, counter: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.1", 0))
    await reader.readline()
    for i in range(attempts):
        writer.write(f"LOGIN victim@example.test guess{i}\r\n".encode())
        assert await reader.readline() == b"NO\r\n"
        counter[0] += 1
    writer.close()


async def legit_login(port: int) -> float:
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
    await reader.readline()
    writer.write(f"LOGIN user@example.test {GOOD}\r\n".encode())
    assert await asyncio.wait_for(reader.readline(), 5) == b"OK\r\n"
    writer.close()
    return time.monotonic() - start


async def loop_lag(stop: asyncio.Event) -> float:
    worst = 0.0
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(0.01)
        worst = max(worst, time.monotonic() - before - 0.01)
    return worst


async def run_attack(
    server: ListenerServer, attempts: int, connections: int
) -> tuple[list[float], float, int]:
    done = [0]
    per_conn = attempts // connections
    stop = asyncio.Event()
    lag = asyncio.create_task(loop_lag(stop))
    attack = asyncio.gather(*(attacker(server.port, per_conn, done) for _ in range(connections)))
    timings: list[float] = []
    while not attack.done():
        await asyncio.sleep(0.2)
        if attack.done():
            break
        timings.append(await legit_login(server.port))
    await attack
    stop.set()
    return timings, await lag, done[0]


@pytest.fixture
async def cleanup() -> AsyncIterator[list[ListenerServer]]:
    servers: list[ListenerServer] = []
    yield servers
    for server in servers:
        await server.stop(0)


async def test_guessing_from_one_address_leaves_others_served(
    meter: VerifyMeter, cleanup: list[ListenerServer]
) -> None:
    """The default policy, time-scaled: the attacker is blocked after 10 failures and
    every further guess is answered without hashing."""
    server, _ = await start_server(ThrottlePolicy(first_delay=0.01, max_delay=0.1))
    cleanup.append(server)
    start = time.monotonic()
    timings, lag, done = await run_attack(server, ATTEMPTS, connections=20)
    assert done == ATTEMPTS
    assert timings, "the attack ended before a legitimate login was tried"
    assert max(timings) < 1.0, timings
    assert lag < 0.25
    assert meter.peak <= passwords.MAX_CONCURRENT_VERIFICATIONS
    # Blocking means the guesses cost (almost) no hashing at all.
    assert meter.total < 50 + len(timings)
    assert time.monotonic() - start < 60


async def test_unblocked_guessing_keeps_hashing_bounded_and_others_served(
    meter: VerifyMeter, cleanup: list[ListenerServer]
) -> None:
    """No blocks and no delays: every guess is a real argon2id verification.  The
    per-address slot keeps the attacker from filling the verification queue."""
    server, _ = await start_server(
        ThrottlePolicy(free_failures=10**9, block_after=10**9, max_parallel_per_address=2)
    )
    cleanup.append(server)
    timings, lag, done = await run_attack(server, 120, connections=40)
    assert done == 120
    assert timings and max(timings) < 1.0, timings
    assert meter.peak <= passwords.MAX_CONCURRENT_VERIFICATIONS
    assert meter.total >= 120
    assert lag < 0.25
