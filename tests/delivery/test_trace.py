"""Trace headers: vectors for Received/Return-Path/Delivered-To, and no header injection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.parser import BytesHeaderParser
from email.policy import default

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.delivery.trace import (
    ClientInfo,
    delivered_to,
    protocol_keyword,
    received,
    return_path,
)

AT = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lmtp", "esmtp", "tls", "utf8", "keyword"),
    [
        (False, False, False, False, "SMTP"),
        (False, True, False, False, "ESMTP"),
        (False, True, True, False, "ESMTPS"),
        (True, True, False, False, "LMTP"),
        (True, True, True, False, "LMTPS"),
        (False, True, False, True, "UTF8ESMTP"),
        (False, True, True, True, "UTF8ESMTPS"),
        (True, True, False, True, "UTF8LMTP"),
    ],
)
def test_protocol_keywords_rfc3848_and_rfc6531(
    lmtp: bool, esmtp: bool, tls: bool, utf8: bool, keyword: str
) -> None:
    assert protocol_keyword(lmtp=lmtp, esmtp=esmtp, tls=tls, smtputf8=utf8) == keyword


@pytest.mark.parametrize(
    ("client", "first_line"),
    [
        (ClientInfo("mail.example.org", "192.0.2.1"), "from mail.example.org ([192.0.2.1])"),
        (ClientInfo("[192.0.2.1]", "192.0.2.1"), "from [192.0.2.1] ([192.0.2.1])"),
        (ClientInfo("x", "2001:db8:0::1"), "from x ([IPv6:2001:db8::1])"),
        (ClientInfo("bad_name!", "192.0.2.1"), "from [192.0.2.1] ([192.0.2.1] helo=bad_name!)"),
        (ClientInfo("a(b)c", "192.0.2.1"), "from [192.0.2.1] ([192.0.2.1] helo=a?b?c)"),
        (ClientInfo(None, "192.0.2.1"), "from [192.0.2.1] ([192.0.2.1])"),
        (ClientInfo("relay.example", None), "from relay.example (local)"),
    ],
)
def test_received_from_clause(client: ClientInfo, first_line: str) -> None:
    header = received(
        client, by="mx.example.test", protocol="ESMTP", id="abc", recipient=None, at=AT
    )
    assert header.decode().startswith(f"Received: {first_line}\r\n")


def test_received_full_vector_with_tls() -> None:
    client = ClientInfo("mail.example.org", "192.0.2.1", "TLSv1.3", "TLS_AES_128_GCM_SHA256")
    header = received(
        client,
        by="mx.example.test",
        protocol="ESMTPS",
        id="0123456789abcdef",
        recipient="alice@example.test",
        at=AT.astimezone(timezone(timedelta(hours=1))),
    )
    assert header == (
        b"Received: from mail.example.org ([192.0.2.1])\r\n"
        b"\tby mx.example.test (posteingang) (TLSv1.3 with cipher TLS_AES_128_GCM_SHA256)\r\n"
        b"\twith ESMTPS id 0123456789abcdef\r\n"
        b"\tfor <alice@example.test>;\r\n"
        b"\tFri, 27 Nov 2026 09:30:00 +0100\r\n"
    )


def test_received_needs_an_aware_time() -> None:
    with pytest.raises(ValueError):
        received(ClientInfo("a", "192.0.2.1"), by="b", protocol="SMTP", id="i", recipient=None,
                 at=datetime(2026, 1, 1))  # fmt: skip


def test_return_path_and_delivered_to() -> None:
    assert return_path(None) == b"Return-Path: <>\r\n"
    assert return_path("bob@example.org") == b"Return-Path: <bob@example.org>\r\n"
    assert delivered_to("alice+x@example.test") == b"Delivered-To: alice+x@example.test\r\n"
    assert return_path("a\r\nX-Injected: 1@b") == b"Return-Path: <aX-Injected: 1@b>\r\n"


@settings(max_examples=300, deadline=None)
@given(
    helo=st.one_of(st.none(), st.text(max_size=300)),
    ip=st.one_of(st.none(), st.text(max_size=60), st.ip_addresses().map(str)),
    tls=st.one_of(st.none(), st.text(max_size=40)),
    cipher=st.one_of(st.none(), st.text(max_size=40)),
    rcpt=st.one_of(st.none(), st.text(max_size=100)),
    sender=st.one_of(st.none(), st.text(max_size=100)),
)
def test_no_client_text_can_break_out_of_the_trace_headers(
    helo: str | None,
    ip: str | None,
    tls: str | None,
    cipher: str | None,
    rcpt: str | None,
    sender: str | None,
) -> None:
    client = ClientInfo(helo, ip, tls, cipher)
    block = (
        return_path(sender)
        + delivered_to(rcpt or "x@y")
        + received(client, by="mx.example.test", protocol="ESMTP", id="i", recipient=rcpt, at=AT)
    )
    lines = block.split(b"\r\n")
    assert lines[-1] == b""
    assert all(b"\r" not in line and b"\n" not in line for line in lines)
    starts = [line.split(b":", 1)[0] for line in lines[:-1] if not line.startswith(b"\t")]
    assert starts == [b"Return-Path", b"Delivered-To", b"Received"]
    parsed = BytesHeaderParser(policy=default).parsebytes(block + b"\r\n")
    assert len(parsed.get_all("Received") or []) == 1
