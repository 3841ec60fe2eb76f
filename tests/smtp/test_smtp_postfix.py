"""Postfix (Debian) as a real MTA on loopback, relaying to our LMTP: 50 messages arrive intact."""

from __future__ import annotations

import contextlib
import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from tests.smtp.harness import DOMAIN
from tests.smtp.postfix_fixture import PostfixInstance, postfix_available, running_postfix
from tests.smtp.server_fixture import RunningServer, running_server

pytestmark = pytest.mark.skipif(
    not postfix_available(), reason="needs Debian postfix and root (Postfix drops privileges)"
)


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, PostfixInstance]]:
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(running_server(tmp_path_factory.mktemp("pe")))
        postfix = stack.enter_context(running_postfix(lmtp_port=ours.lmtp_port, domain=DOMAIN))
        yield ours, postfix


def body_after_headers(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


def wait_for(server: RunningServer, address: str, count: int, postfix: PostfixInstance) -> None:
    deadline = time.monotonic() + 60
    while len(server.messages(address)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(server.messages(address))} arrived\n{postfix.log()}")
        time.sleep(0.2)


def test_fifty_messages_through_postfix_arrive_intact(
    servers: tuple[RunningServer, PostfixInstance],
) -> None:
    ours, postfix = servers
    sent: dict[str, bytes] = {}
    with smtplib.SMTP("127.0.0.1", postfix.smtp_port, timeout=30) as client:
        for i in range(50):
            msg = EmailMessage()
            msg["From"] = "sender@example.org"
            msg["To"] = f"bob@{DOMAIN}"
            msg["Subject"] = f"through postfix {i}"
            msg["Message-ID"] = make_msgid(domain="example.org")
            text = "".join(f"line {j} of message {i} with ümlauts\n" for j in range(i * 7 + 1))
            msg.set_content(text)
            raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
            client.sendmail("sender@example.org", [f"bob@{DOMAIN}"], raw)
            sent[msg["Message-ID"]] = body_after_headers(raw)
    wait_for(ours, f"bob@{DOMAIN}", 50, postfix)
    time.sleep(0.5)
    stored = ours.messages(f"bob@{DOMAIN}")
    assert len(stored) == 50  # none twice
    for raw in stored:
        assert raw.startswith(b"Return-Path: <sender@example.org>\r\nDelivered-To: bob@")
        assert b"by mx.example.test (posteingang)\r\n\twith LMTP id " in raw
        assert b"by relay.postfix.test (Postfix)" in raw  # Postfix's own Received line
        msgid = next(
            line.split(b":", 1)[1].strip().decode()
            for line in raw.split(b"\r\n")
            if line.lower().startswith(b"message-id:")
        )
        assert body_after_headers(raw) == sent[msgid]


def test_postfix_bounces_unknown_user_and_delivers_the_others(
    servers: tuple[RunningServer, PostfixInstance],
) -> None:
    ours, postfix = servers
    raw = b"From: s@example.org\r\nSubject: mixed recipients\r\n\r\nhello\r\n"
    with smtplib.SMTP("127.0.0.1", postfix.smtp_port, timeout=30) as client:
        client.sendmail("s@example.org", [f"carol@{DOMAIN}", f"ghost@{DOMAIN}"], raw)
    wait_for(ours, f"carol@{DOMAIN}", 1, postfix)
    deadline = time.monotonic() + 30
    while "ghost@example.test" not in postfix.log() or "status=bounced" not in postfix.log():
        assert time.monotonic() < deadline, postfix.log()
        time.sleep(0.2)
    assert "550 5.1.1" in postfix.log()
