"""The shared-state calls between a worker and the server process (net/shared.py),
over a real socket pair: only exported methods run, what a worker acquired is released
when it goes, and a server that does not answer leaves the worker its own table."""

from __future__ import annotations

import socket
import threading

import pytest

from posteingang.net.limits import AccountLimits, SharedAccountLimits
from posteingang.net.shared import Exports, Holdings, Remote
from posteingang.pop3.locks import MaildropLocks, SharedMaildropLocks


def serve(exports: Exports, sock: socket.socket, holdings: Holdings) -> threading.Thread:
    """The server's side in a thread: answer until the worker's end closes."""

    def run() -> None:
        while request := sock.recv(65_536):
            sock.send(exports.answer(request, holdings))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def test_a_worker_shares_the_server_tables_and_its_holdings_go_with_it(
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
    worker_locks = SharedMaildropLocks(remote.call)
    worker_limits = SharedAccountLimits(1, 10, remote.call)

    assert worker_locks.acquire((7, None))
    assert locks.held((7, None))  # held in the server's table
    assert not worker_locks.acquire((7, None))
    assert worker_limits.admit("alice@example.test", "192.0.2.1") is None
    hit = worker_limits.admit("alice@example.test", "192.0.2.2")
    assert hit is not None and hit.setting == "limits.max_connections_per_account"
    with pytest.raises(OSError, match="not exported"):
        remote.call("pop3.locks", "__init__", ())

    remote.close()  # the worker is gone: what it held is released
    thread.join(10)
    exports.release_all(holdings)
    assert not locks.held((7, None))
    assert limits.count("alice@example.test") == 0


def test_without_an_answer_a_worker_uses_its_own_table(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server_end, worker_end = pair  # nobody answers on server_end
    remote = Remote(worker_end.detach(), timeout=0.1)
    locks = SharedMaildropLocks(remote.call)
    assert locks.acquire((1, 2))
    assert not locks.acquire((1, 2))  # the local table holds it
    locks.release((1, 2))
    assert locks.acquire((1, 2))
    remote.close()
    server_end.close()
