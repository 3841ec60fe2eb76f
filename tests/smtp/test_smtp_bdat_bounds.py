"""Over real sockets: a BDAT chunk size that can never be taken is answered at once
(issue 10, item 10), on SMTP and on LMTP, and the session goes on."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.smtp.harness import DOMAIN
from tests.smtp.server_fixture import RunningServer, running_server

SIZE = 100_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("bdat"), max_message_size=SIZE) as running:
        yield running


class Line:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        assert self.file.readline().startswith(b"220 ")

    def reply(self) -> bytes:
        """One whole (possibly multi-line) reply; the socket timeout fails a hang."""
        lines = b""
        while True:
            line = self.file.readline()
            assert line, "connection closed"
            lines += line
            if line[3:4] == b" ":
                return lines

    def send(self, data: bytes) -> bytes:
        self.sock.sendall(data)
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.mark.parametrize("lmtp", [False, True], ids=["smtp", "lmtp"])
@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (b"99999999999999999999", b"501 5.5.4 Invalid chunk size parameter"),
        (b"18446744073709551616", b"501 5.5.4 Invalid chunk size parameter"),
        (b"%d" % (SIZE + 1), b"552 5.3.4 "),
        (b"9223372036854775807", b"552 5.3.4 "),
    ],
)
def test_impossible_chunk_size_is_answered_at_once(
    server: RunningServer, lmtp: bool, size: bytes, expected: bytes
) -> None:
    c = Line(server.lmtp_port if lmtp else server.smtp_port)
    try:
        assert c.send(b"LHLO c\r\n" if lmtp else b"EHLO c\r\n").startswith(b"250")
        assert c.send(b"MAIL FROM:<x@example.org>\r\n").startswith(b"250")
        assert c.send(f"RCPT TO:<bob@{DOMAIN}>\r\n".encode()).startswith(b"250")
        assert c.send(b"BDAT " + size + b" LAST\r\n").startswith(expected)
        # The session is usable: a whole new transaction goes through.
        assert c.send(b"RSET\r\n").startswith(b"250")
        assert c.send(b"MAIL FROM:<x@example.org>\r\n").startswith(b"250")
        assert c.send(f"RCPT TO:<bob@{DOMAIN}>\r\n".encode()).startswith(b"250")
        body = b"Subject: after-bdat\r\n\r\nhello\r\n"
        assert c.send(b"BDAT %d LAST\r\n" % len(body) + body).startswith(b"250")
        assert c.send(b"QUIT\r\n").startswith(b"221")
    finally:
        c.close()


def test_impossible_chunk_before_mail_is_answered_at_once(server: RunningServer) -> None:
    c = Line(server.smtp_port)
    try:
        assert c.send(b"EHLO c\r\n").startswith(b"250")
        assert c.send(b"BDAT 9999999999 LAST\r\n").startswith(b"552 5.3.4 ")
        assert c.send(b"NOOP\r\n").startswith(b"250")
    finally:
        c.close()
