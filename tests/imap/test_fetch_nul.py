"""NUL octets in message bodies, over real sockets (issue 10 item 4).

RFC 9051 §4.3: an ordinary ``{n}`` literal must not contain NUL; only
literal8 (``~{n}``, RFC 3516 BINARY) may.  A part with
``Content-Transfer-Encoding: binary`` can hold NULs, so BODY[...], RFC822*
and HEADER.FIELDS send each NUL as 0x80, as Dovecot does; the mapping keeps
the length, so RFC822.SIZE and BODYSTRUCTURE sizes stay true.  BINARY[...]
returns the exact octets in a literal8.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posteingang.delivery.ingest import prepare_message
from posteingang.imap.ops import fetch as fetch_mod
from posteingang.store.sqlite.store import SqliteStore
from tests.imap.harness import ALICE
from tests.imap.server_fixture import RunningServer, running_server

from .test_fetch_whole import RawClient, _fetched, _login

PAYLOAD = b"AB\0CD\0\0EF"
SMALL = (
    b"From: a@example.org\r\n"
    b"To: " + ALICE.encode() + b"\r\n"
    b"Subject: nul\r\n"
    b"X-Junk: a\0b\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n'
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"hello\r\n"
    b"--b\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: binary\r\n"
    b"\r\n" + PAYLOAD + b"\r\n"
    b"--b--\r\n"
)
# Larger than fetch.INLINE_MAX: BODY[] streams from the blob file.
BIG_PAYLOAD = (b"x\0y" * 40 + b"\r\n") * 4000
BIG = (
    b"From: a@example.org\r\nSubject: big nul\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    + BIG_PAYLOAD
)


def _mapped(data: bytes) -> bytes:
    return data.replace(b"\0", b"\x80")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    async def setup(store: SqliteStore) -> None:
        account = await store.get_account(ALICE)
        assert account is not None
        box = await store.get_mailbox(account.id, "INBOX")
        assert box is not None
        when = datetime(2024, 5, 1, tzinfo=UTC)
        batch = [await prepare_message(store, raw, internal_date=when) for raw in (SMALL, BIG)]
        await store.append_many(box.id, batch)

    assert len(BIG) > fetch_mod.INLINE_MAX
    with running_server(Path(tmp_path_factory.mktemp("imap")), setup=setup) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[RawClient]:
    c = RawClient(server.imap_port)
    _login(c)
    try:
        yield c
    finally:
        c.close()


def _items(c: RawClient, command: str) -> tuple[bytes, list[bytes]]:
    responses = c.command(command)
    assert responses[-1][0].split()[1] == b"OK", responses[-1][0]
    fetched = _fetched(responses)
    assert len(fetched) == 1
    return fetched[0][1], fetched[0][2]


def test_whole_message_has_no_nul_and_keeps_its_size(client: RawClient) -> None:
    # The whole-message fast path ...
    items, literals = _items(client, "FETCH 1 (RFC822.SIZE BODY.PEEK[])")
    assert items == b"RFC822.SIZE %d BODY[] {%d}" % (len(SMALL), len(SMALL))
    assert literals == [_mapped(SMALL)]
    # ... and the general path (ENVELOPE forces it) send the same octets.
    items, literals = _items(client, "FETCH 1 (ENVELOPE BODY.PEEK[])")
    assert b"~{" not in items
    assert literals[-1] == _mapped(SMALL)


def test_sections_have_no_nul(client: RawClient) -> None:
    items, literals = _items(
        client,
        "FETCH 1 (BODY.PEEK[TEXT] BODY.PEEK[2] BODY.PEEK[2]<0.4> RFC822.HEADER "
        "BODY.PEEK[HEADER.FIELDS (X-Junk)] BODY.PEEK[2.MIME])",
    )
    assert b"~{" not in items
    assert all(b"\0" not in lit for lit in literals)
    text = SMALL[SMALL.index(b"\r\n\r\n") + 4 :]
    assert literals[0] == _mapped(text)
    assert literals[1] == _mapped(PAYLOAD)
    assert literals[2] == _mapped(PAYLOAD[:4])
    assert literals[4] == b"X-Junk: a\x80b\r\n\r\n"


def test_binary_returns_the_exact_octets(client: RawClient) -> None:
    items, literals = _items(client, "FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])")
    assert items == b"BINARY[2] ~{%d} BINARY.SIZE[2] %d" % (len(PAYLOAD), len(PAYLOAD))
    assert literals == [PAYLOAD]


def test_bodystructure_size_matches_what_is_sent(client: RawClient) -> None:
    items, _ = _items(client, "FETCH 1 BODYSTRUCTURE")
    m = re.search(rb'"application" "octet-stream" NIL NIL NIL "binary" (\d+)', items)
    assert m is not None, items
    assert int(m[1]) == len(PAYLOAD)
    _, literals = _items(client, "FETCH 1 BODY.PEEK[2]")
    assert len(literals[0]) == int(m[1])


def test_streamed_body_has_no_nul(client: RawClient) -> None:
    for command in ("FETCH 2 BODY.PEEK[]", "FETCH 2 (ENVELOPE BODY.PEEK[1])"):
        items, literals = _items(client, command)
        assert b"~{" not in items
        assert b"\0" not in literals[-1]
    assert literals[-1] == _mapped(BIG_PAYLOAD)
    items, literals = _items(client, "FETCH 2 BINARY.PEEK[1]")
    assert items.startswith(b"BINARY[1] ~{")
    assert literals == [BIG_PAYLOAD]
