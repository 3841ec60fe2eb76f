"""Connections over loopback: lines, timeouts, back-pressure, limits, shutdown."""

from __future__ import annotations

import asyncio
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from posteingang.net.connection import (
    Connection,
    ConnectionClosed,
    IdleTimeout,
    LineTooLong,
    WriteTimeout,
)
from posteingang.net.limits import AccountLimits, ConnectionCounter
from posteingang.net.server import ListenerServer
from tests.net.conftest import ServeFactory, echo_lines, listener, read_until

REFUSAL = b"* BYE Too many connections\r\n"


async def connect(
    port: int, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 5
    )


async def wait_for(predicate: Callable[[], bool], within: float = 5) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def test_every_tcp_connection_sends_without_nagle_delay(serve: ServeFactory) -> None:
    # A reply written in pieces (a FETCH, then its tagged OK) must not wait for the
    # client's delayed ACK: accepted sockets get TCP_NODELAY on every listener.
    options: list[int] = []

    async def handler(conn: Connection) -> None:
        sock = conn.transport.get_extra_info("socket")
        options.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        await conn.write(b"hello\r\n")

    server = await serve(handler)
    reader, writer = await connect(server.port)
    assert await read_until(reader, b"\n") == b"hello\r\n"
    assert options and options[0] != 0
    writer.close()


# --- reading --------------------------------------------------------------------------------


async def test_read_line_returns_pipelined_lines_one_by_one(serve: ServeFactory) -> None:
    got: list[bytes] = []

    async def handler(conn: Connection) -> None:
        for _ in range(3):
            got.append(await conn.read_line(100))
        await conn.write(b"done\r\n")

    server = await serve(handler)
    reader, writer = await connect(server.port)
    writer.write(b"one\r\ntwo\r\n")
    await asyncio.sleep(0.05)
    writer.write(b"thr")
    await asyncio.sleep(0.05)
    writer.write(b"ee\r\n")
    assert await read_until(reader, b"\n") == b"done\r\n"
    assert got == [b"one\r\n", b"two\r\n", b"three\r\n"]
    writer.close()


async def test_too_long_line_is_skipped_and_the_next_line_is_read(serve: ServeFactory) -> None:
    async def handler(conn: Connection) -> None:
        while True:
            try:
                line = await conn.read_line(16)
            except LineTooLong:
                await conn.write(b"too long\r\n")
                continue
            await conn.write(b"ok " + line)

    server = await serve(handler)
    reader, writer = await connect(server.port)
    writer.write(b"x" * 40)  # the start of a long line ...
    assert await read_until(reader, b"\n") == b"too long\r\n"
    writer.write(b"y" * 4000 + b"\r\nshort\r\n")  # ... its rest is skipped
    assert await read_until(reader, b"\n") == b"ok short\r\n"
    writer.write(b"a" * 20 + b"\r\nb\r\n")  # a long line arriving whole
    assert await read_until(reader, b"\n") == b"too long\r\n"
    assert await read_until(reader, b"\n") == b"ok b\r\n"
    writer.close()


async def test_read_some_returns_bytes_then_empty_at_eof(serve: ServeFactory) -> None:
    chunks: list[bytes] = []

    async def handler(conn: Connection) -> None:
        while data := await conn.read_some(4):
            chunks.append(data)
        with pytest.raises(ConnectionClosed):
            await conn.read_line(10)

    server = await serve(handler)
    _, writer = await connect(server.port)
    writer.write(b"abcdefghij")
    await writer.drain()
    writer.close()
    await wait_for(lambda: b"".join(chunks) == b"abcdefghij")
    assert max(len(c) for c in chunks) <= 4


async def test_idle_client_is_timed_out_and_may_get_a_goodbye(serve: ServeFactory) -> None:
    async def handler(conn: Connection) -> None:
        try:
            await conn.read_line(100)
        except IdleTimeout:
            await conn.write(b"* BYE Autologout; idle for too long\r\n")

    server = await serve(handler, login_timeout=0.3)
    reader, writer = await connect(server.port)
    start = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 60) == b"* BYE Autologout; idle for too long\r\n"
    assert time.monotonic() - start >= 0.25  # not before the timeout (60 s: a hang guard)
    writer.close()


async def test_phase_timeout_changes_after_login(serve: ServeFactory) -> None:
    async def handler(conn: Connection) -> None:
        await conn.read_line(100)  # "login"
        conn.timeout = 0.2
        await conn.read_line(100)

    server = await serve(handler, login_timeout=30)
    reader, writer = await connect(server.port)
    await asyncio.sleep(0.4)  # longer than the post-login timeout, shorter than login's
    writer.write(b"LOGIN\r\n")
    # closed by the 0.2 s timeout set after login: the login phase's 30 s would make
    # this wait time out
    assert await asyncio.wait_for(reader.read(), 15) == b""


async def test_a_dripping_client_cannot_extend_the_line_timeout(serve: ServeFactory) -> None:
    outcome: list[str] = []

    async def handler(conn: Connection) -> None:
        try:
            await conn.read_line(1000)
        except IdleTimeout:
            outcome.append("timeout")

    server = await serve(handler, login_timeout=0.5)
    _, writer = await connect(server.port)
    for _ in range(10):  # one octet every 0.1 s: each is "activity", the line never ends
        if writer.is_closing():  # the server closed it (uvloop refuses a write then)
            break
        writer.write(b"x")
        await asyncio.sleep(0.1)
    assert outcome == ["timeout"]
    writer.close()


async def test_unread_input_is_bounded(serve: ServeFactory) -> None:
    conns: list[Connection] = []
    release = asyncio.Event()

    async def handler(conn: Connection) -> None:
        conns.append(conn)
        await release.wait()

    server = await serve(handler)
    _, writer = await connect(server.port)
    writer.write(b"z" * (8 * 1024 * 1024))  # the client's own buffer takes what we refuse
    await asyncio.sleep(0.5)
    assert conns and conns[0].buffered <= 1024 * 1024
    release.set()
    writer.transport.abort()


# --- writing --------------------------------------------------------------------------------


async def test_slow_reader_cannot_make_the_server_buffer_50_mb(serve: ServeFactory) -> None:
    """A client that never reads while we send 50 MB: memory stays bounded and the
    connection is closed once the write timeout expires."""
    outcome: dict[str, object] = {}
    block = b"m" * (1024 * 1024)

    async def handler(conn: Connection) -> None:
        sent = max_buffered = 0
        start = time.monotonic()
        try:
            for _ in range(50):
                await conn.write(block)
                sent += len(block)
                max_buffered = max(max_buffered, conn.transport.get_write_buffer_size())
        except WriteTimeout:
            outcome["error"] = "WriteTimeout"
        outcome.update(sent=sent, max_buffered=max_buffered, secs=time.monotonic() - start)

    server = await serve(handler, write_timeout=0.5, write_buffer=256 * 1024)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", server.port))
    try:
        await wait_for(lambda: "secs" in outcome, within=10)
    finally:
        sock.close()
    assert outcome["error"] == "WriteTimeout"
    # What left our hands sits in kernel buffers (a few MB on loopback); our own
    # buffer never held more than the high-water mark plus one chunk.
    assert isinstance(outcome["sent"], int) and outcome["sent"] < 20 * 1024 * 1024
    assert isinstance(outcome["max_buffered"], int)
    assert outcome["max_buffered"] <= 256 * 1024 + 64 * 1024
    assert isinstance(outcome["secs"], float) and outcome["secs"] < 5


async def test_a_reading_client_gets_all_50_mb(serve: ServeFactory) -> None:
    async def handler(conn: Connection) -> None:
        block = b"r" * (1024 * 1024)
        for _ in range(50):
            await conn.write(block)

    server = await serve(handler, write_timeout=5)
    reader, writer = await connect(server.port)
    total = 0
    while data := await asyncio.wait_for(reader.read(1 << 20), 10):
        total += len(data)
    assert total == 50 * 1024 * 1024
    writer.close()


# --- limits ---------------------------------------------------------------------------------


async def test_per_address_limit_refuses_with_the_protocol_reply(serve: ServeFactory) -> None:
    server = await serve(echo_lines, refusal=REFUSAL, max_connections_per_ip=2)
    first = await connect(server.port)
    second = await connect(server.port)
    for reader, _ in (first, second):
        assert await read_until(reader, b"\n") == b"hello\r\n"
    reader, writer = await connect(server.port)
    assert await asyncio.wait_for(reader.read(), 5) == REFUSAL
    writer.close()
    # Another address is not affected.
    other_reader, other_writer = await connect(server.port, source="127.0.0.2")
    assert await read_until(other_reader, b"\n") == b"hello\r\n"
    # Closing one connection makes room again.
    first[1].close()
    await wait_for(lambda: server.limits.count("127.0.0.1") == 1)
    reader, writer = await connect(server.port)
    assert await read_until(reader, b"\n") == b"hello\r\n"
    for w in (second[1], other_writer, writer):
        w.close()


async def test_total_limit_and_a_refusal_callback(serve: ServeFactory) -> None:
    async def refuse(conn: Connection) -> None:
        await conn.write(f"421 4.7.0 {conn.peer.host} too many connections\r\n".encode())

    server = await serve(echo_lines, refusal=refuse, max_connections=2)
    a = await connect(server.port, "127.0.0.1")
    b = await connect(server.port, "127.0.0.2")
    for reader, _ in (a, b):
        await read_until(reader, b"\n")
    reader, writer = await connect(server.port, "127.0.0.3")
    assert (
        await asyncio.wait_for(reader.read(), 5) == b"421 4.7.0 127.0.0.3 too many connections\r\n"
    )
    assert server.limits.total == 2
    for w in (a[1], b[1], writer):
        w.close()


async def test_shared_counter_limits_across_listeners() -> None:
    shared = ConnectionCounter(max_total=1, max_per_ip=10)
    one = ListenerServer(listener(), echo_lines, refusal=REFUSAL, shared_limit=shared)
    two = ListenerServer(listener(), echo_lines, refusal=REFUSAL, shared_limit=shared)
    async with one, two:
        r1, w1 = await connect(one.port)
        assert await read_until(r1, b"\n") == b"hello\r\n"
        r2, w2 = await connect(two.port)
        assert await asyncio.wait_for(r2.read(), 5) == REFUSAL
        w1.close()
        w2.close()


def test_counter_forgets_addresses_without_connections() -> None:
    counter = ConnectionCounter(max_total=10, max_per_ip=1)
    assert counter.try_open("2001:db8::1")
    assert not counter.try_open("2001:db8::2")  # same /64
    assert counter.try_open("2001:db8:0:1::1")
    counter.release("2001:db8::1")
    counter.release("2001:db8:0:1::1")
    assert counter.total == 0 and counter.count("2001:db8::1") == 0
    assert not counter.try_open("192.0.2.1") or counter.total == 1


async def test_account_limit_is_acquired_after_login_and_released_on_close() -> None:
    results: list[bool] = []

    async def handler(conn: Connection) -> None:
        results.append(await conn.acquire_account("Alice@example.test"))
        await echo_lines(conn)

    limits = AccountLimits(max_per_account=1)
    server = ListenerServer(listener(), handler, account_limits=limits)
    async with server:
        r1, w1 = await connect(server.port)
        await read_until(r1, b"\n")
        r2, w2 = await connect(server.port)
        await read_until(r2, b"\n")
        assert results == [True, False]
        assert limits.count("alice@example.test") == 1
        w1.close()
        w2.close()
        await wait_for(lambda: limits.count("alice@example.test") == 0)


# --- shutdown -------------------------------------------------------------------------------


async def test_graceful_shutdown_lets_sessions_say_goodbye_then_aborts_the_rest() -> None:
    async def polite(conn: Connection) -> None:
        await conn.write(b"hello\r\n")
        while not conn.closed:
            stop = asyncio.ensure_future(server.stopping.wait())
            line = asyncio.ensure_future(conn.read_line(100))
            done, _ = await asyncio.wait({stop, line}, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                line.cancel()
                await conn.write(b"* BYE Server shutting down\r\n")
                return
            stop.cancel()

    server = ListenerServer(listener(), polite)
    await server.start()
    reader, writer = await connect(server.port)
    await read_until(reader, b"\n")
    await server.stop(grace=2)
    # the session said goodbye itself (an abort after the grace would send nothing)
    assert await asyncio.wait_for(reader.read(), 60) == b"* BYE Server shutting down\r\n"
    with pytest.raises(OSError):
        await connect(server.port)
    writer.close()


async def test_shutdown_aborts_sessions_that_ignore_it_after_the_grace_period() -> None:
    async def stubborn(conn: Connection) -> None:
        await conn.write(b"hello\r\n")
        await asyncio.sleep(3600)

    server = ListenerServer(listener(), stubborn)
    await server.start()
    reader, writer = await connect(server.port)
    await read_until(reader, b"\n")
    start = time.monotonic()
    await server.stop(grace=0.3)
    assert time.monotonic() - start >= 0.25  # the grace period was given
    assert await asyncio.wait_for(reader.read(), 60) == b""
    assert server.limits.total == 0
    writer.close()


async def test_handler_exception_closes_only_its_connection(serve: ServeFactory) -> None:
    async def handler(conn: Connection) -> None:
        line = await conn.read_line(100)
        if line == b"boom\r\n":
            raise RuntimeError("bug in a session")
        await conn.write(b"fine\r\n")

    server = await serve(handler)
    r1, w1 = await connect(server.port)
    w1.write(b"boom\r\n")
    assert await asyncio.wait_for(r1.read(), 5) == b""
    r2, w2 = await connect(server.port)
    w2.write(b"hi\r\n")
    assert await read_until(r2, b"\n") == b"fine\r\n"
    w1.close()
    w2.close()


async def test_dual_stack_listener_reports_ipv4_clients_as_ipv4(serve: ServeFactory) -> None:
    if not socket.has_dualstack_ipv6():
        pytest.skip("no dual-stack sockets here")
    peers: list[str] = []

    async def handler(conn: Connection) -> None:
        peers.append(conn.peer.host)
        await conn.write(b"hi\r\n")

    server = await serve(handler, host="::")
    reader, writer = await connect(server.port)
    assert await read_until(reader, b"\n") == b"hi\r\n"
    assert peers == ["127.0.0.1"]
    writer.close()


async def test_unix_socket_listener(serve: ServeFactory, tmp_path: Path) -> None:
    path = tmp_path / "run" / "lmtp.sock"
    peers: list[str] = []

    async def handler(conn: Connection) -> None:
        peers.append(conn.peer.host)
        await echo_lines(conn)

    server = await serve(handler, host=str(path), socket_mode=0o600, max_connections_per_ip=1)
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    reader, writer = await asyncio.open_unix_connection(str(path))
    assert await read_until(reader, b"\n") == b"hello\r\n"
    writer.write(b"LHLO x\r\n")
    assert await read_until(reader, b"\n") == b"LHLO x\r\n"
    assert peers == ["unix"]
    r2, w2 = await asyncio.open_unix_connection(str(path))  # over the limit
    assert await asyncio.wait_for(r2.read(), 5) == b""
    writer.close()
    w2.close()
    await server.stop(0)
    assert not path.exists()


async def test_unix_socket_refuses_to_replace_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-socket"
    path.write_text("precious")
    server = ListenerServer(listener(host=str(path)), echo_lines)
    with pytest.raises(FileExistsError):
        await server.start()
    assert path.read_text() == "precious"
