"""FETCH answered from memory alone: no store read, no parse record, no blob, no thread.

Clients fetch the same items of the same messages again and again (every device,
every resync, imaptest's mix): flags, ENVELOPE, BODYSTRUCTURE, a few header
fields. Everything such a response holds is in memory after the first time:

- UID, FLAGS and MODSEQ: the selected view (`SelectedMailbox.latest_flags`). It
  holds every message's flags and modseq as its client was told them and, queued,
  every newer change: the session absorbs the change feed before each command
  (`ImapSession.command`; the SQLite writer publishes a change before the command
  that made it completes, and other processes' changes carry their flags too), so
  it is what the store holds as far as the feed has told this process (as for
  SEARCH of flags).
- INTERNALDATE, RFC822.SIZE, EMAILID, THREADID, SAVEDATE: the message rows kept by
  `fetch_rows` (a row never changes but for its flags and modseq).
- ENVELOPE, BODY, BODYSTRUCTURE: `fetch_items.RENDERED`; the message's own header
  (``BODY.PEEK[HEADER]``, RFC822.HEADER, ``BODY.PEEK[HEADER.FIELDS (...)]``):
  `fetch_items.HEADERS` (content-addressed blobs: neither ever goes stale).

`memory_responses` builds a chunk's responses from these up to the first message
that needs anything else (a row not kept, a value not rendered yet, a message whose
flags the view has not read: modseq 0, `load_unknown_flags`), and changes nothing
for that one and those after it; `fetch.py` answers the rest of the command the
general way, which fills the caches. Its bytes are the general path's, item for item. Building
the responses was ~10 µs per message through the planner and three nested async
generators (issue 12: ``FETCH 1:* (FLAGS)`` 300 µs of CPU against Dovecot's 33);
here a chunk is one ``bytes``.

A message whose expunge is pending in the view is answered as the general path
answers one whose row is gone: no response, its uid in ``expunged`` (the session
says NO [EXPUNGEISSUED], RFC 9051 §7.1). Items that set ``\\Seen`` (BODY[...]
without .PEEK, RFC822, RFC822.TEXT) or read bodies are never answered here.
This module must never read the store, change the view's sequence numbers, or
touch anything of the messages it leaves to the general path.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass

from posteingang.imap.proto.fetch import FetchAttr, FetchBody, FetchItem, Section
from posteingang.imap.selected import RecentUids, SelectedMailbox
from posteingang.store.model import Message

from . import fetch_items
from .fetch_items import (
    FLAGS_SLOT,
    MODSEQ_SLOT,
    RENDERABLE,
    Announce,
    BodyRead,
    Transform,
    attr_piece,
    clip,
    fields_value,
    finish_body,
    flags_item,
)

__all__ = ["MemoryPlan", "memory_plan", "memory_responses"]

#: the row items `fetch_items.attr_piece` renders from a `Message` alone
_ROW_ATTRS = frozenset(("INTERNALDATE", "RFC822.SIZE", "EMAILID", "THREADID", "SAVEDATE"))
# Step kinds: what one item of a message's response is made of.
_UID, _FLAGS, _MODSEQ, _ROW, _RENDERED, _FIELDS, _HEADER = range(7)
_UID_SLOT = object()  # where ``UID n`` goes in a response from the view alone


#: plans kept (then it starts afresh)
PLANS = 64


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """The items of one FETCH as steps (worked out once per distinct items)."""

    steps: tuple[tuple[int, object], ...]
    has_uid: bool
    needs_row: bool  # any item from the message row, the rendered values or the header
    needs_flags: bool  # FLAGS or MODSEQ
    view_parts: tuple[object, ...]  # without `needs_row`: each item's slot


#: plans by items (by value: every command parses its items anew, and clients send
#: the same few FETCHes again and again); None for items not answered from memory
_PLANS: dict[tuple[FetchItem, ...], MemoryPlan | None] = {}


def memory_plan(items: tuple[FetchItem, ...]) -> MemoryPlan | None:
    """The plan of `items` if every one can be answered from memory, else None."""
    try:
        return _PLANS[items]
    except KeyError:
        pass
    plan = _make_plan(items)
    if len(_PLANS) >= PLANS:
        _PLANS.clear()
    _PLANS[items] = plan
    return plan


def _make_plan(items: tuple[FetchItem, ...]) -> MemoryPlan | None:
    steps: list[tuple[int, object]] = []
    for item in items:
        if isinstance(item, FetchAttr):
            name = item.name
            if name == "UID":
                steps.append((_UID, None))
            elif name == "FLAGS":
                steps.append((_FLAGS, None))
            elif name == "MODSEQ":
                steps.append((_MODSEQ, None))
            elif name in _ROW_ATTRS:
                steps.append((_ROW, name))
            elif name in RENDERABLE:
                steps.append((_RENDERED, name))
            elif name == "RFC822.HEADER":
                steps.append((_HEADER, BodyRead(b"RFC822.HEADER", 0, 0)))
            else:
                return None
        elif isinstance(item, FetchBody) and item.peek and not item.section.part:
            section = item.section
            if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
                read = BodyRead(
                    item.response_name(),
                    0,
                    0,
                    Transform.FIELDS,
                    item.partial,
                    frozenset(f.lower() for f in section.fields),
                    section.text == "HEADER.FIELDS",
                )
                steps.append((_FIELDS, read))
            elif section == Section((), "HEADER"):
                steps.append((_HEADER, BodyRead(item.response_name(), 0, 0, partial=item.partial)))
            else:
                return None
        else:
            return None
    kinds = {kind for kind, _ in steps}
    slots = {_UID: _UID_SLOT, _FLAGS: FLAGS_SLOT, _MODSEQ: MODSEQ_SLOT}
    return MemoryPlan(
        tuple(steps),
        _UID in kinds,
        bool(kinds & {_ROW, _RENDERED, _FIELDS, _HEADER}),
        bool(kinds & {_FLAGS, _MODSEQ}),
        tuple(slots.get(kind) for kind, _ in steps),
    )


def memory_responses(  # noqa: C901 (the per-message loop keeps its cases inline)
    view: SelectedMailbox,
    rows: Mapping[tuple[int, int], Message],
    plan: MemoryPlan,
    uids: Sequence[int],
    *,
    uid_first: bool,
    recent: Container[int],
    expunged: list[int],
    announce: Announce,
) -> tuple[list[bytes], int]:
    """The untagged responses for the first n of `uids` (with any ``* FLAGS`` they need
    first, RFC 9051 §7.3.5), and n: the messages up to the first that needs a store
    read (nothing about that one or any after it is changed or sent)."""
    mailbox_id = view.mailbox_id
    view_uids = view.uids
    modseqs = view.modseqs
    expunging = view.pending_expunges()
    lead = uid_first and not plan.has_uid
    # Items from the view alone are filled in below; no list per message for them.
    template = ((_UID_SLOT,) if lead else ()) + plan.view_parts if not plan.needs_row else ()
    # First the messages' items, up to the first miss: no side effect before that.
    found: list[tuple[int, int, Sequence[object]]] = []
    gone: list[int] = []
    used = 0
    at = 0  # where the previous uid was in the view: the next is usually right after
    for uid in uids:
        if at < len(view_uids) and view_uids[at] == uid:
            seq: int | None = at + 1
        else:
            seq = view.seq_of(uid)
        if seq is None or uid in expunging:
            gone.append(uid)
            used += 1
            continue
        at = seq
        if plan.needs_flags and modseqs.get(uid, 0) <= 0:
            break  # flags not read yet: the general path reads the row
        if plan.needs_row:
            row = rows.get((mailbox_id, uid))
            if row is None:
                break
            made = _parts(plan, uid, row, lead)
            if made is None:
                break
            found.append((uid, seq, made))
        else:
            found.append((uid, seq, template))
        used += 1
    # Then the responses, telling the view what the client learns.
    expunged.extend(gone)
    news = view.pending_flag_news()
    recent_here = recent.among(uids) if isinstance(recent, RecentUids) else None
    any_recent = bool(recent)
    told: dict[tuple[frozenset[str], bool], bytes] = {}  # (flags, recent) -> FLAGS item
    out: list[bytes] = []
    pending: tuple[frozenset[str], int] | None = None
    for uid, seq, parts in found:
        if plan.needs_flags:
            pending = news.get(uid) if news else None
            flags, modseq = (view.flags[uid], modseqs[uid]) if pending is None else pending
        items: list[bytes] = []
        for part in parts:
            if part is FLAGS_SLOT:
                if pending is not None and modseq > modseqs[uid]:
                    # The client learns the queued change now: no FETCH of it later.
                    view.accept_own_flags(uid, flags, modseq)
                if recent_here is not None:
                    is_recent = uid in recent_here
                else:
                    is_recent = any_recent and uid in recent
                item = told.get((flags, is_recent))
                if item is None:
                    # A keyword the client has not seen is announced first, once.
                    keywords = announce(flags)
                    if keywords:
                        out.append(keywords)
                    item = told[flags, is_recent] = flags_item(flags, recent=is_recent)
                items.append(item)
            elif part is MODSEQ_SLOT:
                items.append(b"MODSEQ (%d)" % modseq)  # RFC 7162 §3.1.4
            elif part is _UID_SLOT:
                items.append(b"UID %d" % uid)
            else:
                items.append(part)  # type: ignore[arg-type]
        out.append(b"* %d FETCH (%b)\r\n" % (seq, b" ".join(items)))  # (fetch_start/end)
    return out, used


def _parts(plan: MemoryPlan, uid: int, row: Message, lead: bool) -> list[object] | None:
    """One message's items (FLAGS and MODSEQ as slots), or None if one is not in memory."""
    parts: list[object] = [b"UID %d" % uid] if lead else []
    for kind, what in plan.steps:
        if kind == _UID:
            parts.append(b"UID %d" % uid)
        elif kind == _FLAGS:
            parts.append(FLAGS_SLOT)
        elif kind == _MODSEQ:
            parts.append(MODSEQ_SLOT)
        elif kind == _ROW:
            parts.append(attr_piece(what, row, None))  # type: ignore[arg-type]
        elif kind == _RENDERED:
            value = fetch_items.RENDERED.get(row.blob_id, what)  # type: ignore[arg-type]
            if value is None:
                return None
            parts.append(value)
        else:
            assert isinstance(what, BodyRead)
            headers = fetch_items.HEADERS
            value = headers.get_item(row.blob_id, what.name, what.partial)
            if value is None:
                split = headers.get_root(row.blob_id)
                if split is None:
                    return None
                if kind == _FIELDS:
                    value = fields_value(what, split)
                else:
                    value = finish_body(what, clip(split[2], what.partial))
                headers.put_item(row.blob_id, what.name, what.partial, value)
            parts.append(value)
    return parts
