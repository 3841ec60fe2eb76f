"""End to end over real sockets: Python's imaplib, raw sockets for IDLE, IMAPS and STARTTLS."""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from posteingang.delivery.deliver import deliver
from tests.imap.harness import ALICE, PASSWORD, message
from tests.imap.server_fixture import RunningServer, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(Path(tmp_path_factory.mktemp("imap"))) as running:
        yield running


def client(server: RunningServer) -> imaplib.IMAP4:
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    imap.login(ALICE, PASSWORD)
    return imap


def test_login_select_append_store_copy_move_expunge(server: RunningServer) -> None:
    imap = client(server)
    try:
        imap.create("E2E")
        typ, data = imap.select("E2E")
        assert typ == "OK" and data == [b"0"]
        for n in range(3):
            typ, data = imap.append("E2E", "(\\Flagged)", None, message(n))  # sync literal
            assert typ == "OK" and b"APPENDUID" in data[0]
        typ, data = imap.noop()
        typ, data = imap.fetch("1:3", "(UID FLAGS RFC822.SIZE)")
        assert typ == "OK" and len(data) == 3 and b"\\Flagged" in data[0]
        typ, data = imap.store("2", "+FLAGS", "(\\Seen)")
        assert typ == "OK" and b"\\Seen" in data[0]
        typ, data = imap.search(None, "SEEN")
        assert data == [b"2"]
        typ, data = imap.copy("1", "Archive")
        assert typ == "OK"
        typ, data = imap.uid("MOVE", "3", "Trash")
        assert typ == "OK"
        assert imap.untagged_responses.pop("EXPUNGE") == [b"3"]
        typ, data = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subjects = [d[1] for d in data if isinstance(d, tuple)]
        assert [s.strip() for s in subjects] == [b"Subject: message 0", b"Subject: message 1"]
        imap.store("1", "+FLAGS", "(\\Deleted)")
        typ, data = imap.expunge()
        assert typ == "OK" and data == [b"1"]
        typ, data = imap.fetch("1", "(BODY[])")
        assert data[0][1] == message(1)  # type: ignore[index]
        typ, data = imap.status("E2E", "(MESSAGES UNSEEN)")
        assert data == [b"E2E (MESSAGES 1 UNSEEN 0)"]
        imap.close()
    finally:
        imap.logout()


def test_imaps_and_starttls(server: RunningServer) -> None:
    imaps = imaplib.IMAP4_SSL(
        "127.0.0.1", server.imaps_port, ssl_context=server.client_context, timeout=10
    )
    imaps.login(ALICE, PASSWORD)
    assert imaps.select("INBOX")[0] == "OK"
    imaps.logout()
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    assert "STARTTLS" in imap.capabilities
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    ctx.check_hostname = False
    imap.starttls(ssl_context=ctx)
    imap.login(ALICE, PASSWORD)
    imap.logout()


class Raw:
    """A line-oriented raw IMAP client (for IDLE and literal refusals)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        assert self.line().startswith(b"* OK")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def until(self, tag: bytes) -> list[bytes]:
        out = []
        while True:
            line = self.line()
            out.append(line)
            if line.startswith(tag + b" "):
                return out

    def close(self) -> None:
        self.sock.close()


def test_idle_over_socket_gets_delivery_within_a_second(server: RunningServer) -> None:
    raw = Raw(server.imap_port)
    try:
        raw.send(f'a LOGIN {ALICE} "{PASSWORD}"\r\n'.encode())
        assert raw.until(b"a")[-1].startswith(b"a OK")
        raw.send(b"b SELECT INBOX\r\n")
        lines = raw.until(b"b")
        exists = int(next(x for x in lines if x.endswith(b"EXISTS")).split()[1])
        raw.send(b"c IDLE\r\n")
        assert raw.line() == b"+ idling"
        start = time.monotonic()
        server.call(lambda: deliver(server.store, ALICE, message(100)))
        assert raw.line() == b"* %d EXISTS" % (exists + 1)
        assert time.monotonic() - start < 1.0
        raw.send(b"DONE\r\nd NOOP\r\n")
        assert raw.until(b"c")[-1].startswith(b"c OK")
        assert raw.until(b"d")[-1].startswith(b"d OK")
    finally:
        raw.close()


def test_literal_over_limit_refused_on_socket(server: RunningServer) -> None:
    raw = Raw(server.imap_port)
    try:
        raw.send(f'a LOGIN {ALICE} "{PASSWORD}"\r\n'.encode())
        raw.until(b"a")
        raw.send(b"b APPEND INBOX {999999999999}\r\n")
        assert re.match(rb"b NO \[TOOBIG\]", raw.line())
        raw.send(b"c NOOP\r\n")
        assert raw.until(b"c")[-1].startswith(b"c OK")
    finally:
        raw.close()


def test_one_truth_two_sessions_and_a_delivery(server: RunningServer) -> None:
    a, b = client(server), client(server)
    try:
        a.create("Truth")
        a.select("Truth")
        b.select("Truth")
        server.call(lambda: _deliver_to(server, "Truth"))
        b.noop()
        assert b.untagged_responses.pop("EXISTS")[-1] == b"1"
        a.noop()
        a.store("1", "+FLAGS", "(\\Answered)")
        _typ, _data = b.noop()
        fetches = b.untagged_responses.pop("FETCH", [])
        assert any(b"\\Answered" in f for f in fetches if isinstance(f, bytes)), fetches
    finally:
        a.logout()
        b.logout()


async def _deliver_to(server: RunningServer, mailbox: str) -> None:
    from posteingang.delivery.ingest import prepare_message

    account = await server.store.get_account(ALICE)
    assert account is not None
    box = await server.store.get_mailbox(account.id, mailbox)
    assert box is not None
    await server.store.append(box.id, await prepare_message(server.store, message(7)))


def test_starttls_injection_is_discarded_on_socket(server: RunningServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.imap_port), timeout=5)
    try:
        assert sock.recv(4096).startswith(b"* OK")
        # The injected command rides in the same packet as STARTTLS.
        sock.sendall(b"a STARTTLS\r\nevil CREATE Injected\r\n")
        reply = b""
        while b"\r\n" not in reply:
            reply += sock.recv(4096)
        assert reply.startswith(b"a OK")
        ctx = ssl.create_default_context(cafile=str(server.ca_file))
        tls = ctx.wrap_socket(sock, server_hostname="localhost")
        tls.sendall(f'b LOGIN {ALICE} "{PASSWORD}"\r\nc LIST "" Injected\r\n'.encode())
        data = b""
        while b"c OK" not in data:
            chunk = tls.recv(4096)
            assert chunk, data
            data += chunk
        assert b"evil" not in data and b"Injected" not in data.split(b"c OK")[0].split(b"b OK")[1]
        tls.close()
    finally:
        sock.close()
