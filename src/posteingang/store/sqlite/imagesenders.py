"""The SQLite backend's `ImageSenders` (store/imagesenders.py): jobs in images.py."""

from __future__ import annotations

from posteingang.store.imagesenders import normalize_sender
from posteingang.store.sqlite import images
from posteingang.store.sqlite.access import SqliteAccess


class SqliteImageSenders(SqliteAccess):
    async def image_senders(self, account_id: int) -> list[str]:
        return await self._read(lambda c: images.senders(c, account_id))

    async def allow_images(self, account_id: int, sender: str) -> None:
        sender = normalize_sender(sender)
        await self._write(lambda c: images.allow(c, account_id, sender))

    async def disallow_images(self, account_id: int, sender: str) -> bool:
        sender = normalize_sender(sender)
        return await self._write(lambda c: images.disallow(c, account_id, sender))
