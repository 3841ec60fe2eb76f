"""`posteingang init`: a complete, working data directory, or nothing at all."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509

from posteingang.auth.passwords import verify_password
from posteingang.auth.scram import verify_scram_password
from posteingang.config import load_config
from posteingang.store.interface import Store
from posteingang.store.model import DEFAULT_MAILBOXES

from .conftest import PASSWORD, assert_one_line_error, invoke
from .storeutil import with_store

PRINTED_PASSWORD = re.compile(r"^\s*password:\s+(\S+)\s*$", re.MULTILINE)


def test_init_creates_everything_and_printed_password_works(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = invoke("init", "--data-dir", str(data), "--hostname", "Mail.Example.NET")
    assert result.exit_code == 0, result.output
    match = PRINTED_PASSWORD.search(result.stdout)
    assert match, result.stdout
    password = match.group(1)
    assert re.fullmatch(r"[a-z0-9]{4}(-[a-z0-9]{4}){3}", password)

    config = load_config(data / "posteingang.toml")
    assert config.server.hostname == "mail.example.net"
    assert config.server.data_dir == data.resolve()
    assert config.store.sqlite_path.is_file()

    async def read(store: Store) -> tuple[list[str], object, list[str]]:
        domains = [d.name for d in await store.list_domains()]
        account = await store.get_account("demo@example.test")
        assert account is not None
        boxes = [m.name for m in await store.list_mailboxes(account.id)]
        return domains, account, boxes

    domains, account, boxes = with_store(data, read)
    assert domains == ["example.test"]
    assert verify_password(account.password_hash, password)  # type: ignore[attr-defined]
    assert not verify_password(account.password_hash, password + "x")  # type: ignore[attr-defined]
    assert verify_scram_password(account.scram_sha256, password)  # type: ignore[attr-defined]
    assert sorted(boxes) == sorted(name for name, _ in DEFAULT_MAILBOXES)


def test_init_certificate_names_validity_and_key_mode(tmp_path: Path) -> None:
    data = tmp_path / "d"
    result = invoke("init", "--data-dir", str(data), "--hostname", "mx.example.org")
    assert result.exit_code == 0, result.output
    cert = x509.load_pem_x509_certificate((data / "tls" / "cert.pem").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["mx.example.org", "localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=824) < lifetime <= dt.timedelta(days=825)
    key_mode = stat.S_IMODE((data / "tls" / "key.pem").stat().st_mode)
    assert key_mode == 0o600


def test_init_password_stdin_with_domain_and_user(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = invoke(
        "init", "--data-dir", str(data), "--domain", "Example.ORG",
        "--user", "Alice@example.org", "--password-stdin", input="s3cret pass\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert "password:" not in result.stdout

    async def read(store: Store) -> str:
        account = await store.get_account("alice@example.org")
        assert account is not None
        return account.password_hash

    assert verify_password(with_store(data, read), "s3cret pass")


def test_init_refuses_an_existing_data_dir(data_dir: Path) -> None:
    config_before = (data_dir / "posteingang.toml").read_bytes()
    cert_before = (data_dir / "tls" / "cert.pem").read_bytes()
    result = invoke("init", "--data-dir", str(data_dir))
    assert_one_line_error(result, 1, "already exists", "--force")
    assert (data_dir / "posteingang.toml").read_bytes() == config_before
    assert (data_dir / "tls" / "cert.pem").read_bytes() == cert_before


def test_init_force_keeps_store_and_resets_password(data_dir: Path) -> None:
    cert_before = (data_dir / "tls" / "cert.pem").read_bytes()
    result = invoke("init", "--data-dir", str(data_dir), "--force", input="")
    assert result.exit_code == 0, result.output
    assert "password reset" in result.stdout
    password = PRINTED_PASSWORD.search(result.stdout).group(1)  # type: ignore[union-attr]
    assert (data_dir / "tls" / "cert.pem").read_bytes() != cert_before

    async def read(store: Store) -> str:
        account = await store.get_account("demo@example.test")
        assert account is not None
        return account.password_hash

    stored = with_store(data_dir, read)
    assert verify_password(stored, password)
    assert not verify_password(stored, PASSWORD)


def test_init_into_an_empty_existing_directory(tmp_path: Path) -> None:
    result = invoke("init", "--data-dir", str(tmp_path), "--password-stdin", input="pw\n")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "posteingang.toml").is_file()


def test_init_bad_input_writes_nothing(tmp_path: Path) -> None:
    cases = [
        (["--user", "not an address"], "invalid"),
        (["--user", "a@b@c"], "invalid"),
        (["--domain", "-bad-.test"], "invalid domain"),
        (["--domain", "example.org", "--user", "x@example.com"], "not in --domain"),
        (["--hostname", "has space"], "host name"),
        (["--password-stdin"], "no password"),
    ]
    for i, (args, fragment) in enumerate(cases):
        data = tmp_path / f"d{i}"
        result = invoke("init", "--data-dir", str(data), *args, input="")
        assert_one_line_error(result, 2, fragment)
        assert not data.exists(), args


def test_init_unusable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke("init", "--data-dir", str(blocker / "sub"), "--password-stdin", input="p\n")
    assert_one_line_error(result, 1, "cannot initialise")


def test_init_writes_the_default_listeners_of_every_protocol_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from posteingang import runtime
    from posteingang.net.settings import ListenerSettings, TlsMode
    from posteingang.service import ProtocolService, Serving

    defaults = (
        ListenerSettings(protocol="ECHO", port=1007, host="127.0.0.1", tls=TlsMode.STARTTLS),
        ListenerSettings(protocol="ECHO", port=1008, host="127.0.0.1", tls=TlsMode.IMPLICIT),
    )
    echo_service = ProtocolService("echo", ("ECHO",), defaults, lambda ctx: Serving())
    monkeypatch.setattr(runtime, "SERVICES", (*runtime.SERVICES, echo_service))
    data = tmp_path / "data"
    result = invoke("init", "--data-dir", str(data), "--password-stdin", input="pw\n")
    assert result.exit_code == 0, result.output
    config = load_config(data / "posteingang.toml")
    echo = [(x.protocol, x.port, str(x.tls)) for x in config.listener if x.protocol == "ECHO"]
    assert echo == [("ECHO", 1007, "starttls"), ("ECHO", 1008, "implicit")]
    assert all(x.protocol != "X" for x in config.listener)
    # the protocols this build serves get their listeners too
    assert {x.protocol for x in config.listener} >= {"ECHO", "POP3"}


def test_operations_doc_lists_every_listener_init_writes() -> None:
    """Issue 11 item 15: docs/operations.md's table of init's listeners omitted IMAP."""
    from posteingang.protocols import config_table
    from posteingang.runtime import SERVICES

    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    rows = set(re.findall(r"^\| (IMAP|POP3|SMTP|LMTP|HTTP) \| (\d+) \| (\w+)", doc, re.M))
    written = {
        (item["protocol"], str(item["port"]), str(item.get("tls", "none")))
        for item in (config_table(d) for s in SERVICES for d in s.default_listeners)
    }
    assert written and rows == written


def test_init_without_hostname_uses_the_machines_name_not_localhost(tmp_path: Path) -> None:
    """Issue 11 item 15: getfqdn() alone says "localhost" where /etc/hosts lists the
    host name after `127.0.0.1 localhost`; the docs promise the machine's name."""
    import socket

    data = tmp_path / "data"
    assert invoke("init", "--data-dir", str(data)).exit_code == 0
    hostname = load_config(data / "posteingang.toml").server.hostname
    short = socket.gethostname().split(".")[0].lower()
    if short != "localhost":
        assert hostname.split(".")[0] == short, hostname
