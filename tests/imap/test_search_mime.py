"""SEARCH and FETCH on malformed or unusual MIME, over real sockets (issue 10 item 9).

* FROM matches the address of ``<user-from (comment)@ (comment) domain.org>``;
* text in 7-bit stateful charsets (ISO-2022-JP, UTF-7) is decoded, in bodies
  and in RFC 2047 encoded-words;
* TEXT finds the header of an attached message/rfc822, and BODY/TEXT find the
  text of a message/global part;
* ``Content-Transfer-Encoding: base64 (comment)`` is base64 for BODYSTRUCTURE
  and BINARY.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posteingang.delivery.ingest import prepare_message
from posteingang.store.sqlite.store import SqliteStore
from tests.imap.harness import ALICE
from tests.imap.server_fixture import RunningServer, running_server

from .test_fetch_whole import RawClient, _fetched, _login


def _m(*lines: str | bytes) -> bytes:
    return b"\r\n".join(x.encode() if isinstance(x, str) else x for x in lines)


JP_SUBJECT = b"=?ISO-2022-JP?B?" + base64.b64encode("件名です".encode("iso-2022-jp")) + b"?="
MESSAGES = [
    # 1: a comment inside the angle-addr
    _m("From: <user-from (comment)@ (comment) domain.org>", "Subject: angle", "", "hi", ""),
    # 2: ISO-2022-JP body and subject (all 7-bit octets)
    _m(
        "From: jp@example.jp",
        b"Subject: " + JP_SUBJECT,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=ISO-2022-JP",
        "Content-Transfer-Encoding: 7bit",
        "",
        "日本語のテキストです".encode("iso-2022-jp"),
        "",
    ),
    # 3: UTF-7 body
    _m(
        "From: seven@example.de",
        "Subject: utf-7",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-7",
        "",
        "Grüße aus Köln".encode("utf-7"),
        "",
    ),
    # 4: a forwarded message: its header is in the body of the carrier
    _m(
        "From: bob@example.com",
        "Subject: fwd",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="f"',
        "",
        "--f",
        "Content-Type: text/plain",
        "",
        "see attached",
        "--f",
        "Content-Type: message/rfc822",
        "",
        "From: carol@example.net",
        "Subject: Quarterly numbers zebra",
        "",
        "inner body",
        "--f--",
        "",
    ),
    # 5: message/global (RFC 6532): UTF-8 header and body
    _m(
        "From: global@example.com",
        "Subject: global",
        "MIME-Version: 1.0",
        "Content-Type: message/global",
        "Content-Transfer-Encoding: 8bit",
        "",
        "From: dörte@example.de",
        "Subject: Grüße global",
        "",
        "Unicode body straße",
        "",
    ),
    # 6: base64 with a comment after it
    _m(
        "From: a@example.com",
        "MIME-Version: 1.0",
        "Content-Type: application/octet-stream",
        "Content-Transfer-Encoding: base64 (comment)",
        "",
        "aGVsbG8gd29ybGQ=",
        "",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    async def setup(store: SqliteStore) -> None:
        account = await store.get_account(ALICE)
        assert account is not None
        box = await store.get_mailbox(account.id, "INBOX")
        assert box is not None
        when = datetime(2024, 5, 1, tzinfo=UTC)
        batch = [await prepare_message(store, raw, internal_date=when) for raw in MESSAGES]
        await store.append_many(box.id, batch)

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


def _lit(text: str) -> str:
    """A non-synchronising literal (RFC 7888) carrying UTF-8 text."""
    return f"{{{len(text.encode())}+}}\r\n{text}"


def _search(c: RawClient, criteria: str) -> list[int]:
    responses = c.command("SEARCH " + criteria)
    assert responses[-1][0].split()[1] == b"OK", responses[-1][0]
    (line,) = [t for t, _ in responses[:-1] if t.startswith(b"* SEARCH")]
    return [int(n) for n in line.split()[2:]]


def test_from_matches_an_address_with_comments_in_its_angle_addr(client: RawClient) -> None:
    assert _search(client, "FROM user-from@domain.org") == [1]
    assert _search(client, "FROM user-from") == [1]
    items = _fetched(client.command("FETCH 1 ENVELOPE"))[0][1]
    assert b'((NIL NIL "user-from" "domain.org"))' in items


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ("BODY " + _lit("日本語"), [2]),
        ("SUBJECT " + _lit("件名"), [2]),
        ("BODY " + _lit("köln"), [3]),
        ("TEXT " + _lit("GRÜSSE"), [3, 5]),  # Unicode case folding: ß is ss
    ],
)
def test_stateful_seven_bit_charsets_are_decoded(
    client: RawClient, criteria: str, expected: list[int]
) -> None:
    assert _search(client, "CHARSET UTF-8 " + criteria) == expected


def test_text_finds_the_header_of_an_attached_message(client: RawClient) -> None:
    assert _search(client, "TEXT zebra") == [4]
    assert _search(client, "TEXT carol@example.net") == [4]
    assert _search(client, "TEXT inner") == [4]  # the body was found before too


def test_message_global_is_searched(client: RawClient) -> None:
    assert _search(client, "CHARSET UTF-8 BODY " + _lit("straße")) == [5]
    assert _search(client, "CHARSET UTF-8 TEXT " + _lit("grüße global")) == [5]
    assert _search(client, "CHARSET UTF-8 TEXT " + _lit("dörte")) == [5]


def test_transfer_encoding_with_a_comment_is_decoded(client: RawClient) -> None:
    items, literals = _fetched(client.command("FETCH 6 (BODYSTRUCTURE BINARY.PEEK[1])"))[0][1:]
    assert b'"application" "octet-stream" NIL NIL NIL "base64" 18' in items
    assert literals == [b"hello world"]
