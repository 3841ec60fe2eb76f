"""Issue 11 item 8: a login costs the same whatever exists.

A device password names its device by a selector (``auth.devices``), so a login
verifies exactly one hash: the device's, or the account password's, or -- for an
unknown user -- a dummy of the same cost.  Counted exactly, and timed over many tries.
"""

from __future__ import annotations

import pytest

from posteingang.auth import login as login_module
from posteingang.auth import passwords
from posteingang.auth.devices import (
    is_legacy_device_password,
    new_device_password,
    selector_of,
)
from posteingang.auth.login import authenticate
from posteingang.auth.passwords import hash_password
from posteingang.auth.throttle import Throttle, ThrottlePolicy
from posteingang.store.memory import MemoryStore
from tests.auth.hashes import argon2_parameters, record_hash_checks
from tests.serving import QuietLog

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def store() -> MemoryStore:
    """none@ has no device, three@ has three; nobody@ does not exist."""
    s = MemoryStore()
    await s.add_domain("example.test")
    await s.create_account("none@example.test", hash_password(PASSWORD))
    three = await s.create_account("three@example.test", hash_password(PASSWORD))
    for name in ("phone", "laptop", "tablet"):
        password, selector = new_device_password()
        await s.add_device(three.id, name, hash_password(password), selector)
    return s


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    seen: list[str | None] = []
    real = passwords.verify_password_async

    async def counting(stored: str | None, password: str) -> bool:
        seen.append(stored)
        return await real(stored, password)

    monkeypatch.setattr(login_module, "verify_password_async", counting)
    return seen


def unthrottled() -> Throttle:
    return Throttle(ThrottlePolicy(free_failures=10**6, block_after=10**6), logger=QuietLog())


async def attempt(store: MemoryStore, throttle: Throttle, user: str, password: str) -> bool:
    result = await authenticate(
        store, throttle, protocol="imap", address="192.0.2.1", username=user, password=password
    )
    return result.ok


def test_new_device_passwords_carry_a_selector() -> None:
    password, selector = new_device_password()
    assert len(password) == 24 and password.count("-") == 4
    assert selector_of(password) == selector == password[:4]
    assert not is_legacy_device_password(password)
    assert is_legacy_device_password("abcd-efgh-ijkl-mnop")
    assert selector_of("abcd-efgh-ijkl-mnop") is None
    assert selector_of(PASSWORD) is None and not is_legacy_device_password(PASSWORD)


@pytest.mark.parametrize("user", ["nobody@example.test", "none@example.test", "three@example.test"])
async def test_a_device_shaped_guess_verifies_exactly_one_hash(
    store: MemoryStore, verifications: list[str | None], user: str
) -> None:
    guess, _ = new_device_password()
    assert not await attempt(store, unthrottled(), user, guess)
    assert len(verifications) == 1


async def test_a_device_password_verifies_only_its_own_hash(
    store: MemoryStore, verifications: list[str | None]
) -> None:
    account = await store.get_account("three@example.test")
    assert account is not None
    password, selector = new_device_password()
    device = await store.add_device(account.id, "watch", hash_password(password), selector)
    result = await authenticate(
        store,
        unthrottled(),
        protocol="imap",
        address="192.0.2.1",
        username="three@example.test",
        password=password,
    )
    assert result.ok and result.device == device
    assert verifications == [device.password_hash]
    # The right selector with a wrong secret: that device's hash only, and a failure.
    wrong = selector + password[4:-1] + ("a" if password[-1] != "a" else "b")
    assert not await attempt(store, unthrottled(), "three@example.test", wrong)
    assert verifications[1:] == [device.password_hash]


async def test_old_device_passwords_without_a_selector_keep_working(
    store: MemoryStore,
) -> None:
    account = await store.get_account("three@example.test")
    assert account is not None
    await store.add_device(account.id, "old phone", hash_password("abcd-efgh-ijkl-mnop"))
    assert await attempt(store, unthrottled(), "three@example.test", "abcd-efgh-ijkl-mnop")
    assert await attempt(store, unthrottled(), "three@example.test", PASSWORD)


async def test_login_work_does_not_say_whether_the_account_or_its_devices_exist(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device-shaped guess costs one argon2id verification with the same parameters
    whether the account is unknown, has no devices or has three (before selectors,
    three devices cost four verifications); the time follows from that work."""
    checked = record_hash_checks(monkeypatch)
    throttle = unthrottled()
    for user in ["nobody@example.test", "none@example.test", "three@example.test"]:
        guess, _ = new_device_password()
        assert not await attempt(store, throttle, user, guess)
    assert len(checked) == 3
    assert len({str(argon2_parameters(h)) for h in checked}) == 1
