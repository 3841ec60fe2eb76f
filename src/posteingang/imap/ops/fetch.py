"""FETCH / UID FETCH against the store: the untagged ``* n FETCH (...)`` responses.

Theory of operation
-------------------
`fetch_responses` is an async generator; the session writes each piece it
yields to the client and then sends the tagged result.  Work is done in
bounded batches so that neither a 50 MB ``BODY[]`` nor a ``FETCH 1:*`` over
100,000 messages is ever held in memory:

1. The sequence set is resolved against the session's view (``*`` is the
   view's last message or uid; a UID FETCH range ``n:*`` always includes the
   last uid, RFC 9051 §6.4.9).
2. Message metadata is loaded `CHUNK` uids at a time (`fetch_rows.load_rows`:
   rows read before are kept, flags and modseq from the view; else `Store.get_messages`),
   parse-once records only when an item needs one, cached per blob for the
   command (`ParseCache`) and decoded records process-wide (`DECODED`).
3. Each message's items become pieces (`fetch_items.plan_items`).  Blob
   ranges up to `INLINE_MAX` octets are read for a batch of messages in one
   thread hop (at most `BATCH_BYTES` per batch); bigger ``BODY[...]`` ranges
   are streamed from the open blob file in `STREAM_CHUNK` pieces after their
   literal header.
4. Before a batch is sent, the implicit ``\\Seen`` of BODY[...], BINARY[...],
   RFC822 and RFC822.TEXT (not .PEEK) is stored in one `store_flags` call
   (unless the view is read-only), reported to the view with
   `accept_own_flags`, and FLAGS is added to those messages' responses
   (RFC 9051 §6.4.5).

Expunged messages (RFC 9051 §7.5.1 and §7.1 EXPUNGEISSUED): a message the
view still shows but whose row or bytes are gone gets no FETCH response; its
uid is put in ``FetchOutcome.expunged`` and the session ends a FETCH by
sequence number with ``NO [EXPUNGEISSUED] Some of the requested messages no
longer exist`` (`expunge_issued_response`), a UID FETCH with OK (RFC 2180
§4.1.2, as Dovecot).  Everything that could be sent is sent.

Errors that fail the whole command (BINARY of an unknown transfer encoding:
``NO [UNKNOWN-CTE]``, RFC 3516 §4.3) are raised as `FetchError` before any
byte of the failing batch has been yielded, so the client never sees half a
response.

A FETCH whose items are all in memory (UID, FLAGS and MODSEQ in the selected
view; the rows, rendered ENVELOPE/BODYSTRUCTURE and header blocks that earlier
FETCHes kept) is answered from there, a chunk of messages as one ``bytes``
(`fetch_cached.py`), without reading the store; the first message that needs a
read sends the rest of the command down the general path.

A FETCH of nothing but whole messages (``BODY.PEEK[]``, ``BODY[]``, RFC822,
with UID, FLAGS or RFC822.SIZE) takes the fast path in `fetch_whole.py`, which
sends the same bytes with a few operations per message instead of a plan.

This module must never send an EXPUNGE, never change the view's sequence
numbers, and never parse a message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Container, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from posteingang.imap.ops.pacing import Pacer
from posteingang.imap.proto.commands import Fetch
from posteingang.imap.proto.fetch import FetchAttr, FetchItem
from posteingang.imap.proto.responses import (
    ResponseCode,
    fetch_end,
    fetch_start,
    literal_header,
    nul_free,
)
from posteingang.imap.proto.sequence import SequenceSet
from posteingang.imap.selected import SelectedMailbox
from posteingang.mime import ParsedMessage
from posteingang.store.interface import NotFound, Store
from posteingang.store.model import SEEN, FlagOp, Message

from .fetch_cached import memory_plan, memory_responses
from .fetch_items import (
    FLAGS_SLOT,
    HEADERS,
    MODSEQ_SLOT,
    RENDERABLE,
    RENDERED,
    Announce,
    BodyRead,
    HeaderSplit,
    Piece,
    Transform,
    UnknownCte,
    fields_value,
    finish_body,
    flags_item,
    needs_parse,
    no_announcement,
    plan_items,
    renderable_only,
    sets_seen,
    split_header,
)
from .fetch_rows import kept_rows, load_rows
from .fetch_whole import whole_message_layout, whole_responses
from .parse_cache import ParseCache

__all__ = [
    "FetchError",
    "FetchOutcome",
    "expunge_issued_response",
    "fetch_responses",
    "resolve_uids",
]

#: uids per metadata lookup
CHUNK = 256
#: RAW blob ranges up to this size are read into memory; larger ones stream.
INLINE_MAX = 256 * 1024
#: octets read into memory per batch of messages
BATCH_BYTES = 4 * 1024 * 1024
#: a batch whose blobs total at most this is read on the event loop when the blob
#: store's reads are local (`BlobStore.local_reads`): ~0.5 ms from the page cache
LOOP_READ_BYTES = 512 * 1024
#: octets per piece when streaming a large body
STREAM_CHUNK = 1024 * 1024
#: octets of responses the general path collects before it yields them as one piece
YIELD_AT = 64 * 1024
#: answer whole-message FETCHes with `fetch_whole` (False: the general path, for tests)
WHOLE_MESSAGE_PATH = True
#: answer FETCHes whose items are all in memory from there (`fetch_cached`; False: never)
MEMORY_PATH = True


class FetchError(Exception):
    """The FETCH fails as a whole: answer with a tagged NO carrying `code`."""

    def __init__(self, code: ResponseCode, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass(slots=True)
class FetchOutcome:
    """What the session needs to know after the responses have been sent."""

    expunged: list[int] = field(default_factory=list)  # uids that no longer exist
    seen: list[int] = field(default_factory=list)  # uids this FETCH marked \Seen

    @property
    def expunge_issued(self) -> bool:
        return bool(self.expunged)


def expunge_issued_response() -> tuple[ResponseCode, str]:
    """The code and text for the tagged NO after a FETCH that met expunged messages."""
    return ResponseCode("EXPUNGEISSUED"), "Some of the requested messages no longer exist"


def resolve_uids(view: SelectedMailbox, sequence_set: SequenceSet, *, uid: bool) -> list[int]:
    """The uids a sequence set names in the view, ascending, each once.

    Message sequence numbers beyond the view are simply absent here; whether
    that is a BAD is the session's decision (`SequenceSet.highest_explicit`).
    """
    out: list[int] = []
    if uid:
        for lo, hi in sequence_set.resolve(view.max_uid):
            out.extend(view.uids_in_range(lo, hi))
    else:
        for lo, hi in sequence_set.resolve(view.exists):
            out.extend(view.uids[lo - 1 : hi])
    return out


@dataclass(slots=True)
class _Planned:
    msg: Message
    seq: int
    pieces: list[Piece]
    reads: list[BodyRead]  # BodyReads of `pieces` done in memory
    streams: list[BodyRead]  # BodyReads of `pieces` streamed from the file
    finished: dict[int, bytes] = field(default_factory=dict)  # id(read) -> item bytes
    files: dict[int, BinaryIO] = field(default_factory=dict)  # id(read) -> open blob
    splits: list[tuple[int, int, HeaderSplit]] = field(default_factory=list)  # for HEADERS
    vanished: bool = False

    @property
    def inline_bytes(self) -> int:
        if not self.reads:
            return 0
        return sum(r.raw_span[1] - r.raw_span[0] for r in self.reads)


def _plan(
    items: tuple[FetchItem, ...], msg: Message, seq: int, parsed: ParsedMessage | None, uid: bool
) -> _Planned:
    pieces = plan_items(items, msg, parsed, uid_first=uid)
    reads: list[BodyRead] = []
    streams: list[BodyRead] = []
    finished: dict[int, bytes] = {}
    for p in pieces:
        if isinstance(p, BodyRead):
            if parsed is not None and (p.header or p.transform is Transform.FIELDS):
                # For the next FETCH of this header from memory (`fetch_cached`).
                HEADERS.note_root(msg.blob_id, parsed.root.header_start, parsed.root.body_start)
            if p.transform is Transform.FIELDS:
                split = HEADERS.get(msg.blob_id, p.start, p.end)
                if split is not None:
                    finished[id(p)] = fields_value(p, split)
                    continue
            elif p.header:
                split = HEADERS.get(msg.blob_id, p.start, p.end)
                if split is not None:
                    lo, hi = p.raw_span
                    finished[id(p)] = finish_body(p, split[2][lo - p.start : hi - p.start])
                    continue
            lo, hi = p.raw_span
            if p.transform is Transform.RAW and hi - lo > INLINE_MAX:
                streams.append(p)
            else:
                reads.append(p)
    return _Planned(msg, seq, pieces, reads, streams, finished)


def _read_batch(store: Store, batch: Sequence[_Planned]) -> None:
    """In a worker thread: read and finish every in-memory item, open the streams.

    A blob that is gone marks its message vanished.  Raises UnknownCte.
    """
    # One query for the whole batch where the blob store can (SQLite inline blobs).
    open_many = getattr(store.blobs, "open_many", None)
    prefetched: dict[str, BinaryIO] = {}
    if open_many is not None:
        prefetched = open_many([p.msg.blob_id for p in batch if p.reads or p.streams])
    for plan in batch:
        if not plan.reads and not plan.streams:
            continue
        try:
            f = prefetched.pop(plan.msg.blob_id, None) or store.blobs.open(plan.msg.blob_id)
        except (NotFound, FileNotFoundError):
            plan.vanished = True
            continue
        keep_open = False
        try:
            for r in plan.reads:
                lo, hi = r.raw_span
                f.seek(lo)
                data = f.read(hi - lo) if hi > lo else b""
                if r.transform is Transform.FIELDS:
                    split = split_header(data)
                    plan.splits.append((r.start, r.end, split))  # cached on the loop
                    plan.finished[id(r)] = fields_value(r, split)
                    continue
                if r.header and r.partial is None:
                    plan.splits.append((r.start, r.end, split_header(data)))
                plan.finished[id(r)] = finish_body(r, data)
            for i, r in enumerate(plan.streams):
                # One open file per stream: the file object keeps the bytes readable
                # even if the message is expunged and its blob deleted meanwhile.
                plan.files[id(r)] = f if i == 0 else store.blobs.open(plan.msg.blob_id)
                keep_open = True
        finally:
            if not keep_open:
                f.close()
    for unused in prefetched.values():
        unused.close()


def _close_files(batch: Sequence[_Planned]) -> None:
    for plan in batch:
        for f in plan.files.values():
            with contextlib.suppress(OSError):
                f.close()
        plan.files.clear()


async def _stream(f: BinaryIO, start: int, end: int) -> AsyncIterator[bytes]:
    """``f[start:end]`` in `STREAM_CHUNK` pieces, for an ordinary ``{n}`` literal:
    NULs go out as 0x80 (`nul_free`, RFC 9051 §4.3)."""
    pos = start

    def read(at: int, n: int) -> bytes:
        f.seek(at)
        return f.read(n)

    while pos < end:
        data = await asyncio.to_thread(read, pos, min(STREAM_CHUNK, end - pos))
        if not data:
            # The file is shorter than the record says: pad so the literal stays
            # well-formed (the stored size is what we announced).
            data = b" " * (end - pos)
        yield nul_free(data)
        pos += len(data)


async def fetch_responses(
    store: Store,
    view: SelectedMailbox,
    cmd: Fetch,
    *,
    rev2: bool,
    outcome: FetchOutcome | None = None,
    recent: Container[int] = (),
    announce: Announce = no_announcement,
) -> AsyncGenerator[bytes, None]:
    """Yield the untagged FETCH responses of `cmd`, in order, streamed.

    ``recent`` are the uids this session reports as \\Recent (IMAP4rev1 only;
    RFC 9051 has no \\Recent).  ``announce(flags)`` is the session's untagged
    FLAGS when ``flags`` hold a keyword the client has not been told of (else
    b""); it is yielded before the response that shows them (RFC 9051
    §7.3.5: a keyword is introduced by FLAGS before it is used).  Pass
    ``outcome`` to learn which messages were
    expunged and which were marked \\Seen.  Raises `FetchError` for a command
    that must fail (nothing of the failing batch has been yielded then).
    A session that stops early (client gone) should ``aclose()`` the
    generator: that closes the blob files it holds open at once.
    """
    result = outcome if outcome is not None else FetchOutcome()
    mark_seen = sets_seen(cmd.items) and not view.readonly
    recent_set: Container[int] = () if rev2 else recent
    uids = resolve_uids(view, cmd.sequence_set, uid=cmd.uid)
    plan = memory_plan(cmd.items) if MEMORY_PATH else None
    if plan is not None:
        rows = kept_rows(store)
        done = 0
        while done < len(uids):
            chunk = uids[done : done + CHUNK]
            answered, used = memory_responses(
                view, rows, plan, chunk, uid_first=cmd.uid, recent=recent_set,
                expunged=result.expunged, announce=announce,
            )  # fmt: skip
            done += used
            if answered:
                yield b"".join(answered)
            if used < len(chunk):
                break  # the rest the general way (which fills the caches)
        if done == len(uids):
            return
        uids = uids[done:]
    layout = whole_message_layout(cmd.items, uid_first=cmd.uid) if WHOLE_MESSAGE_PATH else None
    if layout is not None:
        async for out in whole_responses(
            store, view, uids, layout,
            mark_seen=mark_seen, recent=recent_set, expunged=result.expunged,
            seen=result.seen, inline_max=INLINE_MAX, stream=_stream, announce=announce,
        ):  # fmt: skip
            yield out
        return
    ahead: _Batch | None = None

    def send(batch: _Batch) -> AsyncIterator[bytes]:
        return _send_batch(store, view, batch, mark_seen, recent_set, result, announce)

    try:
        async for batch in _batches(store, view, cmd, uids, result):
            # Read this batch's blobs in a worker while the previous batch is
            # being sent: disk and socket overlap.
            prev, ahead = ahead, _Batch(batch, _start_reads(store, batch))
            if prev is not None:
                async for out in send(prev):
                    yield out
        prev, ahead = ahead, None
        if prev is not None:
            async for out in send(prev):
                yield out
    finally:
        if ahead is not None:
            _discard(ahead)


@dataclass(slots=True)
class _Batch:
    plans: list[_Planned]
    reads: asyncio.Future[None] | None  # the worker reading the blobs, if any


def _start_reads(store: Store, batch: list[_Planned]) -> asyncio.Future[None] | None:
    if not any(p.reads or p.streams for p in batch):
        return None
    if getattr(store.blobs, "local_reads", False) and _small(batch):
        # Local bytes of a small batch (headers of a FETCH 1:*) take tens of µs to
        # read: the thread hop cost more CPU than the read (profiled).
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            _read_batch(store, batch)
        except UnknownCte as e:
            done.set_exception(e)
        else:
            done.set_result(None)
        return done
    return asyncio.ensure_future(asyncio.to_thread(_read_batch, store, batch))


def _small(batch: list[_Planned]) -> bool:
    """Whether the batch reads at most `LOOP_READ_BYTES` octets of whole blobs, none streamed."""
    total = 0
    for p in batch:
        if p.streams:
            return False
        if p.reads:
            total += p.msg.size  # `open_many` loads a whole inline blob
    return total <= LOOP_READ_BYTES


def _discard(batch: _Batch) -> None:
    """Close a batch's files, now or when its reader finishes (the thread runs on)."""
    task = batch.reads
    if task is None or task.done():
        if task is not None and not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" warning
        _close_files(batch.plans)
        return
    task.add_done_callback(lambda _t: _discard(batch))


async def _batches(
    store: Store, view: SelectedMailbox, cmd: Fetch, uids: list[int], result: FetchOutcome
) -> AsyncIterator[list[_Planned]]:
    """The messages `uids`, planned, in batches of at most BATCH_BYTES to read."""
    parse = needs_parse(cmd.items)
    # ENVELOPE/BODY/BODYSTRUCTURE alone: load records only for what is not rendered yet.
    cached_only = parse and renderable_only(cmd.items)
    renderable = [i.name for i in cmd.items if isinstance(i, FetchAttr) and i.name in RENDERABLE]
    cache = ParseCache(store)
    want_flags = sets_seen(cmd.items) or any(
        isinstance(i, FetchAttr) and i.name in ("FLAGS", "MODSEQ") for i in cmd.items
    )
    batch: list[_Planned] = []
    size = 0
    pacer = Pacer()  # other clients are served between slices (ops/pacing.py)
    for i in range(0, len(uids), CHUNK):
        chunk = uids[i : i + CHUNK]
        metas = await load_rows(store, view, chunk, want_flags=want_flags)
        rendered: set[str] = set()
        if cached_only:
            rendered = {
                m.blob_id
                for m in metas.values()
                if all(RENDERED.get(m.blob_id, n) is not None for n in renderable)
            }
        if parse:
            await cache.load([m.blob_id for m in metas.values() if m.blob_id not in rendered])
        for uid in chunk:
            await pacer.tick()
            msg = metas.get(uid)
            seq = view.seq_of(uid)
            parsed = cache.get(msg.blob_id) if msg is not None and parse else None
            if msg is not None and msg.blob_id in rendered:
                parsed_ok = True
            else:
                parsed_ok = not parse or parsed is not None
            if msg is None or seq is None or not parsed_ok:
                result.expunged.append(uid)
                continue
            plan = _plan(cmd.items, msg, seq, parsed, cmd.uid)
            if batch and size + plan.inline_bytes > BATCH_BYTES:
                yield batch
                batch, size = [], 0
            batch.append(plan)
            size += plan.inline_bytes
        if batch:
            # A chunk's end is a batch's end: responses keep flowing for
            # metadata-only fetches too.
            yield batch
            batch, size = [], 0


# Complex on purpose: the FETCH hot loop; its per-item cases stay inline to save calls per message.
async def _send_batch(  # noqa: C901 (see above)
    store: Store,
    view: SelectedMailbox,
    current: _Batch,
    mark_seen: bool,
    recent: Container[int],
    result: FetchOutcome,
    announce: Announce,
) -> AsyncIterator[bytes]:
    batch = current.plans
    try:
        if current.reads is not None:
            try:
                await current.reads
            except UnknownCte:
                raise FetchError(
                    ResponseCode("UNKNOWN-CTE"), "Unknown Content-Transfer-Encoding"
                ) from None
        live = [p for p in batch if not p.vanished]
        result.expunged.extend(p.msg.uid for p in batch if p.vanished)
        for p in live:
            for start, end, split in p.splits:
                HEADERS.put(p.msg.blob_id, start, end, split)
        flags = {p.msg.uid: p.msg.flags for p in live}
        modseqs = {p.msg.uid: p.msg.modseq for p in live}
        changed: set[int] = set()
        if mark_seen:
            todo = [p.msg.uid for p in live if SEEN not in p.msg.flags]
            if todo:
                for up in await store.store_flags(
                    view.mailbox_id, todo, FlagOp.ADD, frozenset((SEEN,))
                ):
                    flags[up.uid] = up.flags
                    modseqs[up.uid] = up.modseq
                    changed.add(up.uid)
                    view.accept_own_flags(up.uid, up.flags, up.modseq)
                    result.seen.append(up.uid)
        pacer = Pacer()
        # The responses go out in pieces of about `YIELD_AT` octets, not one per
        # message: each piece costs a trip through the generators and the session.
        out: list[bytes] = []
        queued = 0
        for plan in live:
            await pacer.tick()
            uid = plan.msg.uid
            fresh = plan.msg.modseq > view.modseqs.get(uid, 0)
            # (by identity: `in` would call each BodyRead's dataclass __eq__)
            has_flags = any(p is FLAGS_SLOT for p in plan.pieces)
            if has_flags and uid not in changed and fresh:
                # The client now knows these flags: keep the view in step.
                view.accept_own_flags(uid, plan.msg.flags, plan.msg.modseq)
            if has_flags or uid in changed:
                flag_bytes = flags_item(flags[uid], recent=uid in recent)
                news = announce(flags[uid])
                if news:
                    out.append(news)
            head = fetch_start(plan.seq)
            items: list[bytes] = []
            if uid in changed and not has_flags:
                # RFC 9051 §6.4.5: the implicit \Seen is reported in the same response.
                items.append(flag_bytes)
            for piece in plan.pieces:
                if piece is FLAGS_SLOT:
                    items.append(flag_bytes)
                elif piece is MODSEQ_SLOT:
                    # RFC 7162 §3.1.4: the modseq after the implicit \Seen, if any.
                    items.append(b"MODSEQ (%d)" % modseqs[uid])
                elif isinstance(piece, bytes):
                    items.append(piece)
                elif isinstance(piece, BodyRead):
                    f = plan.files.get(id(piece))
                    if f is None:
                        items.append(plan.finished[id(piece)])
                        continue
                    lo, hi = piece.raw_span
                    items.append(piece.name + b" " + literal_header(hi - lo))
                    out.append(head + b" ".join(items))
                    yield b"".join(out)
                    out, queued = [], 0
                    head = b""
                    items = []
                    async for data in _stream(f, lo, hi):
                        yield data
                    items.append(b"")  # the next item is preceded by a space
            response = head + b" ".join(items) + fetch_end()
            out.append(response)
            queued += len(response)
            if queued >= YIELD_AT:
                yield b"".join(out)
                out, queued = [], 0
        if out:
            yield b"".join(out)
    finally:
        _discard(current)
