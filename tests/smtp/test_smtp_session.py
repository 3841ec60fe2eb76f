"""C:/S: transcripts against the delivery session with a real SQLite store (no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from posteingang.mime import decode_parsed, parse_message
from posteingang.smtp.proto import Limits
from posteingang.store.sqlite.store import SqliteStore
from tests.smtp.harness import (
    DOMAIN,
    body_of,
    make_context,
    messages_of,
    new_session,
    open_store,
    populate,
    talk,
)

MESSAGE = b"From: Bob <bob@example.org>\r\nSubject: Hi\r\n\r\nHello Alice!\r\n"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await open_store(tmp_path)
    await populate(s)
    try:
        yield s
    finally:
        await s.close()


def codes(lines: list[str]) -> list[str]:
    return [line[:3] for line in lines]


async def send_mail(
    session: object, rcpts: list[str], message: bytes = MESSAGE, lmtp: bool = False
) -> list[str]:
    from posteingang.smtp.session import DeliverySession

    assert isinstance(session, DeliverySession)
    hello = b"LHLO" if lmtp else b"EHLO"
    data = hello + b" client.example.org\r\nMAIL FROM:<bob@example.org>\r\n"
    for r in rcpts:
        data += f"RCPT TO:<{r}>\r\n".encode()
    data += b"DATA\r\n"
    await talk(session, data)
    return await talk(session, message + b".\r\n")


async def test_smtp_transaction_stores_message_with_trace_headers(
    store: SqliteStore, tmp_path: Path
) -> None:
    session = new_session(make_context(store, tmp_path / "spool"))
    lines = await talk(session, b"EHLO client.example.org\r\n")
    assert lines[0] == "220 mx.example.test ESMTP ready"
    assert lines[1] == "250-mx.example.test"
    assert "250-SIZE 52428800" in lines and "250-PIPELINING" in lines
    assert await talk(session, b"MAIL FROM:<bob@example.org>\r\n") == ["250 2.1.0 Sender OK"]
    assert codes(await talk(session, f"RCPT TO:<alice@{DOMAIN}>\r\n".encode())) == ["250"]
    assert codes(await talk(session, b"DATA\r\n")) == ["354"]
    assert await talk(session, MESSAGE + b".\r\n") == ["250 2.0.0 Message stored"]
    (stored,) = await messages_of(store, f"alice@{DOMAIN}")
    assert body_of(stored) == MESSAGE
    head = stored.decode()
    assert head.startswith(
        "Return-Path: <bob@example.org>\r\n"
        "Delivered-To: alice@example.test\r\n"
        "Received: from client.example.org ([192.0.2.7])\r\n"
        "\tby mx.example.test (posteingang)\r\n"
        "\twith ESMTP id "
    )
    assert "\tfor <alice@example.test>;\r\n\tFri, 27 Nov 2026 08:30:00 +0000\r\n" in head
    assert await talk(session, b"QUIT\r\n") == ["221 2.0.0 Bye"]
    assert session.closed


@pytest.mark.parametrize(
    ("rcpt", "reply"),
    [
        ("nobody@example.test", "550 5.1.1 No such user here"),
        ("alice@elsewhere.example", "554 5.7.1 Relay access denied"),
        ("alice@[192.0.2.1]", "554 5.7.1 Relay access denied"),
        ('"alice smith"@example.test', "550 5.1.1 No such user here"),
        ("alice@Example.TEST", "250 2.1.5 Recipient OK"),
        ("ALICE+lists@example.test", "250 2.1.5 Recipient OK"),
        ("team@example.test", "250 2.1.5 Recipient OK"),
        ("Postmaster", "250 2.1.5 Recipient OK"),
    ],
)
async def test_rcpt_checks(store: SqliteStore, tmp_path: Path, rcpt: str, reply: str) -> None:
    session = new_session(make_context(store, tmp_path / "spool"))
    await talk(session, b"EHLO c.example.org\r\nMAIL FROM:<>\r\n")
    assert await talk(session, f"RCPT TO:<{rcpt}>\r\n".encode()) == [reply]


async def test_postmaster_without_domain_reaches_the_postmaster_account(
    store: SqliteStore, tmp_path: Path
) -> None:
    session = new_session(make_context(store, tmp_path / "spool"))
    assert (await send_mail(session, ["Postmaster"]))[-1].startswith("250")
    (stored,) = await messages_of(store, f"postmaster@{DOMAIN}")
    assert b"Delivered-To: postmaster@example.test\r\n" in stored
    # LMTP answers per recipient with the address as the client gave it.
    lmtp = new_session(make_context(store, tmp_path / "spool", lmtp=True))
    message = MESSAGE + b"PS\r\n"  # not a retry of the first
    assert await send_mail(lmtp, ["Postmaster"], message, lmtp=True) == [
        "250 2.0.0 <Postmaster> Message stored"
    ]


async def test_alias_delivers_to_every_target_and_plus_address_to_its_mailbox(
    store: SqliteStore, tmp_path: Path
) -> None:
    session = new_session(make_context(store, tmp_path / "spool"))
    lines = await send_mail(session, [f"team@{DOMAIN}", f"alice+lists@{DOMAIN}"])
    assert lines == ["250 2.0.0 Message stored"]
    for who in ("bob", "carol"):
        (stored,) = await messages_of(store, f"{who}@{DOMAIN}")
        assert b"Delivered-To: team@example.test\r\n" in stored
        assert body_of(stored) == MESSAGE
    assert await messages_of(store, f"alice@{DOMAIN}") == []
    (stored,) = await messages_of(store, f"alice@{DOMAIN}", "lists")
    assert b"Delivered-To: alice+lists@example.test\r\n" in stored


async def test_plus_address_without_that_mailbox_goes_to_inbox(
    store: SqliteStore, tmp_path: Path
) -> None:
    session = new_session(make_context(store, tmp_path / "spool"))
    assert (await send_mail(session, [f"bob+nothing@{DOMAIN}"]))[-1].startswith("250")
    assert len(await messages_of(store, f"bob@{DOMAIN}")) == 1


async def test_same_account_twice_in_one_transaction_gets_one_copy(
    store: SqliteStore, tmp_path: Path
) -> None:
    session = new_session(make_context(store, tmp_path / "spool", lmtp=True))
    lines = await send_mail(session, [f"bob@{DOMAIN}", f"team@{DOMAIN}"], lmtp=True)
    assert codes(lines) == ["250", "250"]
    assert len(await messages_of(store, f"bob@{DOMAIN}")) == 1
    assert len(await messages_of(store, f"carol@{DOMAIN}")) == 1


async def test_size_param_checked_against_limit_and_quota_before_data(
    store: SqliteStore, tmp_path: Path
) -> None:
    limits = Limits(max_message_size=100_000)
    session = new_session(make_context(store, tmp_path / "spool", limits=limits))
    await talk(session, b"EHLO c.example.org\r\n")
    assert codes(await talk(session, b"MAIL FROM:<x@example.org> SIZE=200000\r\n")) == ["552"]
    assert await talk(session, b"MAIL FROM:<x@example.org> SIZE=20000\r\n") == [
        "250 2.1.0 Sender OK"
    ]
    # alice's quota is 10,000 octets: refused before any data, bob is fine
    assert await talk(session, f"RCPT TO:<alice@{DOMAIN}>\r\n".encode()) == [
        "452 4.2.2 Mailbox full, try again later"
    ]
    assert codes(await talk(session, f"RCPT TO:<bob@{DOMAIN}>\r\n".encode())) == ["250"]


async def test_too_many_recipients(store: SqliteStore, tmp_path: Path) -> None:
    session = new_session(make_context(store, tmp_path / "spool", limits=Limits(max_recipients=2)))
    await talk(session, b"EHLO c.example.org\r\nMAIL FROM:<>\r\n")
    data = b"".join(f"RCPT TO:<{w}@{DOMAIN}>\r\n".encode() for w in ("alice", "bob", "carol"))
    assert codes(await talk(session, data)) == ["250", "250", "452"]


async def test_lmtp_quota_failure_for_one_recipient_does_not_fail_the_others(
    store: SqliteStore, tmp_path: Path
) -> None:
    big = b"Subject: big\r\n\r\n" + b"x" * 12_000 + b"\r\n"
    session = new_session(make_context(store, tmp_path / "spool", lmtp=True))
    lines = await send_mail(
        session, [f"bob@{DOMAIN}", f"alice@{DOMAIN}", f"carol@{DOMAIN}"], big, lmtp=True
    )
    assert lines == [
        "250 2.0.0 <bob@example.test> Message stored",
        "452 4.2.2 Mailbox full, try again later",
        "250 2.0.0 <carol@example.test> Message stored",
    ]
    assert len(await messages_of(store, f"bob@{DOMAIN}")) == 1
    assert await messages_of(store, f"alice@{DOMAIN}") == []
    assert len(await messages_of(store, f"carol@{DOMAIN}")) == 1


async def test_smtp_temporary_failure_for_one_recipient_fails_the_message_and_retry_adds_no_copy(
    store: SqliteStore, tmp_path: Path
) -> None:
    big = b"Subject: big\r\n\r\n" + b"x" * 12_000 + b"\r\n"
    context = make_context(store, tmp_path / "spool")
    session = new_session(context)
    lines = await send_mail(session, [f"bob@{DOMAIN}", f"alice@{DOMAIN}"], big)
    assert lines == ["452 4.2.2 Mailbox full, try again later"]
    assert len(await messages_of(store, f"bob@{DOMAIN}")) == 1  # committed, not acknowledged
    alice = await store.get_account(f"alice@{DOMAIN}")
    assert alice is not None
    await store.set_quota(alice.id, None)
    # the sender retries the whole message later
    retry = new_session(context)
    assert await send_mail(retry, [f"bob@{DOMAIN}", f"alice@{DOMAIN}"], big) == [
        "250 2.0.0 Message stored"
    ]
    assert len(await messages_of(store, f"bob@{DOMAIN}")) == 1
    assert len(await messages_of(store, f"alice@{DOMAIN}")) == 1


async def test_retry_after_lost_reply_is_stored_once_even_at_a_later_time(
    store: SqliteStore, tmp_path: Path
) -> None:
    first = make_context(store, tmp_path / "spool", lmtp=True)
    await send_mail(new_session(first), [f"bob@{DOMAIN}"], lmtp=True)
    # a later attempt (other clock, other connection, other HELO) of the same message
    later = make_context(store, tmp_path / "spool", lmtp=True)
    later.clock = lambda: first.clock().replace(hour=9)
    session = new_session(later, ip="192.0.2.99")
    assert codes(await send_mail(session, [f"bob@{DOMAIN}"], lmtp=True)) == ["250"]
    assert len(await messages_of(store, f"bob@{DOMAIN}")) == 1
    # a different message, or the same one from another sender, is new mail
    await send_mail(new_session(later), [f"bob@{DOMAIN}"], MESSAGE + b"PS\r\n", lmtp=True)
    other = new_session(later)
    await talk(other, b"LHLO c\r\nMAIL FROM:<eve@example.org>\r\n")
    await talk(other, f"RCPT TO:<bob@{DOMAIN}>\r\nDATA\r\n".encode())
    await talk(other, MESSAGE + b".\r\n")
    assert len(await messages_of(store, f"bob@{DOMAIN}")) == 3


async def test_large_message_is_spooled_to_disk_and_stored_intact(
    store: SqliteStore, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    session = new_session(make_context(store, spool, spool_memory=4096))
    body = b"Subject: big\r\n\r\n" + b"".join(b"line %06d\r\n" % i for i in range(20_000))
    assert await send_mail(session, [f"bob@{DOMAIN}", f"carol@{DOMAIN}"], body) == [
        "250 2.0.0 Message stored"
    ]
    for who in ("bob", "carol"):
        (stored,) = await messages_of(store, f"{who}@{DOMAIN}")
        assert body_of(stored) == body
    assert list(spool.iterdir()) == []


@pytest.mark.parametrize("spool_memory", [1 << 20, 4096])
async def test_lmtp_copies_for_several_recipients_carry_their_own_parse(
    store: SqliteStore, tmp_path: Path, spool_memory: int
) -> None:
    # The message is parsed once for all copies (delivery/copies.py); what each
    # copy is stored with must still be exactly the parse of its own bytes.
    part = b"".join(b"line %06d\r\n" % i for i in range(600))
    body = (
        b"From: Bob <bob@example.org>\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain\r\n\r\n" + part + b"--b\r\n"
        b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nin\r\n--b--\r\n"
    )
    session = new_session(
        make_context(store, tmp_path / "spool", lmtp=True, spool_memory=spool_memory)
    )
    rcpts = [f"bob@{DOMAIN}", f"carol@{DOMAIN}", f"postmaster@{DOMAIN}"]
    assert codes(await send_mail(session, rcpts, body, lmtp=True)) == ["250"] * 3
    for who in rcpts:
        account = await store.get_account(who)
        assert account is not None
        box = await store.get_mailbox(account.id, "INBOX")
        assert box is not None
        (msg,) = await store.get_messages(box.id, (await store.get_index(box.id)).uids)
        stored = await store.blobs.get(msg.blob_id)
        assert body_of(stored) == body and who.encode() in stored
        assert decode_parsed(await store.get_parsed(msg.blob_id)) == parse_message(stored)
        assert await store.line_sizes([msg.blob_id]) == {msg.blob_id: len(stored)}


async def test_disconnect_mid_data_stores_nothing_and_leaves_no_spool(
    store: SqliteStore, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    session = new_session(make_context(store, spool, spool_memory=1024))
    await talk(session, f"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@{DOMAIN}>\r\nDATA\r\n".encode())
    await talk(session, b"Subject: x\r\n\r\n" + b"y" * 5000 + b"\r\n")
    assert any(spool.iterdir())
    await session.receive(b"")  # EOF before the final dot
    assert session.closed
    session.close()
    assert await messages_of(store, f"bob@{DOMAIN}") == []
    assert list(spool.iterdir()) == []


async def test_timeout_mid_data_says_421_and_stores_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    session = new_session(make_context(store, tmp_path / "spool"))
    await talk(session, f"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@{DOMAIN}>\r\nDATA\r\n".encode())
    await talk(session, b"Subject: x\r\n\r\npartial")
    assert session.in_data
    session.timeout()
    assert session.data_to_send().startswith(b"421 4.4.2")
    assert session.closed
    assert await messages_of(store, f"bob@{DOMAIN}") == []


async def test_bare_lf_in_data_is_refused_and_nothing_stored(
    store: SqliteStore, tmp_path: Path
) -> None:
    session = new_session(make_context(store, tmp_path / "spool"))
    smuggle = b"Subject: x\r\n\r\nhi\n.\r\nMAIL FROM:<evil@example.org>\r\n"
    lines = await send_mail(session, [f"bob@{DOMAIN}"], smuggle)
    assert codes(lines) == ["554"]  # and the smuggled MAIL is never run
    assert await messages_of(store, f"bob@{DOMAIN}") == []
    # the session goes on
    assert (await send_mail(session, [f"bob@{DOMAIN}"]))[-1].startswith("250")


async def test_eight_bit_without_8bitmime_is_accepted_unchanged(
    store: SqliteStore, tmp_path: Path
) -> None:
    session = new_session(make_context(store, tmp_path / "spool"))
    body = "Subject: Grüße\r\n\r\nÄpfel und Birnen\r\n".encode()
    assert (await send_mail(session, [f"bob@{DOMAIN}"], body))[-1].startswith("250")
    (stored,) = await messages_of(store, f"bob@{DOMAIN}")
    assert body_of(stored) == body


async def test_bdat_chunks_are_stored_verbatim(store: SqliteStore, tmp_path: Path) -> None:
    session = new_session(make_context(store, tmp_path / "spool", lmtp=True))
    part1 = b"Subject: chunked\r\n\r\n.leading dot stays\r\n"
    part2 = b"end\r\n"
    await talk(session, f"LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@{DOMAIN}>\r\n".encode())
    data = b"BDAT %d\r\n" % len(part1) + part1 + b"BDAT %d LAST\r\n" % len(part2) + part2
    lines = await talk(session, data)
    assert codes(lines) == ["250", "250"]
    (stored,) = await messages_of(store, f"bob@{DOMAIN}")
    assert body_of(stored) == part1 + part2


async def test_pipelined_transactions_get_replies_in_order(
    store: SqliteStore, tmp_path: Path
) -> None:
    session = new_session(make_context(store, tmp_path / "spool"))
    one = (
        f"MAIL FROM:<a@example.org>\r\nRCPT TO:<nobody@{DOMAIN}>\r\n"
        f"RCPT TO:<bob@{DOMAIN}>\r\nDATA\r\n"
    ).encode()
    second = MESSAGE + b"again\r\n"  # (the very same bytes again would be a retry)
    lines = await talk(session, b"EHLO c\r\n" + one + MESSAGE + b".\r\n" + one + second + b".\r\n")
    assert codes(lines[-10:]) == ["250", "550", "250", "354", "250"] * 2
    assert len(await messages_of(store, f"bob@{DOMAIN}")) == 2


async def test_received_header_after_starttls_names_tls_and_esmtps(
    store: SqliteStore, tmp_path: Path
) -> None:
    from posteingang.delivery.trace import ClientInfo
    from posteingang.smtp.session import DeliverySession

    context = make_context(store, tmp_path / "spool")
    session = DeliverySession(context, ClientInfo(helo=None, ip="2001:db8::5"), starttls=True)
    session.greet()
    lines = await talk(session, b"EHLO c.example.org\r\nSTARTTLS\r\nRSET\r\n")
    assert lines[-1] == "220 2.0.0 Ready to start TLS"  # the pipelined RSET was dropped
    assert session.tls_requested
    session.tls_established("TLSv1.3", "TLS_AES_256_GCM_SHA384")
    lines = await talk(session, b"EHLO c.example.org\r\n")
    assert "250-STARTTLS" not in lines
    assert (await send_mail(session, [f"bob@{DOMAIN}"]))[-1].startswith("250")
    (stored,) = await messages_of(store, f"bob@{DOMAIN}")
    assert b"Received: from client.example.org ([IPv6:2001:db8::5])\r\n" in stored
    assert b"(TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)" in stored
    assert b"\twith ESMTPS id " in stored


async def test_unknown_and_out_of_order_commands(store: SqliteStore, tmp_path: Path) -> None:
    session = new_session(make_context(store, tmp_path / "spool"))
    lines = await talk(
        session,
        b"MAIL FROM:<a@b.example>\r\nEHLO c\r\nRCPT TO:<bob@example.test>\r\nFROB\r\n"
        b"DATA\r\nMAIL FROM:a@b\r\n",
    )
    errors = [c for c in codes(lines) if c not in ("220", "250")]
    assert errors == ["503", "503", "500", "503", "501"]
    assert await messages_of(store, f"bob@{DOMAIN}") == []
