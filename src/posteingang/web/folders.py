"""The folder list (with unread counts) and the paged message list.

The list is sorted and paged by the store (`Store.message_page`), so a page of a
100,000-message INBOX costs one indexed query for its 50 rows plus their parse
records; nothing here walks the whole mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from posteingang.mime import decode_parsed
from posteingang.store.model import (
    DELETED,
    FLAGGED,
    SEEN,
    Mailbox,
    MailboxCounts,
    Message,
    PageFilter,
    PageSort,
    SpecialUse,
)
from posteingang.web.context import Web, owned_mailbox, web_of
from posteingang.web.guard import require_session
from posteingang.web.sessions import WebSession

__all__ = ["FolderRow", "MessageRow", "folder_rows", "mail_home", "mailbox_page", "message_rows"]

_ORDER = {use: i for i, use in enumerate(SpecialUse)}


@dataclass(frozen=True, slots=True)
class FolderRow:
    id: int
    name: str
    depth: int
    label: str
    special_use: str
    unseen: int
    messages: int


@dataclass(frozen=True, slots=True)
class MessageRow:
    uid: int
    subject: str
    sender: str
    date: datetime
    size: int
    seen: bool
    flagged: bool
    deleted: bool
    attachments: int
    preview: str


async def folder_rows(web: Web, account_id: int) -> list[FolderRow]:
    mailboxes = await web.store.list_mailboxes(account_id)
    mailboxes.sort(
        key=lambda m: (
            _ORDER.get(m.special_use, 99) if m.special_use and "/" not in m.name else 99,
            m.name.lower(),
        )
    )
    counts = await web.store.mailbox_counts([m.id for m in mailboxes])
    rows = []
    for mailbox in mailboxes:
        status = counts.get(mailbox.id) or MailboxCounts(0, 0, 0)
        parts = mailbox.name.split("/")
        rows.append(
            FolderRow(
                id=mailbox.id,
                name=mailbox.name,
                depth=len(parts) - 1,
                label=parts[-1],
                special_use=(mailbox.special_use or "").lstrip("\\").lower(),
                unseen=status.unseen,
                messages=status.messages,
            )
        )
    return rows


async def message_rows(web: Web, messages: list[Message]) -> list[MessageRow]:
    records = await web.store.get_parsed_many([m.blob_id for m in messages])
    rows = []
    for m in messages:
        raw = records.get(m.blob_id)
        parsed = decode_parsed(raw) if raw is not None else None
        date = m.internal_date
        if parsed is not None and parsed.date is not None:
            date = datetime.fromtimestamp(parsed.date, UTC)
        rows.append(
            MessageRow(
                uid=m.uid,
                subject=(parsed.subject if parsed else "") or "(no subject)",
                sender=(parsed.from_display if parsed else "") or "(unknown sender)",
                date=date,
                size=m.size,
                seen=SEEN in m.flags,
                flagged=FLAGGED in m.flags,
                deleted=DELETED in m.flags,
                attachments=len(parsed.attachments) if parsed else 0,
                preview=parsed.preview if parsed else "",
            )
        )
    return rows


async def mail_home(request: Request) -> Response:
    session = require_session(request)
    inbox = await web_of(request).store.get_mailbox(session.account_id, "INBOX")
    if inbox is None:
        raise HTTPException(404)
    return RedirectResponse(f"/mail/{inbox.id}", 303)


# ?order= values: (sort, newest/largest first)
ORDERS = {
    "newest": (PageSort.ARRIVAL, True),
    "oldest": (PageSort.ARRIVAL, False),
    "largest": (PageSort.SIZE, True),
    "smallest": (PageSort.SIZE, False),
    "sent": (PageSort.DATE, True),  # by the Date header
    "sent-oldest": (PageSort.DATE, False),
    "from": (PageSort.FROM, False),  # A to Z
    "from-desc": (PageSort.FROM, True),
    "subject": (PageSort.SUBJECT, False),
    "subject-desc": (PageSort.SUBJECT, True),
}


def _page_args(request: Request) -> tuple[int, PageFilter]:
    try:
        page = max(1, min(int(request.query_params.get("page", "1")), 1_000_000))
    except ValueError:
        page = 1
    try:
        filter = PageFilter(request.query_params.get("filter", "all"))
    except ValueError:
        filter = PageFilter.ALL
    return page, filter


async def mailbox_page(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    mailbox = await owned_mailbox(web, session, request.path_params["mailbox_id"])
    context = await list_context(request, web, session, mailbox)
    template = "rows.html" if request.query_params.get("part") == "rows" else "mailbox.html"
    return web.templates.TemplateResponse(request, template, context)


async def list_context(
    request: Request, web: Web, session: WebSession, mailbox: Mailbox
) -> dict[str, object]:
    page, filter = _page_args(request)
    order = request.query_params.get("order", "newest")
    if order not in ORDERS:
        order = "newest"
    sort, descending = ORDERS[order]
    size = web.settings.page_size
    result = await web.store.message_page(
        mailbox.id,
        offset=(page - 1) * size,
        limit=size,
        filter=filter,
        newest_first=descending,
        sort=sort,
    )
    pages = max(1, -(-result.total // size))
    return {
        "session": session,
        "mailbox": mailbox,
        "folders": await folder_rows(web, session.account_id),
        "rows": await message_rows(web, result.messages),
        "total": result.total,
        "page": page,
        "pages": pages,
        "filter": filter.value,
        "order": order,
        "modseq": await web.store.account_modseq(session.account_id),
        "today": datetime.now(UTC).date(),
    }
