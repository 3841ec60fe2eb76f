"""The ``<file>.meta.json`` beside an exported mbox: what an mbox cannot carry.

An mbox keeps message bytes and a From_ line date, nothing else we could read
back without changing the bytes (``Status:`` headers would have to be added to
the message). So `export mbox` writes the bytes untouched and puts, per
message, its SHA-256, size, flags, keywords, internal date (with its zone
offset) and UID into this sidecar, plus the mailbox's UIDVALIDITY. `import
mbox` reads it when present and matches entries by SHA-256 (in file order for
repeats), so an mbox edited after export still imports: unmatched messages
fall back to the headers and the From_ line.

The size also settles the one ambiguity of the mbox form: a message that did
not end with a line ending got one on export, and the size says to drop it.
This module must never hold message bytes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec

from posteingang.transfer.errors import TransferError, read_regular

FORMAT = "posteingang-mbox-meta/1"


class SidecarMessage(msgspec.Struct, frozen=True):
    sha256: str
    size: int
    internal_date: str  # ISO 8601 with offset
    flags: list[str] = []
    uid: int | None = None


class Sidecar(msgspec.Struct):
    mailbox: str
    uidvalidity: int
    uidnext: int
    messages: list[SidecarMessage]
    format: str = FORMAT
    mbox_format: str = "mboxrd"


class SidecarError(TransferError):
    pass


def sidecar_path(mbox: Path) -> Path:
    return mbox.with_name(mbox.name + ".meta.json")


def encode(sidecar: Sidecar) -> bytes:
    return msgspec.json.encode(sidecar)


def load(path: Path) -> Sidecar | None:
    """The sidecar at `path`, None if there is none; `SidecarError` if unreadable."""
    try:
        data = read_regular(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SidecarError(f"cannot read {path}: {e.strerror}") from None
    try:
        sidecar = msgspec.json.decode(data, type=Sidecar)
    except msgspec.ValidationError as e:
        raise SidecarError(f"{path}: not a posteingang mbox sidecar ({e})") from None
    except msgspec.DecodeError as e:
        raise SidecarError(f"{path}: not a posteingang mbox sidecar ({e})") from None
    if sidecar.format != FORMAT:
        raise SidecarError(f"{path}: unknown sidecar format {sidecar.format!r}")
    return sidecar


@dataclass
class SidecarIndex:
    """Sidecar entries by SHA-256, consumed in file order."""

    by_sha: dict[str, deque[SidecarMessage]] = field(default_factory=lambda: defaultdict(deque))

    @classmethod
    def of(cls, sidecar: Sidecar) -> SidecarIndex:
        index = cls()
        for m in sidecar.messages:
            index.by_sha[m.sha256].append(m)
        return index

    def match(self, raw: bytes) -> tuple[bytes, str, SidecarMessage | None]:
        """(bytes, SHA-256, entry) for `raw`: an export-added final newline is dropped."""
        digest = hashlib.sha256(raw).hexdigest()
        queue = self.by_sha.get(digest)
        if queue:
            return raw, digest, queue.popleft()
        if raw.endswith(b"\n"):
            trimmed = raw[:-1]
            trimmed_digest = hashlib.sha256(trimmed).hexdigest()
            queue = self.by_sha.get(trimmed_digest)
            if queue and queue[0].size == len(trimmed):
                return trimmed, trimmed_digest, queue.popleft()
        return raw, digest, None


def parse_date(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None
