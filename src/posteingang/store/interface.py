"""The one `Store` every protocol uses: the composition of the store's parts.

A backend implements five small protocols, each with its own part of the
contract suite (`tests/store/<part>/`, docs/store.md), so a new backend can be
built and tested one part at a time:

- `directory.Directory`: domains, accounts, aliases, devices, login records;
- `mailstore.Mailstore`: mailboxes, subscriptions, messages, changes, threads;
- `clientstate.ClientState`: what each POP3 client has seen;
- `searchindex.SearchIndex`: the full-text index of the webmail's search;
- `imagesenders.ImageSenders`: the senders whose remote images an account loads;

plus what holds them together here: the change feed (`hub`), the message bytes
(`blobs`), opening/closing and the integrity check. A caller that needs only
one part takes that part (auth takes a `Directory`); typing it as `Store` keeps
working. The split costs nothing at run time: protocols are only types.

A backend must keep the invariants of DESIGN.md. What the interface must never
do: expose SQL, connections, cursors or anything else backend-shaped; hand out
message bytes from the metadata store (bytes come from `BlobStore`); emit a
change before its commit, or acknowledge an append before its blob is durable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol

from posteingang.store.clientstate import ClientState
from posteingang.store.directory import Directory
from posteingang.store.errors import (
    AlreadyExists,
    Conflict,
    InvalidName,
    NotFound,
    QuotaExceeded,
    StoreError,
)
from posteingang.store.hub import Hub
from posteingang.store.imagesenders import ImageSenders, normalize_sender
from posteingang.store.mailstore import Mailstore, NewMessage
from posteingang.store.searchindex import SearchIndex


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    orphaned_blobs: list[str]  # blob files no message references
    missing_blobs: list[str]  # referenced by messages but absent from the blob store
    violations: list[str]  # UID/modseq/refcount invariant violations, human-readable
    repaired: list[str]

    @property
    def clean(self) -> bool:
        """No message lost its bytes and every invariant holds.

        Orphaned blobs do not make a store unclean: a crash between a blob's fsync
        and its row's commit leaves one by design (the message was never
        acknowledged). They only cost space; `check --repair` removes them.
        """
        return not (self.missing_blobs or self.violations)


class BlobStore(Protocol):
    """Immutable, content-addressed message bytes. Ids are SHA-256 hex digests.

    `put*` returns only after the bytes are durable (file and directory fsynced
    or the object store acknowledged), so a metadata row may then point at them.

    `inline_limit`: blobs up to this many octets may instead travel inside the
    `NewMessage` (`data`) and be stored by the append itself, atomically with
    the message row; 0 means never.
    """

    @property
    def inline_limit(self) -> int: ...

    @property
    def local_reads(self) -> bool:
        """True when reading a small blob costs microseconds (local files, SQLite,
        memory): a caller may then read it on the event loop instead of in a thread.
        A network object store says False."""
        ...

    async def put(self, data: bytes) -> str: ...

    async def put_file(self, path: str) -> str:
        """Take a spooled file (e.g. a 50 MB DATA) without reading it into memory."""
        ...

    async def get(self, blob_id: str) -> bytes: ...

    async def read(self, blob_id: str, offset: int, length: int) -> bytes: ...

    def open(self, blob_id: str) -> BinaryIO:
        """A readable binary file object for streaming (blocking reads; use in a thread)."""
        ...

    async def exists(self, blob_id: str) -> bool: ...

    async def delete(self, blob_id: str) -> None: ...

    async def list_ids(self) -> list[str]: ...


class Store(Directory, Mailstore, ClientState, SearchIndex, ImageSenders, Protocol):
    """The whole store: its five parts, the change feed and the message bytes."""

    @property
    def hub(self) -> Hub: ...
    @property
    def blobs(self) -> BlobStore: ...

    async def close(self) -> None: ...
    async def listen_external(self) -> None:
        """Start hearing about commits by other processes or nodes (`serve` calls it).

        They reach subscribers as `Resync` (see hub.py). A no-op where the backend
        has no other writers.
        """
        ...

    async def check(self, repair: bool = False) -> IntegrityReport: ...


__all__ = [
    "AlreadyExists",
    "BlobStore",
    "ClientState",
    "Conflict",
    "Directory",
    "ImageSenders",
    "IntegrityReport",
    "InvalidName",
    "Mailstore",
    "NewMessage",
    "NotFound",
    "QuotaExceeded",
    "SearchIndex",
    "Store",
    "StoreError",
    "normalize_sender",
]
