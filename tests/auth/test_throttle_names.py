"""Issue 11 item 6: a block holds however the account name is spelled, in every mechanism.

The account lookup normalises a login name (``store.names``: strip, lower case, trailing
dot, IDNA); the throttle must key on the same form, or ``alice@example.test.`` walks
past the block of ``alice@example.test``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from posteingang.auth.login import authenticate, authenticate_sasl
from posteingang.auth.sasl import create_mechanism
from posteingang.auth.scram import derive_scram_sha256, salted_password
from posteingang.auth.throttle import Throttle, ThrottlePolicy, account_key
from posteingang.pop3.authorization import Authorizer, Granted
from posteingang.pop3.policy import Pop3Settings
from posteingang.pop3.proto import Apop, Pass, apop_digest
from posteingang.pop3.services import Pop3Services
from posteingang.store.memory import MemoryStore
from tests.serving import QuietLog

PASSWORD = "correct horse battery staple"
GUESSER = "192.0.2.1"
FRESH = "198.51.100.7"  # never failed, never logged in: a stranger
SPELLINGS = ["alice@example.test.", " ALICE@Example.Test ", "Alice@EXAMPLE.test."]


@pytest.fixture
async def store() -> MemoryStore:
    s = MemoryStore()
    await s.add_domain("example.test")
    await s.create_account(
        "alice@example.test", "{PLAIN}" + PASSWORD, scram_sha256=derive_scram_sha256(PASSWORD)
    )
    return s


async def blocked_throttle(store: MemoryStore) -> Throttle:
    """Ten wrong passwords for alice@example.test from GUESSER: the account is blocked."""
    throttle = Throttle(
        ThrottlePolicy(free_failures=100, block_after=10, max_delay=0), logger=QuietLog()
    )
    for _ in range(10):
        result = await authenticate(
            store,
            throttle,
            protocol="imap",
            address=GUESSER,
            username="alice@example.test",
            password="guess",
        )
        assert not result.ok
    assert [b.kind for b in throttle.list_blocks()] == ["address", "account"]
    return throttle


def test_account_key_is_the_normalised_address() -> None:
    for spelling in SPELLINGS:
        assert account_key(spelling) == "alice@example.test"
    assert account_key("x@BÜCHER.example.") == "x@xn--bcher-kva.example"
    assert account_key(" Not An Address ") == "not an address"


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_login_and_plain_respect_the_block_in_any_spelling(
    store: MemoryStore, spelling: str
) -> None:
    throttle = await blocked_throttle(store)
    result = await authenticate(
        store, throttle, protocol="imap", address=FRESH, username=spelling, password=PASSWORD
    )
    assert not result.ok and result.reason == "blocked"
    mech = create_mechanism("PLAIN", tls=True, allow_plaintext=False)
    assert mech is not None

    async def no_challenge(data: bytes) -> bytes | None:
        return None

    sasl = await authenticate_sasl(
        store,
        throttle,
        mech,
        f"\0{spelling}\0{PASSWORD}".encode(),
        no_challenge,
        protocol="smtp",
        address=FRESH,
    )
    assert not sasl.login.ok and sasl.login.reason == "blocked"


async def test_scram_respects_the_block_with_a_trailing_dot(store: MemoryStore) -> None:
    throttle = await blocked_throttle(store)
    mech = create_mechanism("SCRAM-SHA-256", tls=True, allow_plaintext=False)
    assert mech is not None
    bare = "n=alice@example.test.,r=clientnonce0123456789"

    async def challenge(server_first: bytes) -> bytes | None:
        fields = dict(item.split("=", 1) for item in server_first.decode().split(","))
        salted = salted_password(PASSWORD, base64.b64decode(fields["s"]), int(fields["i"]))
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        without_proof = f"c=biws,r={fields['r']}"
        auth = f"{bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.digest(hashlib.sha256(client_key).digest(), auth, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    result = await authenticate_sasl(
        store, throttle, mech, f"n,,{bare}".encode(), challenge, protocol="imap", address=FRESH
    )
    assert not result.login.ok and result.login.reason == "blocked"


async def test_pop3_user_pass_and_apop_respect_the_block(store: MemoryStore) -> None:
    throttle = await blocked_throttle(store)
    services = Pop3Services(store, settings=Pop3Settings(apop=True), throttle=throttle)
    stamp = "<1896.697170952@example.test>"
    pop = Authorizer(services, address=FRESH, apop_timestamp=stamp)
    assert not isinstance(await pop.password(Pass(PASSWORD), "alice@example.test."), Granted)
    digest = apop_digest(stamp, PASSWORD)
    assert not isinstance(await pop.apop(Apop("alice@example.test.", digest)), Granted)
    # The same APOP from an address nobody blocked, once the block is lifted: it works.
    throttle.lift("alice@example.test.")
    assert isinstance(await pop.apop(Apop("alice@example.test.", digest)), Granted)


async def test_success_in_another_spelling_clears_the_account_failures(
    store: MemoryStore,
) -> None:
    throttle = Throttle(
        ThrottlePolicy(free_failures=1, first_delay=0.001, max_delay=0.001), logger=QuietLog()
    )
    for _ in range(3):
        await authenticate(
            store,
            throttle,
            protocol="imap",
            address=GUESSER,
            username="alice@example.test",
            password="guess",
        )
    assert throttle.delay(FRESH, "alice@example.test") > 0
    ok = await authenticate(
        store,
        throttle,
        protocol="imap",
        address=FRESH,
        username="Alice@Example.Test.",
        password=PASSWORD,
    )
    assert ok.ok
    assert throttle.delay(FRESH, "alice@example.test") == 0
