"""The shared-state calls between a worker and the server process (net/shared.py),
over a real socket pair: only exported methods run, what a worker acquired is released
when it goes, questions are awaited without blocking the worker's event loop, news is
told one way and in order, and a server that does not answer leaves the worker its own
table (giving back later what it granted meanwhile)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

import pytest

from posteingang.auth.throttle import SharedThrottle, Throttle, ThrottlePolicy
from posteingang.net.limits import AccountLimits, SharedAccountLimits
from posteingang.net.shared import Exports, Holdings, Remote
from posteingang.pop3.locks import MaildropLocks, SharedMaildropLocks


def serve(
    exports: Exports,
    sock: socket.socket,
    holdings: Holdings,
    before: Callable[[], None] = lambda: None,
) -> threading.Thread:
    """The server's side in a thread: answer until the worker's end closes (``before``
    runs ahead of each answer: a server busy with something else)."""

    def run() -> None:
        while request := sock.recv(65_536):
            before()
            answer = exports.answer(request, holdings)
            if answer is not None:
                sock.send(answer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


async def test_a_worker_shares_the_server_tables_and_its_holdings_go_with_it(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server_end, worker_end = pair
    locks, limits = MaildropLocks(), AccountLimits(max_per_account=1)
    exports = Exports()
    exports.add("pop3.locks", locks, SharedMaildropLocks.METHODS, SharedMaildropLocks.HOLDS)
    exports.add("limits", limits, SharedAccountLimits.METHODS, SharedAccountLimits.HOLDS)
    holdings = Holdings()
    thread = serve(exports, server_end, holdings)
    remote = Remote(worker_end.detach())
    worker_locks = SharedMaildropLocks(remote)
    worker_limits = SharedAccountLimits(1, 10, remote)

    assert await worker_locks.ask_acquire((7, None))
    assert locks.held((7, None))  # held in the server's table
    assert not await worker_locks.ask_acquire((7, None))
    assert await worker_limits.ask_admit("alice@example.test", "192.0.2.1") is None
    hit = await worker_limits.ask_admit("alice@example.test", "192.0.2.2")
    assert hit is not None and hit.setting == "limits.max_connections_per_account"
    with pytest.raises(OSError, match="not exported"):
        await remote.ask("pop3.locks", "__init__", ())

    remote.close()  # the worker is gone: what it held is released
    thread.join(10)
    exports.release_all(holdings)
    assert not locks.held((7, None))
    assert limits.count("alice@example.test") == 0


async def test_a_release_told_one_way_comes_before_the_next_question(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server_end, worker_end = pair
    locks = MaildropLocks()
    exports = Exports()
    exports.add("pop3.locks", locks, SharedMaildropLocks.METHODS, SharedMaildropLocks.HOLDS)
    holdings = Holdings()
    thread = serve(exports, server_end, holdings)
    remote = Remote(worker_end.detach())
    worker_locks = SharedMaildropLocks(remote)
    for _ in range(50):  # release is not awaited; the next acquire must see it anyway
        assert await worker_locks.ask_acquire((1, None))
        worker_locks.release((1, None))
    # a question is answered after every earlier tell on the socket was applied
    assert await worker_locks.ask_acquire((2, None))
    assert ("pop3.locks", "release", ((1, None),)) not in holdings.held
    remote.close()
    thread.join(10)


async def test_the_event_loop_runs_while_the_server_is_slow_to_answer(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """The worker's other connections are served while one login waits for the server."""
    server_end, worker_end = pair
    throttle = Throttle(ThrottlePolicy(block_after=2, free_failures=10))
    exports = Exports()
    exports.add(SharedThrottle.NAME, throttle, SharedThrottle.METHODS)
    slow = threading.Event()
    thread = serve(exports, server_end, Holdings(), before=lambda: slow.wait(10))
    remote = Remote(worker_end.detach())
    worker_throttle = SharedThrottle(None, remote)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    question = asyncio.create_task(worker_throttle.ask_blocked("192.0.2.7", None))
    await asyncio.sleep(0.05)
    assert not question.done() and ticks > 10  # the loop ran while the server was busy
    slow.set()
    assert await question is False
    worker_throttle.record_failure(protocol="imap", address="192.0.2.7", user=None, reason="x")
    worker_throttle.record_failure(protocol="imap", address="192.0.2.7", user=None, reason="x")
    assert await worker_throttle.ask_blocked("192.0.2.7", None)  # counted by the server
    assert throttle.blocked("192.0.2.7", None)
    ticker.cancel()
    remote.close()
    thread.join(10)


async def test_without_an_answer_a_worker_uses_its_own_table(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server_end, worker_end = pair  # nobody answers on server_end
    remote = Remote(worker_end.detach(), timeout=0.1)
    locks = SharedMaildropLocks(remote)
    assert await locks.ask_acquire((1, 2))
    assert locks.held((1, 2))  # the local table holds it
    assert not await locks.ask_acquire((1, 2))
    remote.close()
    server_end.close()


async def test_a_lock_granted_after_the_worker_stopped_waiting_is_given_back(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server_end, worker_end = pair
    locks = MaildropLocks()
    exports = Exports()
    exports.add("pop3.locks", locks, SharedMaildropLocks.METHODS, SharedMaildropLocks.HOLDS)
    holdings = Holdings()
    go = threading.Event()
    thread = serve(exports, server_end, holdings, before=lambda: go.wait(10))
    remote = Remote(worker_end.detach(), timeout=5)
    worker_locks = SharedMaildropLocks(remote)
    waiting = asyncio.create_task(worker_locks.ask_acquire((3, None)))
    await asyncio.sleep(0.05)
    waiting.cancel()  # the session went away while the server was busy
    with pytest.raises(asyncio.CancelledError):
        await waiting
    go.set()
    for _ in range(200):  # the late grant arrives and is told back one way
        await asyncio.sleep(0.01)
        if not locks.held((3, None)) and not holdings.held:
            break
    assert not locks.held((3, None)) and not holdings.held
    remote.close()
    thread.join(10)
