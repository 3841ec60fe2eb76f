"""Delivery worker processes (`[smtp] processes`): mail arrives through every process,
exactly once, reaches the server's live sessions, and no worker outlives its server."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from posteingang.config import config_from_mapping
from posteingang.maintenance import MAINTENANCE
from posteingang.net import supervisor as supervisor_module
from posteingang.runtime import Runtime
from posteingang.smtp.server import SMTP
from posteingang.store.hub import Change, ChangeKind
from tests.serving import running, serve_process
from tests.smtp.harness import DOMAIN, messages_of, open_store, populate

pytestmark = pytest.mark.timeout(120)


def workers_of(pid: int) -> list[int]:
    """Live delivery worker processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] != "Z" and int(fields[1]) == pid and b"posteingang.net.worker" in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_until(predicate: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime with an SMTP and an LMTP listener and one delivery worker."""
    config = config_from_mapping(
        {
            "server": {"hostname": "mx.workers.test", "data_dir": str(tmp_path)},
            "smtp": {"processes": 2},
            "listener": [
                {"protocol": "SMTP", "port": 0, "host": "127.0.0.1"},
                {"protocol": "LMTP", "port": 0, "host": "127.0.0.1"},
            ],
        },
        base_dir=tmp_path,
        env={},
    )
    async with running(config, [MAINTENANCE, SMTP]) as runtime:
        await populate(runtime.store)
        yield runtime


def lmtp_port(runtime: Runtime) -> int:
    return next(x.port for x in runtime.listeners if x.protocol == "LMTP")


def send_lmtp(port: int, bodies: list[bytes]) -> None:
    with smtplib.LMTP("127.0.0.1", port, timeout=30) as client:
        for body in bodies:
            client.sendmail("a@example.org", [f"bob@{DOMAIN}"], b"Subject: w\r\n\r\n" + body)


async def test_every_message_is_stored_once_when_two_processes_receive(server: Runtime) -> None:
    (worker,) = workers_of(os.getpid())
    port = lmtp_port(server)
    before = cpu_seconds(worker)
    # 8 connections at once: the dispatcher spreads them over both processes.
    batches = [[b"%d-%d\r\n" % (c, i) for i in range(15)] for c in range(8)]
    await asyncio.gather(*(asyncio.to_thread(send_lmtp, port, batch) for batch in batches))
    stored = await messages_of(server.store, f"bob@{DOMAIN}")
    bodies = sorted(m.rsplit(b"\r\n\r\n", 1)[1] for m in stored)
    assert bodies == sorted(b for batch in batches for b in batch)
    # The worker really delivered some of them: a connection of 15 messages costs it
    # ~20 ms of CPU (2 clock ticks); an idle worker stays at 0 for this short while.
    assert cpu_seconds(worker) - before >= 0.02
    status = await server.store.mailbox_status(
        (await server.store.get_mailbox((await server.store.get_account(f"bob@{DOMAIN}")).id,
                                        "INBOX")).id  # type: ignore[union-attr]
    )  # fmt: skip
    assert status.mailbox.uidnext == 121  # no UID handed out twice, none skipped


async def test_mail_a_worker_stores_is_pushed_to_the_server_process(server: Runtime) -> None:
    account = await server.store.get_account(f"bob@{DOMAIN}")
    assert account is not None
    subscription = server.store.hub.subscribe(account.id)
    try:
        # The first connection goes to the worker (ties go to a worker), whose
        # commit reaches this process's hub as the change itself (IDLE pushes it).
        await asyncio.to_thread(send_lmtp, lmtp_port(server), [b"pushed\r\n"])
        event = await asyncio.wait_for(subscription.get(), 10)
    finally:
        subscription.close()
    assert isinstance(event, Change)
    assert (event.kind, event.uids) == (ChangeKind.APPEND, (1,))


async def test_a_killed_worker_is_replaced_and_delivery_goes_on(server: Runtime) -> None:
    (worker,) = workers_of(os.getpid())
    os.kill(worker, signal.SIGKILL)
    await wait_until(lambda: workers_of(os.getpid()) not in ([], [worker]))
    (replacement,) = workers_of(os.getpid())
    before = cpu_seconds(replacement)
    bodies = [b"after %d\r\n" % i for i in range(20)]
    await asyncio.to_thread(send_lmtp, lmtp_port(server), bodies)
    stored = await messages_of(server.store, f"bob@{DOMAIN}")
    assert [m.rsplit(b"\r\n\r\n", 1)[1] for m in stored] == bodies
    assert cpu_seconds(replacement) > before  # the new worker took the connection


async def test_workers_stop_with_the_server(tmp_path: Path) -> None:
    config = tmp_path / "posteingang.toml"
    config.write_text(
        f'[server]\nhostname = "mx.workers.test"\ndata_dir = "{tmp_path}"\n'
        "[smtp]\nprocesses = 3\n"
        '[[listener]]\nprotocol = "LMTP"\nhost = "127.0.0.1"\nport = 0\n'
    )
    await (await open_store(tmp_path)).close()  # only `init` creates a store; serve needs one
    for how in (signal.SIGTERM, signal.SIGKILL):
        proc = serve_process(config, stderr=subprocess.DEVNULL)
        workers = workers_of(proc.pid)
        assert len(workers) == 2
        proc.send_signal(how)
        proc.wait(30)
        # SIGTERM: stopped by the server; SIGKILL: they notice their parent is gone.
        await wait_until(lambda w=workers: not any(alive(x) for x in w), 30)  # type: ignore[misc]


async def test_a_worker_that_cannot_start_leaves_delivery_to_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor_module.sys, "executable", "/bin/false")  # every start fails
    config = config_from_mapping(
        {
            "server": {"hostname": "mx.workers.test", "data_dir": str(tmp_path)},
            "smtp": {"processes": 2},
            "listener": [{"protocol": "LMTP", "port": 0, "host": "127.0.0.1"}],
        },
        base_dir=tmp_path,
        env={},
    )
    async with running(config, [SMTP]) as runtime:
        await populate(runtime.store)
        assert workers_of(os.getpid()) == []
        await asyncio.to_thread(send_lmtp, lmtp_port(runtime), [b"served here\r\n"])
        stored = await messages_of(runtime.store, f"bob@{DOMAIN}")
        assert [m.rsplit(b"\r\n\r\n", 1)[1] for m in stored] == [b"served here\r\n"]
