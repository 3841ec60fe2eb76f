"""The runtime: configured listeners are bound and reported; shutdown drains and closes."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from posteingang.config import Config, config_from_mapping
from posteingang.net.certs import default_names, write_self_signed
from posteingang.net.connection import Connection
from posteingang.net.settings import ListenerSettings
from posteingang.runtime import Runtime, Shell, StartupError, run
from posteingang.service import Background, Context, ProtocolService, Serving


def make_config(tmp_path: Path, *listeners: dict[str, Any], **server: Any) -> Config:
    return config_from_mapping(
        {
            "store": {"backend": "memory"},
            "server": {"hostname": "mail.test", **server},
            "listener": list(listeners),
        },
        base_dir=tmp_path,
        env={},
    )


async def echo(conn: Connection) -> None:
    while True:
        line = await conn.read_line(1000)
        await conn.write(line)


def echo_shell(settings: ListenerSettings) -> Shell:
    return Shell(echo, refusal=b"busy\r\n", login="anything")


class Shells(Serving):
    def __init__(self, make: Callable[[ListenerSettings], Shell]) -> None:
        self.make = make

    def shell(self, listener: ListenerSettings) -> Shell:
        return self.make(listener)


def serve(protocol: str, make: Callable[[ListenerSettings], Shell]) -> ProtocolService[Shells]:
    """A service that serves `protocol` listeners with the shells `make` returns."""
    return ProtocolService(protocol.lower(), (protocol,), (), lambda ctx: Shells(make))


async def start(
    config: Config, services: list[Any], stop: asyncio.Event
) -> tuple[asyncio.Task[None], Runtime]:
    ready: asyncio.Future[Runtime] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run(config, services=services, on_ready=ready.set_result, stop=stop))
    runtime = await asyncio.wait_for(ready, 5)
    return task, runtime


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def test_configured_listeners_are_bound_and_reported(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        {"protocol": "ECHO", "port": 0, "host": "127.0.0.1"},
        {"protocol": "echo", "port": 0, "host": "127.0.0.1"},
    )
    stop = asyncio.Event()
    task, runtime = await start(config, [serve("ECHO", echo_shell)], stop)
    assert [(x.protocol, x.address, x.login) for x in runtime.listeners] == [
        ("ECHO", "127.0.0.1", "anything"),
        ("echo", "127.0.0.1", "anything"),
    ]
    for listener in runtime.listeners:
        assert listener.port > 0
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(b"hello\r\n")
        assert await reader.readline() == b"hello\r\n"
        writer.close()
    stop.set()
    await asyncio.wait_for(task, 5)
    assert all([await refused(x.port) for x in runtime.listeners])


async def test_unknown_protocol_is_a_startup_error(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"protocol": "GOPHER", "port": 0})
    with pytest.raises(StartupError, match=r"listener\[0\]\.protocol: 'GOPHER'"):
        await run(config, services=[serve("ECHO", echo_shell)])


async def test_shutdown_lets_in_flight_work_finish(tmp_path: Path) -> None:
    finished: list[str] = []

    async def slow(conn: Connection) -> None:
        await conn.read_line(100)
        await asyncio.sleep(0.3)  # a DATA transfer that must not be cut off
        await conn.write(b"250 stored\r\n")
        finished.append("slow")

    config = make_config(
        tmp_path, {"protocol": "SLOW", "port": 0, "host": "127.0.0.1"}, shutdown_timeout=5
    )
    stop = asyncio.Event()
    task, runtime = await start(config, [serve("SLOW", lambda s: Shell(slow))], stop)
    port = runtime.listeners[0].port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"go\r\n")
    await writer.drain()
    await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(reader.readline(), 5) == b"250 stored\r\n"
    await asyncio.wait_for(task, 5)
    assert finished == ["slow"]
    assert runtime.stopping.is_set()
    assert await refused(port)


async def test_stuck_work_is_cancelled_after_the_timeout(tmp_path: Path) -> None:
    cancelled = asyncio.Event()
    cleaned: list[str] = []

    async def stuck(conn: Connection) -> None:
        await asyncio.sleep(3600)

    async def background(rt: Context) -> None:
        async def job() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        rt.spawn(job(), name="job")

        async def cleanup() -> None:
            cleaned.append("cleanup")

        rt.on_shutdown(cleanup)

    config = make_config(
        tmp_path, {"protocol": "STUCK", "port": 0, "host": "127.0.0.1"}, shutdown_timeout=0.2
    )
    stop = asyncio.Event()
    services = [serve("STUCK", lambda s: Shell(stuck)), Background("job", background)]
    task, runtime = await start(config, services, stop)
    _, writer = await asyncio.open_connection("127.0.0.1", runtime.listeners[0].port)
    await asyncio.sleep(0.1)
    assert runtime.in_flight == 2  # the connection and the job
    loop = asyncio.get_running_loop()
    began = loop.time()
    stop.set()
    await asyncio.wait_for(task, 5)
    assert cancelled.is_set()
    assert cleaned == ["cleanup"]
    assert 0.15 < loop.time() - began < 3
    assert runtime.in_flight == 0
    writer.close()


async def test_implicit_tls_listener_uses_the_configured_certificate(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, {"protocol": "ECHO", "port": 0, "host": "127.0.0.1", "tls": "implicit"}
    )
    write_self_signed(config.tls.cert, config.tls.key, default_names("mail.test"))
    stop = asyncio.Event()
    task, runtime = await start(config, [serve("ECHO", echo_shell)], stop)
    client = ssl.create_default_context(cafile=str(config.tls.cert))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", runtime.listeners[0].port, ssl=client, server_hostname="localhost"
    )
    writer.write(b"over tls\n")
    assert await reader.readline() == b"over tls\n"
    writer.close()
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_a_failing_starter_still_shuts_down_what_started(tmp_path: Path) -> None:
    ran: list[str] = []

    async def broken(rt: Context) -> None:
        async def cleanup() -> None:
            ran.append("cleanup")

        rt.on_shutdown(cleanup)
        raise OSError("address in use")

    config = make_config(tmp_path, {"protocol": "ECHO", "port": 0, "host": "127.0.0.1"})
    ports: list[int] = []

    async def record(rt: Context) -> None:
        ports.extend(x.port for x in rt.listeners)

    services = [serve("ECHO", echo_shell), Background("record", record), Background("x", broken)]
    with pytest.raises(OSError, match="address in use"):
        await asyncio.wait_for(run(config, services=services), 5)
    assert ran == ["cleanup"]
    assert ports and await refused(ports[0])


async def test_process_wide_connection_limit_applies_across_listeners(tmp_path: Path) -> None:
    config = config_from_mapping(
        {
            "store": {"backend": "memory"},
            "server": {"hostname": "mail.test"},
            "limits": {"max_connections": 1},
            "listener": [
                {"protocol": "ECHO", "port": 0, "host": "127.0.0.1"},
                {"protocol": "ECHO", "port": 0, "host": "127.0.0.1"},
            ],
        },
        base_dir=tmp_path,
        env={},
    )
    stop = asyncio.Event()
    task, runtime = await start(config, [serve("ECHO", echo_shell)], stop)
    first, second = (x.port for x in runtime.listeners)
    r1, w1 = await asyncio.open_connection("127.0.0.1", first)
    w1.write(b"one\n")
    assert await r1.readline() == b"one\n"
    r2, w2 = await asyncio.open_connection("127.0.0.1", second)
    assert await asyncio.wait_for(r2.read(), 5) == b"busy\r\n"
    w1.close()
    w2.close()
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_each_service_is_prepared_once_and_its_state_held_by_the_runtime(
    tmp_path: Path,
) -> None:
    prepared: list[Shells] = []

    def prepare(ctx: Context) -> Shells:
        prepared.append(Shells(echo_shell))
        return prepared[-1]

    echo_service = ProtocolService("echo", ("ECHO",), (), prepare)
    listener = {"protocol": "ECHO", "port": 0, "host": "127.0.0.1"}
    config = make_config(tmp_path, listener, listener)
    stop = asyncio.Event()
    task, runtime = await start(config, [echo_service], stop)
    assert len(prepared) == 1 and runtime.serving(echo_service) is prepared[0]
    with pytest.raises(LookupError):
        runtime.serving(serve("OTHER", echo_shell))
    stop.set()
    await asyncio.wait_for(task, 5)
