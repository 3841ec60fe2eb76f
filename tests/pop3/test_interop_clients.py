"""Interop with real POP3 clients from Debian: fetchmail and getmail6 (skipped if absent).

Scenarios: download-and-delete; leave-on-server twice in a row (the second run
downloads nothing); new mail afterwards (exactly the new messages); two
independent clients with device passwords under the ``hide`` policy.
"""

from __future__ import annotations

import os
import shutil
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from posteingang.auth.passwords import hash_password
from posteingang.delivery.deliver import deliver
from posteingang.pop3.policy import Pop3Settings
from posteingang.store.model import DeletionPolicy
from posteingang.store.sqlite.store import SqliteStore
from tests.pop3.harness import ALICE, PASSWORD, add_account, message
from tests.pop3.server_fixture import RunningServer, running_server

FETCHMAIL = shutil.which("fetchmail")
GETMAIL = shutil.which("getmail")
PHONE = "phon-ephx-aaaa-bbbb"
LAPTOP = "lapt-oplx-cccc-dddd"


async def setup(store: SqliteStore) -> None:
    account_id = await add_account(store)
    await store.add_device(account_id, "phone", hash_password(PHONE))
    await store.add_device(account_id, "laptop", hash_password(LAPTOP))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path / "srv", Pop3Settings(hostname="localhost"), setup) as running:
        yield running


def deliver_n(server: RunningServer, start: int, count: int) -> list[bytes]:
    raws = [message(i, f"body {i}\r\n.dot line\r\n") for i in range(start, start + count)]

    async def go() -> None:
        for raw in raws:
            await deliver(server.store, ALICE, raw)

    server.call(go)
    return raws


def inbox_count(server: RunningServer) -> int:
    async def go() -> int:
        inbox = await server.store.get_mailbox(1, "INBOX")
        assert inbox is not None
        return len((await server.store.get_index(inbox.id)).uids)

    return server.call(go)


def set_hide_policy(server: RunningServer) -> None:
    async def go() -> None:
        account = await server.store.get_account(ALICE)
        assert account is not None
        from dataclasses import replace

        await server.store.set_settings(
            account.id, replace(account.settings, pop3_deletion_policy=DeletionPolicy.HIDE)
        )

    server.call(go)


# -- fetchmail ------------------------------------------------------------------------------


class Fetchmail:
    def __init__(self, server: RunningServer, home: Path, password: str, *, keep: bool) -> None:
        self.home = home
        self.out = home / "out"
        self.out.mkdir(parents=True, exist_ok=True)
        rc = home / "fetchmailrc"
        mode = "keep" if keep else "nokeep"
        uidl = " uidl" if keep else ""
        rc.write_text(
            "set no syslog\nset invisible\n"
            f"poll 127.0.0.1 with proto POP3 port {server.pop3_port}{uidl} no envelope\n"
            f'  user "{ALICE}" there with password "{password}" is "tester" here\n'
            f"  {mode} sslproto '' norewrite\n"
            f"  mda \"/bin/sh -c 'cat > {self.out}/msg.$$'\"\n"
        )
        rc.chmod(0o600)
        self.rc = rc

    def run(self) -> list[bytes]:
        before = set(self.out.iterdir())
        env = {**os.environ, "HOME": str(self.home), "FETCHMAILHOME": str(self.home)}
        assert FETCHMAIL is not None
        proc = subprocess.run(
            [FETCHMAIL, "-f", str(self.rc), "--idfile", str(self.home / "ids"), "-N", "-d0"],
            capture_output=True,
            env=env,
            timeout=60,
        )
        # 0: mail fetched, 1: no new mail (fetchmail's exit codes).
        assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")
        new = sorted(set(self.out.iterdir()) - before)
        return [p.read_bytes() for p in new]


def as_lf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


needs_fetchmail = pytest.mark.skipif(FETCHMAIL is None, reason="fetchmail not installed")
needs_getmail = pytest.mark.skipif(GETMAIL is None, reason="getmail6 not installed")


@needs_fetchmail
def test_fetchmail_download_and_delete(server: RunningServer, tmp_path: Path) -> None:
    raws = deliver_n(server, 1, 3)
    got = Fetchmail(server, tmp_path / "fm", PASSWORD, keep=False).run()
    assert sorted(got) == sorted(as_lf(r) for r in raws)
    assert inbox_count(server) == 0


@needs_fetchmail
def test_fetchmail_keep_twice_then_new_mail(server: RunningServer, tmp_path: Path) -> None:
    raws = deliver_n(server, 1, 3)
    fm = Fetchmail(server, tmp_path / "fm", PHONE, keep=True)
    assert sorted(fm.run()) == sorted(as_lf(r) for r in raws)
    assert fm.run() == []
    new = deliver_n(server, 4, 2)
    assert sorted(fm.run()) == sorted(as_lf(r) for r in new)
    assert inbox_count(server) == 5


# -- getmail6 -------------------------------------------------------------------------------


class LmtpSink:
    """Where getmail delivers: a minimal LMTP server (RFC 2033) keeping each DATA.

    Every getmail destination but ``MDA_lmtp`` forks a child per message, and
    getmail6 (6.18, Debian's) waits for that child with a lost-wakeup race: when
    the child exits before the parent starts waiting, the SIGCHLD notification
    is gone and the parent sits out its socket timeout (180 s) before failing.
    On a loaded machine that happened often enough to time these tests out
    (getmail6 issues #226 and #245). LMTP delivery runs in getmail's own process.
    """

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"220 sink LMTP\r\n")
                while line := self.rfile.readline():
                    verb = line[:4].upper()
                    if verb == b"LHLO":
                        self.wfile.write(b"250-sink\r\n250 8BITMIME\r\n")
                    elif verb == b"DATA":
                        self.wfile.write(b"354 go ahead\r\n")
                        sink.messages.append(self._data())
                        self.wfile.write(b"250 2.0.0 stored\r\n")  # one per recipient
                    elif verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:  # MAIL, RCPT, RSET, NOOP
                        self.wfile.write(b"250 ok\r\n")

            def _data(self) -> bytes:
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line[1:] if line.startswith(b".") else line)
                return b"".join(lines)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[LmtpSink]:
    lmtp = LmtpSink()
    yield lmtp
    lmtp.close()


class Getmail:
    def __init__(
        self, server: RunningServer, sink: LmtpSink, home: Path, password: str, *, delete: bool
    ) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.sink = sink
        rc = home / "getmailrc"
        rc.write_text(
            "[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\n"
            f"port = {server.pop3_port}\nusername = {ALICE}\npassword = {password}\n"
            # LMTP, not an MDA command or Maildir: see LmtpSink. POP3 carries no
            # envelope recipient, so getmail is told one.
            f"[destination]\ntype = MDA_lmtp\nhost = 127.0.0.1\nport = {self.sink.port}\n"
            "override = tester@localhost\n"
            f"[options]\ndelete = {str(delete).lower()}\nread_all = false\nverbose = 0\n"
            "delivered_to = false\nreceived = false\n"
        )
        self.rc = rc

    def run(self) -> list[bytes]:
        before = len(self.sink.messages)
        assert GETMAIL is not None
        proc = subprocess.run(
            [GETMAIL, "--getmaildir", str(self.home), "--rcfile", str(self.rc)],
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        return [as_lf(raw) for raw in self.sink.messages[before:]]


@needs_getmail
def test_getmail_download_and_delete(server: RunningServer, sink: LmtpSink, tmp_path: Path) -> None:
    raws = deliver_n(server, 1, 3)
    got = Getmail(server, sink, tmp_path / "gm", PASSWORD, delete=True).run()
    assert sorted(got) == sorted(as_lf(r) for r in raws)
    assert inbox_count(server) == 0


@needs_getmail
def test_getmail_keep_twice_then_new_mail(
    server: RunningServer, sink: LmtpSink, tmp_path: Path
) -> None:
    raws = deliver_n(server, 1, 2)
    gm = Getmail(server, sink, tmp_path / "gm", PASSWORD, delete=False)
    assert sorted(gm.run()) == sorted(as_lf(r) for r in raws)
    assert gm.run() == []
    new = deliver_n(server, 3, 1)
    assert gm.run() == [as_lf(new[0])]


@needs_getmail
@needs_fetchmail
def test_two_devices_independent_under_hide(
    server: RunningServer, sink: LmtpSink, tmp_path: Path
) -> None:
    set_hide_policy(server)
    raws = deliver_n(server, 1, 3)
    phone = Getmail(server, sink, tmp_path / "phone", PHONE, delete=False)  # leave on server
    laptop = Fetchmail(server, tmp_path / "laptop", LAPTOP, keep=False)  # download and delete
    assert sorted(laptop.run()) == sorted(as_lf(r) for r in raws)
    assert laptop.run() == []  # hidden for the laptop now
    assert sorted(phone.run()) == sorted(as_lf(r) for r in raws)  # the phone still gets all
    assert inbox_count(server) == 3  # IMAP and webmail still have them
    new = deliver_n(server, 4, 1)
    assert laptop.run() == [as_lf(new[0])]
    assert phone.run() == [as_lf(new[0])]
    assert phone.run() == []
