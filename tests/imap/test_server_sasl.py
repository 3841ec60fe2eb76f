"""SASL over real sockets with real clients: imaplib AUTHENTICATE (PLAIN, SCRAM-SHA-256), curl.

The SCRAM client here is written from RFC 5802 §3 (it is the client side, which
the server code does not contain), so a server bug cannot cancel itself out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import imaplib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.imap.harness import ALICE, PASSWORD
from tests.imap.server_fixture import RunningServer, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(Path(tmp_path_factory.mktemp("imap-sasl"))) as running:
        yield running


class ScramClient:
    """RFC 5802 client for imaplib.authenticate: called once per server challenge."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.step = 0
        self.server_signature = b""

    def __call__(self, challenge: bytes) -> bytes:
        self.step += 1
        if self.step == 1:
            self.first_bare = f"n={self.user},r={self.nonce}"
            return ("n,," + self.first_bare).encode()
        if self.step == 2:
            fields = dict(item.split("=", 1) for item in challenge.decode().split(","))
            assert fields["r"].startswith(self.nonce)
            salt = base64.b64decode(fields["s"])
            salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, int(fields["i"]))
            client_key = hmac.digest(salted, b"Client Key", "sha256")
            stored_key = hashlib.sha256(client_key).digest()
            without_proof = f"c=biws,r={fields['r']}"
            auth_message = f"{self.first_bare},{challenge.decode()},{without_proof}".encode()
            signature = hmac.digest(stored_key, auth_message, "sha256")
            proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
            server_key = hmac.digest(salted, b"Server Key", "sha256")
            self.server_signature = hmac.digest(server_key, auth_message, "sha256")
            return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
        # server-final-message: "v=<signature>" must prove the server knows the key
        assert challenge == b"v=" + base64.b64encode(self.server_signature)
        return b""


def test_imaplib_authenticate_plain(server: RunningServer) -> None:
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    try:
        typ, _ = imap.authenticate("PLAIN", lambda _: f"\0{ALICE}\0{PASSWORD}".encode())
        assert typ == "OK"
        assert imap.select("INBOX")[0] == "OK"
    finally:
        imap.logout()


def test_imaplib_authenticate_scram_sha_256(server: RunningServer) -> None:
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    try:
        client = ScramClient(ALICE, PASSWORD)
        typ, _ = imap.authenticate("SCRAM-SHA-256", client)
        assert typ == "OK" and client.step == 3
    finally:
        imap.logout()


def test_imaplib_scram_with_a_wrong_password_fails(server: RunningServer) -> None:
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            imap.authenticate("SCRAM-SHA-256", ScramClient(ALICE, "not the password"))
    finally:
        imap.logout()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_curl_sasl(server: RunningServer, mechanism: str) -> None:
    result = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--max-time", "20",
            "--url", f"imap://127.0.0.1:{server.imap_port}/INBOX",
            "--user", f"{ALICE}:{PASSWORD}", "--login-options", f"AUTH={mechanism}",
            "--request", "STATUS INBOX (MESSAGES)",
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "STATUS INBOX (MESSAGES" in result.stdout
