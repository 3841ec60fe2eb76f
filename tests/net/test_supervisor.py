"""The worker supervisor serves any protocol: a toy one, given only its `WorkerSetup`.

SMTP/LMTP's use of it (restarts, shutdown, exactly-once delivery) is tested in
tests/smtp/test_smtp_workers.py; this test holds the supervisor to knowing no
protocol: a line protocol that answers with the serving process's id is
spread over the server and its worker, and the worker stops with it.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from posteingang.net.connection import Connection
from posteingang.net.server import ListenerServer
from posteingang.net.settings import ListenerSettings
from posteingang.net.supervisor import Supervisor
from posteingang.net.worker import WorkerShell, WorkerSpec

pytestmark = pytest.mark.timeout(120)


async def answer_pid(conn: Connection) -> None:
    """The toy protocol: one line in, this process's id out."""
    await conn.read_some(within=30)
    await conn.write(b"%d\r\n" % os.getpid())


async def pid_worker(
    argument: Any, listeners: tuple[ListenerSettings, ...], stopping: asyncio.Event
) -> WorkerShell:
    """The toy protocol's `WorkerSetup` (runs in the worker process)."""
    assert argument == {"greeting": "hello"} and listeners[0].protocol == "PID"
    return WorkerShell(handler_for=lambda ls: answer_pid, grace=5.0)


async def ask(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"pid?\r\n")
    await writer.drain()
    line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(line)


async def test_a_protocol_the_supervisor_does_not_know_is_served_by_its_workers() -> None:
    server = ListenerServer(ListenerSettings(protocol="PID", host="127.0.0.1", port=0), answer_pid)
    await server.start()
    spec = WorkerSpec(pid_worker, {"greeting": "hello"}, (), -1, 0, name="pid")
    supervisor = Supervisor(spec, [server], count=1)
    try:
        await supervisor.start()
        assert len(supervisor.workers) == 1
        (worker,) = supervisor.workers.values()
        # Nothing open anywhere is a tie, and ties go to the worker.
        assert await ask(server.port) == worker.proc.pid
        pids = {await ask(server.port) for _ in range(3)}
        assert pids <= {worker.proc.pid, os.getpid()}
    finally:
        await supervisor.stop(5.0)
        await server.stop(5.0)
    assert worker.proc.returncode == 0  # SIGTERM: stopped gracefully
