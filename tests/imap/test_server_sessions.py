"""Several sessions on one account over real sockets: what one does, the others see rightly.

Issue 10: a deleted mailbox's id was reused, and a session that had the old
mailbox selected read and wrote the new one (item 1); UID FETCH of a uid that
another session expunged meanwhile answered NO instead of Dovecot's OK (item 12).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.imap.harness import ALICE, PASSWORD
from tests.imap.server_fixture import RunningServer, running_server
from tests.imap.test_server_imaplib import Raw


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(Path(tmp_path_factory.mktemp("imap"))) as running:
        yield running


class Session(Raw):
    """A raw session that numbers its own tags."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.tags = 0
        self.ok(f'LOGIN {ALICE} "{PASSWORD}"')

    def do(self, command: str) -> list[bytes]:
        self.tags += 1
        tag = b"s%d" % self.tags
        self.send(tag + b" " + command.encode() + b"\r\n")
        return self.until(tag)

    def ok(self, command: str) -> list[bytes]:
        lines = self.do(command)
        assert lines[-1].split(b" ", 2)[1] == b"OK", lines
        return lines

    def append(self, mailbox: str, text: bytes) -> None:
        self.ok(f"APPEND {mailbox} {{{len(text)}+}}\r\n" + text.decode())


def _message(subject: str) -> bytes:
    return f"Subject: {subject}\r\n\r\nbody of {subject}\r\n".encode()


@pytest.fixture
def sessions(server: RunningServer) -> Iterator[tuple[Session, Session]]:
    a, b = Session(server.imap_port), Session(server.imap_port)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_uid_fetch_of_uids_expunged_meanwhile_returns_the_rest_and_ok(
    sessions: tuple[Session, Session],
) -> None:
    # Issue 10, item 12 (RFC 2180 §4.1.2): Dovecot answers OK with what still exists.
    a, b = sessions
    a.ok("CREATE Race12")
    for n in range(3):
        a.append("Race12", _message(f"m{n}"))
    b.ok("SELECT Race12")
    a.ok("SELECT Race12")
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    a.ok("EXPUNGE")
    lines = b.do("UID FETCH 1:3 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert lines[-1].startswith(b"s%d OK" % b.tags), lines
    fetched = [int(m[1]) for x in lines if (m := re.match(rb"\* \d+ FETCH \(UID (\d+)", x))]
    assert fetched == [1, 3]
    assert b"* 2 EXPUNGE" in lines  # a UID command may tell the expunge
    # A FETCH by sequence number of a message expunged meanwhile still says so.
    a.append("Race12", _message("m3"))
    a.ok("NOOP")
    b.ok("NOOP")
    a.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    a.ok("EXPUNGE")
    lines = b.do("FETCH 3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert lines[-1].startswith(b"s%d NO [EXPUNGEISSUED]" % b.tags), lines
    a.ok("LOGOUT")
