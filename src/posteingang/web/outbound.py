"""Sending from the webmail: build the message, hold it for undo, then deliver it.

Theory of operation. `build_message` turns a compose form into RFC 5322 bytes
with Python's email package (From is the logged-in address or one of its
aliases, checked in identities.py; Message-ID
and Date are set here). `Outbox.hold` keeps the bytes for
``[web] undo_send_seconds`` — the Undo button (`Outbox.cancel`) can still stop
it — then `_send` hands each recipient on: a local recipient goes through the
delivery path (`delivery.deliver`, like mail that arrived over LMTP), the rest
to the configured relay over SMTP submission (aiosmtplib: STARTTLS or implicit
TLS, AUTH if a user name is set). A copy goes to Sent once it has left. If the
relay refuses, the message goes to Drafts instead, so nothing typed is lost.

At shutdown a held message leaves at once: the user pressed Send and the undo
window ends with the process. What it must never do: send with a From the
session's account does not own, or put Bcc in the bytes that leave.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Any

import aiosmtplib

from posteingang.delivery.deliver import UnknownRecipient, deliver, resolve_recipient
from posteingang.delivery.ingest import prepare_message
from posteingang.log import get_logger
from posteingang.store.interface import InvalidName, Store
from posteingang.store.model import DRAFT, SEEN, FlagOp, SpecialUse
from posteingang.web import richtext
from posteingang.web.settings import WebSettings

__all__ = [
    "Attachment",
    "BadAddress",
    "Draft",
    "Held",
    "Outbox",
    "build_message",
    "outbox_of",
    "parse_addresses",
    "save_to_special",
]

log = get_logger(__name__)


class BadAddress(ValueError):
    """A recipient the form gave cannot be an address."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Draft:
    """What a compose form holds (the fields are kept for undo and drafts)."""

    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    in_reply_to: str = ""
    references: str = ""
    attachments: tuple[Attachment, ...] = ()
    forwarded: bytes | None = None  # a message forwarded as attachment (message/rfc822)
    sender: str = ""  # the From chosen (identities.py); "" is the login address
    html: str = ""  # rich-text mode: the body as HTML, cleaned (richtext.py); body is its text


def parse_addresses(text: str) -> list[str]:
    """``a@x, "Doe, J" <b@y>`` -> ``["a@x", "b@y"]``; raises BadAddress for a bad one.

    Python's strict parser (3.11.4+) answers ``("", "")`` for what it cannot parse.
    """
    text = re.sub(r"\s*[,;][\s,;]*", ", ", text).strip(" ,")
    if not text:
        return []
    found = []
    for _, addr in getaddresses([text]):
        local, at, domain = addr.strip().rpartition("@")
        if not at or not local or not domain or any(c in addr for c in " <>\r\n,"):
            raise BadAddress(text)
        found.append(addr.strip())
    return found


def build_message(sender: str, draft: Draft, hostname: str) -> EmailMessage:
    """The message as it leaves (no Bcc header: Bcc recipients are envelope only)."""
    msg = EmailMessage(policy=SMTPUTF8)
    msg["From"] = sender
    if draft.to.strip():
        msg["To"] = ", ".join(parse_addresses(draft.to))
    if draft.cc.strip():
        msg["Cc"] = ", ".join(parse_addresses(draft.cc))
    msg["Subject"] = " ".join(draft.subject.split())
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=hostname)
    if draft.in_reply_to:
        msg["In-Reply-To"] = draft.in_reply_to
    if draft.references:
        msg["References"] = draft.references
    msg["MIME-Version"] = "1.0"
    msg["User-Agent"] = "posteingang webmail"
    msg.set_content(draft.body.replace("\r\n", "\n"), charset="utf-8")
    if draft.html:
        # multipart/alternative, the text first (RFC 2046 §5.1.4); attachments then
        # wrap it in multipart/mixed.
        msg.add_alternative(richtext.document(draft.html), subtype="html", charset="utf-8")
    for a in draft.attachments:
        if a.content_type == "message/rfc822":  # never base64 (RFC 2046 §5.2.1)
            from email import message_from_bytes as parse

            kept = parse(a.data, policy=SMTP)
            msg.add_attachment(kept, disposition="attachment", filename=a.filename)
            continue
        maintype, _, subtype = a.content_type.partition("/")
        if not maintype or not subtype or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    if draft.forwarded is not None:
        from email import message_from_bytes

        inner = message_from_bytes(draft.forwarded, policy=SMTP)
        msg.add_attachment(inner, disposition="attachment", filename="forwarded.eml")
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    """CRLF bytes; SMTPUTF8 (RFC 6532) only when an address needs it."""
    try:
        return msg.as_bytes(policy=SMTP)
    except (UnicodeEncodeError, ValueError):
        return msg.as_bytes(policy=SMTPUTF8)


@dataclass(eq=False)
class Held:
    """One sent message inside its undo window."""

    token: str
    account_id: int
    sender: str
    recipients: list[str]
    raw: bytes
    draft: Draft
    due: float
    # The message answered or forwarded, and the flag it gets once this has left.
    answers: tuple[int, int, str] | None = None
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class Outbox:
    """The messages of one web app inside their undo window."""

    store: Store
    settings: WebSettings
    stopping: asyncio.Event
    # How held sends run: the runtime's `spawn`, so shutdown waits for them
    # (server.py) before the store closes.
    spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]] = asyncio.create_task
    held: dict[str, Held] = field(default_factory=dict)
    # Messages that left, by token: what the "sent" page reports.
    done: dict[str, str] = field(default_factory=dict)

    def hold(
        self,
        account_id: int,
        sender: str,
        recipients: list[str],
        raw: bytes,
        draft: Draft,
        answers: tuple[int, int, str] | None = None,
    ) -> Held:
        delay = self.settings.undo_send_seconds
        token = secrets.token_urlsafe(16)
        due = time.monotonic() + delay
        held = Held(token, account_id, sender, recipients, raw, draft, due, answers)
        self.held[token] = held
        held.task = self.spawn(self._later(held, delay))
        return held

    def cancel(self, token: str, account_id: int) -> Held | None:
        """Undo: the held message of this account, now never sent; None if too late."""
        held = self.held.get(token)
        if held is None or held.account_id != account_id:
            return None
        del self.held[token]
        if held.task is not None:
            held.task.cancel()
        return held

    async def _later(self, held: Held, delay: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), delay)
        except TimeoutError:
            pass
        if self.held.pop(held.token, None) is None:
            return  # undone in the meantime
        try:
            self.done[held.token] = await self._send(held)
        except Exception:  # a failed send is kept in Drafts, never lost
            log.exception("webmail send failed", extra={"account": held.account_id})
            self.done[held.token] = "failed"
            await save_to_special(self.store, held.account_id, SpecialUse.DRAFTS, own_copy(held))
        if len(self.done) > 10_000:
            self.done.clear()

    async def _send(self, held: Held) -> str:
        store = self.store
        remote: list[str] = []
        for rcpt in held.recipients:
            try:
                await resolve_recipient(store, rcpt)
            except (UnknownRecipient, InvalidName):
                remote.append(rcpt)
                continue
            await deliver(store, rcpt, held.raw)
        if remote:
            if not self.settings.can_relay:
                raise RuntimeError("no outbound relay for " + ", ".join(remote))
            s = self.settings
            await aiosmtplib.send(
                held.raw,
                sender=held.sender,
                recipients=remote,
                hostname=s.outbound_host,
                port=s.outbound_port,
                use_tls=s.outbound_tls == "implicit",
                start_tls=s.outbound_tls == "starttls",
                username=s.outbound_username or None,
                password=s.outbound_password or None,
                cert_bundle=str(s.outbound_ca_file) if s.outbound_ca_file else None,
                timeout=60,
            )
        await save_to_special(store, held.account_id, SpecialUse.SENT, own_copy(held))
        if held.answers is not None:
            # \Answered (RFC 3501 §2.3.2) / $Forwarded (RFC 5788): every client sees it.
            mailbox_id, uid, flag = held.answers
            await store.store_flags(mailbox_id, [uid], FlagOp.ADD, frozenset({flag}))
        return "sent"


def own_copy(held: Held) -> bytes:
    """The sender's copy (Sent, Drafts): the bytes that left, plus the Bcc recipients,
    which only the sender may see (RFC 5322 §3.6.3)."""
    return with_bcc(held.raw, held.draft.bcc)


def with_bcc(raw: bytes, bcc_text: str) -> bytes:
    try:
        bcc = parse_addresses(bcc_text)
    except BadAddress:
        bcc = []
    if not bcc:
        return raw
    return b"Bcc: " + ", ".join(bcc).encode() + b"\r\n" + raw


async def save_to_special(store: Store, account_id: int, use: SpecialUse, raw: bytes) -> int | None:
    """Append `raw` (seen) to the account's folder of that role; its uid, or None."""
    mailboxes = await store.list_mailboxes(account_id)
    target = next((m for m in mailboxes if m.special_use is use), None)
    if target is None:
        return None
    flags = frozenset({SEEN}) if use is SpecialUse.SENT else frozenset({SEEN, DRAFT})
    result = await store.append(target.id, await prepare_message(store, raw, flags=flags))
    return result.uid


_OUTBOXES: weakref.WeakKeyDictionary[object, Outbox] = weakref.WeakKeyDictionary()


def outbox_of(web: object) -> Outbox:
    """The web app's one outbox (kept beside it, so context.Web stays as it is)."""
    from posteingang.web.context import Web

    assert isinstance(web, Web)
    box = _OUTBOXES.get(web)
    if box is None:
        box = _OUTBOXES[web] = Outbox(web.store, web.settings, web.stopping)
    return box
