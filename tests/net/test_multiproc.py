"""IMAP and POP3 from two processes (`[imap] processes`, `[pop3] processes`): per-account
state is one for both, and a change made in one reaches the sessions of the other.

Each test pins its connections to a process with the supervisor's ``pin`` (0: the
server process, 1: its worker), so "the other process" is certain, not likely.
"""

from __future__ import annotations

import asyncio
import imaplib
import os
import poplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from posteingang.config import config_from_mapping
from posteingang.imap.server import IMAP
from posteingang.imap.settings import ImapSettings
from posteingang.maintenance import MAINTENANCE
from posteingang.net.supervisor import Supervisor
from posteingang.pop3.server import POP3
from posteingang.pop3.settings import Pop3Settings
from posteingang.runtime import Runtime
from tests.serving import ALICE, PASSWORD, add_account, message, running
from tests.smtp.test_smtp_workers import wait_until, workers_of

pytestmark = pytest.mark.timeout(120)

BLOCK_AFTER = 3
MAX_PER_ACCOUNT = 2


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Runtime]:
    """IMAP and POP3, each served by the server process and one worker."""
    config = config_from_mapping(
        {
            "server": {"hostname": "imap.workers.test", "data_dir": str(tmp_path)},
            "imap": {"processes": 2},
            "pop3": {"processes": 2},
            "auth": {"block_after": BLOCK_AFTER, "free_failures": 10, "first_delay": 0},
            "limits": {"max_connections_per_account": MAX_PER_ACCOUNT},
            "listener": [
                {"protocol": "IMAP", "port": 0, "host": "127.0.0.1", "tls": "none"},
                {"protocol": "POP3", "port": 0, "host": "127.0.0.1", "tls": "none"},
            ],
        },
        base_dir=tmp_path,
        env={},
    )
    async with running(config, [MAINTENANCE, POP3, IMAP]) as runtime:
        await add_account(runtime.store)
        assert len(workers_of(os.getpid())) == 2  # one IMAP worker, one POP3 worker
        yield runtime


def port(runtime: Runtime, protocol: str) -> int:
    return next(x.port for x in runtime.listeners if x.protocol == protocol)


def supervisor(runtime: Runtime, protocol: str) -> Supervisor:
    serving = runtime.serving(IMAP if protocol == "IMAP" else POP3)
    assert serving.supervisor is not None
    return serving.supervisor


async def imap_in(runtime: Runtime, process: int, *, login: bool = True) -> imaplib.IMAP4:
    """An IMAP client served by ``process`` (0: the server's own, 1: the worker)."""
    supervisor(runtime, "IMAP").pin = process
    client = await asyncio.to_thread(imaplib.IMAP4, "127.0.0.1", port(runtime, "IMAP"), 30)
    if login:
        await asyncio.to_thread(client.login, ALICE, PASSWORD)
        await asyncio.to_thread(client.select, "INBOX")
    return client


async def pop3_in(runtime: Runtime, process: int) -> poplib.POP3:
    supervisor(runtime, "POP3").pin = process
    return await asyncio.to_thread(poplib.POP3, "127.0.0.1", port(runtime, "POP3"), 30)


async def close(client: imaplib.IMAP4) -> None:
    await asyncio.to_thread(client.logout)


def idle_until_exists(client: imaplib.IMAP4) -> bytes:
    """Wait in IDLE for an untagged EXISTS; returns it."""
    while True:
        line = client.readline()
        assert line, "connection closed while idling"
        if line.endswith(b"EXISTS\r\n"):
            client.send(b"DONE\r\n")
            while not client.readline().startswith(b"i1 "):
                pass
            return line.strip()


async def start_idle(client: imaplib.IMAP4) -> None:
    def start() -> None:
        client.send(b"i1 IDLE\r\n")
        assert client.readline().startswith(b"+")

    await asyncio.to_thread(start)


@pytest.mark.parametrize(("idler", "writer"), [(0, 1), (1, 0)])
async def test_idle_in_one_process_sees_an_append_made_in_the_other(
    server: Runtime, idler: int, writer: int
) -> None:
    watching = await imap_in(server, idler)
    appending = await imap_in(server, writer)
    try:
        await start_idle(watching)
        typ, _ = await asyncio.to_thread(
            appending.append, "INBOX", None, None, message(1, subject="from the other")
        )
        assert typ == "OK"
        line = await asyncio.to_thread(idle_until_exists, watching)
        assert line == b"* 1 EXISTS"
    finally:
        await close(watching)
        await close(appending)


@pytest.mark.parametrize(("reader", "writer"), [(0, 1), (1, 0)])
async def test_a_store_in_one_process_is_seen_by_a_session_selected_in_the_other(
    server: Runtime, reader: int, writer: int
) -> None:
    first = await imap_in(server, writer)
    await asyncio.to_thread(first.append, "INBOX", None, None, message(1))
    await asyncio.to_thread(first.noop)
    second = await imap_in(server, reader)
    try:
        typ, _ = await asyncio.to_thread(first.store, "1", "+FLAGS", "(\\Flagged)")
        assert typ == "OK"

        def flags_seen() -> list[bytes]:
            while True:  # the push may come with this NOOP or the next
                second.noop()
                fetched = [d for d in second.untagged_responses.pop("FETCH", []) if d]
                if fetched:
                    return fetched

        fetched = await asyncio.wait_for(asyncio.to_thread(flags_seen), 20)
        assert b"\\Flagged" in fetched[-1]
    finally:
        await close(first)
        await close(second)


async def test_a_maildrop_in_use_in_one_process_is_in_use_in_the_other(server: Runtime) -> None:
    holder = await pop3_in(server, 0)
    await asyncio.to_thread(holder.user, ALICE)
    await asyncio.to_thread(holder.pass_, PASSWORD)
    other = await pop3_in(server, 1)
    await asyncio.to_thread(other.user, ALICE)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        await asyncio.to_thread(other.pass_, PASSWORD)
    await asyncio.to_thread(holder.quit)
    # Released in the server process: the worker's next login gets the maildrop.
    again = await pop3_in(server, 1)
    await asyncio.to_thread(again.user, ALICE)
    await asyncio.to_thread(again.pass_, PASSWORD)
    # ... and now the server process's login is the second one.
    late = await pop3_in(server, 0)
    await asyncio.to_thread(late.user, ALICE)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        await asyncio.to_thread(late.pass_, PASSWORD)
    await asyncio.to_thread(again.quit)


async def test_a_lock_of_a_killed_worker_is_released(server: Runtime) -> None:
    holder = await pop3_in(server, 1)
    await asyncio.to_thread(holder.user, ALICE)
    await asyncio.to_thread(holder.pass_, PASSWORD)
    pop3_workers = supervisor(server, "POP3").workers
    killed = pop3_workers[1]
    killed.proc.kill()
    await wait_until(lambda: pop3_workers.get(1) is not killed)  # retired by the supervisor
    client = await pop3_in(server, 0)
    await asyncio.to_thread(client.user, ALICE)
    await asyncio.to_thread(client.pass_, PASSWORD)
    await asyncio.to_thread(client.quit)


async def test_failed_logins_in_both_processes_count_together(server: Runtime) -> None:
    for process in (0, 0, 1):  # fewer than BLOCK_AFTER in each process alone
        client = await imap_in(server, process, login=False)
        with pytest.raises(imaplib.IMAP4.error):
            await asyncio.to_thread(client.login, ALICE, "wrong")
        await asyncio.to_thread(client.shutdown)
    for process in (0, 1):  # blocked: even the right password fails, everywhere
        client = await imap_in(server, process, login=False)
        with pytest.raises(imaplib.IMAP4.error):
            await asyncio.to_thread(client.login, ALICE, PASSWORD)
        await asyncio.to_thread(client.shutdown)
    pop3 = await pop3_in(server, 1)
    await asyncio.to_thread(pop3.user, ALICE)
    with pytest.raises(poplib.error_proto):
        await asyncio.to_thread(pop3.pass_, PASSWORD)
    server.throttle.lift("127.0.0.1")
    server.throttle.lift(ALICE)
    await close(await imap_in(server, 1))


async def test_the_account_connection_limit_counts_both_processes(server: Runtime) -> None:
    here = await imap_in(server, 0)
    there = await imap_in(server, 1)
    for process in (0, 1):
        extra = await imap_in(server, process, login=False)
        with pytest.raises(imaplib.IMAP4.error):
            await asyncio.to_thread(extra.login, ALICE, PASSWORD)
        await asyncio.to_thread(extra.shutdown)
    pop3 = await pop3_in(server, 1)  # POP3 counts against the same limit
    await asyncio.to_thread(pop3.user, ALICE)
    with pytest.raises(poplib.error_proto):
        await asyncio.to_thread(pop3.pass_, PASSWORD)
    await close(there)  # the worker's session is given back in the server process
    replacement = await imap_in(server, 0)
    await close(replacement)
    await close(here)


def test_imap_is_served_by_one_process_per_core_by_default(tmp_path: Path) -> None:
    """Unset, `[imap] processes` is one per CPU core (at most 4): on a 2-core machine one
    worker beside the server process; POP3 stays in the server process."""
    config = config_from_mapping({}, base_dir=tmp_path, env={})
    imap, pop3 = config.section(ImapSettings), config.section(Pop3Settings)
    assert imap.processes == 0
    assert [imap.worker_processes(cpus) for cpus in (1, 2, 8)] == [0, 1, 3]
    assert pop3.worker_processes(2) == 0
