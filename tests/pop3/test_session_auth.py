"""AUTHORIZATION: USER/PASS, APOP, AUTH (PLAIN, LOGIN, SCRAM-SHA-256), STLS, cleartext policy."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from posteingang.auth.scram import derive_scram_sha256
from posteingang.pop3.policy import Pop3Settings
from posteingang.pop3.proto import apop_digest
from posteingang.store.sqlite.store import SqliteStore
from tests.pop3.harness import (
    ALICE,
    PASSWORD,
    add_account,
    deliver_many,
    make_services,
    open_client,
    store_with_account,
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with store_with_account(tmp_path) as s:
        yield s


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_wrong_password_then_right_one(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        assert await c.cmd(f"USER {ALICE}") == "+OK send PASS"
        assert await c.cmd("PASS wrong") == "-ERR [AUTH] Authentication failed"
        # A failed PASS goes back to AUTHORIZATION: PASS alone is refused now.
        assert (await c.cmd("PASS " + PASSWORD)).startswith("-ERR PASS must follow")
        assert await c.cmd("USER nobody@example.test") == "+OK send PASS"
        assert await c.cmd("PASS x") == "-ERR [AUTH] Authentication failed"
        assert (await c.login()).startswith("+OK maildrop has")


async def test_password_with_spaces(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        assert (await c.login(ALICE, "correct horse")).startswith("+OK")


async def test_cleartext_refused_from_remote_without_tls(store: SqliteStore) -> None:
    async with open_client(make_services(store), address="192.0.2.7") as c:
        await c.cmd("CAPA")
        caps = await c.multiline()
        assert "USER" not in caps
        sasl = next(ln for ln in caps if ln.startswith("SASL"))
        assert "PLAIN" not in sasl.split() and "SCRAM-SHA-256" in sasl.split()
        assert (await c.cmd(f"USER {ALICE}")).startswith("-ERR Plaintext authentication")
        assert (await c.cmd("AUTH PLAIN " + b64(f"\0{ALICE}\0{PASSWORD}".encode()))).startswith(
            "-ERR Unsupported"
        )
        # After STLS the same is fine.
        assert await c.cmd("STLS") == "+OK Begin TLS negotiation"
        assert c.transport.tls
        await c.cmd("CAPA")
        caps = await c.multiline()
        assert "USER" in caps and "STLS" not in caps
        assert (await c.login()).startswith("+OK maildrop")


async def test_cleartext_allowed_when_configured(store: SqliteStore) -> None:
    services = make_services(store, Pop3Settings(allow_plaintext_auth=True))
    async with open_client(services, address="192.0.2.7") as c:
        assert (await c.login()).startswith("+OK maildrop")


async def test_implicit_tls_allows_passwords(store: SqliteStore) -> None:
    async with open_client(make_services(store), address="192.0.2.7", tls_active=True) as c:
        assert (await c.cmd("STLS")) == "-ERR TLS is already active"
        assert (await c.login()).startswith("+OK maildrop")


async def test_stls_discards_pipelined_plaintext(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        c.send(f"STLS\r\nUSER {ALICE}\r\n".encode())
        assert await c.line() == "+OK Begin TLS negotiation"
        # The pipelined USER was thrown away: PASS now is out of order.
        assert (await c.cmd("PASS " + PASSWORD)).startswith("-ERR PASS must follow")


async def test_stls_unavailable(store: SqliteStore) -> None:
    async with open_client(make_services(store), tls_available=False) as c:
        await c.cmd("CAPA")
        assert "STLS" not in await c.multiline()
        assert await c.cmd("STLS") == "-ERR TLS is not available"


async def test_failed_handshake_ends_session(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        c.transport.fail_tls = True
        assert await c.cmd("STLS") == "+OK Begin TLS negotiation"
        await c.finished()


async def test_auth_plain_with_initial_response(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        ir = b64(f"\0{ALICE}\0{PASSWORD}".encode())
        assert (await c.cmd(f"AUTH PLAIN {ir}")).startswith("+OK maildrop")


async def test_auth_plain_with_challenge_and_bad_password(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        assert await c.cmd("AUTH PLAIN") == "+ "
        assert await c.cmd(b64(f"\0{ALICE}\0nope".encode())) == "-ERR [AUTH] Authentication failed"
        assert await c.cmd("AUTH PLAIN") == "+ "
        assert await c.cmd("*") == "-ERR [AUTH] Authentication failed"
        assert await c.cmd("AUTH PLAIN") == "+ "
        assert (await c.cmd("!!notbase64!!")).startswith("-ERR")
        # Back in AUTHORIZATION after each: a normal login still works.
        assert (await c.login()).startswith("+OK maildrop")


async def test_auth_login(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        assert (await c.cmd("AUTH LOGIN")).startswith("+ ")
        assert (await c.cmd(b64(ALICE.encode()))).startswith("+ ")
        assert (await c.cmd(b64(PASSWORD.encode()))).startswith("+OK maildrop")


async def test_auth_unknown_mechanism(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        assert (await c.cmd("AUTH GSSAPI")).startswith("-ERR Unsupported authentication")


async def test_auth_scram_sha_256(store: SqliteStore) -> None:
    account = await store.get_account(ALICE)
    assert account is not None
    await store.set_password(account.id, account.password_hash, derive_scram_sha256(PASSWORD))
    async with open_client(make_services(store), address="192.0.2.9") as c:
        assert await c.cmd("AUTH SCRAM-SHA-256") == "+ "
        client_first_bare = f"n={ALICE},r=clientnonce123"
        server_first = await c.cmd(b64(("n,," + client_first_bare).encode()))
        assert server_first.startswith("+ ")
        attrs = dict(
            kv.split("=", 1) for kv in base64.b64decode(server_first[2:]).decode().split(",")
        )
        salted = hashlib.pbkdf2_hmac(
            "sha256", PASSWORD.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
        )
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = (
            f"{client_first_bare},{base64.b64decode(server_first[2:]).decode()},{without_proof}"
        )
        signature = hmac.digest(stored_key, auth_message.encode(), "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        final = await c.cmd(b64(f"{without_proof},p={b64(proof)}".encode()))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        expected = hmac.digest(server_key, auth_message.encode(), "sha256")
        assert final == "+ " + b64(f"v={b64(expected)}".encode())
        assert (await c.cmd("")).startswith("+OK maildrop")


async def test_apop_off_by_default(store: SqliteStore) -> None:
    async with open_client(make_services(store)) as c:
        assert "<" not in c.log[0]
        assert await c.cmd(f"APOP {ALICE} {'0' * 32}") == "-ERR APOP is not enabled"


async def test_apop_with_plain_secret(store: SqliteStore) -> None:
    await add_account(store, "bob@example.test", "bobsecret")
    services = make_services(store, Pop3Settings(apop=True))
    async with open_client(services, address="192.0.2.1") as c:
        timestamp = c.log[0][c.log[0].index("<") :]
        digest = apop_digest(timestamp, "bobsecret")
        assert (
            await c.cmd(f"APOP bob@example.test {'0' * 32}") == "-ERR [AUTH] Authentication failed"
        )
        assert (await c.cmd(f"APOP bob@example.test {digest}")).startswith("+OK maildrop")


async def test_apop_fails_for_hashed_password(store: SqliteStore) -> None:
    account = await store.get_account(ALICE)
    assert account is not None
    await store.set_password(account.id, "{SHA256}" + b64(hashlib.sha256(b"pw").digest()))
    async with open_client(make_services(store, Pop3Settings(apop=True))) as c:
        timestamp = c.log[0][c.log[0].index("<") :]
        reply = await c.cmd(f"APOP {ALICE} {apop_digest(timestamp, 'pw')}")
        assert reply == "-ERR [AUTH] Authentication failed"


async def test_device_password_logs_in_as_device(store: SqliteStore) -> None:
    from posteingang.auth.passwords import hash_password

    account = await store.get_account(ALICE)
    assert account is not None
    await store.add_device(account.id, "phone", hash_password("abcd-efgh-ijkl-mnop"))
    await deliver_many(store, 1)
    services = make_services(store)
    async with open_client(services) as c:
        assert (await c.login(ALICE, "abcd-efgh-ijkl-mnop")).startswith("+OK maildrop has 1")
        assert c.session.login is not None and c.session.login.device is not None
        assert c.session.login.device.name == "phone"
