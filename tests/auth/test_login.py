"""The shared login: accounts, device passwords, throttling, re-hashing, SASL glue."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posteingang.auth import login as login_module
from posteingang.auth import passwords
from posteingang.auth.login import (
    LoginResult,
    authenticate,
    authenticate_sasl,
    cleartext_allowed,
    is_loopback,
)
from posteingang.auth.passwords import hash_password, verify_password
from posteingang.auth.sasl import create_mechanism
from posteingang.auth.scram import derive_scram_sha256, parse_scram_record, salted_password
from posteingang.auth.throttle import Throttle, ThrottlePolicy
from posteingang.store.memory import MemoryStore
from posteingang.store.model import Account
from tests.auth.hashes import argon2_parameters, record_hash_checks

PASSWORD = "correct horse battery staple"
DEVICE_PASSWORD = "abcd-efgh-ijkl-mnop"


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.lines.append(event)


@pytest.fixture
async def store() -> MemoryStore:
    s = MemoryStore()
    await s.add_domain("example.test")
    await s.create_account(
        "alice@example.test", hash_password(PASSWORD), scram_sha256=derive_scram_sha256(PASSWORD)
    )
    return s


@pytest.fixture
def lines() -> Lines:
    return Lines()


@pytest.fixture
def throttle(lines: Lines) -> Throttle:
    return Throttle(ThrottlePolicy(first_delay=0.01, max_delay=0.02), logger=lines)


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every stored hash the login verified against (None: the dummy)."""
    seen: list[str | None] = []
    real = passwords.verify_password_async

    async def counting(stored: str | None, password: str) -> bool:
        seen.append(stored)
        return await real(stored, password)

    monkeypatch.setattr(login_module, "verify_password_async", counting)
    return seen


async def login(
    store: MemoryStore, throttle: Throttle, user: str, password: str, **kw: Any
) -> LoginResult:
    values: dict[str, Any] = {"protocol": "imap", "address": "192.0.2.1"}
    values.update(kw)
    return await authenticate(store, throttle, username=user, password=password, **values)


async def account(store: MemoryStore) -> Account:
    found = await store.get_account("alice@example.test")
    assert found is not None
    return found


# --- passwords ------------------------------------------------------------------------------


async def test_good_password_logs_in_and_is_recorded(
    store: MemoryStore, throttle: Throttle
) -> None:
    result = await login(store, throttle, "Alice@Example.test", PASSWORD, client_id="Thunderbird")
    assert result.ok and result.account is not None and result.device is None
    assert result.account.address == "alice@example.test"
    [record] = await store.list_logins(result.account.id)
    assert (record.protocol, record.address, record.client_id, record.device_id) == (
        "imap",
        "192.0.2.1",
        "Thunderbird",
        None,
    )


async def test_wrong_password_and_unknown_user_look_the_same(
    store: MemoryStore, throttle: Throttle, lines: Lines, verifications: list[str | None]
) -> None:
    wrong = await login(store, throttle, "alice@example.test", "nope")
    unknown = await login(store, throttle, "mallory@example.test", "nope", address="192.0.2.2")
    assert not wrong.ok and not unknown.ok
    assert wrong.account is unknown.account is None
    # The unknown user still cost a (dummy) verification: no timing difference to see.
    assert len(verifications) == 2 and verifications[1] is None
    assert lines.lines == [
        "posteingang auth failure: protocol=imap address=192.0.2.1 "
        "user=alice@example.test reason=bad-password",
        "posteingang auth failure: protocol=imap address=192.0.2.2 "
        "user=mallory@example.test reason=unknown-user",
    ]


async def test_unknown_user_costs_the_same_hash_check_as_a_wrong_password(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply time must not say whether the account exists: an unknown user costs one
    argon2id verification with the same parameters as the account's own hash (the time
    itself is not measured; it follows from the work done)."""
    checked = record_hash_checks(monkeypatch)
    throttle = Throttle(ThrottlePolicy(free_failures=1000, block_after=1000), logger=Lines())
    account = await store.get_account("alice@example.test")
    assert account is not None
    assert not (await login(store, throttle, "alice@example.test", "wrong password")).ok
    assert not (await login(store, throttle, "nobody@example.test", "wrong password")).ok
    assert len(checked) == 2 and checked[0] == account.password_hash
    assert checked[1] != account.password_hash  # the dummy, really verified
    assert argon2_parameters(checked[1]) == argon2_parameters(checked[0])


async def test_blocked_client_gets_the_same_failure_without_a_password_check(
    store: MemoryStore, lines: Lines, verifications: list[str | None]
) -> None:
    throttle = Throttle(ThrottlePolicy(free_failures=100, block_after=3), logger=lines)
    for _ in range(3):
        assert not (await login(store, throttle, "alice@example.test", "guess")).ok
    assert len(verifications) == 3
    result = await login(store, throttle, "alice@example.test", PASSWORD)
    assert not result.ok and result.reason == "blocked"
    assert len(verifications) == 3  # no verification for a blocked attempt
    assert lines.lines[-1].endswith("reason=blocked")
    throttle.lift("192.0.2.1")
    throttle.lift("alice@example.test")
    assert (await login(store, throttle, "alice@example.test", PASSWORD)).ok


async def test_failures_are_delayed(store: MemoryStore) -> None:
    throttle = Throttle(
        ThrottlePolicy(free_failures=1, first_delay=0.3, block_after=100), logger=Lines()
    )
    await login(store, throttle, "alice@example.test", "x")
    await login(store, throttle, "alice@example.test", "x")
    start = time.monotonic()
    result = await login(store, throttle, "alice@example.test", PASSWORD)
    assert result.ok and result.delayed == 0.3  # one failure past the free one: first_delay
    assert time.monotonic() - start >= 0.28  # a lower bound: not checked before the delay


@pytest.mark.parametrize(
    "password", ["", "x" * (passwords.MAX_PASSWORD_BYTES + 1)], ids=["empty", "huge"]
)
async def test_implausible_input_fails_without_hashing(
    store: MemoryStore, throttle: Throttle, verifications: list[str | None], password: str
) -> None:
    result = await login(store, throttle, "alice@example.test", password)
    assert not result.ok and result.reason == "bad-request"
    assert verifications == []
    assert not (await login(store, throttle, "", PASSWORD)).ok
    assert not (await login(store, throttle, "a\x00b@example.test", PASSWORD)).ok


# --- devices --------------------------------------------------------------------------------


async def test_device_password_logs_in_as_the_account_and_is_recorded(
    store: MemoryStore, throttle: Throttle
) -> None:
    acc = await account(store)
    device = await store.add_device(acc.id, "phone", hash_password(DEVICE_PASSWORD))
    result = await login(store, throttle, "alice@example.test", DEVICE_PASSWORD, protocol="POP3")
    assert result.ok and result.device is not None and result.device.id == device.id
    [shown] = await store.list_devices(acc.id)
    assert (shown.last_protocol, shown.last_address) == ("pop3", "192.0.2.1")
    [record] = await store.list_logins(acc.id)
    assert record.device_id == device.id
    # The account password still works, and is not recorded as the device.
    again = await login(store, throttle, "alice@example.test", PASSWORD)
    assert again.ok and again.device is None


async def test_revoked_device_password_fails(store: MemoryStore, throttle: Throttle) -> None:
    acc = await account(store)
    await store.add_device(acc.id, "old laptop", hash_password(DEVICE_PASSWORD))
    await store.revoke_device(acc.id, "old laptop")
    result = await login(store, throttle, "alice@example.test", DEVICE_PASSWORD)
    assert not result.ok and result.reason == "bad-password"


async def test_typed_password_costs_one_verification_however_many_devices(
    store: MemoryStore, throttle: Throttle, verifications: list[str | None]
) -> None:
    acc = await account(store)
    for i in range(3):
        await store.add_device(acc.id, f"d{i}", "{PLAIN}zzzz-zzzz-zzzz-zzzz")
    await login(store, throttle, "alice@example.test", "not device shaped")
    assert len(verifications) == 1


# --- re-hashing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "old_hash",
    [
        "{PLAIN}" + PASSWORD,
        "{SSHA256}"
        + base64.b64encode(hashlib.sha256(PASSWORD.encode() + b"salt").digest() + b"salt").decode(),
    ],
)
async def test_imported_hash_is_upgraded_to_argon2id_with_a_scram_record(
    throttle: Throttle, old_hash: str
) -> None:
    store = MemoryStore()
    await store.add_domain("example.test")
    await store.create_account("bob@example.test", old_hash)
    assert (await login(store, throttle, "bob@example.test", PASSWORD)).ok
    bob = await store.get_account("bob@example.test")
    assert bob is not None and bob.password_hash.startswith("{ARGON2ID}$argon2id$")
    assert verify_password(bob.password_hash, PASSWORD)
    assert bob.scram_sha256 is not None and parse_scram_record(bob.scram_sha256) is not None
    # and SCRAM now works for bob
    result = await scram_login(store, throttle, "bob@example.test", PASSWORD)
    assert result.login.ok


async def test_current_hash_with_scram_is_left_alone(
    store: MemoryStore, throttle: Throttle
) -> None:
    before = await account(store)
    assert (await login(store, throttle, "alice@example.test", PASSWORD)).ok
    after = await account(store)
    assert (after.password_hash, after.scram_sha256) == (before.password_hash, before.scram_sha256)


# --- cleartext policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tls", "loopback", "setting", "allowed"),
    [
        (True, False, False, True),
        (False, True, False, True),
        (False, False, False, False),
        (False, False, True, True),
    ],
)
def test_cleartext_policy(tls: bool, loopback: bool, setting: bool, allowed: bool) -> None:
    assert cleartext_allowed(tls, loopback, setting) is allowed


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.1", False),
        ("2001:db8::1", False),
        ("localhost", False),
        ("", False),
    ],
)
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


# --- SASL -----------------------------------------------------------------------------------


def scripted(answers: list[bytes | None]) -> tuple[Callable[[bytes], Any], list[bytes]]:
    challenges: list[bytes] = []

    async def challenge(data: bytes) -> bytes | None:
        challenges.append(data)
        return answers.pop(0) if answers else None

    return challenge, challenges


async def test_sasl_plain_with_initial_response(store: MemoryStore, throttle: Throttle) -> None:
    mech = create_mechanism("plain", tls=True, allow_plaintext=False)
    assert mech is not None
    challenge, asked = scripted([])
    result = await authenticate_sasl(
        store,
        throttle,
        mech,
        f"\0alice@example.test\0{PASSWORD}".encode(),
        challenge,
        protocol="smtp",
        address="192.0.2.1",
    )
    assert result.login.ok and asked == [] and result.final_data is None


async def test_sasl_login_asks_twice(store: MemoryStore, throttle: Throttle) -> None:
    mech = create_mechanism("LOGIN", tls=True, allow_plaintext=False)
    assert mech is not None
    challenge, asked = scripted([b"alice@example.test", PASSWORD.encode()])
    result = await authenticate_sasl(
        store, throttle, mech, None, challenge, protocol="pop3", address="192.0.2.1"
    )
    assert result.login.ok and asked == [b"Username:", b"Password:"]


async def test_sasl_cancel_is_a_failure_that_is_not_counted(
    store: MemoryStore, throttle: Throttle, lines: Lines
) -> None:
    mech = create_mechanism("PLAIN", tls=True, allow_plaintext=False)
    assert mech is not None
    challenge, _ = scripted([None])
    result = await authenticate_sasl(
        store, throttle, mech, None, challenge, protocol="imap", address="192.0.2.1"
    )
    assert not result.login.ok and result.login.reason == "cancelled"
    assert lines.lines == [] and throttle.delay("192.0.2.1", None) == 0


def _scram_client(user: str, password: str) -> tuple[bytes, Callable[[bytes], bytes]]:
    nonce = "fyko+d2lbbFgONRv9qkxdawL"
    bare = f"n={user},r={nonce}"

    def final(server_first: bytes) -> bytes:
        fields = dict(item.split("=", 1) for item in server_first.decode().split(","))
        salted = salted_password(password, base64.b64decode(fields["s"]), int(fields["i"]))
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        without_proof = f"c=biws,r={fields['r']}"
        auth = f"{bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.digest(hashlib.sha256(client_key).digest(), auth, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    return f"n,,{bare}".encode(), final


async def scram_login(store: MemoryStore, throttle: Throttle, user: str, password: str) -> Any:
    mech = create_mechanism("SCRAM-SHA-256", tls=False, allow_plaintext=False)
    assert mech is not None
    first, final = _scram_client(user, password)

    async def challenge(data: bytes) -> bytes | None:
        return final(data)

    return await authenticate_sasl(
        store,
        throttle,
        mech,
        first,
        challenge,
        protocol="imap",
        address="192.0.2.1",
        client_id="scram-client",
    )


async def test_sasl_scram_success_sends_the_server_signature(
    store: MemoryStore, throttle: Throttle
) -> None:
    result = await scram_login(store, throttle, "alice@example.test", PASSWORD)
    assert result.login.ok and result.final_data is not None
    assert result.final_data.startswith(b"v=")
    [record] = await store.list_logins((await account(store)).id)
    assert record.client_id == "scram-client"


@pytest.mark.parametrize(
    ("user", "reason"),
    [("alice@example.test", "bad-password"), ("nobody@example.test", "unknown-user")],
)
async def test_sasl_scram_failures_are_counted(
    store: MemoryStore, throttle: Throttle, lines: Lines, user: str, reason: str
) -> None:
    result = await scram_login(store, throttle, user, "wrong")
    assert not result.login.ok and result.login.reason == reason
    assert lines.lines[-1].endswith(f"reason={reason}")


async def test_sasl_scram_blocked_before_any_proof(store: MemoryStore, lines: Lines) -> None:
    throttle = Throttle(ThrottlePolicy(block_after=1), logger=lines)
    await scram_login(store, throttle, "alice@example.test", "wrong")
    result = await scram_login(store, throttle, "alice@example.test", PASSWORD)
    assert not result.login.ok and result.login.reason == "blocked"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["PLAIN", "LOGIN", "SCRAM-SHA-256"]),
    initial=st.none() | st.binary(max_size=80),
    answers=st.lists(st.none() | st.binary(max_size=80), max_size=4),
)
async def test_sasl_glue_never_raises_on_arbitrary_client_input(
    name: str, initial: bytes | None, answers: list[bytes | None]
) -> None:
    store = MemoryStore()
    await store.add_domain("example.test")
    await store.create_account("alice@example.test", "{PLAIN}pw", scram_sha256=None)
    throttle = Throttle(ThrottlePolicy(first_delay=0, max_delay=0), logger=Lines())
    mech = create_mechanism(name, tls=True, allow_plaintext=False)
    assert mech is not None
    challenge, _ = scripted(list(answers))
    result = await authenticate_sasl(
        store, throttle, mech, initial, challenge, protocol="imap", address="192.0.2.1"
    )
    assert isinstance(result.login, LoginResult)


@pytest.mark.parametrize("user", ["!", "no-at-sign", "@example.test", "a@"])
async def test_a_login_name_that_is_not_an_address_is_an_unknown_user(
    store: MemoryStore, throttle: Throttle, verifications: list[str | None], user: str
) -> None:
    result = await login(store, throttle, user, "whatever")
    assert not result.ok and result.reason == "unknown-user"
    assert verifications == [None]
