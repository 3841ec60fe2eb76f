"""Shutdown over real sockets: a POP3 session waiting for its client's next command is
closed at once (POP3 has no unsolicited response); one in the middle of a command -- a
RETR being sent, a SASL exchange -- finishes it first, then is closed."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from posteingang.delivery.deliver import deliver
from posteingang.pop3.policy import Pop3Settings
from posteingang.store.sqlite.store import SqliteStore
from tests.pop3.harness import ALICE, PASSWORD, add_account, message
from tests.pop3.server_fixture import RunningServer, running_server

# Larger than the kernel's socket buffers and the listener's write buffer together,
# so the session is still sending it when the shutdown starts.
BIG = message(1, body="".join(f"{i:08d} {'.' * 66}\r\n" for i in range(120_000)))


async def setup(store: SqliteStore) -> None:
    await add_account(store)
    await deliver(store, ALICE, BIG)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path, Pop3Settings(hostname="localhost"), setup) as running:
        yield running


def begin_stop(running: RunningServer) -> Callable[[], None]:
    """Start the server's graceful stop (60 s grace) and return once ``stopping`` is set;
    the returned function waits for the stop to finish."""
    tasks: list[asyncio.Task[None]] = []

    async def begin() -> None:
        tasks.append(asyncio.ensure_future(running.server.stop(60)))
        await asyncio.sleep(0)  # stop() sets `stopping` before its first wait
        assert running.server.stopping.is_set()

    running.call(begin)
    return lambda: running.call(lambda: asyncio.wait_for(tasks[0], 30))


def connect(running: RunningServer, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # a slow reader: the server fills its buffers and waits
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", running.pop3_port))
    assert line(sock).startswith(b"+OK")
    return sock


def line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def rest(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


def login(sock: socket.socket) -> None:
    sock.sendall(f"USER {ALICE}\r\nPASS {PASSWORD}\r\n".encode())
    assert line(sock).startswith(b"+OK")
    assert line(sock).startswith(b"+OK")


def test_a_session_waiting_for_its_next_command_is_closed(server: RunningServer) -> None:
    with connect(server) as sock:
        login(sock)
        sock.sendall(b"STAT\r\n")
        assert line(sock).startswith(b"+OK 1 ")
        stopped = begin_stop(server)
        assert rest(sock) == b""  # closed without a word, before the 60 s grace
        stopped()


def test_a_retr_being_sent_is_finished_before_the_session_closes(server: RunningServer) -> None:
    with connect(server, rcvbuf=4096) as sock:
        login(sock)
        sock.sendall(b"RETR 1\r\n")
        assert line(sock) == f"+OK {len(BIG)} octets\r\n".encode()
        stopped = begin_stop(server)
        body = rest(sock)
        stopped()
    assert body.endswith(b"\r\n.\r\n")
    lines = body[:-3].split(b"\r\n")[:-1]
    unstuffed = b"".join((ln[1:] if ln.startswith(b".") else ln) + b"\r\n" for ln in lines)
    assert unstuffed == BIG


def test_a_sasl_exchange_is_finished_before_the_session_closes(server: RunningServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"AUTH PLAIN\r\n")
        assert line(sock) == b"+ \r\n"
        stopped = begin_stop(server)
        sock.sendall(base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode()) + b"\r\n")
        assert line(sock).startswith(b"+OK")  # logged in: the command finished
        assert rest(sock) == b""
        stopped()
