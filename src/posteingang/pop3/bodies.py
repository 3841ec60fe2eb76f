"""RETR and TOP bodies, streamed from the blob store as wire-ready chunks.

`body_chunks` reads a message's blob a chunk at a time (never the whole
message), cuts it for TOP with `TopFilter` when asked, and dot-stuffs it with
`DotStuffer`, so every chunk it yields can be written to the client as is; the
last one ends with the ``.`` CRLF terminator (RFC 1939 §3). The caller writes
the chunks with back-pressure (waiting for the socket to drain), so a slow
client holds at most one chunk of a large message in memory.

`body_offset` finds where TOP's body lines start: the root part's body start
from the parse-once record (`posteingang.mime`), which is also right for a
message with no empty line at all (then the whole message is header).

This module must never write to the store or buffer a whole message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import BinaryIO, Protocol

from posteingang.mime import decode_parsed
from posteingang.pop3.proto import DotStuffer, TopFilter, find_body_offset
from posteingang.store.interface import BlobStore, Store

CHUNK_SIZE = 256 * 1024
# Messages up to this size are read on the event loop when the blobs are local files.
INLINE_LIMIT = 128 * 1024


def reads_inline(blobs: BlobStore) -> bool:
    """True for blob stores whose small reads are cheap enough for the event loop."""
    return blobs.local_reads


class _Readable(Protocol):
    async def read(self, blob_id: str, offset: int, length: int) -> bytes: ...

    def open(self, blob_id: str) -> BinaryIO: ...


class ReadAhead:
    """The first chunk of the next messages, read in worker-thread batches, ahead of need.

    POP3 clients download in ascending order, often pipelined. A thread hop
    costs far more than reading a small message from the page cache (~100 µs
    of latency against ~10 µs), so messages are read in batches of up to
    `batch_count` messages or `batch_budget` octets, and while one batch is
    being sent the next one is read in the background (double buffering: the
    file reads overlap with the sending). At most two batches are held, so the
    memory a session ties up is bounded by twice `batch_budget` plus a chunk.
    A request out of order drops the guesses and starts again from there.

    With `inline` (blobs whose reads are local, see `reads_inline`) a message's
    first chunk is read on the event loop instead: a small file in the page
    cache is read in tens of microseconds, less than the thread hand-off, and
    a busy event loop would starve a worker thread of the GIL anyway.
    """

    def __init__(
        self,
        blobs: _Readable,
        messages: Sequence[tuple[str, int]],  # (blob id, blob size) by message number - 1
        *,
        batch_budget: int = 2 * 1024 * 1024,
        batch_count: int = 128,
        chunk_size: int = CHUNK_SIZE,
        inline: bool = False,
    ) -> None:
        self._blobs = blobs
        self._inline = inline
        self._messages = messages
        self._budget = batch_budget
        self._count = batch_count
        self._chunk_size = chunk_size
        self._cache: dict[int, bytes | BaseException] = {}
        self._next = 0  # first index not cached or being fetched
        self._fetch: asyncio.Task[dict[int, bytes | BaseException]] | None = None
        self._fetch_range = range(0)

    def close(self) -> None:
        """Cancel a background read (end of session)."""
        if self._fetch is not None:
            self._fetch.cancel()
            self._fetch = None
        self._cache.clear()

    def _batch(self, start: int) -> range:
        total = 0
        stop = start
        end = min(start + self._count, len(self._messages))
        while stop < end:
            size = min(self._messages[stop][1], self._chunk_size)
            if stop > start and total + size > self._budget:
                break
            total += size
            stop += 1
        return range(start, stop)

    def _start_fetch(self, start: int) -> None:
        batch = self._batch(start)
        if not batch:
            return
        blobs, chunk = self._blobs, self._chunk_size
        ids = [(i, self._messages[i][0]) for i in batch]

        def read_all() -> dict[int, bytes | BaseException]:
            out: dict[int, bytes | BaseException] = {}
            for i, blob_id in ids:
                try:
                    with blobs.open(blob_id) as file:
                        out[i] = file.read(chunk)
                except Exception as exc:  # only matters if that message is asked for
                    out[i] = exc
            return out

        self._fetch = asyncio.ensure_future(asyncio.to_thread(read_all))
        self._fetch_range = batch
        self._next = batch.stop

    async def _collect(self) -> None:
        assert self._fetch is not None
        task, self._fetch = self._fetch, None
        self._cache.update(await task)

    async def first_chunk(self, index: int) -> bytes:
        """The first chunk of message `index` (0-based); raises if its blob is gone."""
        if self._inline and self._messages[index][1] <= INLINE_LIMIT:
            with self._blobs.open(self._messages[index][0]) as file:
                return file.read(self._chunk_size)
        if index not in self._cache:
            if self._fetch is not None and index in self._fetch_range:
                await self._collect()
            else:
                self.close()  # out of order: start again from here
                self._start_fetch(index)
                await self._collect()
        data = self._cache.pop(index)
        # Keep one batch in flight while this one is sent.
        if (
            self._fetch is None
            and self._next < len(self._messages)
            and len(self._cache) < self._count
        ):
            self._start_fetch(self._next)
        if isinstance(data, BaseException):
            raise data
        return data


def stuff_message(data: bytes) -> bytes:
    """The wire form of a whole message in hand: dot-stuffed, with the terminator.

    Equal to `DotStuffer` fed `data` at once, in fewer passes for the two
    common shapes: every line ending in CRLF (sent as is when no line starts
    with "."), and every line ending in a bare LF with no CR anywhere.
    """
    if not data:
        return b".\r\n"
    if b"\r" in data:
        if not data.endswith(b"\r\n") or data.count(b"\n") != data.count(b"\r\n"):
            stuffer = DotStuffer()  # mixed line ends or bare CRs: the general path
            return stuffer.feed(data) + stuffer.finish()
        body = data
    else:
        body = data.replace(b"\n", b"\r\n")
        if not body.endswith(b"\n"):
            body += b"\r\n"
    if b"\n." in body:
        body = body.replace(b"\n.", b"\n..")  # RFC 1939 §3 byte-stuffing
    if body[0] == 0x2E:
        body = b"." + body
    return body + b".\r\n"


async def body_offset(store: Store, blob_id: str) -> int | None:
    """Offset of the first body octet of the message (None: no empty line, all header)."""
    try:
        parsed = decode_parsed(await store.get_parsed(blob_id))
    except Exception:
        # No (or an unreadable) parse record: find the empty line ourselves. Headers
        # beyond 1 MiB are absurd; such a message is treated as all header.
        head = await store.blobs.read(blob_id, 0, 1024 * 1024)
        return find_body_offset(head)
    root = parsed.root
    return None if root.body_start >= parsed.size else root.body_start


async def body_chunks(
    blobs: _Readable,
    blob_id: str,
    blob_size: int,
    *,
    first: bytes | None = None,
    top: TopFilter | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> AsyncIterator[bytes]:
    """The dot-stuffed body of a message (all of it, or what `top` lets through).

    `first` is the blob's first chunk if the caller already read it (to learn
    that the message still exists before answering ``+OK``).
    """
    stuffer = DotStuffer()
    offset = 0
    chunk = first if first is not None else await blobs.read(blob_id, 0, chunk_size)
    while chunk:
        offset += len(chunk)
        data = top.feed(chunk) if top is not None else chunk
        out = stuffer.feed(data)
        if top is not None and top.done:
            break
        if offset >= blob_size:
            break
        if out:
            yield out
        chunk = await blobs.read(blob_id, offset, chunk_size)
    else:
        out = b""
    yield out + stuffer.finish()
