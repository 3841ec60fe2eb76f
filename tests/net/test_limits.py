"""Issue 11 items 19 and 10 at the connection layer, over loopback sockets.

19: per-address caps sized for carrier-grade NAT, a limit per account and client
address after login, and refusals and log lines that say which limit was hit.
10: a logged-in session is registered by account and device, and revoking its
credentials ends it at once with the protocol's goodbye.
"""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from posteingang.config.schema import LimitsConfig
from posteingang.net.connection import Connection
from posteingang.net.limits import AccountLimits, ConnectionCounter
from posteingang.net.server import ListenerServer
from posteingang.net.settings import ListenerSettings
from tests.net.conftest import echo_lines, listener, read_until
from tests.net.test_connection import connect, wait_for

REFUSAL = b"* BYE Too many connections {limit}\r\n"


def test_defaults_fit_carrier_grade_nat_and_one_customer() -> None:
    assert ListenerSettings(protocol="IMAP", port=0).max_connections_per_ip == 300
    limits = LimitsConfig()
    assert limits.max_connections_per_ip == 500
    assert limits.max_connections_per_user_ip == 10
    assert AccountLimits().max_per_user_ip == 10


def test_counter_names_the_limit_it_hit() -> None:
    counter = ConnectionCounter(max_total=3, max_per_ip=2, scope="limits")
    assert counter.open("192.0.2.1") is None and counter.open("192.0.2.1") is None
    hit = counter.open("192.0.2.1")
    assert hit is not None and hit.setting == "limits.max_connections_per_ip"
    assert hit.text == "from your address on this server" and hit.limit == 2
    assert counter.open("192.0.2.2") is None
    total = counter.open("192.0.2.3")
    assert total is not None and total.setting == "limits.max_connections"
    assert counter.total == 3 and counter.count("192.0.2.3") == 0


async def test_refusal_and_log_line_say_which_limit() -> None:
    server = ListenerServer(listener(max_connections_per_ip=2), echo_lines, refusal=REFUSAL)
    async with server:
        held = [await connect(server.port) for _ in range(2)]
        for reader, _ in held:
            await read_until(reader, b"\n")
        with capture_logs() as logs:
            reader, writer = await connect(server.port)
            refused = await asyncio.wait_for(reader.read(), 5)
        assert refused == b"* BYE Too many connections from your address on this port\r\n"
        [line] = [e for e in logs if e["event"] == "connection_refused"]
        assert line["limit"] == "listener.max_connections_per_ip" and line["value"] == 2
        other, other_writer = await connect(server.port, source="127.0.0.2")
        assert await read_until(other, b"\n") == b"hello\r\n"  # another address: served
        for _, w in [*held, (reader, writer), (other, other_writer)]:
            w.close()


async def test_process_wide_limit_is_named_too() -> None:
    shared = ConnectionCounter(max_total=1, max_per_ip=10, scope="limits")
    server = ListenerServer(listener(), echo_lines, refusal=REFUSAL, shared_limit=shared)
    async with server:
        r1, w1 = await connect(server.port)
        await read_until(r1, b"\n")
        with capture_logs() as logs:
            r2, w2 = await connect(server.port, source="127.0.0.2")
            assert await asyncio.wait_for(r2.read(), 5) == (
                b"* BYE Too many connections on this server\r\n"
            )
        assert [e["limit"] for e in logs if e["event"] == "connection_refused"] == [
            "limits.max_connections"
        ]
        w1.close()
        w2.close()


async def test_logins_per_account_and_address_are_limited_after_login() -> None:
    """Eleven sessions of one account from one address: the eleventh is refused; the
    same account from another address, and another account from this one, are not."""
    limits = AccountLimits(max_per_account=50, max_per_user_ip=10)
    results: list[tuple[str, bool, str | None]] = []

    async def handler(conn: Connection) -> None:
        user = (await conn.read_line(200)).decode().strip()
        ok = await conn.acquire_account(user)
        hit = conn.limit_hit.setting if conn.limit_hit else None
        results.append((conn.peer.host, ok, hit))
        await conn.write(b"OK\r\n" if ok else b"NO\r\n")
        await echo_lines(conn)

    server = ListenerServer(listener(), handler, account_limits=limits)
    async with server:
        clients = []
        for source, user in [("127.0.0.1", "alice@example.test")] * 11 + [
            ("127.0.0.2", "alice@example.test"),
            ("127.0.0.1", "bob@example.test"),
        ]:
            reader, writer = await connect(server.port, source=source)
            writer.write(user.encode() + b"\r\n")
            await read_until(reader, b"\n")
            clients.append((reader, writer))
        assert [ok for _, ok, _ in results] == [True] * 10 + [False, True, True]
        assert results[10][2] == "limits.max_connections_per_user_ip"
        assert limits.count_from("alice@example.test", "127.0.0.1") == 10
        for _, writer in clients:
            writer.close()
        await wait_for(lambda: limits.count("alice@example.test") == 0)
        assert limits.count_from("alice@example.test", "127.0.0.1") == 0


# --- item 10: revoked credentials end sessions ----------------------------------------------


@pytest.mark.parametrize(
    ("scope", "device", "ended"),
    [
        ("device", 7, {"phone"}),
        ("password", None, {"password"}),
        ("account", None, {"phone", "laptop", "password"}),
    ],
)
async def test_revoking_credentials_ends_exactly_their_sessions(
    scope: str, device: int | None, ended: set[str]
) -> None:
    limits = AccountLimits()
    devices = {"phone": 7, "laptop": 8, "password": None}

    async def handler(conn: Connection) -> None:
        name = (await conn.read_line(200)).decode().strip()
        assert await conn.acquire_account(
            "alice@example.test", 1, devices[name], b"* BYE revoked\r\n"
        )
        await echo_lines(conn)

    server = ListenerServer(listener(), handler, account_limits=limits)
    async with server:
        clients = {}
        for name in devices:
            reader, writer = await connect(server.port)
            writer.write(name.encode() + b"\r\n")
            await read_until(reader, b"hello\r\n")
            clients[name] = (reader, writer)
        await wait_for(lambda: limits.sessions(1) == 3)
        assert limits.end_sessions(1, scope, device) == len(ended)
        for name, (reader, writer) in clients.items():
            if name in ended:
                assert await asyncio.wait_for(reader.read(), 5) == b"* BYE revoked\r\n"
            else:
                writer.write(b"still here\r\n")
                assert await read_until(reader, b"\n") == b"still here\r\n"
            writer.close()
        await wait_for(lambda: limits.sessions(1) == 0)


async def test_a_session_busy_with_a_command_meets_the_goodbye_at_its_next_read() -> None:
    limits = AccountLimits()
    go_on = asyncio.Event()

    async def handler(conn: Connection) -> None:
        assert await conn.acquire_account("alice@example.test", 1, None, b"* BYE revoked\r\n")
        await conn.write(b"* 1 FETCH (BODY[] {5}\r\n")
        await go_on.wait()  # still writing a response when the password changes
        await conn.write(b"hello)\r\nA1 OK done\r\n")
        await conn.read_line(100)

    server = ListenerServer(listener(), handler, account_limits=limits)
    async with server:
        reader, writer = await connect(server.port)
        await read_until(reader, b"{5}\r\n")
        await wait_for(lambda: limits.sessions(1) == 1)
        limits.end_sessions(1, "password")
        go_on.set()
        rest = await asyncio.wait_for(reader.read(), 5)
        assert rest == b"hello)\r\nA1 OK done\r\n* BYE revoked\r\n"  # never inside a response
        writer.close()
