"""Remote images "always for this sender": kept with the account on the server
(`Store.image_senders`), so the choice holds in every browser and on every device,
and can be taken back on the account page.

The sender is the message's first From address, taken from the parse record on
the server (never from the form), so a page can only allow the sender of a
message of the logged-in account. Both routes are POSTs behind the CSRF and
Origin checks of `guard.checked_form`.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from posteingang.mime import ParsedMessage
from posteingang.store.interface import normalize_sender
from posteingang.store.model import Message
from posteingang.web.context import Web, owned_message, web_of
from posteingang.web.guard import checked_form, require_session

__all__ = ["MAX_SENDERS", "allow_sender", "images_allowed", "remove_sender", "sender_of"]

#: senders one account may keep (a bound on what a script could make us store)
MAX_SENDERS = 1000


def sender_of(parsed: ParsedMessage) -> str:
    """The first From address (``local@domain``), as `normalize_sender` keeps it."""
    for a in parsed.envelope.from_ or ():
        if a.mailbox and a.host:
            return normalize_sender((a.mailbox + b"@" + a.host).decode("utf-8", "replace"))
    return ""


async def images_allowed(web: Web, message: Message, parsed: ParsedMessage) -> bool:
    """Whether the message's account always loads remote images from its sender."""
    sender = sender_of(parsed)
    mailbox = await web.store.get_mailbox_by_id(message.mailbox_id)
    if not sender or mailbox is None:
        return False
    return sender in await web.store.image_senders(mailbox.account_id)


async def allow_sender(request: Request) -> Response:
    """POST /mail/{mailbox_id}/images/always (field ``uid``): always load the images
    of that message's sender.

    From script (``Accept: application/json``): 204; from the plain form: back
    to the message, which then shows them."""
    session = require_session(request)
    form = await checked_form(request, session)
    web = web_of(request)
    mailbox_id = request.path_params["mailbox_id"]
    try:
        uid = int(str(form.get("uid", "")))
    except ValueError:
        raise HTTPException(400, "bad uid") from None
    _, _, parsed = await owned_message(web, session, mailbox_id, uid)
    sender = sender_of(parsed)
    if not sender:
        raise HTTPException(404)
    known = await web.store.image_senders(session.account_id)
    if sender not in known:
        if len(known) >= MAX_SENDERS:
            raise HTTPException(409, "too many senders")
        await web.store.allow_images(session.account_id, sender)
    if "application/json" in request.headers.get("accept", ""):
        return Response(status_code=204)
    return RedirectResponse(f"/mail/{mailbox_id}/{uid}", 303)


async def remove_sender(request: Request) -> Response:
    """POST /account/images/remove (field ``sender``): block that sender's images again."""
    session = require_session(request)
    form = await checked_form(request, session)
    web = web_of(request)
    if not await web.store.disallow_images(session.account_id, str(form.get("sender", ""))):
        raise HTTPException(404)
    return RedirectResponse("/account#h-images", 303)
