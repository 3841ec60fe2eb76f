"""Answering: the compose page (new, reply, reply all, forward), send with undo, drafts.

``GET /compose`` fills the form from the message answered (`reply_draft`);
``POST /compose/send`` checks the form like every other POST (Origin, CSRF),
reads it with a streamed size limit (``[web] max_upload``: python-multipart
spools files to disk, the limit stops the upload as it arrives), builds the
message (outbound.py) and holds it for the undo window; ``POST /compose/undo``
takes it back into the form; ``POST /compose/draft`` saves the form to Drafts
(the page's script does it while one types), replacing the draft it saved before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from email import message_from_bytes
from email.message import EmailMessage
from email.message import Message as EmailMessageBase
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import getaddresses
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Message

from posteingang.mime.text import html_to_text
from posteingang.store.model import ANSWERED, DELETED, FlagOp, SpecialUse
from posteingang.web import richtext
from posteingang.web.context import Web, owned_message, web_of
from posteingang.web.folders import folder_rows
from posteingang.web.guard import require_session
from posteingang.web.identities import addressed_to, identities, sender
from posteingang.web.outbound import (
    Attachment,
    BadAddress,
    Draft,
    build_message,
    outbox_of,
    own_copy,
    parse_addresses,
    save_to_special,
    to_bytes,
    with_bcc,
)
from posteingang.web.render import choose_body, part_text
from posteingang.web.security import check_origin
from posteingang.web.sessions import WebSession

__all__ = ["MODES", "compose_page", "reply_draft", "save_draft", "send", "undo"]

FORWARDED = "$Forwarded"  # RFC 5788 keyword, as Thunderbird and Dovecot use it
MODES = frozenset({"new", "reply", "all", "forward", "attach", "draft"})
_PREFIX = re.compile(r"^\s*((re|aw|fwd?|wg)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_TEXT_LIMIT = 2 * 1024 * 1024
NOT_CONFIGURED = (
    "Sending to other servers is not configured: only this server's users can be reached."
)


def _subject(prefix: str, subject: str) -> str:
    """``Re: Re: AW: x`` -> ``Re: x``: one prefix, never stacked (RFC 5322 §3.6.5)."""
    return f"{prefix} {_PREFIX.sub('', subject).strip()}".strip()


def _addrs(msg: EmailMessageBase, *names: str) -> list[str]:
    values = [str(v) for n in names for v in msg.get_all(n, [])]
    return [a for _, a in getaddresses(values) if "@" in a]


def reply_draft(
    raw: bytes, body_text: str, mode: str, me: str, aliases: Sequence[str] = ()
) -> Draft:
    """The form for answering `raw`: recipients, subject, threading headers, quote."""
    msg = message_from_bytes(raw, policy=default_policy)
    subject = str(msg.get("subject", ""))
    sender = ", ".join(_addrs(msg, "from"))
    date = str(msg.get("date", ""))
    message_id = str(msg.get("message-id", "")).strip()
    if mode in ("forward", "attach"):
        header = "\n".join(
            f"{k}: {v}"
            for k, v in (
                ("From", sender),
                ("Date", date),
                ("Subject", subject),
                ("To", ", ".join(_addrs(msg, "to"))),
            )
            if v
        )
        body = (
            ""
            if mode == "attach"
            else (f"\n\n-------- Forwarded message --------\n{header}\n\n{body_text}")
        )
        return Draft(
            subject=_subject("Fwd:", subject),
            body=body,
            forwarded=raw if mode == "attach" else None,
        )
    if mode == "draft":
        html_part = msg.get_body(("html",)) if msg.is_multipart() else None
        html = richtext.clean(str(html_part.get_content())) if html_part is not None else ""
        return Draft(
            sender=next(iter(_addrs(msg, "from")), ""),
            html=html,
            to=", ".join(_addrs(msg, "to")),
            cc=", ".join(_addrs(msg, "cc")),
            bcc=", ".join(_addrs(msg, "bcc")),
            subject=subject,
            body=body_text,
            in_reply_to=str(msg.get("in-reply-to", "")),
            references=str(msg.get("references", "")),
        )
    # Reply-To wins over From (RFC 5322 §3.6.2); reply all adds To and Cc, without me.
    to = _addrs(msg, "reply-to") or _addrs(msg, "from")
    cc: list[str] = []
    if mode == "all":
        cc = _addrs(msg, "to", "cc")
    mine = {a.lower() for a in (me, *aliases)}  # reply all leaves out every address of mine
    if to and all(a.lower() in mine for a in to):
        # Answering my own message (from Sent): to whom it went, as mail programs do.
        to = _addrs(msg, "to")
        cc = _addrs(msg, "cc") if mode == "all" else []
    seen = set(mine)
    to = [a for a in to if not (a.lower() in seen or seen.add(a.lower()))]  # type: ignore[func-returns-value]
    cc = [a for a in cc if not (a.lower() in seen or seen.add(a.lower()))]  # type: ignore[func-returns-value]
    if not to and mode == "all" and cc:
        to, cc = cc[:1], cc[1:]
    references = " ".join(
        str(msg.get("references", "")).split() + ([message_id] if message_id else [])
    )
    quoted = "\n".join("> " + line if line else ">" for line in body_text.splitlines())
    return Draft(
        to=", ".join(to),
        cc=", ".join(cc),
        subject=_subject("Re:", subject),
        body=f"\n\n{date}, {sender}:\n{quoted}\n" if body_text else "",
        in_reply_to=message_id,
        references=references[-4000:],
    )


async def _original(web: Web, session: WebSession, mailbox_id: int, uid: int) -> tuple[bytes, str]:
    """The bytes and the plain text of a message of this account (404 otherwise)."""
    _, message, parsed = await owned_message(web, session, mailbox_id, uid)
    raw = await web.store.blobs.get(message.blob_id)
    body = choose_body(parsed, prefer_html=False)
    text = ""
    if body.part is not None:
        text = part_text(raw, body.part)
        if body.is_html:
            text = html_to_text(text)
    return raw, text[:_TEXT_LIMIT]


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        raise HTTPException(400, "bad message id") from None


async def _page(
    request: Request,
    web: Web,
    session: WebSession,
    draft: Draft,
    *,
    source: tuple[int, int] | None = None,
    mode: str = "new",
    notice: str | None = None,
    draft_uid: int | None = None,
    status: int = 200,
) -> Response:
    inbox = await web.store.get_mailbox(session.account_id, "INBOX")
    if inbox is None:
        raise HTTPException(404)
    context = {
        "session": session,
        "mailbox": inbox,
        "folders": await folder_rows(web, session.account_id),
        "modseq": await web.store.account_modseq(session.account_id),
        "draft": draft,
        "mode": mode,
        "source": source,
        "can_relay": web.settings.can_relay,
        "notice": notice,
        "draft_uid": draft_uid,
        "kept": await draft_attachments(web, session, draft_uid),
        "max_upload": web.settings.max_upload,
        "identities": await identities(web.store, session.address),
    }
    return web.templates.TemplateResponse(request, "compose.html", context, status_code=status)


async def compose_page(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    mode = request.query_params.get("mode", "new")
    if mode not in MODES:
        raise HTTPException(400, "unknown mode")
    mailbox_id = _int(request.query_params.get("mailbox"))
    uid = _int(request.query_params.get("uid"))
    if mode == "new" or mailbox_id is None or uid is None:
        to = request.query_params.get("to", "")[:2000]
        return await _page(request, web, session, Draft(to=to))
    raw, text = await _original(web, session, mailbox_id, uid)
    own = (await identities(web.store, session.address))[1:]
    draft = reply_draft(raw, text, mode, session.address, own)
    if mode != "draft":
        # An answer goes out from the alias the message was written to.
        draft = replace(draft, sender=addressed_to(raw, own))
    draft_uid = None
    if mode == "draft":
        mailbox = await web.store.get_mailbox_by_id(mailbox_id)
        if mailbox is not None and mailbox.special_use is SpecialUse.DRAFTS:
            draft_uid = uid
    return await _page(
        request, web, session, draft, source=(mailbox_id, uid), mode=mode, draft_uid=draft_uid
    )


async def _limited_form(request: Request, session: WebSession, limit: int) -> FormData:
    """The form after the Origin and CSRF checks, read with a size limit as it streams in."""
    if not check_origin(request):
        raise HTTPException(403, "cross-site request refused")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, "The message is too large.")
    received = 0
    upstream = request.receive

    async def receive() -> Message:
        nonlocal received
        message = await upstream()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, "The message is too large.")
        return message

    limited = Request(request.scope, receive)
    form = await limited.form(max_files=50, max_fields=100, max_part_size=limit)
    token = request.headers.get("x-csrf-token") or form.get("csrf")
    if not isinstance(token, str) or not session.csrf_ok(token):
        raise HTTPException(403, "missing or wrong CSRF token")
    return form


def _field(form: FormData, name: str, limit: int = 10_000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


async def _draft_from(web: Web, session: WebSession, form: FormData) -> Draft:
    attachments = []
    for item in form.getlist("files"):
        if isinstance(item, UploadFile) and item.filename:
            data = await item.read()
            attachments.append(
                Attachment(
                    re.sub(r"[\x00-\x1f\x7f]", "_", item.filename)[:200],
                    item.content_type or "application/octet-stream",
                    data,
                )
            )
    keep = {str(k) for k in form.getlist("keep")}
    if keep:
        kept = await draft_attachments(web, session, _int(form.get("draft_uid")))
        attachments[:0] = [a for i, a in enumerate(kept) if str(i) in keep]
    forwarded = None
    fwd_mailbox, fwd_uid = _int(form.get("fwd_mailbox")), _int(form.get("fwd_uid"))
    if fwd_mailbox is not None and fwd_uid is not None:
        forwarded, _ = await _original(web, session, fwd_mailbox, fwd_uid)
    html = richtext.clean(_field(form, "html", _TEXT_LIMIT))
    return Draft(
        html=html,
        to=_field(form, "to"),
        cc=_field(form, "cc"),
        bcc=_field(form, "bcc"),
        subject=_field(form, "subject", 1000),
        # Rich text: the text part is made from the HTML, not from the hidden textarea.
        body=richtext.to_text(html) if html else _field(form, "body", _TEXT_LIMIT),
        # One line each: a header value from the form never carries a line break.
        in_reply_to=" ".join(_field(form, "in_reply_to", 1000).split()),
        references=" ".join(_field(form, "references", 4000).split()),
        attachments=tuple(attachments),
        forwarded=forwarded,
        sender=_field(form, "from", 400),
    )


async def _drafts_id(web: Web, session: WebSession) -> int | None:
    mailboxes = await web.store.list_mailboxes(session.account_id)
    return next((m.id for m in mailboxes if m.special_use is SpecialUse.DRAFTS), None)


async def draft_attachments(web: Web, session: WebSession, uid: int | None) -> list[Attachment]:
    """The files of this account's draft `uid` (kept when the draft is edited again)."""
    drafts = await _drafts_id(web, session)
    if uid is None or drafts is None:
        return []
    found = await web.store.get_messages(drafts, [uid])
    if not found:
        return []
    raw = await web.store.blobs.get(found[0].blob_id)
    msg = BytesParser(policy=default_policy).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    out = []
    for part in msg.iter_attachments():
        data: bytes
        if part.get_content_type() == "message/rfc822":
            inner: Any = part.get_content()
            data = inner.as_bytes()
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
        name = part.get_filename() or "attachment"
        out.append(Attachment(str(name)[:200], part.get_content_type(), bytes(data)))
    return out


async def _drop_draft(web: Web, session: WebSession, uid: int | None) -> None:
    """Remove the draft this form saved before (only from this account's Drafts)."""
    if uid is None:
        return
    drafts = await _drafts_id(web, session)
    if drafts is None:
        return
    await web.store.store_flags(drafts, [uid], FlagOp.ADD, frozenset({DELETED}))
    await web.store.expunge(drafts, [uid])


def _source(form: FormData) -> tuple[int, int] | None:
    mailbox, uid = _int(form.get("fwd_mailbox")), _int(form.get("fwd_uid"))
    return (mailbox, uid) if mailbox is not None and uid is not None else None


async def send(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    form = await _limited_form(request, session, web.settings.max_upload)
    draft = await _draft_from(web, session, form)
    draft_uid = _int(form.get("draft_uid"))
    try:
        recipients = [
            *parse_addresses(draft.to),
            *parse_addresses(draft.cc),
            *parse_addresses(draft.bcc),
        ]
    except BadAddress:
        recipients = []
    notice = "Give at least one valid recipient."
    if len(recipients) > web.settings.max_recipients:
        notice = "Too many recipients for one message."
        recipients = []
    if not recipients:
        return await _page(
            request,
            web,
            session,
            draft,
            notice=notice,
            source=_source(form),
            mode="attach" if draft.forwarded else "new",
            draft_uid=draft_uid,
            status=400,
        )
    from_ = await sender(web.store, session.address, draft.sender)
    raw = to_bytes(build_message(from_, draft, web.hostname))
    answers = await _answers(web, session, form)
    held = outbox_of(web).hold(session.account_id, from_, recipients, raw, draft, answers)
    await _drop_draft(web, session, draft_uid)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"token": held.token, "seconds": web.settings.undo_send_seconds})
    inbox = await web.store.get_mailbox(session.account_id, "INBOX")
    return web.templates.TemplateResponse(
        request,
        "compose_sent.html",
        {
            "session": session,
            "mailbox": inbox,
            "folders": await folder_rows(web, session.account_id),
            "modseq": await web.store.account_modseq(session.account_id),
            "token": held.token,
            "seconds": int(web.settings.undo_send_seconds),
        },
    )


async def _answers(web: Web, session: WebSession, form: FormData) -> tuple[int, int, str] | None:
    """The message this one answers or forwards (this account's only) and its new flag."""
    flag = {"reply": ANSWERED, "all": ANSWERED, "forward": FORWARDED, "attach": FORWARDED}.get(
        _field(form, "mode", 20)
    )
    mailbox_id, uid = _int(form.get("source_mailbox")), _int(form.get("source_uid"))
    if flag is None or mailbox_id is None or uid is None:
        return None
    await owned_message(web, session, mailbox_id, uid)
    return mailbox_id, uid, flag


async def undo(request: Request) -> Response:
    """Undo send: the message stays here and comes back into the form."""
    session = require_session(request)
    web = web_of(request)
    form = await _limited_form(request, session, 64 * 1024)
    held = outbox_of(web).cancel(_field(form, "token", 100), session.account_id)
    if held is None:
        return await _page(
            request,
            web,
            session,
            Draft(),
            notice="Too late: the message has already been sent.",
            status=409,
        )
    # Attachments cannot go back into a file input: the message is kept as a draft.
    draft_uid = await save_to_special(
        web.store, session.account_id, SpecialUse.DRAFTS, own_copy(held)
    )
    return await _page(
        request, web, session, held.draft, notice="Sending was undone.", draft_uid=draft_uid
    )


async def save_draft(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    form = await _limited_form(request, session, web.settings.max_upload)
    draft = await _draft_from(web, session, form)
    from_ = await sender(web.store, session.address, draft.sender)
    try:
        raw = to_bytes(build_message(from_, draft, web.hostname))
    except BadAddress:
        raw = to_bytes(
            build_message(
                from_,
                Draft(
                    subject=draft.subject,
                    body=draft.body,
                    html=draft.html,
                    attachments=draft.attachments,
                ),
                web.hostname,
            )
        )
    raw = with_bcc(raw, draft.bcc)
    uid = await save_to_special(web.store, session.account_id, SpecialUse.DRAFTS, raw)
    if uid is None:
        raise HTTPException(409, "this folder does not exist")
    await _drop_draft(web, session, _int(form.get("draft_uid")))
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"ok": True, "draft_uid": uid})
    drafts = await web.store.get_mailbox(session.account_id, "Drafts")
    return RedirectResponse(f"/mail/{drafts.id}" if drafts else "/mail", 303)
