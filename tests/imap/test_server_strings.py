"""Over real sockets: 8-bit UTF-8 in quoted strings (issue 10, item 3) and mailbox
names that are not modified UTF-7 (item 7)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from posteingang.delivery.deliver import deliver
from posteingang.store.sqlite.store import SqliteStore
from tests.imap.harness import ALICE, PASSWORD, message
from tests.imap.server_fixture import RunningServer, running_server


async def _setup(store: SqliteStore) -> None:
    encoded = "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?="
    await deliver(store, ALICE, message(1))
    await deliver(store, ALICE, message(2, subject=encoded))
    await deliver(store, ALICE, message(3, subject="Grüße aus Bonn"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(Path(tmp_path_factory.mktemp("imap")), setup=_setup) as running:
        yield running


class Raw:
    """A line client on a plain socket: sends bytes as given, 8-bit included."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        assert self.file.readline().startswith(b"* OK")
        self.n = 0

    def do(self, command: bytes) -> list[bytes]:
        self.n += 1
        tag = b"t%d" % self.n
        self.sock.sendall(tag + b" " + command + b"\r\n")
        lines = []
        while True:
            line = self.file.readline()
            assert line, "connection closed"
            lines.append(line.rstrip(b"\r\n"))
            if line.startswith(tag + b" "):
                return lines

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def raw(server: RunningServer) -> Iterator[Raw]:
    client = Raw(server.imap_port)
    assert client.do(f'LOGIN {ALICE} "{PASSWORD}"'.encode())[-1].startswith(b"t1 OK")
    yield client
    client.close()


def test_utf8_in_a_quoted_search_string_finds_the_message(raw: Raw) -> None:
    assert raw.do(b"SELECT INBOX")[-1].endswith(b"completed")
    query = 'UID SEARCH CHARSET utf-8 (SUBJECT "Grüße aus Köln")'.encode()
    lines = raw.do(query)
    assert lines[-1].startswith(b"t3 OK"), lines
    assert lines[0] == b"* SEARCH 2"
    # Without CHARSET the strings are UTF-8 too; no ENABLE was needed.
    lines = raw.do('SEARCH SUBJECT "grüße"'.encode())
    assert lines[0] == b"* SEARCH 2 3"


def test_invalid_utf8_in_a_quoted_string_is_still_bad(raw: Raw) -> None:
    assert raw.do(b"SELECT INBOX")[-1].endswith(b"completed")
    lines = raw.do(b'SEARCH SUBJECT "Gr\xfc\xdfe"')
    assert lines[-1].startswith(b"t3 BAD") and b"invalid UTF-8" in lines[-1]
    assert raw.do(b"NOOP")[-1].startswith(b"t4 OK")


def test_names_that_are_not_modified_utf7_get_no(raw: Raw) -> None:
    for command in (b'SELECT "a&b"', b"CREATE a&b", b'STATUS "a&b" (MESSAGES)', b"DELETE &Jjo"):
        line = raw.do(command)[-1]
        assert b" NO " in line and b"Mailbox name is not valid mUTF-7" in line, line
    lines = raw.do('CREATE "Grüße"'.encode())
    assert b" NO " in lines[-1], lines
    lines = raw.do(b'LIST "" "a&b"')
    assert len(lines) == 1 and lines[0].endswith(b" OK LIST completed"), lines
    lines = raw.do(b'LIST "" ("a&b" INBOX)')
    assert lines[0].startswith(b"* LIST ") and lines[-1].endswith(b" OK LIST completed")
    lines = raw.do(b'LSUB "" "&Jjo*"')
    assert len(lines) == 1 and lines[0].endswith(b" OK LSUB completed"), lines


def test_imap_tools_searches_with_utf8(server: RunningServer) -> None:
    """imap-tools sends ``UID SEARCH CHARSET utf-8 (SUBJECT "Grüße aus Köln")`` as is."""
    imap_tools = pytest.importorskip("imap_tools")
    with imap_tools.MailBox(
        "127.0.0.1", port=server.imaps_port, ssl_context=server.client_context
    ).login(ALICE, PASSWORD) as mailbox:
        uids = mailbox.uids(imap_tools.AND(subject="Grüße aus Köln"), charset="utf-8")
        assert len(uids) == 1
        (found,) = mailbox.fetch(imap_tools.U(uids[0]), mark_seen=False)
        assert found.subject == "Grüße aus Köln"
