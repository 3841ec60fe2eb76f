"""One message: its page, its HTML body frame, the original (.eml), attachments, print.

Every handler starts with `owned_message`, so ids that are not the logged-in
account's answer 404. Downloads are always ``Content-Disposition: attachment``
with ``nosniff`` and a sandbox CSP: an attacker's ``Content-Type: text/html``
attachment is saved, never rendered in our origin.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from posteingang.mime import ParsedMessage, decode_part_body, find_section
from posteingang.mime.text import html_to_text
from posteingang.store.model import FLAGGED, SEEN, FlagOp, Message
from posteingang.web.context import Web, owned_message, web_of
from posteingang.web.folders import folder_rows
from posteingang.web.guard import require_session
from posteingang.web.images import images_allowed, sender_of
from posteingang.web.render import (
    choose_body,
    header_view,
    html_document,
    inline_images,
    linkify,
    part_path,
    part_text,
    sanitise_html,
    walk_parts,
)
from posteingang.web.security import body_frame_csp, download_headers

__all__ = [
    "attachment",
    "body_frame",
    "content_disposition",
    "message_context",
    "message_page",
    "original",
]

_CHUNK = 256 * 1024
_TOKEN = re.compile(r"[a-z0-9!#$&^_.+-]{1,64}")


def _ids(request: Request) -> tuple[int, int]:
    return request.path_params["mailbox_id"], request.path_params["uid"]


async def _raw(web: Web, message: Message) -> bytes:
    return await web.store.blobs.get(message.blob_id)


async def message_page(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    mailbox, message, parsed = await owned_message(web, session, *_ids(request))
    if SEEN not in message.flags:
        # Opening a message reads it, as in every mail client; IDLE clients see it.
        await web.store.store_flags(mailbox.id, [message.uid], FlagOp.ADD, frozenset({SEEN}))
    context = await message_context(web, message, parsed, printing=False)
    context.update(
        session=session,
        mailbox=mailbox,
        folders=await folder_rows(web, session.account_id),
        modseq=await web.store.account_modseq(session.account_id),
        # The link to the conversation page (conversation.py) when there is one.
        thread_size=await web.store.thread_size(session.account_id, message.thread_id),
    )
    return web.templates.TemplateResponse(request, "message.html", context)


async def print_view(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    _, message, parsed = await owned_message(web, session, *_ids(request))
    context = await message_context(web, message, parsed, printing=True)
    page = {"session": session, "subject": parsed.subject, "entries": [context]}
    return web.templates.TemplateResponse(request, "print.html", page)


async def message_context(
    web: Web, message: Message, parsed: ParsedMessage, *, printing: bool
) -> dict[str, object]:
    """What the templates show of one message (message.html, print.html, and each
    message of conversation.html through _body.html)."""
    body = choose_body(parsed, prefer_html=not printing)
    text = None
    blocked = 0
    if body.part is not None:
        raw = await _raw(web, message)
        if body.is_html and printing:
            text = linkify(html_to_text(part_text(raw, body.part)))
        elif body.is_html:
            blocked = sanitise_html(part_text(raw, body.part)).blocked_images
        else:
            text = linkify(part_text(raw, body.part))
    attachments = [
        {
            "path": ".".join(map(str, a.part)),
            "name": a.filename or f"part-{'.'.join(map(str, a.part))}",
            "type": a.type,
            "size": a.size,
        }
        for a in parsed.attachments
        if not _inline_image(parsed, a.part, a.filename)
    ]
    return {
        "message": message,
        "headers": header_view(parsed),
        "html": body.is_html and not printing,
        "text": text,
        "blocked_images": blocked,
        # Remote images always for this sender (images.py): the frame loads them
        # at once, in every browser of the account.
        "images_allowed": bool(blocked) and await images_allowed(web, message, parsed),
        "attachments": attachments,
        "seen": True,
        "sender": sender_of(parsed),
        "flagged": FLAGGED in message.flags,
    }


def _inline_image(parsed: ParsedMessage, path: tuple[int, ...], filename: str | None) -> bool:
    """An unnamed image with a Content-ID: part of the HTML body (cid:), not a file."""
    part = find_section(parsed, path)
    return (
        filename is None
        and part is not None
        and part.type == "image"
        and part.content_id is not None
        and (part.disposition or b"").lower() != b"attachment"
    )


async def body_frame(request: Request) -> Response:
    """The sanitised HTML body as its own sandboxed document (security.body_frame_csp)."""
    session = require_session(request)
    web = web_of(request)
    _, message, parsed = await owned_message(web, session, *_ids(request))
    body = choose_body(parsed)
    if body.part is None or not body.is_html:
        raise HTTPException(404)
    raw = await _raw(web, message)
    remote = request.query_params.get("images") == "1"
    images = inline_images(raw, walk_parts(parsed.root), web.settings.max_inline_images)
    clean = sanitise_html(part_text(raw, body.part), inline=images, remote_images=remote)
    return HTMLResponse(
        html_document(clean.html),
        headers={
            "content-security-policy": body_frame_csp(remote_images=remote),
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "private, no-store",
        },
    )


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266 §4.3,
    RFC 8187); path separators and control characters never reach the browser."""
    name = unicodedata.normalize("NFC", filename)
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", name).strip().lstrip(".") or "attachment"
    name = name[:200]
    fallback = re.sub(r"[^A-Za-z0-9 !#$%&\'()+,.;=@\[\]^_`{}~-]", "_", name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _eml_name(subject: str) -> str:
    base = re.sub(r"\s+", " ", subject).strip()[:80] or "message"
    return base + ".eml"


async def original(request: Request) -> Response:
    """The message exactly as stored: the bytes delivered (DESIGN invariant 5)."""
    session = require_session(request)
    web = web_of(request)
    _, message, parsed = await owned_message(web, session, *_ids(request))
    headers = download_headers("message/rfc822", content_disposition(_eml_name(parsed.subject)))
    headers["content-length"] = str(message.size)
    return StreamingResponse(_stream(web, message.blob_id), headers=headers)


async def _stream(web: Web, blob_id: str) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(web.store.blobs.open, blob_id)
    try:
        while chunk := await asyncio.to_thread(f.read, _CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(f.close)


async def attachment(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    _, message, parsed = await owned_message(web, session, *_ids(request))
    path = part_path(request.path_params["part"])
    part = find_section(parsed, path) if path else None
    if part is None or part.is_multipart:
        raise HTTPException(404)
    data = decode_part_body(await _raw(web, message), part)
    if data is None:
        raise HTTPException(404)
    kind = f"{part.type}/{part.subtype}"
    if not (_TOKEN.fullmatch(part.type) and _TOKEN.fullmatch(part.subtype)):
        kind = "application/octet-stream"
    name = part.filename or f"part-{request.path_params['part']}"
    return Response(data, headers=download_headers(kind, content_disposition(name)))
