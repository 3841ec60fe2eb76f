"""The memory backend's `SearchIndex` (store/searchindex.py): the `store.fulltext`
documents in a dict.

The reference form of the index: a document per blob, made at append from
the parse record and the header octets, dropped with the blob's last message,
and matched by plain substring search (`Document.matches`), which is exactly
what the SQLite trigram index approximates from above.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from posteingang.store.fulltext import (
    Candidates,
    Document,
    Term,
    document,
    head_of,
)
from posteingang.store.mailstore import NewMessage
from posteingang.store.memory_mailstore import MemoryMailstore
from posteingang.store.model import AppendResult, Message

__all__ = ["MemoryFulltext", "MemorySearchIndex"]


class MemoryFulltext:
    """Documents by blob id."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}

    def add(self, blob_id: str, parsed: bytes, data: bytes, made: Document | None = None) -> None:
        """Index a blob (`data`: its octets) unless it has a document; `made`: the
        document delivery made with its parse (the same, by `fulltext.message_document`)."""
        if made is not None:
            self._docs.setdefault(blob_id, made)
        elif blob_id not in self._docs:
            read = lambda offset, n: data[offset : offset + n]  # noqa: E731
            self._docs[blob_id] = document(parsed, head_of(data), read)

    def forget(self, blob_id: str) -> None:
        self._docs.pop(blob_id, None)

    def candidates(self, messages: Iterable[Message], terms: Sequence[Term]) -> Candidates | None:
        """The uids of `messages` whose documents contain every term (or are not
        complete); None when no needle is long enough, as in the SQLite index."""
        usable = [t for t in terms if t.usable]
        if not usable:
            return None
        matched, unsure = [], []
        for m in messages:
            doc = self._docs.get(m.blob_id)
            if doc is None or not doc.complete:
                unsure.append(m.uid)
            elif all(doc.matches(t) for t in usable):
                matched.append(m.uid)
        return Candidates(sorted(matched), sorted(unsure))


class MemorySearchIndex(MemoryMailstore):
    """Documents kept beside the mailstore's blobs, so it builds on `MemoryMailstore`:
    added when a blob's first message is appended (before anything else runs on the
    loop), dropped with its last one. `search_index` False: `fulltext_candidates`
    answers None, as with ``[store] search_index = false``."""

    search_index = True

    def __init__(self) -> None:
        super().__init__()
        self._fulltext = MemoryFulltext()

    async def append_many(
        self, mailbox_id: int, messages: Sequence[NewMessage]
    ) -> list[AppendResult]:
        results = await super().append_many(mailbox_id, messages)
        for m in messages:
            if m.blob_id in self._refs:  # (not a deduplicated retry's unused blob)
                self._fulltext.add(
                    m.blob_id, m.parsed, self.blobs._blobs.get(m.blob_id, b""), m.search_document
                )
        return results

    def _unref(self, blob_id: str) -> None:
        super()._unref(blob_id)
        if blob_id not in self._refs:
            self._fulltext.forget(blob_id)

    @property
    def wants_documents(self) -> bool:
        return self.search_index

    async def backfill_fulltext(self) -> None:
        return None  # (documents are made at append)

    async def fulltext_candidates(
        self, mailbox_id: int, terms: Sequence[Term]
    ) -> Candidates | None:
        if not self.search_index:
            return None
        return self._fulltext.candidates(self._box(mailbox_id).messages.values(), terms)
