"""Live updates: the store's change feed as server-sent events, one stream per open page.

Theory of operation. ``GET /events`` subscribes to the account's changes in the
hub (`store/hub.py`), the same feed IMAP IDLE reads, so a change made by any
protocol or process reaches the page as soon as it is committed. Each event's
``id`` is the account modseq after it. A browser that reconnects sends it back
as ``Last-Event-ID`` (the first connection passes the modseq the page was
rendered at as ``?since=``); the stream then starts with what changed since,
read from the store (`Store.changes_since` per mailbox), so a reconnect misses
nothing. A `Resync` from the hub (this subscriber fell behind) becomes a
``reload`` event: the page fetches its list again.

Events (``data`` is JSON):

* ``change``: ``{"mailbox", "kind", "uids", "seen", "flagged", "unseen", "messages"}``;
  ``kind`` is the hub's (append, flags, expunge, mailbox-*), ``seen``/``flagged``
  give the new state of each uid for flag changes, ``unseen``/``messages`` the
  mailbox's counts after the change (the folder list shows them);
* ``sync``: the same shape with ``"kind": "sync"`` and ``vanished``, from a resume,
  ending with ``synced`` (``{"modseq", "mailboxes"}``: the ids of the folders now);
* ``reload``: no data to trust, reload the page's state;
* a comment line (``: hb``) every `WebSettings.heartbeat` seconds.

The stream ends on server shutdown (the browser reconnects to the next server).
What it must never do: send another account's changes, or do work per open
page that grows with the mailbox: the counts after a change are read once and
shared by every stream that sends it (`Web.status_after`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from posteingang.store.hub import Change, ChangeKind, Event, Resync
from posteingang.store.model import FLAGGED, SEEN
from posteingang.web.context import Web, web_of
from posteingang.web.guard import require_session
from posteingang.web.sessions import WebSession

__all__ = ["events"]


def _since(request: Request) -> int:
    for value in (request.headers.get("last-event-id"), request.query_params.get("since")):
        if value and value.isdigit() and len(value) < 20:
            return int(value)
    return 0


def _frame(event: str, data: dict[str, object], modseq: int | None = None) -> bytes:
    lines = [f"event: {event}"]
    if modseq is not None:
        lines.append(f"id: {modseq}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


async def events(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    since = _since(request)
    return StreamingResponse(
        _stream(web, session, since),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _stream(web: Web, session: WebSession, since: int) -> AsyncIterator[bytes]:
    account_id = session.account_id
    # Subscribed here, not in the handler: a stream the client abandons before its
    # first byte never runs this generator, and must not leave a subscription behind.
    # Subscribing before reading the account's modseq misses nothing in between.
    sub = web.store.hub.subscribe(account_id, since)
    try:
        # Tell the browser how soon to come back, and open the stream at once.
        yield b"retry: 1000\n\n"
        current = await web.store.account_modseq(account_id)
        if since and current > since:
            async for frame in _resume(web, account_id, since, current):
                yield frame
            sub.mark_seen(current)
        elif not since:
            yield _frame("hello", {"modseq": current}, current)
        web.streams.add(sub)
        # A logout or revocation ends the stream at the next event or heartbeat;
        # shutdown closes the subscription (`Web.close_streams`). No task is made
        # per event: 500 open pages wake 500 times per change.
        while not web.stopping.is_set() and web.sessions.alive(session):
            event = sub.get_nowait()
            if event is None:
                try:
                    async with asyncio.timeout(web.settings.heartbeat):
                        event = await sub.get()
                except TimeoutError:
                    if web.sessions.alive(session):
                        yield b": hb\n\n"
                    continue
                except asyncio.CancelledError:
                    if sub.closed:
                        break
                    raise
            if not web.sessions.alive(session):
                break
            frame = await _event_frame(web, event)
            if frame:
                yield frame
    finally:
        web.streams.discard(sub)
        sub.close()


async def _event_frame(web: Web, event: Event) -> bytes:
    """The frame for one event; a change's frame is made once for every open page."""
    if isinstance(event, Change):
        key = (event.account_id, event.mailbox_id, event.modseq)
        cached = web.frames.get(key)
        if cached is None:
            cached = asyncio.ensure_future(_make_frame(web, event))
            if len(web.frames) >= 256:
                web.frames.pop(next(iter(web.frames)))
            web.frames[key] = cached
        return await asyncio.shield(cached)
    return await _make_frame(web, event)


async def _make_frame(web: Web, event: Event) -> bytes:
    if isinstance(event, Resync):
        return _frame("reload", {"modseq": event.modseq}, event.modseq)
    assert isinstance(event, Change)
    data: dict[str, object] = {
        "mailbox": event.mailbox_id,
        "kind": event.kind.value,
        "uids": list(event.uids),
    }
    if event.kind is ChangeKind.FLAGS:
        data["seen"] = [SEEN in f for f in event.flags]
        data["flagged"] = [FLAGGED in f for f in event.flags]
    if event.kind in (ChangeKind.APPEND, ChangeKind.FLAGS, ChangeKind.EXPUNGE):
        try:
            status = await web.status_after(event.mailbox_id, event.modseq)
        except Exception:
            return _frame("reload", {"modseq": event.modseq}, event.modseq)
        data["unseen"] = status.unseen
        data["messages"] = status.messages
    else:
        data["name"] = event.name
    return _frame("change", data, event.modseq)


async def _resume(web: Web, account_id: int, since: int, current: int) -> AsyncIterator[bytes]:
    mailboxes = await web.store.list_mailboxes(account_id)
    for mailbox in mailboxes:
        if mailbox.highestmodseq <= since:
            continue
        changes = await web.store.changes_since(mailbox.id, since)
        status = (await web.store.mailbox_counts([mailbox.id]))[mailbox.id]
        yield _frame(
            "sync",
            {
                "mailbox": mailbox.id,
                "kind": "sync",
                "uids": [c.uid for c in changes.changed],
                "seen": [SEEN in c.flags for c in changes.changed],
                "flagged": [FLAGGED in c.flags for c in changes.changed],
                "vanished": changes.vanished,
                "unseen": status.unseen,
                "messages": status.messages,
            },
        )
    # The folders that exist now: a page that missed a create, rename or delete reloads.
    ids = sorted(m.id for m in mailboxes)
    yield _frame("synced", {"modseq": current, "mailboxes": ids}, current)
