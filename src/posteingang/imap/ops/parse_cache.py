"""Parse-once records for FETCH and SEARCH, decoded once and kept while they are useful.

FETCH of ENVELOPE, BODYSTRUCTURE or a section, and SEARCH of headers or text,
need a message's parse record (`mime.ParsedMessage`), which the store keeps
encoded per blob. `ParseCache` holds the records one command uses; it is backed
by the process-wide, size-bounded `DECODED`, so a record is loaded from the
store and decoded once while it stays there.

What it must never do: parse a message that has a current record, answer from
a record in an older format (`mime.FORMAT_VERSION`), or hold records past its
size bound.  A record in an older format, or one that no longer decodes, is
parsed again from the blob: the result is what the store's background upgrade
(store/sqlite/derived.py) will write, so it is remembered in `DECODED` like a
stored record, and nothing cached ever changes when the upgrade lands.  (Serving
the old record until then would also be fleeting only here: clients keep an
ENVELOPE they were sent for good.)
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Collection

import msgspec

from posteingang.mime import ParsedMessage, decode_parsed, encode_parsed, parse_message
from posteingang.mime.model import FORMAT_VERSION
from posteingang.store.interface import NotFound, Store

__all__ = ["DECODED", "PARSE_CACHE", "DecodedCache", "ParseCache"]

#: parse records kept per command (the same blob may back several messages)
PARSE_CACHE = 512


class DecodedCache:
    """Decoded parse records by blob id, process-wide, bounded by their size (LRU).

    Blobs are content-addressed and a blob's *current* record (`FORMAT_VERSION`)
    never changes, so a decoded record never goes stale and needs no
    invalidation (the same reasoning as `fetch_items.RENDERED`): records in an
    older format, which the store re-derives after open, are refused by `put`,
    so a hit needs no version check.  Decoding the whole record was a quarter of the
    CPU of a ``FETCH 1:* (BODY.PEEK[HEADER.FIELDS (...)])`` (profiled):
    clients ask for the same messages' headers again and again.  Holds only
    current records: decoded from the store, or parsed again in place of an older one.
    A decoded record takes about three times its encoded octets (measured on the
    benchmark corpus: 2.85x), which is what `put` counts against `max_bytes`.
    """

    def __init__(self, max_bytes: int = 24 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._size = 0
        self._items: collections.OrderedDict[str, tuple[ParsedMessage, int]] = (
            collections.OrderedDict()
        )

    def get(self, blob_id: str) -> ParsedMessage | None:
        found = self._items.get(blob_id)
        if found is None:
            return None
        self._items.move_to_end(blob_id)
        return found[0]

    def put(self, blob_id: str, parsed: ParsedMessage, encoded_size: int) -> None:
        cost = 3 * encoded_size + 200
        if blob_id in self._items or cost > self.max_bytes // 16 or parsed.version < FORMAT_VERSION:
            return
        self._items[blob_id] = (parsed, cost)
        self._size += cost
        while self._size > self.max_bytes:
            _k, (_p, old) = self._items.popitem(last=False)
            self._size -= old

    def clear(self) -> None:
        self._items.clear()
        self._size = 0


DECODED = DecodedCache()


class ParseCache:
    """Decoded parse records by blob id, bounded (LRU) for one command.

    Backed by the process-wide `DECODED`: a record decoded once is not
    loaded from the store nor decoded again while it stays there.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._items: collections.OrderedDict[str, ParsedMessage] = collections.OrderedDict()

    def get(self, blob_id: str) -> ParsedMessage | None:
        found = self._items.get(blob_id)
        if found is not None:
            self._items.move_to_end(blob_id)
        return found

    async def load(self, blob_ids: Collection[str]) -> None:
        """Fetch the records of `blob_ids` not cached yet (concurrently); missing ones stay out."""
        wanted: list[str] = []
        limit = max(PARSE_CACHE, len(blob_ids))
        for b in dict.fromkeys(blob_ids):
            if b in self._items:
                continue
            known = DECODED.get(b)
            if known is None:
                wanted.append(b)
            else:
                self._keep(b, known, limit)
        if not wanted:
            return
        # One store round trip for the batch; a record missing, undecodable or in
        # an older format falls back to `_one`, which re-parses (without loading
        # the record again when the batch had it).
        records = await self._store.get_parsed_many(wanted)
        results = [self._decode(b, records[b]) if b in records else None for b in wanted]
        retry = [b for b, r in zip(wanted, results, strict=True) if r is None]
        if retry:
            found = await asyncio.gather(*(self._one(b, b in records) for b in retry))
            again = dict(zip(retry, found, strict=True))
            results = [
                again.get(b) if r is None else r for b, r in zip(wanted, results, strict=True)
            ]
        for blob_id, parsed in zip(wanted, results, strict=True):
            if parsed is not None:
                self._keep(blob_id, parsed, limit)

    def _keep(self, blob_id: str, parsed: ParsedMessage, limit: int) -> None:
        self._items[blob_id] = parsed
        if len(self._items) > limit:
            self._items.popitem(last=False)

    @staticmethod
    def _decode(blob_id: str, data: bytes) -> ParsedMessage | None:
        try:
            parsed = decode_parsed(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if parsed.version < FORMAT_VERSION:
            return None
        DECODED.put(blob_id, parsed, len(data))
        return parsed

    async def _one(self, blob_id: str, outdated: bool) -> ParsedMessage | None:
        """The record of `blob_id`, parsed again if `outdated` (the batch had one that
        is undecodable or in an older format) or if the one loaded here is."""
        if not outdated:
            try:
                data = await self._store.get_parsed(blob_id)
            except NotFound:
                return None
            parsed = self._decode(blob_id, data)
            if parsed is not None:
                return parsed
        # A record from an older format: the one place a message is parsed again
        # (and only until the store's records are upgraded; each blob once per
        # process while it stays in `DECODED`).
        try:
            raw = await self._store.blobs.get(blob_id)
        except NotFound:
            return None
        parsed = await asyncio.to_thread(parse_message, raw)
        DECODED.put(blob_id, parsed, len(encode_parsed(parsed)))
        return parsed
