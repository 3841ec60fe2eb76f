"""IDLE with many sessions over real sockets: one commit reaches every idler.

Each idler is a plain socket; the server runs in its own loop thread on a real
SQLite store, with a POP3 listener on the same store. Changes come from another
IMAP connection (APPEND, STORE, EXPUNGE), from delivery, from a POP3 session's
deletions, and from another process (the `deliver` path, through the
cross-process wake-up and a resync).
"""

from __future__ import annotations

import os
import poplib
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from posteingang.delivery.deliver import deliver
from posteingang.imap.server import DEFAULT_IMAP, ImapServer, start_server
from posteingang.net.limits import AccountLimits
from posteingang.net.settings import TlsMode
from posteingang.pop3.server import DEFAULT_POP3, Pop3Server
from posteingang.pop3.server import start_server as start_pop3
from posteingang.store.sqlite.store import SqliteStore
from tests.imap.harness import make_services, message
from tests.pop3.harness import make_services as pop3_services
from tests.serving import ALICE, PASSWORD, LoopThread, add_account, open_store

IDLERS = 200


@dataclass
class Served:
    thread: LoopThread
    store: SqliteStore
    imap: ImapServer
    pop3: Pop3Server
    data: Path

    @property
    def imap_port(self) -> int:
        return self.imap.ports[0]

    @property
    def pop3_port(self) -> int:
        return self.pop3.listeners[0].port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = Path(tmp_path_factory.mktemp("idle"))
    thread = LoopThread()

    async def start() -> tuple[SqliteStore, ImapServer, Pop3Server]:
        store = await open_store(data)
        await add_account(store)
        await store.listen_external()
        listener = msgspec.structs.replace(
            DEFAULT_IMAP,
            port=0,
            tls=TlsMode.NONE,
            max_connections=2 * IDLERS,
            max_connections_per_ip=2 * IDLERS,
        )
        imap = await start_server(
            make_services(store),
            tls=None,
            listeners=[listener],
            account_limits=AccountLimits(2 * IDLERS, 2 * IDLERS),
        )
        pop3 = await start_pop3(
            pop3_services(store),
            tls=None,
            listeners=[msgspec.structs.replace(DEFAULT_POP3, port=0, tls=TlsMode.NONE)],
            retention_interval=None,
        )
        return store, imap, pop3

    store, imap, pop3 = thread.call(start)
    try:
        yield Served(thread, store, imap, pop3, data)
    finally:

        async def stop() -> None:
            await pop3.stop(1)
            await imap.stop(1)
            await store.close()

        thread.call(stop, 30)
        thread.close()


class Conn:
    """One raw IMAP connection, read line by line."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.lines: list[bytes] = []

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(self.buf)
        self.buf += chunk
        *complete, self.buf = self.buf.split(b"\r\n")
        self.lines.extend(complete)

    def take(self) -> list[bytes]:
        out, self.lines = self.lines, []
        return out


def until_all(conns: list[Conn], done: Callable[[Conn], bool], within: float = 20) -> None:
    """Read from every connection until `done(conn)` holds for each."""
    waiting = {c for c in conns if not done(c)}
    deadline = time.monotonic() + within
    with selectors.DefaultSelector() as sel:
        for c in waiting:
            sel.register(c, selectors.EVENT_READ, c)
        while waiting:
            left = deadline - time.monotonic()
            assert left > 0, f"{len(waiting)} connections still waiting"
            for key, _ in sel.select(left):
                c = key.data
                c.receive()
                if done(c):
                    sel.unregister(c)
                    waiting.discard(c)


def has_line(pred: Callable[[bytes], bool]) -> Callable[[Conn], bool]:
    return lambda c: any(pred(line) for line in c.lines)


def command(conns: list[Conn], tag: bytes, text: bytes) -> dict[Conn, list[bytes]]:
    for c in conns:
        c.send(tag + b" " + text + b"\r\n")
    until_all(conns, has_line(lambda line: line.startswith(tag + b" ")))
    replies = {c: c.take() for c in conns}
    for lines in replies.values():
        assert lines[-1].startswith(tag + b" OK"), lines
    return replies


def connect(port: int, count: int, mailbox: bytes) -> list[Conn]:
    conns = [Conn(port) for _ in range(count)]
    until_all(conns, has_line(lambda line: line.startswith(b"* OK")))
    for c in conns:
        c.take()
    command(conns, b"l", f'LOGIN {ALICE} "{PASSWORD}"'.encode())
    command(conns, b"s", b"SELECT " + mailbox)
    return conns


def start_idle(conns: list[Conn]) -> None:
    for c in conns:
        c.send(b"i IDLE\r\n")
    until_all(conns, has_line(lambda line: line == b"+ idling"))
    for c in conns:
        c.take()


def end_idle(conns: list[Conn]) -> dict[Conn, list[bytes]]:
    for c in conns:
        c.send(b"DONE\r\n")
    until_all(conns, has_line(lambda line: line.startswith(b"i ")))
    replies = {c: c.take() for c in conns}
    for lines in replies.values():
        assert lines[-1] == b"i OK IDLE terminated", lines
    return replies


def close_all(conns: list[Conn]) -> None:
    for c in conns:
        c.sock.close()


def test_every_idler_gets_exists_after_one_append(served: Served) -> None:
    writer = connect(served.imap_port, 1, b"INBOX")[0]
    command([writer], b"c", b"CREATE Crowd")
    idlers = connect(served.imap_port, IDLERS, b"Crowd")
    try:
        start_idle(idlers)
        literal = message(1)
        writer.send(b"a APPEND Crowd (\\Flagged) {%d+}\r\n%s\r\n" % (len(literal), literal))
        until_all(idlers, has_line(lambda line: line == b"* 1 EXISTS"), within=10)
        until_all([writer], has_line(lambda line: line.startswith(b"a OK")))
        # One EXISTS each, nothing else pushed, and the next command knows the flags
        # that the APPEND set (read at the first command after IDLE).
        for c in idlers:
            assert c.take() == [b"* 1 EXISTS"]
        end_idle(idlers)
        # \Recent (IMAP4rev1): exactly one session, the first to claim it, sees it so.
        claimers = 0
        for lines in command(idlers, b"f", b"FETCH 1 (FLAGS)").values():
            if lines[0] == b"* 1 RECENT":  # the one that claimed it is told the count
                claimers += 1
                assert lines[1] == b"* 1 FETCH (FLAGS (\\Flagged \\Recent))"
            else:
                assert lines[0] == b"* 1 FETCH (FLAGS (\\Flagged))"
        assert claimers == 1
    finally:
        close_all([*idlers, writer])


def test_flags_and_expunges_from_another_session_reach_idlers(served: Served) -> None:
    writer = connect(served.imap_port, 1, b"INBOX")[0]
    command([writer], b"c", b"CREATE Changes")
    for n in range(3):
        literal = message(n)
        writer.send(b"a APPEND Changes {%d+}\r\n%s\r\n" % (len(literal), literal))
        until_all([writer], has_line(lambda line: line.startswith(b"a ")))
        writer.take()
    command([writer], b"s", b"SELECT Changes")
    idlers = connect(served.imap_port, 20, b"Changes")
    try:
        start_idle(idlers)
        command([writer], b"f", b"STORE 2 +FLAGS (\\Flagged)")
        until_all(idlers, has_line(lambda line: b"FETCH" in line))
        for c in idlers:
            assert c.take() == [b"* 2 FETCH (FLAGS (\\Flagged) UID 2)"]
        command([writer], b"d", b"STORE 1 +FLAGS (\\Deleted)")
        command([writer], b"e", b"EXPUNGE")
        until_all(idlers, has_line(lambda line: line == b"* 1 EXPUNGE"))
        for c in idlers:
            assert c.take() == [b"* 1 FETCH (FLAGS (\\Deleted) UID 1)", b"* 1 EXPUNGE"]
        end_idle(idlers)
        # The idlers' sequence numbers moved with the expunge: message 1 is uid 2 now.
        for lines in command(idlers, b"u", b"FETCH 1:* (UID FLAGS)").values():
            assert lines[:-1] == [
                b"* 1 FETCH (UID 2 FLAGS (\\Flagged))",
                b"* 2 FETCH (UID 3 FLAGS ())",
            ]
    finally:
        close_all([*idlers, writer])


def test_delivery_and_pop3_deletions_reach_idlers(served: Served) -> None:
    idlers = connect(served.imap_port, 20, b"INBOX")
    try:
        start_idle(idlers)
        served.thread.call(lambda: deliver(served.store, ALICE, message(10)))
        until_all(idlers, has_line(lambda line: line.endswith(b" EXISTS")))
        counts = {c.take()[-1] for c in idlers}
        assert len(counts) == 1
        (exists_line,) = counts
        exists = int(exists_line.split()[1])
        # POP3 deletes the newest message (the default policy expunges at QUIT).
        pop = poplib.POP3("127.0.0.1", served.pop3_port, timeout=10)
        pop.user(ALICE)
        pop.pass_(PASSWORD)
        count, _ = pop.stat()
        assert count == exists
        pop.dele(count)
        pop.quit()
        until_all(idlers, has_line(lambda line: line.endswith(b" EXPUNGE")))
        for c in idlers:
            assert c.take() == [b"* %d EXPUNGE" % exists]
        end_idle(idlers)
    finally:
        close_all(idlers)


def test_a_commit_in_another_process_reaches_idlers(served: Served) -> None:
    """`posteingang deliver` runs as the MTA's child: a wake-up, then a resync per idler."""
    writer = connect(served.imap_port, 1, b"INBOX")[0]
    command([writer], b"c", b"CREATE Afar")
    close_all([writer])
    idlers = connect(served.imap_port, 20, b"Afar")
    mailbox_id = served.thread.call(lambda: _mailbox_id(served.store, "Afar"))
    script = f"""
import asyncio
from pathlib import Path
from posteingang.delivery.ingest import prepare_message
from tests.serving import open_store

async def main():
    store = await open_store(Path({str(served.data)!r}))
    raw = b"Subject: afar\\r\\n\\r\\nhi\\r\\n"
    await store.append({mailbox_id}, await prepare_message(store, raw))
    await store.close()

asyncio.run(main())
"""
    try:
        start_idle(idlers)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
        until_all(idlers, has_line(lambda line: line == b"* 1 EXISTS"))
        for c in idlers:
            assert c.take() == [b"* 1 EXISTS"]
        end_idle(idlers)
    finally:
        close_all(idlers)


async def _mailbox_id(store: SqliteStore, name: str) -> int:
    account = await store.get_account(ALICE)
    assert account is not None
    box = await store.get_mailbox(account.id, name)
    assert box is not None
    return box.id


def test_appends_from_two_processes_reach_idlers_in_uid_order(served: Served) -> None:
    """A delivery worker and this process append to one mailbox at the same time: every
    idler is told each new message once, its count never going back, and ends with
    the messages in UID order (the ordering rules themselves: test_hub_order.py)."""
    writer = connect(served.imap_port, 1, b"INBOX")[0]
    command([writer], b"c", b"CREATE Race")
    idlers = connect(served.imap_port, 5, b"Race")
    mailbox_id = served.thread.call(lambda: _mailbox_id(served.store, "Race"))
    each = 40
    script = f"""
import asyncio
from pathlib import Path
from posteingang.delivery.ingest import prepare_message
from tests.serving import open_store

async def main():
    store = await open_store(Path({str(served.data)!r}))
    for n in range({each}):
        raw = b"Subject: worker %d\\r\\n\\r\\nhi\\r\\n" % n
        await store.append({mailbox_id}, await prepare_message(store, raw))
        await asyncio.sleep(0.005)  # spread over the test's own appends
    await store.close()

asyncio.run(main())
"""
    try:
        start_idle(idlers)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        other = subprocess.Popen([sys.executable, "-c", script], env=env)
        # Start once the other process is appending, so that the two overlap.
        until_all(idlers[:1], has_line(lambda line: line.endswith(b" EXISTS")), within=30)
        for n in range(each):
            literal = message(100 + n)
            writer.send(b"a APPEND Race {%d+}\r\n%s\r\n" % (len(literal), literal))
            until_all([writer], has_line(lambda line: line.startswith(b"a ")))
            assert writer.take()[-1].startswith(b"a OK")
        assert other.wait(60) == 0
        total = 2 * each
        until_all(idlers, has_line(lambda line: line == b"* %d EXISTS" % total), within=30)
        for c in idlers:
            counts = [int(line.split()[1]) for line in c.take() if line.endswith(b" EXISTS")]
            assert counts == sorted(set(counts)) and counts[-1] == total  # never backwards
        end_idle(idlers)
        for lines in command(idlers, b"u", b"FETCH 1:* (UID)").values():
            fetches = [line for line in lines[:-1] if b" FETCH " in line]  # (and RECENT)
            uids = [int(line.rsplit(b" ", 1)[1].rstrip(b")")) for line in fetches]
            assert uids == list(range(1, total + 1))
        subjects = command(idlers[:1], b"h", b"FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        order = "".join(
            "w" if b"worker" in line else "i"
            for line in subjects[idlers[0]]
            if line.startswith(b"Subject")
        )
        assert "wiw" in order or "iwi" in order, order  # the two really interleaved
    finally:
        close_all([*idlers, writer])
