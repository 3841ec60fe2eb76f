"""The full-text index of the webmail's search: the fourth part of `Store`.

A backend keeps one document per blob (store/fulltext.py makes them, the same
for every backend) and answers `Term`\\ s with `Candidates`: at least every
message IMAP SEARCH would find with those keys. The caller confirms them with
the IMAP engine, so what an index gets wrong costs time, never results. Checked
by `tests/store/searchindex/`.

What it must never do: return a message that is gone (a document leaves with
its blob's last message, in that expunge's commit), or leave out a message it
has not indexed yet (such a message is `unsure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from posteingang.store.fulltext import Candidates, Term

__all__ = ["Candidates", "SearchIndex", "Term"]


class SearchIndex(Protocol):
    """Candidates for a search in one mailbox. Coroutines."""

    @property
    def wants_documents(self) -> bool:
        """Whether appends should carry their `NewMessage.search_document` (the index
        is on and takes documents made during delivery's parse)."""
        ...

    async def fulltext_candidates(
        self, mailbox_id: int, terms: Sequence[Term]
    ) -> Candidates | None:
        """The mailbox's messages that may contain every term's needle in its field:
        at least every message IMAP SEARCH would find with those keys (`uids()`;
        confirm `unsure` with the engine). None when the index cannot narrow
        `terms` (e.g. every needle shorter than `fulltext.MIN_NEEDLE`) or the index
        is turned off (``[store] search_index = false``)."""
        ...

    async def backfill_fulltext(self) -> None:
        """Index every message that waits for it, and return when none does (a backend
        may index new mail after its append, in the background: meanwhile such
        messages are `unsure`). For tests and tools; the server never waits for it."""
        ...
