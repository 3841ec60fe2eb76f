"""Saving many messages: a folder as mbox, a selection as zip of .eml files; emptying Trash.

The mbox is streamed message by message (mboxrd, `transfer.mbox.format_message`,
the same writer as `posteingang export`), so a 10 GB folder costs memory for one
message at a time. A zip is built in a temporary file off the event loop;
selections are capped at `_ZIP_MAX` octets.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import zipfile
from collections.abc import AsyncIterator

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from posteingang.mime import decode_parsed
from posteingang.store.model import DELETED, FlagOp, Mailbox, Message, SpecialUse
from posteingang.transfer.mbox import format_message
from posteingang.web.context import Web, owned_mailbox, web_of
from posteingang.web.guard import checked_form, require_session
from posteingang.web.message import content_disposition
from posteingang.web.security import download_headers

__all__ = ["empty_folder", "folder_mbox", "selection_zip"]

_BATCH = 200
_ZIP_MAX = 512 * 1024 * 1024


async def folder_mbox(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    mailbox = await owned_mailbox(web, session, request.path_params["mailbox_id"])
    name = mailbox.name.replace("/", "-") + ".mbox"
    return StreamingResponse(
        _mbox(web, mailbox), headers=download_headers("application/mbox", content_disposition(name))
    )


async def _mbox(web: Web, mailbox: Mailbox) -> AsyncIterator[bytes]:
    index = await web.store.get_index(mailbox.id)
    for start in range(0, len(index.uids), _BATCH):
        for message in await web.store.get_messages(mailbox.id, index.uids[start : start + _BATCH]):
            raw = await web.store.blobs.get(message.blob_id)
            yield format_message(raw, message.internal_date)


def _entry_name(n: int, subject: str, used: set[str]) -> str:
    base = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', "_", subject).strip(" ._")[:60] or "message"
    name = f"{n:04d} {base}.eml"
    while name in used:
        name = f"{n:04d} {base} {len(used)}.eml"
    used.add(name)
    return name


async def selection_zip(web: Web, mailbox: Mailbox, uids: list[int]) -> Response:
    messages = await web.store.get_messages(mailbox.id, uids)
    if not messages:
        raise HTTPException(404)
    if sum(m.size for m in messages) > _ZIP_MAX:
        raise HTTPException(413, "the selection is too large for one download")
    parsed = await web.store.get_parsed_many([m.blob_id for m in messages])
    entries: list[tuple[str, Message]] = []
    used: set[str] = set()
    for n, message in enumerate(messages, 1):
        record = parsed.get(message.blob_id)
        subject = decode_parsed(record).subject if record is not None else ""
        entries.append((_entry_name(n, subject, used), message))
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, message in entries:
            raw = await web.store.blobs.get(message.blob_id)
            await asyncio.to_thread(archive.writestr, name, raw)
    spool.seek(0)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(spool.read, 256 * 1024):
                yield chunk
        finally:
            spool.close()

    name = mailbox.name.replace("/", "-") + ".zip"
    return StreamingResponse(
        chunks(), headers=download_headers("application/zip", content_disposition(name))
    )


async def empty_folder(request: Request) -> Response:
    """Empty Trash or Junk: every message there is removed for good."""
    session = require_session(request)
    web = web_of(request)
    await checked_form(request, session)
    mailbox = await owned_mailbox(web, session, request.path_params["mailbox_id"])
    if mailbox.special_use not in (SpecialUse.TRASH, SpecialUse.JUNK):
        raise HTTPException(400, "only Trash and Junk can be emptied")
    uids = (await web.store.get_index(mailbox.id)).uids
    if uids:
        await web.store.store_flags(mailbox.id, uids, FlagOp.ADD, frozenset({DELETED}))
        await web.store.expunge(mailbox.id, uids)
    return RedirectResponse(f"/mail/{mailbox.id}", 303)
