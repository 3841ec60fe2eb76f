"""The conversation page: every message of the opened message's thread, across
INBOX, Sent and the other folders, oldest first, on one page.

The thread comes from the store's thread ids (References/In-Reply-To,
store/threads.py). The opened message is checked with `owned_message`, and its
thread is looked up only within the session's account
(`Store.thread_messages(account_id, ...)`), so another account's ids answer 404
and another account's messages never join. Each body is shown exactly as on the
message page (`message.message_context`, templates/_body.html): plain text
escaped and linkified, HTML in its own sandboxed frame. Its print view
(templates/print.html, as for one message) lists every message with its headers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from posteingang.mime import decode_parsed
from posteingang.web.context import owned_message, web_of
from posteingang.web.folders import folder_rows
from posteingang.web.guard import require_session
from posteingang.web.i18n import translator
from posteingang.web.message import message_context

__all__ = ["conversation_page", "conversation_print"]


async def _thread(request: Request, *, printing: bool) -> dict[str, object]:
    """The opened message's thread as template entries (one `message_context` each)."""
    session = require_session(request)
    web = web_of(request)
    mailbox, opened, parsed = await owned_message(
        web, session, request.path_params["mailbox_id"], request.path_params["uid"]
    )
    thread = await web.store.thread_messages(session.account_id, opened.thread_id)
    mailboxes = {m.id: m for m in await web.store.list_mailboxes(session.account_id)}
    records = await web.store.get_parsed_many([m.blob_id for m in thread])
    _ = translator(request)
    entries = []
    for message in thread:
        box = mailboxes.get(message.mailbox_id)
        record = records.get(message.blob_id)
        if box is None or record is None:  # expunged or its folder deleted meanwhile
            continue
        main = box.id == mailbox.id and message.uid == opened.uid
        entry = await message_context(web, message, decode_parsed(record), printing=printing)
        label = box.name.rsplit("/", 1)[-1]
        entry.update(
            mailbox=box,
            main=main,
            # Special folders in the reader's language, as in the folder list.
            folder=_(label) if box.special_use and "/" not in box.name else box.name,
        )
        entries.append(entry)
    return {
        "session": session,
        "mailbox": mailbox,
        "opened": opened.uid,
        "subject": parsed.subject,
        "entries": entries,
    }


async def conversation_page(request: Request) -> Response:
    web = web_of(request)
    context = await _thread(request, printing=False)
    account_id = require_session(request).account_id
    context.update(
        folders=await folder_rows(web, account_id),
        modseq=await web.store.account_modseq(account_id),
        keyset="conversation",  # the `?` overlay's keys (templates/_keys.html)
    )
    return web.templates.TemplateResponse(request, "conversation.html", context)


async def conversation_print(request: Request) -> Response:
    """The print view of the whole conversation: every message with its headers and
    its text (HTML bodies as text, as in the one-message print view)."""
    context = await _thread(request, printing=True)
    context["conversation"] = True
    return web_of(request).templates.TemplateResponse(request, "print.html", context)
