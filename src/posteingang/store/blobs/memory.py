"""Blobs in a dict: for tests and the in-memory reference store. Nothing is durable."""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

from posteingang.store.errors import NotFound


class MemoryBlobStore:
    # Small blobs arrive inside NewMessage.data, as with SQLite, so both paths are tested.
    inline_limit = 64 * 1024
    local_reads = True

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    async def put(self, data: bytes) -> str:
        blob_id = hashlib.sha256(data).hexdigest()
        self._blobs.setdefault(blob_id, bytes(data))
        return blob_id

    async def put_file(self, path: str) -> str:
        with open(path, "rb") as f:  # noqa: ASYNC230 - test backend, files are small
            return await self.put(f.read())

    async def get(self, blob_id: str) -> bytes:
        try:
            return self._blobs[blob_id]
        except KeyError:
            raise NotFound(f"blob {blob_id} not found") from None

    async def read(self, blob_id: str, offset: int, length: int) -> bytes:
        return (await self.get(blob_id))[offset : offset + length]

    def open(self, blob_id: str) -> BinaryIO:
        try:
            return io.BytesIO(self._blobs[blob_id])
        except KeyError:
            raise NotFound(f"blob {blob_id} not found") from None

    async def exists(self, blob_id: str) -> bool:
        return blob_id in self._blobs

    async def delete(self, blob_id: str) -> None:
        self._blobs.pop(blob_id, None)

    async def list_ids(self) -> list[str]:
        return sorted(self._blobs)
