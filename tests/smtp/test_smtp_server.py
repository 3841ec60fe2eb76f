"""End to end over real sockets: smtplib (SMTP with STARTTLS, LMTP on TCP and UNIX socket),
aiosmtplib, bad clients, limits and timeouts."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from posteingang.smtp.server import DEFAULT_LMTP, DEFAULT_SMTP
from posteingang.smtp.settings import SmtpSettings
from tests.smtp.harness import DOMAIN, body_of
from tests.smtp.server_fixture import RunningServer, running_server

MESSAGE = b"From: Bob <bob@example.org>\r\nSubject: e2e\r\n\r\nHello over the wire.\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("smtp")) as running:
        yield running


def recv_until(sock: socket.socket, marker: bytes, timeout: float = 10) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_smtplib_with_starttls_delivers(server: RunningServer) -> None:
    body = MESSAGE.replace(b"e2e", b"starttls")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("client.example.org")
        assert client.has_extn("starttls") and client.has_extn("pipelining")
        client.starttls(context=server.client_context)
        client.ehlo("client.example.org")
        assert not client.has_extn("starttls")
        refused = client.sendmail("bob@example.org", [f"bob@{DOMAIN}"], body)
        assert refused == {}
    stored = [m for m in server.messages(f"bob@{DOMAIN}") if body_of(m) == body]
    assert len(stored) == 1
    assert b"with ESMTPS id" in stored[0] and b"(TLSv1.3 with cipher " in stored[0]


def test_smtplib_refused_recipients_and_relay(server: RunningServer) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
            client.sendmail(
                "a@example.org", ["nobody@example.test", "x@elsewhere.example"], MESSAGE
            )
        assert info.value.recipients["nobody@example.test"][0] == 550
        assert info.value.recipients["x@elsewhere.example"][0] == 554


def test_lmtp_over_tcp_gives_one_reply_per_recipient(server: RunningServer) -> None:
    body = MESSAGE.replace(b"e2e", b"lmtp-tcp")
    # smtplib.LMTP.sendmail reads a single reply after DATA (it does not implement
    # RFC 2033 §4.2), so the extra per-recipient replies are read by hand.
    with smtplib.LMTP("127.0.0.1", server.lmtp_port, timeout=10) as client:
        client.ehlo_or_helo_if_needed()
        assert client.mail("a@example.org")[0] == 250
        for who in ("bob", "nobody", "carol"):
            client.rcpt(f"{who}@{DOMAIN}")
        first = client.data(body)
        second = client.getreply()
        assert first == (250, b"2.0.0 <bob@example.test> Message stored")
        assert second == (250, b"2.0.0 <carol@example.test> Message stored")
    for who in ("bob", "carol"):
        assert sum(body_of(m) == body for m in server.messages(f"{who}@{DOMAIN}")) == 1


def test_lmtp_over_unix_socket(server: RunningServer) -> None:
    assert server.lmtp_socket is not None
    body = MESSAGE.replace(b"e2e", b"lmtp-unix")
    with smtplib.LMTP(str(server.lmtp_socket), timeout=10, local_hostname="[127.0.0.1]") as client:
        assert client.sendmail("a@example.org", [f"carol@{DOMAIN}"], body) == {}
    (stored,) = [m for m in server.messages(f"carol@{DOMAIN}") if body_of(m) == body]
    assert b"Received: from [127.0.0.1] (local)\r\n" in stored
    assert b"\twith LMTP id " in stored


def test_aiosmtplib_with_starttls(server: RunningServer) -> None:
    aiosmtplib = pytest.importorskip("aiosmtplib")
    body = MESSAGE.replace(b"e2e", b"aiosmtplib")

    async def send() -> None:
        await aiosmtplib.send(
            body,
            sender="bob@example.org",
            recipients=[f"carol@{DOMAIN}"],
            hostname="127.0.0.1",
            port=server.smtp_port,
            start_tls=True,
            tls_context=server.client_context,
        )

    import asyncio

    asyncio.run(send())
    assert sum(body_of(m) == body for m in server.messages(f"carol@{DOMAIN}")) == 1


def test_megabyte_command_line_gets_500_and_session_continues(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.smtp_port), timeout=10) as sock:
        recv_until(sock, b"\r\n")
        sock.sendall(b"EHLO " + b"x" * (1024 * 1024) + b"\r\n")
        assert recv_until(sock, b"\r\n").startswith(b"500 5.5.2")
        sock.sendall(b"NOOP\r\n")
        assert recv_until(sock, b"\r\n").startswith(b"250")


def test_client_vanishing_mid_data_stores_nothing_and_others_go_on(
    server: RunningServer,
) -> None:
    marker = b"vanishing-client-marker"
    with socket.create_connection(("127.0.0.1", server.lmtp_port), timeout=10) as sock:
        recv_until(sock, b"\r\n")
        sock.sendall(f"LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@{DOMAIN}>\r\nDATA\r\n".encode())
        assert b"354" in recv_until(sock, b"354")
        sock.sendall(b"Subject: " + marker + b"\r\n\r\n" + b"z" * 3_000_000)
        # meanwhile another client delivers normally
        with smtplib.LMTP("127.0.0.1", server.lmtp_port, timeout=10) as other:
            assert other.sendmail("a@example.org", [f"bob@{DOMAIN}"], MESSAGE + b"x\r\n") == {}
    time.sleep(0.3)
    assert not any(marker in m for m in server.messages(f"bob@{DOMAIN}"))
    spool = server.data_dir / "spool"
    assert not spool.exists() or list(spool.iterdir()) == []


def test_failed_tls_handshake_closes_the_connection(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.smtp_port), timeout=10) as sock:
        recv_until(sock, b"\r\n")
        sock.sendall(b"EHLO c\r\n")
        recv_until(sock, b"250 ")
        sock.sendall(b"STARTTLS\r\n")
        assert recv_until(sock, b"\r\n").startswith(b"220 2.0.0")
        sock.sendall(b"this is not a TLS ClientHello\r\nMAIL FROM:<a@b.example>\r\n")
        rest = recv_until(sock, b"never")
        assert b"250" not in rest  # nothing was run as a command; the server hung up


def test_connection_limit_per_ip_and_command_timeout(tmp_path: Path) -> None:
    smtp = msgspec.structs.replace(DEFAULT_SMTP, port=0, max_connections_per_ip=2)
    settings = SmtpSettings(command_timeout=0.5, data_timeout=0.5)
    lmtp = msgspec.structs.replace(DEFAULT_LMTP, port=0)
    with running_server(tmp_path, settings, smtp=smtp, lmtp=lmtp) as server:
        socks = [socket.create_connection(("127.0.0.1", server.smtp_port)) for _ in range(3)]
        try:
            greetings = [recv_until(s, b"\r\n") for s in socks]
            assert sum(g.startswith(b"220") for g in greetings) == 2
            assert sum(g.startswith(b"421 4.7.0") for g in greetings) == 1
            # silence: the server says 421 4.4.2 and closes (RFC 5321 §4.5.3.2.7)
            served = next(s for s, g in zip(socks, greetings, strict=True) if g.startswith(b"220"))
            assert recv_until(served, b"never", timeout=5).startswith(b"421 4.4.2")
        finally:
            for s in socks:
                s.close()
        # stopping mid-DATA (no more data, no dot) times out too, nothing stored
        with socket.create_connection(("127.0.0.1", server.smtp_port), timeout=10) as sock:
            recv_until(sock, b"\r\n")
            sock.sendall(f"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@{DOMAIN}>\r\nDATA\r\n".encode())
            recv_until(sock, b"354")
            sock.sendall(b"Subject: stalled\r\n\r\nhalf a messa")
            assert b"421 4.4.2" in recv_until(sock, b"never", timeout=5)
        assert server.messages(f"bob@{DOMAIN}") == []


def test_stopping_server_lets_a_message_in_transit_finish_then_says_421(tmp_path: Path) -> None:
    with (
        running_server(tmp_path) as server,
        socket.create_connection(("127.0.0.1", server.lmtp_port), timeout=10) as sock,
    ):
        recv_until(sock, b"\r\n")
        sock.sendall(f"LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<bob@{DOMAIN}>\r\nDATA\r\n".encode())
        recv_until(sock, b"354")
        sock.sendall(b"Subject: in transit\r\n\r\nfirst half, ")
        stops: list[asyncio.Task[None]] = []

        async def begin_stop() -> None:
            stops.append(asyncio.ensure_future(server.server.stop(60)))
            await asyncio.sleep(0)  # stop() sets `stopping` before its first wait

        server.call(begin_stop)
        assert server.server.stopping.is_set()
        sock.sendall(b"second half\r\n.\r\n")
        replies = recv_until(sock, b"never")  # until the server closes
        assert replies.startswith(b"250 ") and b"\r\n421 4.3.2 " in replies
        assert replies.endswith(b"\r\n")
        server.call(lambda: asyncio.wait_for(stops[0], 30))
        assert [body_of(m) for m in server.messages(f"bob@{DOMAIN}")] == [
            b"Subject: in transit\r\n\r\nfirst half, second half\r\n"
        ]


def test_stopping_server_says_421_to_idle_clients(tmp_path: Path) -> None:
    with (
        running_server(tmp_path) as server,
        socket.create_connection(("127.0.0.1", server.smtp_port), timeout=10) as sock,
    ):
        recv_until(sock, b"\r\n")
        sock.sendall(b"EHLO c\r\n")
        recv_until(sock, b"250 ")
        started = time.monotonic()
        server.call(lambda: server.server.stop(10))
        assert recv_until(sock, b"\r\n").startswith(b"421 4.3.2")
        assert time.monotonic() - started < 5  # not after the grace period
