"""Issue 11 item 7: guessers are throttled, but never lock the owner out (smart lockout).

A source the account already trusts -- an address (or IPv6 /64) that logged in within
``trusted_days``, or a device password whose device did -- gets through with the right
password while the account is blocked for everybody else.  Over real sockets, with the
issue's numbers, in tests/auth/test_sessions_e2e.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from posteingang.auth.devices import new_device_password
from posteingang.auth.login import LoginResult, authenticate
from posteingang.auth.passwords import hash_password
from posteingang.auth.throttle import Throttle, ThrottlePolicy
from posteingang.store.memory import MemoryStore
from posteingang.store.model import LoginRecord
from tests.serving import QuietLog

PASSWORD = "correct horse battery staple"
ALICE = "alice@example.test"
GUESSER, OWNER, STRANGER = "192.0.2.1", "192.0.2.2", "192.0.2.3"


@pytest.fixture
async def store() -> MemoryStore:
    s = MemoryStore()
    await s.add_domain("example.test")
    await s.create_account(ALICE, hash_password(PASSWORD))
    return s


def throttle(**policy: Any) -> Throttle:
    values: dict[str, Any] = {"first_delay": 0.5, "max_delay": 5.0, **policy}
    return Throttle(ThrottlePolicy(**values), logger=QuietLog())


async def login(
    store: MemoryStore, t: Throttle, address: str, password: str = PASSWORD, user: str = ALICE
) -> tuple[LoginResult, float]:
    """The result and the throttle's penalty for it (``LoginResult.delayed``: the
    decision, not a wall time, so a loaded machine cannot change it)."""
    result = await authenticate(
        store, t, protocol="imap", address=address, username=user, password=password
    )
    return result, result.delayed


async def guess(store: MemoryStore, t: Throttle, times: int = 50) -> None:
    # The guesser's address is blocked after ten; the rest cost no verification.
    for i in range(times):
        result, _ = await login(store, t, GUESSER, f"guess {i}")
        assert not result.ok
    assert t.blocked(STRANGER, ALICE)


async def test_owner_address_gets_in_while_strangers_are_blocked(store: MemoryStore) -> None:
    t = throttle(max_delay=0.01)
    assert (await login(store, t, OWNER))[0].ok  # the owner's usual address
    await guess(store, t)
    result, delayed = await login(store, t, OWNER)
    assert result.ok and delayed == 0.0
    stranger, _ = await login(store, t, STRANGER)  # right password, unknown source
    assert not stranger.ok and stranger.reason == "blocked"


async def test_an_ipv6_owner_is_trusted_by_its_64(store: MemoryStore) -> None:
    t = throttle(max_delay=0.01)
    assert (await login(store, t, "2001:db8:5:6::10"))[0].ok
    await guess(store, t)
    assert (await login(store, t, "2001:db8:5:6::abcd"))[0].ok  # privacy address, same /64
    assert not (await login(store, t, "2001:db8:5:7::10"))[0].ok


async def test_a_device_that_logged_in_before_gets_in_from_anywhere(store: MemoryStore) -> None:
    t = throttle(max_delay=0.01)
    account = await store.get_account(ALICE)
    assert account is not None
    password, selector = new_device_password()
    await store.add_device(account.id, "phone", hash_password(password), selector)
    never, never_selector = new_device_password()
    await store.add_device(account.id, "tablet", hash_password(never), never_selector)
    assert (await login(store, t, "203.0.113.1", password))[0].ok  # the phone, at home
    await guess(store, t)
    result, delayed = await login(store, t, "203.0.113.99", password)  # on the road
    assert result.ok and result.device is not None and delayed == 0.0
    # A device that never logged in is no trusted source.
    assert not (await login(store, t, "203.0.113.98", never))[0].ok


async def test_a_trusted_source_is_not_delayed_by_the_account_failures(
    store: MemoryStore,
) -> None:
    t = throttle(block_after=100, first_delay=2.0, max_delay=10.0)
    assert (await login(store, t, OWNER))[0].ok
    for i in range(6):  # spread over many addresses: only the account counts up
        t.record_failure(
            protocol="imap", address=f"198.51.100.{i}", user=ALICE, reason="bad-password"
        )
    assert t.delay(STRANGER, ALICE) >= 2.0
    result, delayed = await login(store, t, OWNER)
    assert result.ok and delayed == 0.0


async def test_trust_expires_after_trusted_days(store: MemoryStore) -> None:
    t = throttle(max_delay=0.01, trusted_days=30)
    account = await store.get_account(ALICE)
    assert account is not None
    old = datetime.now(UTC) - timedelta(days=31)
    await store.record_login(LoginRecord(account.id, None, "imap", OWNER, None, old, OWNER))
    await guess(store, t)
    assert not (await login(store, t, OWNER))[0].ok


async def test_trusted_days_zero_turns_smart_lockout_off(store: MemoryStore) -> None:
    t = throttle(max_delay=0.01, trusted_days=0)
    assert (await login(store, t, OWNER))[0].ok
    await guess(store, t)
    assert not (await login(store, t, OWNER))[0].ok


async def test_a_trusted_source_that_guesses_is_throttled_by_its_address(
    store: MemoryStore,
) -> None:
    t = throttle(max_delay=0.01, block_after=5)
    assert (await login(store, t, OWNER))[0].ok
    await guess(store, t, times=5)
    for i in range(5):
        assert not (await login(store, t, OWNER, f"owner typo {i}"))[0].ok
    result, _ = await login(store, t, OWNER)
    assert not result.ok and result.reason == "blocked"  # its own address is blocked now


async def test_apop_owner_is_trusted_too() -> None:
    from posteingang.pop3.authorization import Authorizer, Granted
    from posteingang.pop3.policy import Pop3Settings
    from posteingang.pop3.proto import Apop, apop_digest
    from posteingang.pop3.services import Pop3Services

    s = MemoryStore()
    await s.add_domain("example.test")
    await s.create_account(ALICE, "{PLAIN}" + PASSWORD)
    t = throttle(max_delay=0.01)
    services = Pop3Services(s, settings=Pop3Settings(apop=True), throttle=t)
    stamp = "<1.2@example.test>"
    digest = apop_digest(stamp, PASSWORD)

    def pop(address: str) -> Authorizer:
        return Authorizer(services, address=address, apop_timestamp=stamp)

    assert isinstance(await pop(OWNER).apop(Apop(ALICE, digest)), Granted)
    await guess(s, t)
    assert isinstance(await pop(OWNER).apop(Apop(ALICE, digest)), Granted)
    assert not isinstance(await pop(STRANGER).apop(Apop(ALICE, digest)), Granted)


async def test_the_owners_logins_do_not_wash_a_distributed_guess(store: MemoryStore) -> None:
    """Guesses spread over many addresses (one each) still add up against the account,
    however often the trusted owner logs in meanwhile."""
    t = throttle(max_delay=0.01, block_after=10)
    assert (await login(store, t, OWNER))[0].ok
    for i in range(10):
        assert not (await login(store, t, f"198.51.100.{i}", f"guess {i}"))[0].ok
        assert (await login(store, t, OWNER))[0].ok  # trusted: gets in every time
    stranger, _ = await login(store, t, STRANGER)
    assert not stranger.ok and stranger.reason == "blocked"
