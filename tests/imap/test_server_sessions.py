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


def _until_closed(session: Session) -> list[bytes]:
    lines = []
    try:
        while True:
            lines.append(session.line())
    except (EOFError, ConnectionError):
        return lines


def test_a_session_whose_mailbox_is_deleted_never_sees_the_next_one(
    server: RunningServer, sessions: tuple[Session, Session]
) -> None:
    # Issue 10, item 1, the replay: B had probeX selected; A deleted it, created
    # probeY (which got probeX's id) and appended to it; B's NOOP then showed
    # probeY's messages, and B's STORE flagged them.
    a, b = sessions
    a.ok("CREATE probeX")
    a.append("probeX", _message("x1"))
    b.ok("SELECT probeX")
    late = Session(server.imap_port)  # logged in before the DELETE, selects later
    try:
        a.ok("DELETE probeX")
        a.ok("CREATE probeY")
        a.append("probeY", _message("y1"))
        a.append("probeY", _message("y2"))
        b.send(
            b"n1 NOOP\r\nn2 FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n"
            b"n3 STORE 1 +FLAGS (\\Flagged)\r\n"
        )
        lines = _until_closed(b)
        assert lines == [b"* BYE Selected mailbox was deleted, have to disconnect"], lines
        # No phantom EXPUNGE for a session that selects the new mailbox afterwards.
        lines = late.ok("SELECT probeY")
        assert b"* 2 EXISTS" in lines
        assert not [x for x in lines if x.endswith(b"EXPUNGE")], lines
        lines = late.ok("NOOP")
        assert not [x for x in lines if x.endswith(b"EXPUNGE")], lines
        status = a.ok("STATUS probeY (MESSAGES)")
        assert status[0] == b"* STATUS probeY (MESSAGES 2)"
        lines = late.ok("FETCH 1:* (FLAGS)")
        assert all(b"\\Flagged" not in x for x in lines)
    finally:
        late.close()


def test_a_session_whose_mailbox_is_renamed_elsewhere_says_bye_and_its_own_rename_does_not(
    sessions: tuple[Session, Session],
) -> None:
    a, b = sessions
    a.ok("CREATE Ren/Child")
    a.append("Ren/Child", _message("r1"))
    b.ok("SELECT Ren/Child")
    a.ok("SELECT Ren/Child")
    # Its own RENAME (of a superior) keeps the session's selection under the new name.
    a.ok("RENAME Ren Ren2")
    lines = a.ok("FETCH 1 (UID)")
    assert lines[0] == b"* 1 FETCH (UID 1)"
    # Another session's RENAME: B cannot go on under a name that is gone.
    b.send(b"n1 NOOP\r\n")
    assert _until_closed(b) == [b"* BYE Selected mailbox was renamed, have to disconnect"]
    a.ok("LOGOUT")


def test_a_silent_store_still_tells_another_sessions_flag_change(
    sessions: tuple[Session, Session],
) -> None:
    # Found by the stress benchmark: B marks message 2 seen; A's own
    # STORE +FLAGS.SILENT on it swallowed that change, so A's client kept showing
    # the message unread (RFC 9051 §6.4.6: tell an external change even when SILENT).
    a, b = sessions
    a.ok("CREATE Silent")
    for n in range(2):
        a.append("Silent", _message(f"m{n}"))
    a.ok("SELECT Silent")
    b.ok("SELECT Silent")
    b.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
    lines = a.ok("STORE 2 +FLAGS.SILENT ($x)")
    lines += a.ok("NOOP")
    told = [x for x in lines if x.startswith(b"* 2 FETCH")]
    assert told and b"\\Seen" in told[-1] and b"$x" in told[-1], lines
    # A silent STORE that surprises nobody stays silent.
    lines = a.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert not [x for x in lines if b"FETCH" in x], lines
