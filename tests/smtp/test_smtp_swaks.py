"""swaks (Debian) against the real server: pipelining, STARTTLS, LMTP over TCP and UNIX socket.

The Debian swaks (20201014) has no BDAT option; BDAT is driven over a raw socket here.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.smtp.harness import DOMAIN, body_of
from tests.smtp.server_fixture import RunningServer, running_server

pytestmark = pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("swaks")) as running:
        yield running


def swaks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["swaks", "--hide-informational", "--timeout", "10", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def stored_with(server: RunningServer, who: str, marker: str) -> list[bytes]:
    return [m for m in server.messages(f"{who}@{DOMAIN}") if marker.encode() in m]


def test_swaks_pipelining(server: RunningServer) -> None:
    result = swaks(
        "--server", f"127.0.0.1:{server.smtp_port}", "--pipeline",
        "--from", "x@example.org", "--to", f"bob@{DOMAIN},carol@{DOMAIN}",
        "--header", "Subject: swaks-pipeline",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PIPELINING" in result.stdout
    assert len(stored_with(server, "bob", "swaks-pipeline")) == 1
    assert len(stored_with(server, "carol", "swaks-pipeline")) == 1


def test_swaks_starttls(server: RunningServer) -> None:
    result = swaks(
        "--server", f"127.0.0.1:{server.smtp_port}", "--tls", "--pipeline",
        "--from", "x@example.org", "--to", f"bob@{DOMAIN}",
        "--header", "Subject: swaks-starttls",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (stored,) = stored_with(server, "bob", "swaks-starttls")
    assert b"with ESMTPS id" in stored


def test_swaks_refused_recipient_exit_status(server: RunningServer) -> None:
    result = swaks(
        "--server", f"127.0.0.1:{server.smtp_port}",
        "--from", "x@example.org", "--to", "someone@elsewhere.example",
    )  # fmt: skip
    assert result.returncode != 0
    assert "554 5.7.1" in result.stdout


def test_swaks_lmtp_tcp_and_unix_socket(server: RunningServer) -> None:
    assert server.lmtp_socket is not None
    tcp = swaks(
        "--server", f"127.0.0.1:{server.lmtp_port}", "--protocol", "LMTP",
        "--from", "x@example.org", "--to", f"carol@{DOMAIN}",
        "--header", "Subject: swaks-lmtp-tcp",
    )  # fmt: skip
    unix = swaks(
        "--socket", str(server.lmtp_socket), "--protocol", "LMTP",
        "--from", "x@example.org", "--to", f"carol@{DOMAIN}",
        "--header", "Subject: swaks-lmtp-unix",
    )  # fmt: skip
    assert tcp.returncode == 0, tcp.stdout + tcp.stderr
    assert unix.returncode == 0, unix.stdout + unix.stderr
    assert len(stored_with(server, "carol", "swaks-lmtp-tcp")) == 1
    assert len(stored_with(server, "carol", "swaks-lmtp-unix")) == 1


def test_bdat_over_a_raw_socket(server: RunningServer) -> None:
    body = b"Subject: raw-bdat\r\n\r\n.a dot that DATA would have stuffed\r\n"
    with socket.create_connection(("127.0.0.1", server.smtp_port), timeout=10) as sock:
        sock.sendall(
            f"EHLO c\r\nMAIL FROM:<x@example.org>\r\nRCPT TO:<bob@{DOMAIN}>\r\n".encode()
            + b"BDAT 10\r\n"
            + body[:10]
            + b"BDAT %d LAST\r\n" % (len(body) - 10)
            + body[10:]
            + b"QUIT\r\n"
        )
        sock.settimeout(10)
        replies = b""
        while b"221 " not in replies:
            chunk = sock.recv(4096)
            if not chunk:
                break
            replies += chunk
    assert b"250 2.0.0 10 octets received" in replies
    assert b"250 2.0.0 Message stored" in replies
    (stored,) = stored_with(server, "bob", "raw-bdat")
    assert body_of(stored) == body
