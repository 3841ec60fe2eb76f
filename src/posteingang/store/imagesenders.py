"""Per account, the senders whose remote images the webmail always loads: the fifth
part of `Store`, checked by `tests/store/imagesenders/`.

A setting kept with the account (not in a browser), so it holds on every
device; it goes with its account. Not mail: no modseq, no change on the feed.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["ImageSenders", "normalize_sender"]


def normalize_sender(address: str) -> str:
    """The form an image sender is kept in: the address, stripped and lower-cased."""
    return address.strip().lower()


class ImageSenders(Protocol):
    """Addresses are compared as `normalize_sender` makes them. Coroutines."""

    async def image_senders(self, account_id: int) -> list[str]:
        """The account's senders, sorted."""
        ...

    async def allow_images(self, account_id: int, sender: str) -> None: ...
    async def disallow_images(self, account_id: int, sender: str) -> bool:
        """Forget a sender; False if it was not there."""
        ...
