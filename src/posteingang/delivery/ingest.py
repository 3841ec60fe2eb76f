"""The one way a message enters the store: durable blob, parse once, then one append.

Every way in (SMTP/LMTP, `posteingang deliver`, IMAP APPEND, import, webmail
drafts) calls `prepare_message` (or `prepare_file` for a spooled DATA) and then
a single `Store.append`/`append_many`. What this module must never do: change
the message bytes, or hand a `NewMessage` to the store before its blob is
durable (DESIGN.md invariant 1).

Parsing is CPU work (~0.1–1 ms per message); small messages are parsed on the
event loop, large ones in a worker thread so that a 50 MB message does not
stall other sessions.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime
from typing import BinaryIO

from posteingang.mime import encode_parsed, parse_file, parse_message
from posteingang.mime.model import ParsedMessage
from posteingang.mime.octets import LineEndCounter, crlf_size
from posteingang.mime.structure import parse_file_strict
from posteingang.store.fulltext import Document, message_document
from posteingang.store.interface import NewMessage, Store
from posteingang.store.sortkeys import keys_of

# Above this size the parse runs in a thread (a hop costs ~100 µs; parsing 64 KiB ~0.3 ms).
PARSE_INLINE_LIMIT = 64 * 1024


def unix_to_crlf(raw: bytes) -> bytes:
    """LF line ends to CRLF, for messages in the Unix text convention (pipes, mbox files).

    Internet mail has CRLF line ends (RFC 5322 §2.1) and IMAP sizes, POP3 sizes
    and section offsets all count them. A message handed over through a pipe or
    read from an mbox uses the local convention instead, so it is converted once
    at the door. A message with any CR in it is left byte-exact: it is either
    already in wire form or malformed in a way we must not "repair".
    """
    if b"\r" in raw or b"\n" not in raw:
        return raw
    return raw.replace(b"\n", b"\r\n")


def thread_ids(parsed: ParsedMessage) -> tuple[str | None, tuple[str, ...]]:
    """`NewMessage.message_id` and `.parent_ids`: References, then any In-Reply-To id
    References lacks (both oldest first; store/threads.py uses the nearest)."""
    extra = tuple(i for i in parsed.in_reply_to if i not in parsed.references)
    return parsed.message_id, parsed.references + extra


async def prepare_message(
    store: Store,
    raw: bytes,
    *,
    flags: frozenset[str] = frozenset(),
    internal_date: datetime | None = None,
    uid: int | None = None,
) -> NewMessage:
    """Make the bytes durable (or hand them to the append), parse once, describe the message.

    A message up to `store.blobs.inline_limit` octets travels inside the
    `NewMessage` and is stored by the append itself, in the same commit as its
    row; a larger one is written (and flushed) to the blob store first.
    """
    if len(raw) <= PARSE_INLINE_LIMIT:
        record = parse_message(raw)
    else:
        record = await asyncio.to_thread(parse_message, raw)
    return await prepare_parsed(
        store, raw, record, flags=flags, internal_date=internal_date, uid=uid
    )


async def prepare_parsed(
    store: Store,
    raw: bytes,
    record: ParsedMessage,
    *,
    line_size: int | None = None,
    flags: frozenset[str] = frozenset(),
    internal_date: datetime | None = None,
    uid: int | None = None,
) -> NewMessage:
    """`prepare_message` for a message parsed already: ``record`` must be its parse
    (delivery derives the copies' records from one parse, see `copies.py`)."""
    data: bytes | None = None
    if len(raw) <= store.blobs.inline_limit:
        blob_id = hashlib.sha256(raw).hexdigest()
        data = bytes(raw)
    else:
        blob_id = await store.blobs.put(raw)
    return _describe(
        record,
        blob_id=blob_id,
        line_size=crlf_size(raw) if line_size is None else line_size,
        data=data,
        # The index's document from this parse, so the indexer reads and decodes
        # nothing (~0.1 ms here, more in the writer); large ones: from the blob.
        search_document=(
            message_document(record, raw)
            if store.wants_documents and len(raw) <= PARSE_INLINE_LIMIT
            else None
        ),
        flags=flags,
        internal_date=internal_date,
        uid=uid,
    )


def _describe(
    record: ParsedMessage,
    *,
    blob_id: str,
    line_size: int,
    data: bytes | None = None,
    flags: frozenset[str] = frozenset(),
    internal_date: datetime | None = None,
    uid: int | None = None,
    search_document: Document | None = None,
) -> NewMessage:
    message_id, parent_ids = thread_ids(record)
    return NewMessage(
        blob_id=blob_id,
        size=record.size,
        parsed=encode_parsed(record),
        flags=flags,
        internal_date=internal_date or datetime.now(UTC).replace(microsecond=0),
        uid=uid,
        data=data,
        line_size=line_size,
        message_id=message_id,
        parent_ids=parent_ids,
        sort_keys=keys_of(record),
        search_document=search_document,
    )


def parse_spooled(path: str, strict: bool = False) -> tuple[ParsedMessage, int]:
    """The parse record and the CRLF size of the message in file ``path`` (blocking:
    call it in a thread); read through a small window, never held whole.
    ``strict``: raise where `parse_file` would describe the message as opaque."""
    with open(path, "rb") as f:
        return _parse_stream(f, strict)


def _parse_stream(f: BinaryIO, strict: bool = False) -> tuple[ParsedMessage, int]:
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    record = (parse_file_strict if strict else parse_file)(f, size)
    f.seek(0)
    counter = LineEndCounter()
    while chunk := f.read(1 << 20):
        counter.feed(chunk)
    return record, counter.finish()


async def prepare_file(
    store: Store,
    path: str,
    *,
    flags: frozenset[str] = frozenset(),
    internal_date: datetime | None = None,
    parsed: tuple[ParsedMessage, int] | None = None,
) -> NewMessage:
    """Like `prepare_message` for a spooled file: neither the copy nor the parse holds it whole.

    The blob is copied chunk by chunk, then parsed through a small window
    (`mime.parse_file`): a 50 MB message costs a few MB of memory, not 100+.
    ``parsed`` (record and CRLF size, see `parse_spooled`) skips the parse.
    """
    if os.path.getsize(path) <= store.blobs.inline_limit:  # noqa: ASYNC240 - one stat
        with open(path, "rb") as f:  # noqa: ASYNC230 - at most inline_limit octets
            raw = f.read()
        if parsed is None:
            return await prepare_message(store, raw, flags=flags, internal_date=internal_date)
        return await prepare_parsed(
            store, raw, parsed[0], line_size=parsed[1], flags=flags, internal_date=internal_date
        )
    blob_id = await store.blobs.put_file(path)
    if parsed is None:
        # Parsed from the blob, not from `path`: what is described is what is stored.
        def parse() -> tuple[ParsedMessage, int]:
            with store.blobs.open(blob_id) as f:
                return _parse_stream(f)

        parsed = await asyncio.to_thread(parse)
    record, line_size = parsed
    return _describe(
        record, blob_id=blob_id, line_size=line_size, flags=flags, internal_date=internal_date
    )
