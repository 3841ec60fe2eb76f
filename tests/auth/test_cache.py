"""Remembered good logins (auth/cache.py): only verified passwords, only within the TTL."""

from __future__ import annotations

import pytest

from posteingang.auth import login as login_mod
from posteingang.auth.cache import VerifiedCache
from posteingang.auth.passwords import hash_password
from posteingang.auth.throttle import Throttle, ThrottlePolicy
from posteingang.store.memory import MemoryStore


def test_hit_only_for_the_same_password_and_hash_within_ttl() -> None:
    now = [100.0]
    cache = VerifiedCache(ttl=60, clock=lambda: now[0])
    cache.remember("{ARGON2ID}h1", "secret")
    assert cache.hit("{ARGON2ID}h1", "secret")
    assert not cache.hit("{ARGON2ID}h1", "Secret")  # another password
    assert not cache.hit("{ARGON2ID}h2", "secret")  # the password was changed
    now[0] += 61
    assert not cache.hit("{ARGON2ID}h1", "secret")  # expired


def test_ttl_zero_turns_it_off_and_size_is_bounded() -> None:
    off = VerifiedCache(ttl=0)
    off.remember("h", "p")
    assert not off.hit("h", "p")
    small = VerifiedCache(ttl=60, max_entries=2)
    for i in range(3):
        small.remember(f"h{i}", "p")
    assert not small.hit("h0", "p") and small.hit("h2", "p")


async def test_a_second_login_skips_the_slow_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    await store.add_domain("example.test")
    await store.create_account("alice@example.test", hash_password("right"))
    monkeypatch.setattr(login_mod, "LOGIN_CACHE", VerifiedCache(ttl=60))
    calls = []
    real = login_mod.verify_password_async

    async def counting(stored: str | None, password: str) -> bool:
        calls.append(password)
        return await real(stored, password)

    monkeypatch.setattr(login_mod, "verify_password_async", counting)
    throttle = Throttle(ThrottlePolicy(free_failures=100))

    async def attempt(password: str) -> bool:
        result = await login_mod.authenticate(
            store, throttle, protocol="imap", address="192.0.2.9",
            username="alice@example.test", password=password,
        )  # fmt: skip
        return result.ok

    assert await attempt("right") and calls == ["right"]
    assert await attempt("right") and calls == ["right"]  # remembered
    assert not await attempt("wrong") and calls == ["right", "wrong"]  # always verified
    assert not await attempt("wrong") and calls == ["right", "wrong", "wrong"]
