"""The memory backend's `ImageSenders` (store/imagesenders.py): a set per account."""

from __future__ import annotations

from posteingang.store.imagesenders import normalize_sender

__all__ = ["MemoryImageSenders"]


class MemoryImageSenders:
    def __init__(self) -> None:
        super().__init__()
        self._image_senders: dict[int, set[str]] = {}

    async def image_senders(self, account_id: int) -> list[str]:
        return sorted(self._image_senders.get(account_id, ()))

    async def allow_images(self, account_id: int, sender: str) -> None:
        self._image_senders.setdefault(account_id, set()).add(normalize_sender(sender))

    async def disallow_images(self, account_id: int, sender: str) -> bool:
        senders = self._image_senders.get(account_id, set())
        sender = normalize_sender(sender)
        found = sender in senders
        senders.discard(sender)
        return found
