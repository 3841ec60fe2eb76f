"""Blobs as files: `<root>/ab/cd/<sha256>`, written once, fsynced, never modified.

Durability rule (DESIGN.md invariant 1): `put` returns only after the file's
bytes and its directory entry are on disk, so the metadata row that points at
the blob may commit afterwards. A crash between the two leaves an orphan file,
which `posteingang check --repair` removes; it never leaves a row without bytes.

Writes go to a temporary file in the same directory and are renamed into place,
so a reader never sees a half-written blob and two writers of the same content
both succeed. All blocking file work runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from posteingang.store.interface import NotFound

_CHUNK = 1 << 20


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FsBlobStore:
    def __init__(self, root: str | Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(exist_ok=True)
        self.fsync = fsync

    def path_of(self, blob_id: str) -> Path:
        if len(blob_id) != 64 or not all(c in "0123456789abcdef" for c in blob_id):
            raise NotFound(f"not a blob id: {blob_id!r}")
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id

    # -- writing ------------------------------------------------------------------
    def _install(self, tmp_path: Path, blob_id: str) -> None:
        final = self.path_of(blob_id)
        if final.exists():
            tmp_path.unlink(missing_ok=True)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, final)
        if self.fsync:
            _fsync_dir(final.parent)

    def put_sync(self, data: bytes | memoryview) -> str:
        blob_id = hashlib.sha256(data).hexdigest()
        if self.path_of(blob_id).exists():
            return blob_id
        fd, name = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                if self.fsync:
                    os.fsync(f.fileno())
            self._install(Path(name), blob_id)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return blob_id

    def put_file_sync(self, path: str) -> str:
        """Hash and copy a spooled file chunk by chunk: memory stays flat for 50 MB."""
        digest = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=self._tmp)
        try:
            with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                dst.flush()
                if self.fsync:
                    os.fsync(dst.fileno())
            blob_id = digest.hexdigest()
            self._install(Path(name), blob_id)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return blob_id

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self.put_sync, data)

    async def put_file(self, path: str) -> str:
        return await asyncio.to_thread(self.put_file_sync, path)

    # -- reading ------------------------------------------------------------------
    def get_sync(self, blob_id: str) -> bytes:
        try:
            return self.path_of(blob_id).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {blob_id} not found") from None

    async def get(self, blob_id: str) -> bytes:
        return await asyncio.to_thread(self.get_sync, blob_id)

    def _read_sync(self, blob_id: str, offset: int, length: int) -> bytes:
        with self.open(blob_id) as f:
            f.seek(offset)
            return f.read(length)

    async def read(self, blob_id: str, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(self._read_sync, blob_id, offset, length)

    def open(self, blob_id: str) -> BinaryIO:
        try:
            return open(self.path_of(blob_id), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {blob_id} not found") from None

    async def exists(self, blob_id: str) -> bool:
        try:
            return self.path_of(blob_id).exists()
        except NotFound:
            return False

    def delete_sync(self, blob_id: str) -> None:
        self.path_of(blob_id).unlink(missing_ok=True)

    async def delete(self, blob_id: str) -> None:
        await asyncio.to_thread(self.delete_sync, blob_id)

    def list_ids_sync(self) -> list[str]:
        out: list[str] = []
        for first in self.root.iterdir():
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in first.iterdir():
                out.extend(p.name for p in second.iterdir() if len(p.name) == 64)
        return sorted(out)

    async def list_ids(self) -> list[str]:
        return await asyncio.to_thread(self.list_ids_sync)
