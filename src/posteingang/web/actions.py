"""Organising: read/unread, flag/unflag, delete (to Trash), archive, junk, move — one POST
endpoint.

Each action is one store call, so it commits atomically and emits one change:
IMAP IDLE clients, POP3 and every open page (sse.py) see it next. The form
works without script (a 303 back to the page); the page's script posts the same
form with ``Accept: application/json`` and gets ``{"ok": true}``.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from posteingang.store.model import (
    DELETED,
    FLAGGED,
    SEEN,
    CopyResult,
    FlagOp,
    Mailbox,
    SpecialUse,
)
from posteingang.web.context import Web, owned_mailbox, web_of
from posteingang.web.guard import checked_form, local_path, require_session
from posteingang.web.sessions import WebSession

__all__ = ["ACTIONS", "act"]

_FLAG_ACTIONS = {
    "read": (FlagOp.ADD, SEEN),
    "unread": (FlagOp.REMOVE, SEEN),
    "flag": (FlagOp.ADD, FLAGGED),
    "unflag": (FlagOp.REMOVE, FLAGGED),
}
_SPECIAL_ACTIONS = {"archive": SpecialUse.ARCHIVE, "junk": SpecialUse.JUNK}
ACTIONS = frozenset({*_FLAG_ACTIONS, *_SPECIAL_ACTIONS, "delete", "move", "zip"})
_MAX_UIDS = 10_000


async def act(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    form = await checked_form(request, session)
    mailbox = await owned_mailbox(web, session, request.path_params["mailbox_id"])
    action = form.get("action")
    if action not in ACTIONS:
        raise HTTPException(400, "unknown action")
    try:
        uids = sorted({int(str(u)) for u in form.getlist("uid")})
    except ValueError:
        raise HTTPException(400, "bad uid") from None
    if not uids or len(uids) > _MAX_UIDS or uids[0] < 1:
        raise HTTPException(400, "no messages selected")
    if action == "zip":
        from posteingang.web.export import selection_zip

        return await selection_zip(web, mailbox, uids)
    moved: tuple[int, CopyResult] | None = None  # (target, result): what undo reverses
    if action in _FLAG_ACTIONS:
        op, flag = _FLAG_ACTIONS[str(action)]
        await web.store.store_flags(mailbox.id, uids, op, frozenset({flag}))
    elif action == "move":
        try:
            target_id = int(str(form.get("target", "")))
        except ValueError:
            raise HTTPException(400, "bad target") from None
        target = await owned_mailbox(web, session, target_id)
        if target.id != mailbox.id:
            moved = target.id, await web.store.move(mailbox.id, uids, target.id)
    elif action in _SPECIAL_ACTIONS:
        special = await _special(web, session, _SPECIAL_ACTIONS[str(action)])
        if special is None:
            raise HTTPException(409, "this folder does not exist")
        if special.id != mailbox.id:
            moved = special.id, await web.store.move(mailbox.id, uids, special.id)
    else:
        moved = await _delete(web, session, mailbox.id, uids)
    if "application/json" in request.headers.get("accept", ""):
        body: dict[str, object] = {"ok": True}
        if moved is not None and moved[1].target_uids:
            # Undo (z) is the move back: the messages' uids in the folder they went to.
            body["undo"] = {
                "mailbox": moved[0],
                "uids": moved[1].target_uids,
                "target": mailbox.id,
            }
        return JSONResponse(body)
    return RedirectResponse(local_path(form.get("next"), f"/mail/{mailbox.id}"), 303)


async def _special(web: Web, session: WebSession, use: SpecialUse) -> Mailbox | None:
    mailboxes = await web.store.list_mailboxes(session.account_id)
    return next((m for m in mailboxes if m.special_use is use), None)


async def _delete(
    web: Web, session: WebSession, mailbox_id: int, uids: list[int]
) -> tuple[int, CopyResult] | None:
    """To Trash; in Trash (or without one), for good (then there is no undo)."""
    trash = await _special(web, session, SpecialUse.TRASH)
    if trash is not None and trash.id != mailbox_id:
        return trash.id, await web.store.move(mailbox_id, uids, trash.id)
    await web.store.store_flags(mailbox_id, uids, FlagOp.ADD, frozenset({DELETED}))
    await web.store.expunge(mailbox_id, uids)
    return None
