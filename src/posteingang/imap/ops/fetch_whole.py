"""FETCH of whole messages: the fast path for ``FETCH 1:* BODY.PEEK[]`` and its kin.

A client downloading a mailbox (a first sync, mbsync, fetchmail over IMAP, a
backup) asks for nothing but the message octets, often with UID, FLAGS and
RFC822.SIZE.  The general executor (`fetch.py`) plans every item of every
message as pieces, which costs tens of µs of Python per message; at ~6 KB per
message that, and not the disk or the socket, limits the rate.  Here the
response of such a command is built with a few operations per message:

1. `whole_message_layout` accepts the items only if each is UID, FLAGS,
   RFC822.SIZE, RFC822, or ``BODY[]`` / ``BODY.PEEK[]`` without a partial
   (BINARY[] decodes transfer encodings and needs the parse record: it takes
   the general path).  Anything else returns None and `fetch.py` goes on as
   before.
2. Each batch is one `Store.read_messages`: the rows (uid, flags, size, blob)
   and the octets of the small messages in one query (the SQLite store runs
   it on the event loop: ~0.6 ms for a batch from the page cache), at most
   `BATCH_BYTES` octets (`FIRST_CHUNK` uids first, so that the first
   octets leave after ~1 ms, then up to `CHUNK`).  Messages whose octets did
   not come along (large ones, or blobs kept in files) are read or opened in a
   second hop, at most `MAX_STREAMS` open files per batch.  The next batch is
   read while the current one is sent.
3. A message larger than `fetch.INLINE_MAX` is not read into memory: its blob
   is opened in the worker and streamed in `fetch.STREAM_CHUNK` pieces after
   its literal header, as the general path does.
4. Each batch goes to the session as one large ``bytes`` (one write, one
   back-pressure wait), never a whole mailbox: a 100,000-message FETCH holds at
   most about two batches.

The protocol rules are the general path's, and its bytes are the same:
BODY[] and RFC822 (not BODY.PEEK[]) set ``\\Seen`` with one `store_flags` per
batch and then send FLAGS (RFC 9051 §6.4.5); a message whose row or blob is
gone gets no response and its uid goes into `FetchOutcome.expunged`.  This
module must never send an EXPUNGE, change the view's sequence numbers, or
read a message's parse record.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Container, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from posteingang.imap.ops.pacing import Pacer
from posteingang.imap.proto.fetch import FetchAttr, FetchBody, FetchItem, Section
from posteingang.imap.proto.responses import nul_free
from posteingang.imap.selected import SelectedMailbox
from posteingang.store.interface import BlobStore, NotFound, Store
from posteingang.store.model import SEEN, FlagOp, MessageBody

from .fetch_items import Announce, flags_item, no_announcement

__all__ = ["BATCH_BYTES", "MAX_STREAMS", "Layout", "whole_message_layout", "whole_responses"]

#: uids per metadata lookup (the first lookups are smaller, see `_chunks`)
CHUNK = 512
FIRST_CHUNK = 32
#: message octets held in memory per batch (the batch is one write to the client)
BATCH_BYTES = 1024 * 1024
#: open blob files (messages streamed, not read) per batch
MAX_STREAMS = 8


class _Kind(enum.Enum):
    UID = "UID"
    FLAGS = "FLAGS"
    SIZE = "RFC822.SIZE"
    BODY = "body"


#: (what, the response name for a body) per item, in the order the client sees them
Layout = tuple[tuple[_Kind, bytes], ...]

_ATTRS = {"UID": _Kind.UID, "FLAGS": _Kind.FLAGS, "RFC822.SIZE": _Kind.SIZE}


def whole_message_layout(items: tuple[FetchItem, ...], *, uid_first: bool) -> Layout | None:
    """The items as a layout if this path can answer them, else None.

    At least one item must be a whole message body (metadata-only FETCHes are
    cheap on the general path).  With ``uid_first`` (UID FETCH) the UID item
    leads unless it was requested (RFC 9051 §6.4.9), as `plan_items` does.
    """
    out: list[tuple[_Kind, bytes]] = []
    if uid_first and FetchAttr("UID") not in items:
        out.append((_Kind.UID, b""))
    body = False
    for item in items:
        if isinstance(item, FetchAttr):
            if item.name == "RFC822":
                out.append((_Kind.BODY, b"RFC822"))
                body = True
            elif item.name in _ATTRS:
                out.append((_ATTRS[item.name], b""))
            else:
                return None
        elif isinstance(item, FetchBody) and item.section == Section() and item.partial is None:
            out.append((_Kind.BODY, b"BODY[]"))
            body = True
        else:
            return None
    return tuple(out) if body else None


@dataclass(slots=True)
class _Batch:
    """Messages whose blobs are read (or opened) and ready to send."""

    messages: list[tuple[int, MessageBody]]  # (sequence number, row)
    data: dict[str, bytes] = field(default_factory=dict)  # blob id -> octets
    files: dict[str, BinaryIO] = field(default_factory=dict)  # blob id -> open (streamed)
    missing: list[int] = field(default_factory=list)  # uids whose row or blob is gone

    def close(self) -> None:
        for f in self.files.values():
            with contextlib.suppress(OSError):
                f.close()
        self.files.clear()


def _open_blobs(blobs: BlobStore, batch: _Batch, rows: list[MessageBody], inline_max: int) -> None:
    """In a worker thread: read or open the blobs `read_messages` did not bring along."""
    try:
        for row in rows:
            blob_id = row.blob_id
            if blob_id in batch.data or blob_id in batch.files:
                continue
            try:
                f = blobs.open(blob_id)
            except (NotFound, FileNotFoundError):
                continue
            if row.size <= inline_max:
                with f:
                    batch.data[blob_id] = f.read()
            else:
                # The open file keeps the octets readable even if the message is
                # expunged (and its blob deleted) while it is being sent.
                batch.files[blob_id] = f
    except BaseException:
        batch.close()
        raise


async def _open(blobs: BlobStore, batch: _Batch, rows: list[MessageBody], inline_max: int) -> None:
    """`_open_blobs` in a thread; cancelled meanwhile, its files are closed when it ends."""
    work = asyncio.ensure_future(asyncio.to_thread(_open_blobs, blobs, batch, rows, inline_max))
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        work.add_done_callback(lambda _t: batch.close())
        raise


async def _batches(
    store: Store, view: SelectedMailbox, uids: Sequence[int], inline_max: int
) -> AsyncGenerator[_Batch, None]:
    """The messages of `uids` in batches, octets at hand; the caller closes each batch.

    Each batch is one `Store.read_messages` (rows and small octets in one read)
    of at most `BATCH_BYTES` octets: `FIRST_CHUNK` uids first, so
    that the first octets leave at once, then up to `CHUNK`. Only messages whose
    octets did not come along (large ones, or a store that keeps them elsewhere)
    cost a second hop to open their files, at most `MAX_STREAMS` large ones per
    batch.
    """
    mailbox_id = view.mailbox_id
    seq_of = view.seq_of
    blobs = store.blobs
    i, count = 0, FIRST_CHUNK
    while i < len(uids):
        chunk = uids[i : i + count]
        rows = await store.read_messages(mailbox_id, chunk, inline_max, BATCH_BYTES)
        if rows and rows[-1].uid != chunk[-1]:
            # The budget ended the read (or the last uids are gone: asked again, they
            # come back empty and count as missing then).
            chunk = [uid for uid in chunk if uid <= rows[-1].uid]
        i += len(chunk)
        count = CHUNK
        found = {row.uid for row in rows}
        batch = _Batch([], missing=[uid for uid in chunk if uid not in found])
        unread: list[MessageBody] = []  # octets still to read or open (a thread hop)
        held = streams = 0  # octets in memory, files open
        for row in rows:
            seq = seq_of(row.uid)
            if seq is None:
                batch.missing.append(row.uid)
                continue
            big = row.data is None and row.size > inline_max
            octets = 0 if big else row.size
            if batch.messages and (held + octets > BATCH_BYTES or (big and streams >= MAX_STREAMS)):
                if unread:
                    await _open(blobs, batch, unread, inline_max)
                yield batch
                batch, unread, held, streams = _Batch([]), [], 0, 0
            if row.data is not None:
                batch.data[row.blob_id] = row.data
            else:
                unread.append(row)
            held += octets
            streams += big
            batch.messages.append((seq, row))
        if unread:
            await _open(blobs, batch, unread, inline_max)
        if batch.messages or batch.missing:
            yield batch


async def whole_responses(
    store: Store,
    view: SelectedMailbox,
    uids: Sequence[int],
    layout: Layout,
    *,
    mark_seen: bool,
    recent: Container[int],
    expunged: list[int],
    seen: list[int],
    inline_max: int,
    stream: Callable[[BinaryIO, int, int], AsyncIterator[bytes]],
    announce: Announce = no_announcement,
) -> AsyncIterator[bytes]:
    """The untagged FETCH responses for `uids` (ascending), one large piece per batch.

    Uids whose message is gone are appended to `expunged`, uids this FETCH
    marked ``\\Seen`` to `seen`.  `stream(file, start, end)` yields a big
    blob's octets.
    """
    loader = _batches(store, view, uids, inline_max)
    flag_cache: dict[tuple[frozenset[str], bool], bytes] = {}
    wants_flags = any(kind is _Kind.FLAGS for kind, _n in layout)

    async def send(batch: _Batch) -> AsyncGenerator[bytes, None]:
        """The responses of one batch, then its files closed (closed at once when the
        FETCH stops early: the callers close it with `aclosing`)."""
        try:
            async for out in _send(
                store, view, batch, layout, mark_seen, recent, expunged, seen,
                flag_cache, wants_flags, stream, announce,
            ):  # fmt: skip
                yield out
        finally:
            batch.close()

    if len(uids) <= FIRST_CHUNK:
        # One read: nothing to overlap it with, so no read-ahead task (the two tasks
        # cost more CPU than a FETCH of one message, issue 12).
        async with contextlib.aclosing(loader):
            async for batch in loader:
                async with contextlib.aclosing(send(batch)) as pieces:
                    async for out in pieces:
                        yield out
        return
    ahead: asyncio.Future[_Batch] | None = asyncio.ensure_future(_next(loader))
    try:
        while ahead is not None:
            try:
                batch = await ahead
            except StopAsyncIteration:
                ahead = None
                break
            # Load the next batch while this one is sent: disk and socket overlap.
            ahead = asyncio.ensure_future(_next(loader))
            async with contextlib.aclosing(send(batch)) as pieces:
                async for out in pieces:
                    yield out
    finally:
        if ahead is not None:
            # Stopped early (client gone, an error): let the loader finish its
            # step, then close what it opened.
            ahead.cancel()
            await asyncio.wait([ahead])
            if not ahead.cancelled() and ahead.exception() is None:
                ahead.result().close()
        await loader.aclose()


async def _next(loader: AsyncIterator[_Batch]) -> _Batch:
    return await anext(loader)


# Complex on purpose: the BODY[] hot loop: streaming, partial ranges and BINARY in one pass.
async def _send(  # noqa: C901 (see above)
    store: Store,
    view: SelectedMailbox,
    batch: _Batch,
    layout: Layout,
    mark_seen: bool,
    recent: Container[int],
    expunged: list[int],
    seen: list[int],
    flag_cache: dict[tuple[frozenset[str], bool], bytes],
    wants_flags: bool,
    stream: Callable[[BinaryIO, int, int], AsyncIterator[bytes]],
    announce: Announce,
) -> AsyncIterator[bytes]:
    expunged.extend(batch.missing)
    data, files = batch.data, batch.files
    live: list[tuple[int, MessageBody]] = []
    for seq, msg in batch.messages:
        if msg.blob_id in data or msg.blob_id in files:
            live.append((seq, msg))
        else:
            expunged.append(msg.uid)
    changed: dict[int, frozenset[str]] = {}
    if mark_seen:
        todo = [msg.uid for _s, msg in live if SEEN not in msg.flags]
        if todo:
            for up in await store.store_flags(
                view.mailbox_id, todo, FlagOp.ADD, frozenset((SEEN,))
            ):
                changed[up.uid] = up.flags
                view.accept_own_flags(up.uid, up.flags, up.modseq)
                seen.append(up.uid)
    modseqs = view.modseqs
    parts: list[bytes] = []
    pacer = Pacer()  # other clients are served between slices (ops/pacing.py)
    for seq, msg in live:
        await pacer.tick()
        uid = msg.uid
        flags = changed.get(uid)
        if flags is None:
            flags = msg.flags
            if wants_flags and msg.modseq > modseqs.get(uid, 0):
                # The client now knows these flags: keep the view in step.
                view.accept_own_flags(uid, flags, msg.modseq)
        if wants_flags or uid in changed:
            parts.append(announce(flags))  # b"" unless a keyword is new to the client
        key = (flags, uid in recent)
        flag_bytes = flag_cache.get(key)
        if flag_bytes is None:
            flag_bytes = flag_cache[key] = flags_item(flags, recent=key[1])
        text = b"* %d FETCH (" % seq
        sep = b""
        if uid in changed and not wants_flags:
            # RFC 9051 §6.4.5: the implicit \Seen is reported in the same response.
            text += flag_bytes
            sep = b" "
        for kind, name in layout:
            if kind is _Kind.BODY:
                body = data.get(msg.blob_id)
                if body is not None:
                    parts.append(text + sep + name + b" {%d}\r\n" % len(body))
                    parts.append(nul_free(body))
                else:
                    parts.append(text + sep + name + b" {%d}\r\n" % msg.size)
                    yield b"".join(parts)
                    parts.clear()
                    async for piece in stream(files[msg.blob_id], 0, msg.size):
                        yield piece
                text = b""
            elif kind is _Kind.UID:
                text += sep + b"UID %d" % uid
            elif kind is _Kind.FLAGS:
                text += sep + flag_bytes
            else:
                text += sep + b"RFC822.SIZE %d" % msg.size
            sep = b" "
        parts.append(text + b")\r\n")
    if parts:
        yield b"".join(parts)
