"""The message as it arrives: memory for small ones, a spool file for large ones, hashed as it goes.

A :class:`Spool` takes the ``DataChunk`` octets of one DATA or BDAT
transaction.  Up to ``memory_limit`` octets stay in a buffer; past that the
buffer is written to a fresh file in the spool directory and everything else
goes straight to the file, so a 50 MB message never sits in memory.  The
SHA-256 of the octets is computed as they arrive (part of the retry identity,
`trace.delivery_key`), and the size is capped: octets beyond ``max_size`` are
dropped and :attr:`Spool.overflowed` is set (the core already refuses such a
message with 552; this is the spool's own guard).

:meth:`SpooledMessage.with_prefix` builds what is stored for one recipient:
that recipient's trace headers followed by the message, in memory or as a
new spool file.

What this module must never do: change the octets, or leave a spool file
behind (``discard`` and ``release`` delete; the directory is cleared at
start-up by :func:`clear_spool_dir`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["Spool", "SpooledMessage", "clear_spool_dir"]

_COPY_CHUNK = 1 << 20


def clear_spool_dir(directory: Path) -> int:
    """Remove spool files left by a crash (their messages were never acknowledged)."""
    removed = 0
    if not directory.is_dir():
        return 0
    for entry in directory.iterdir():
        if entry.is_file() and entry.name.startswith("msg-"):
            with contextlib.suppress(OSError):
                entry.unlink()
                removed += 1
    return removed


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    """A complete received message: ``data`` in memory, or ``path`` on disk."""

    size: int
    sha256: str
    data: bytes | None
    path: Path | None

    @classmethod
    def of(cls, data: bytes) -> SpooledMessage:
        """A message that was handed over whole (a pipe, the webmail)."""
        return cls(len(data), hashlib.sha256(data).hexdigest(), data, None)

    def with_prefix(self, prefix: bytes, directory: Path) -> bytes | Path:
        """``prefix`` + the message: bytes for an in-memory message, else a new file.

        The file variant copies in 1 MiB blocks (blocking: call it in a thread);
        the caller deletes the file.
        """
        if self.data is not None:
            return prefix + self.data
        assert self.path is not None
        fd, name = tempfile.mkstemp(prefix="msg-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out, open(self.path, "rb") as src:
                out.write(prefix)
                shutil.copyfileobj(src, out, _COPY_CHUNK)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def release(self) -> None:
        """Delete the spool file, if any."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class Spool:
    """The octets of one message as they arrive (see the module docstring)."""

    def __init__(self, directory: Path, *, memory_limit: int, max_size: int) -> None:
        self.directory = directory
        self.memory_limit = memory_limit
        self.max_size = max_size
        self.size = 0
        self.overflowed = False
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._file: BinaryIO | None = None
        self._path: Path | None = None

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def write(self, data: bytes) -> None:
        """Append octets; past ``max_size`` they are dropped and ``overflowed`` is set."""
        room = self.max_size - self.size
        if len(data) > room:
            self.overflowed = True
            data = data[: max(room, 0)]
        if not data:
            return
        self.size += len(data)
        self._hash.update(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._buffer += data
        if len(self._buffer) > self.memory_limit:
            self._spill()

    def _spill(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="msg-", dir=self.directory)
        self._path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._file.write(self._buffer)
        self._buffer = bytearray()

    def finish(self) -> SpooledMessage:
        """The complete message; the spool is handed over (``release`` deletes the file)."""
        digest = self._hash.hexdigest()
        if self._file is not None:
            self._file.close()
            self._file = None
            path, self._path = self._path, None
            return SpooledMessage(self.size, digest, None, path)
        data = bytes(self._buffer)
        self._buffer = bytearray()
        return SpooledMessage(self.size, digest, data, None)

    def discard(self) -> None:
        """Forget the message (aborted transfer, RSET, disconnect)."""
        self._buffer = bytearray()
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None
