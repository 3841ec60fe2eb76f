"""Store contract: the senders whose remote images an account always loads."""

from __future__ import annotations

from posteingang.store.interface import Store
from tests.store.conftest import make_account


async def test_senders_are_kept_per_account_normalised_and_forgotten(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.test")
    assert await store.image_senders(alice) == []
    await store.allow_images(alice, " News@Example.ORG ")
    await store.allow_images(alice, "news@example.org")  # once only
    await store.allow_images(alice, "aa@example.net")
    assert await store.image_senders(alice) == ["aa@example.net", "news@example.org"]
    assert await store.image_senders(bob) == []
    assert await store.disallow_images(bob, "news@example.org") is False
    assert await store.disallow_images(alice, "NEWS@example.org") is True
    assert await store.disallow_images(alice, "news@example.org") is False
    assert await store.image_senders(alice) == ["aa@example.net"]


async def test_senders_go_with_their_account(store: Store) -> None:
    alice = await make_account(store)
    await store.allow_images(alice, "news@example.org")
    await store.delete_account("alice@example.test")
    again = await make_account(store)
    assert again != alice  # ids are never reused
    assert await store.image_senders(again) == []
    assert await store.image_senders(alice) == []
