"""Issue 11 item 17: UTF-8 local parts (RFC 6531/6532) work end to end.

SMTPUTF8 was advertised, but `user add jürgen@example.test` was refused, so
mail for him could never arrive. Now: the CLI adds him, SMTP and LMTP with
SMTPUTF8 deliver to him, and he logs in over IMAP (SASL PLAIN and LOGIN with
literals) and POP3 (USER/PASS) and finds both messages.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import subprocess
from pathlib import Path

import pytest

from posteingang.store import names
from posteingang.store.interface import InvalidName
from tests.delivery.test_deliver_cli import POSTEINGANG
from tests.serving import serve_process
from tests.smtp.test_smtp_crash import free_port

USER = "jürgen@example.test"
PASSWORD = "wörter-passwort-1"


def _listeners(config: Path) -> dict[str, int]:
    ports = {"SMTP": free_port(), "LMTP": free_port(), "IMAP": free_port(), "POP3": free_port()}
    head = config.read_text().split("\n[[listener]]\n")[0]
    tables = "".join(
        f'\n[[listener]]\nprotocol = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
        for name, port in ports.items()
    )
    config.write_text(head + tables)
    return ports


def _recv(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_nfc_and_case_make_one_account() -> None:
    assert names.normalize_address("JU\u0308RGEN@Example.Test") == USER
    for bad in ("a\u200bb@example.test", "a\u00a0b@example.test", "ü" * 33 + "@example.test"):
        with pytest.raises(InvalidName):
            names.normalize_address(bad)


def test_utf8_local_part_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = data / "posteingang.toml"
    subprocess.run(
        [POSTEINGANG, "init", "--data-dir", str(data), "--hostname", "mx.example.test"],
        check=True,
        capture_output=True,
    )
    added = subprocess.run(
        [POSTEINGANG, "--config", str(config), "user", "add", USER, "--password-stdin"],
        input=(PASSWORD + "\n").encode(),
        capture_output=True,
    )
    assert added.returncode == 0, added.stderr
    assert USER in added.stdout.decode()
    ports = _listeners(config)
    proc = serve_process(config, stderr=subprocess.DEVNULL)
    try:
        message = f"From: a@example.org\r\nTo: {USER}\r\nSubject: Grüße\r\n\r\nHallo\r\n"
        with smtplib.SMTP("127.0.0.1", ports["SMTP"], timeout=10) as client:
            client.ehlo("client.example.org")
            assert client.has_extn("smtputf8")
            refused = client.sendmail(
                "a@example.org", [USER], message.encode(), mail_options=["SMTPUTF8"]
            )
            assert refused == {}
        with smtplib.LMTP("127.0.0.1", ports["LMTP"], timeout=10) as client:
            refused = client.sendmail(
                "a@example.org",
                [USER.upper()],
                message.replace("Hallo", "Hallo über LMTP").encode(),
                mail_options=["SMTPUTF8"],
            )
            assert refused == {}

        imap = imaplib.IMAP4("127.0.0.1", ports["IMAP"], timeout=10)
        plain = b"\0" + USER.encode() + b"\0" + PASSWORD.encode()
        assert imap.authenticate("PLAIN", lambda _: plain)[0] == "OK"
        status, count = imap.select("INBOX")
        assert status == "OK" and count == [b"2"]
        imap.logout()

        pop = poplib.POP3("127.0.0.1", ports["POP3"], timeout=10)  # sends UTF-8
        assert "USER" in pop.capa().get("UTF8", [])  # RFC 6856: UTF-8 user names
        pop.user(USER)
        pop.pass_(PASSWORD)
        assert pop.stat()[0] == 2
        pop.quit()

        # LOGIN with the user name as a literal (8-bit octets need one before UTF8=ACCEPT)
        with socket.create_connection(("127.0.0.1", ports["IMAP"]), timeout=10) as sock:
            _recv(sock, b"\r\n")
            user, password = USER.encode(), PASSWORD.encode()
            sock.sendall(b"a LOGIN {%d}\r\n" % len(user))
            assert _recv(sock, b"\r\n").startswith(b"+")
            sock.sendall(user + b" {%d}\r\n" % len(password))
            assert _recv(sock, b"\r\n").startswith(b"+")
            sock.sendall(password + b"\r\n")
            assert b"a OK" in _recv(sock, b"a ")
    finally:
        proc.terminate()
        proc.wait(30)
