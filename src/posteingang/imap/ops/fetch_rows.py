"""The message rows a FETCH needs, from memory where the view can vouch for them.

A message's row never changes except its flags and modseq (UIDs are never reused
within a mailbox, mailbox ids never at all: schema migration 5), and the selected
view holds every message's newest flags and modseq as far as the change feed has
told this process (`fetch_cached.py`). So the rest of a row read once is kept,
process-wide per store, and a FETCH that asks again takes it from here: reading
the rows was ~30 % of the CPU of a ``FETCH n:m (ENVELOPE ...)`` with every item
rendered already (a query, a row tuple and a `Message` per message; issue 12).

A kept row is used only for a message whose expunge is not pending in the view
(else it is absent from the answer, as a row that is gone: the caller reports it
expunged, RFC 9051 §7.1, as it does for a message the view no longer shows); when
the FETCH needs flags or modseq (FLAGS, MODSEQ, or the implicit \\Seen) they come
from the view, and a message whose flags the view has not read yet (modseq 0) is
read from the store.

This module must never hold a row of another store, nor grow without bound.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

from posteingang.imap.selected import SelectedMailbox
from posteingang.store.interface import Store
from posteingang.store.model import Message

__all__ = ["MAX_ROWS", "forget_rows", "kept_rows", "load_rows"]

#: rows kept per store (then the lot is dropped and refilled: no LRU bookkeeping per hit)
MAX_ROWS = 50_000

_ROWS: weakref.WeakKeyDictionary[Store, dict[tuple[int, int], Message]] = (
    weakref.WeakKeyDictionary()
)


def kept_rows(store: Store) -> Mapping[tuple[int, int], Message]:
    """The rows kept for `store` by (mailbox id, uid), flags and modseq as first read
    (`fetch_cached` takes those from the view)."""
    return _rows_of(store)


def _rows_of(store: Store) -> dict[tuple[int, int], Message]:
    rows = _ROWS.get(store)
    if rows is None:
        rows = _ROWS[store] = {}
    return rows


def forget_rows() -> None:
    """Drop every kept row (tests)."""
    _ROWS.clear()


async def load_rows(
    store: Store, view: SelectedMailbox, uids: Sequence[int], *, want_flags: bool
) -> dict[int, Message]:
    """uid -> row for those of ``uids`` that exist as far as this view knows (module
    docstring); with ``want_flags`` each row's flags and modseq are the newest known."""
    rows = _rows_of(store)
    mailbox_id = view.mailbox_id
    modseqs = view.modseqs
    out: dict[int, Message] = {}
    missing: list[int] = []
    for uid in uids:
        row = rows.get((mailbox_id, uid))
        if row is None or (want_flags and modseqs.get(uid, 0) <= 0):
            missing.append(uid)
        elif view.is_expunge_pending(uid):
            continue
        elif want_flags:
            flags, modseq = view.latest_flags(uid)
            if modseq != row.modseq or flags != row.flags:
                row = Message(
                    mailbox_id, uid, modseq, flags, row.internal_date, row.size,
                    row.blob_id, row.email_id, row.thread_id, row.save_date,
                )  # fmt: skip
            out[uid] = row
        else:
            out[uid] = row
    if missing:
        read = await store.get_messages(mailbox_id, missing)
        if len(rows) + len(read) > MAX_ROWS:
            rows.clear()
        for row in read:
            out[row.uid] = row
            rows[(mailbox_id, row.uid)] = row
    return out
