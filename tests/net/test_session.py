"""The session loop over real sockets: a toy line protocol driven by `serve_session`.

The toy session answers ``NOOP`` with ``OK``; ``BEGIN`` starts a multi-line
command (like SMTP DATA) that ends with a ``.`` line; it says ``BYE idle`` at its
timeout and ``BYE shutting down`` at a shutdown; woken (`Wake`) it says ``NEWS``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from posteingang.net.connection import Connection
from posteingang.net.server import ListenerServer
from posteingang.net.session import Wake, serve_session
from posteingang.net.transport import ConnectionTransport
from tests.net.conftest import listener, read_until


@dataclass
class LineSession:
    read_timeout: float | None = None
    out: bytearray = field(default_factory=bytearray)
    buffer: bytes = b""
    body: list[bytes] | None = None  # inside BEGIN ... "."
    closed: bool = False
    closes: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    tls_requested: bool = False
    wakes: int = 0
    wake: Wake = field(init=False)

    def __post_init__(self) -> None:
        self.wake = Wake(self.woken)

    async def woken(self) -> None:
        self.wakes += 1
        self.out += b"NEWS\r\n"

    @property
    def at_boundary(self) -> bool:
        return self.body is None

    def greet(self) -> None:
        self.out += b"HELLO\r\n"

    async def receive(self, data: bytes) -> None:
        if not data:
            self.closed = True
            return
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if self.body is not None:
                if line == b".":
                    self.out += f"DONE {len(self.body)} lines\r\n".encode()
                    self.body = None
                else:
                    self.body.append(line)
            elif line == b"BEGIN":
                self.body = []
                self.out += b"GO\r\n"
            elif line == b"QUIT":
                self.out += b"BYE\r\n"
                self.closed = True
                return
            else:
                self.out += b"OK\r\n"

    def data_to_send(self) -> bytes:
        data = bytes(self.out)
        self.out.clear()
        return data

    def tls_established(self) -> None:
        raise AssertionError("no STARTTLS in this protocol")

    def timeout(self) -> None:
        self.out += b"BYE idle\r\n"

    def shutdown(self) -> None:
        self.out += b"BYE shutting down\r\n"

    async def close(self) -> None:
        self.closes += 1
        self.ended.set()


@dataclass
class Served:
    server: ListenerServer
    sessions: list[LineSession]
    read_timeout: float | None = None


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    sessions: list[LineSession] = []

    async def handle(conn: Connection) -> None:
        conn.timeout = None
        session = LineSession(read_timeout=state.read_timeout)
        sessions.append(session)
        await serve_session(session, ConnectionTransport(conn), server.stopping, session.wake)

    server = ListenerServer(listener(), handle)
    state = Served(server, sessions)
    await server.start()
    yield state
    await server.stop(0)


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await read_until(reader, b"\n") == b"HELLO\r\n"
    return reader, writer


async def begin_stop(server: ListenerServer) -> asyncio.Task[None]:
    """Start a graceful shutdown with a long grace, and let it set ``stopping``."""
    stop = asyncio.create_task(server.stop(grace=60))
    await asyncio.sleep(0)  # stop() sets `stopping` before its first wait
    assert server.stopping.is_set()
    return stop


async def test_pipelined_commands_are_answered_in_one_batch(served: Served) -> None:
    reader, writer = await connect(served.server.port)
    writer.write(b"NOOP\r\nBEGIN\r\na\r\nb\r\n.\r\nQUIT\r\n")
    assert await asyncio.wait_for(reader.read(), 5) == b"OK\r\nGO\r\nDONE 2 lines\r\nBYE\r\n"
    writer.close()
    assert served.sessions[0].closes == 1


async def test_a_session_waiting_for_input_says_goodbye_when_shutdown_starts(
    served: Served,
) -> None:
    reader, writer = await connect(served.server.port)
    writer.write(b"NOOP\r\n")
    assert await read_until(reader, b"\n") == b"OK\r\n"
    stop = await begin_stop(served.server)
    # At once, not after the 60 s grace: the loop cancelled the waiting read.
    assert await asyncio.wait_for(reader.read(), 10) == b"BYE shutting down\r\n"
    await asyncio.wait_for(stop, 10)
    assert served.sessions[0].closes == 1
    writer.close()


async def test_a_session_in_the_middle_of_a_command_finishes_it_first(served: Served) -> None:
    reader, writer = await connect(served.server.port)
    writer.write(b"BEGIN\r\nfirst\r\n")
    assert await read_until(reader, b"\n") == b"GO\r\n"
    stop = await begin_stop(served.server)
    writer.write(b"second\r\n.\r\n")
    # The command completes; the goodbye comes at the next boundary.
    assert await asyncio.wait_for(reader.read(), 10) == b"DONE 2 lines\r\nBYE shutting down\r\n"
    await asyncio.wait_for(stop, 10)
    assert served.sessions[0].closes == 1
    writer.close()


async def test_the_read_timeout_is_the_sessions_and_ends_with_its_goodbye(
    served: Served,
) -> None:
    served.read_timeout = 0.05
    reader, writer = await connect(served.server.port)
    assert await asyncio.wait_for(reader.read(), 10) == b"BYE idle\r\n"
    assert served.sessions[0].closes == 1
    writer.close()


async def test_end_of_stream_closes_the_session(served: Served) -> None:
    reader, writer = await connect(served.server.port)
    writer.write(b"NOOP\r\n")
    assert await read_until(reader, b"\n") == b"OK\r\n"
    writer.close()
    await writer.wait_closed()
    await asyncio.wait_for(served.sessions[0].ended.wait(), 10)
    assert served.sessions[0].closed


async def test_a_hard_stop_still_closes_a_session_inside_a_command(served: Served) -> None:
    reader, writer = await connect(served.server.port)
    writer.write(b"BEGIN\r\n")
    assert await read_until(reader, b"\n") == b"GO\r\n"
    await served.server.stop(grace=0)  # no boundary comes: aborted, close() still runs
    assert await asyncio.wait_for(reader.read(), 10) == b""
    assert served.sessions[0].closes == 1
    writer.close()


async def test_a_wake_sends_what_the_session_queued_without_client_input(
    served: Served,
) -> None:
    reader, writer = await connect(served.server.port)
    writer.write(b"NOOP\r\n")
    assert await read_until(reader, b"\n") == b"OK\r\n"
    session = served.sessions[0]
    session.wake.set()  # while the loop waits for the client
    assert await read_until(reader, b"\n") == b"NEWS\r\n"
    session.wake.set()
    session.wake.set()  # set twice before the loop runs: woken once
    assert await read_until(reader, b"\n") == b"NEWS\r\n"
    # The interrupted reads took nothing from the connection; a stop still works.
    writer.write(b"NOOP\r\n")
    assert await read_until(reader, b"\n") == b"OK\r\n"
    assert session.wakes == 2
    stop = await begin_stop(served.server)
    assert await asyncio.wait_for(reader.read(), 10) == b"BYE shutting down\r\n"
    await asyncio.wait_for(stop, 10)
    assert session.closes == 1
    writer.close()
