"""Blobs as files: `<root>/ab/cd/<sha256>`, written once, fsynced, never modified.

Durability rule (DESIGN.md invariant 1): `put` returns only after the file's
bytes and its directory entry are on disk, so the metadata row that points at
the blob may commit afterwards. A crash between the two leaves an orphan file,
which `posteingang check --repair` removes; it never leaves a row without bytes.

Writes go to a temporary file and are renamed into place, so a reader never
sees a half-written blob and two writers of the same content both succeed.
All blocking file work runs in a worker thread. Concurrent puts share their
flushes (group fsync, like the SQLite writer's group commit): while one flush
runs, new blobs wait for the next, which covers them all with one syncfs(2).
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from posteingang.store.errors import NotFound

_CHUNK = 1 << 20


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_SYNCFS = _load_syncfs() if sys.platform.startswith("linux") else None


def _syncfs(path: Path) -> bool:
    """Flush the file system holding `path` (Linux syncfs); False if not available."""
    if _SYNCFS is None:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _SYNCFS(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs failed")
    finally:
        os.close(fd)
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FsBlobStore:
    inline_limit = 0  # files only
    local_reads = True

    def __init__(self, root: str | Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(exist_ok=True)
        self.fsync = fsync
        self._pending: list[tuple[Path, str, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def path_of(self, blob_id: str) -> Path:
        if len(blob_id) != 64 or not all(c in "0123456789abcdef" for c in blob_id):
            raise NotFound(f"not a blob id: {blob_id!r}")
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id

    # -- writing ------------------------------------------------------------------
    def _write_tmp(self, data: bytes | memoryview) -> tuple[str, Path | None]:
        """Hash and write to a temporary file (not yet durable); None if already stored."""
        blob_id = hashlib.sha256(data).hexdigest()
        if self.path_of(blob_id).exists():
            return blob_id, None
        fd, name = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return blob_id, Path(name)

    def _copy_tmp(self, path: str) -> tuple[str, Path | None]:
        """Hash and copy a spooled file chunk by chunk: memory stays flat for 50 MB."""
        digest = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=self._tmp)
        try:
            with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        blob_id = digest.hexdigest()
        if self.path_of(blob_id).exists():
            Path(name).unlink(missing_ok=True)
            return blob_id, None
        return blob_id, Path(name)

    def _install(self, tmp_path: Path, blob_id: str) -> Path | None:
        """Rename into place; returns the directory whose entry must be made durable."""
        final = self.path_of(blob_id)
        if final.exists():
            tmp_path.unlink(missing_ok=True)
            return None
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, final)
        return final.parent

    def _make_durable(self, batch: list[tuple[Path, str]]) -> None:
        """Data first, then names: a crash never leaves a final name over unwritten bytes.

        With syncfs(2) a whole batch costs two flushes of the blob file system
        instead of two fsyncs per blob; without it, per-file and per-directory fsync.
        """
        if not self.fsync:
            for tmp_path, blob_id in batch:
                self._install(tmp_path, blob_id)
            return
        if _syncfs(self._tmp):
            dirs = [self._install(t, b) for t, b in batch]
            if any(d is not None for d in dirs):
                _syncfs(self.root)
            return
        for tmp_path, _ in batch:
            fd = os.open(tmp_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for directory in {d for t, b in batch if (d := self._install(t, b)) is not None}:
            _fsync_dir(directory)

    async def _durable(self, tmp_path: Path | None, blob_id: str) -> str:
        """Group fsync: puts that arrive while a flush runs share the next one."""
        if tmp_path is None:
            return blob_id
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((tmp_path, blob_id, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        await future
        return blob_id

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._make_durable, [(t, b) for t, b, _ in batch])
            except BaseException as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def put(self, data: bytes) -> str:
        blob_id, tmp_path = await asyncio.to_thread(self._write_tmp, data)
        return await self._durable(tmp_path, blob_id)

    async def put_file(self, path: str) -> str:
        blob_id, tmp_path = await asyncio.to_thread(self._copy_tmp, path)
        return await self._durable(tmp_path, blob_id)

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

    def _walk(self) -> tuple[list[str], list[Path]]:
        """(blob ids, stray paths): whatever is not `ab/cd/<id>` (or tmp/) is a stray.

        A stray (a file dropped at the wrong depth, a directory where a blob
        should be) is reported by `check`, never deleted, and never crashes it.
        """
        ids: list[str] = []
        strays: list[Path] = []
        for first in sorted(self.root.iterdir()):
            if first == self._tmp:
                continue
            if len(first.name) != 2 or first.is_symlink() or not first.is_dir():
                strays.append(first)
                continue
            for second in sorted(first.iterdir()):
                if len(second.name) != 2 or second.is_symlink() or not second.is_dir():
                    strays.append(second)
                    continue
                for p in second.iterdir():
                    name = p.name
                    if (
                        len(name) == 64
                        and name[:2] == first.name
                        and name[2:4] == second.name
                        and p.is_file()
                    ):
                        ids.append(name)
                    else:
                        strays.append(p)
        return sorted(ids), sorted(strays)

    def list_ids_sync(self) -> list[str]:
        return self._walk()[0]

    def strays_sync(self) -> list[Path]:
        """Paths in the blob directory that are not blobs (see `_walk`)."""
        return self._walk()[1]

    async def list_ids(self) -> list[str]:
        return await asyncio.to_thread(self.list_ids_sync)
