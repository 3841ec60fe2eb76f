"""Shutdown over real sockets: an IMAP session waiting for its client's next command,
or idling in IDLE, says ``* BYE [UNAVAILABLE]`` at once; one in the middle of a
command (a literal, a partial line) finishes it first, then says it.  The session
loop (`net.session.serve_session`) handles the race; these pin what IMAP sends."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.imap.harness import ALICE, PASSWORD
from tests.imap.server_fixture import RunningServer, running_server

BYE = b"* BYE [UNAVAILABLE] Server shutting down\r\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path) as running:
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


def logged_in(running: RunningServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", running.imap_port), timeout=30)
    assert line(sock).startswith(b"* OK ")
    sock.sendall(f'a LOGIN {ALICE} "{PASSWORD}"\r\n'.encode())
    assert line(sock).startswith(b"a OK ")
    return sock


def test_a_session_waiting_for_its_next_command_says_bye(server: RunningServer) -> None:
    with logged_in(server) as sock:
        sock.sendall(b"b NOOP\r\n")
        assert line(sock) == b"b OK NOOP completed\r\n"
        stopped = begin_stop(server)
        assert rest(sock) == BYE  # at once, before the 60 s grace
        stopped()


def test_an_idling_session_says_bye(server: RunningServer) -> None:
    with logged_in(server) as sock:
        sock.sendall(b"b SELECT INBOX\r\n")
        while not line(sock).startswith(b"b OK"):
            pass
        sock.sendall(b"c IDLE\r\n")
        assert line(sock) == b"+ idling\r\n"
        stopped = begin_stop(server)
        assert rest(sock) == BYE
        stopped()


def test_a_literal_being_sent_is_finished_before_the_session_says_bye(
    server: RunningServer,
) -> None:
    body = b"Subject: late\r\n\r\nsent during the shutdown\r\n"
    with logged_in(server) as sock:
        sock.sendall(b"b APPEND INBOX {%d}\r\n" % len(body))
        assert line(sock) == b"+ go ahead\r\n"
        stopped = begin_stop(server)
        sock.sendall(body[:10])
        sock.sendall(body[10:] + b"\r\n")
        assert line(sock).startswith(b"b OK [APPENDUID ")  # the command finished
        assert rest(sock) == BYE
        stopped()


def test_a_partial_command_line_is_finished_before_the_session_says_bye(
    server: RunningServer,
) -> None:
    with logged_in(server) as sock:
        sock.sendall(b"b NO")
        stopped = begin_stop(server)
        sock.sendall(b"OP\r\n")
        assert line(sock) == b"b OK NOOP completed\r\n"
        assert rest(sock) == BYE
        stopped()
