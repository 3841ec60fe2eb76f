"""Folders: create, rename and delete from the page.

Each is one store call, so IMAP clients see it (LIST, and the change feed's
mailbox events reach open pages, which reload their folder list). Special-use
folders (INBOX, Sent, Drafts, Trash, Junk, Archive) cannot be renamed or
deleted here: mail programs find them by that role. A folder is deleted only
when it is empty, so no mail is lost by a slip of the mouse.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from posteingang.store.interface import AlreadyExists, Conflict, InvalidName, NotFound
from posteingang.store.model import HIERARCHY_DELIMITER, Mailbox
from posteingang.web.context import owned_mailbox, web_of
from posteingang.web.guard import checked_form, require_session

__all__ = ["create_folder", "delete_folder", "rename_folder"]

_MAX_NAME = 200


def _name(value: object, parent: Mailbox | None = None) -> str:
    if not isinstance(value, str):
        raise HTTPException(400, "folder name missing")
    name = " ".join(value.split())
    if not name or len(name) > _MAX_NAME or HIERARCHY_DELIMITER in name:
        raise HTTPException(400, "folder names are 1-200 characters, without '/'")
    return f"{parent.name}{HIERARCHY_DELIMITER}{name}" if parent is not None else name


def _store_error(e: Exception) -> HTTPException:
    if isinstance(e, AlreadyExists):
        return HTTPException(409, "a folder with this name exists")
    if isinstance(e, NotFound):
        return HTTPException(404)
    return HTTPException(400, "this name cannot be used")


async def create_folder(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    form = await checked_form(request, session)
    parent = None
    if form.get("parent"):
        try:
            parent = await owned_mailbox(web, session, int(str(form.get("parent"))))
        except ValueError:
            raise HTTPException(400, "bad parent") from None
    try:
        mailbox = await web.store.create_mailbox(
            session.account_id, _name(form.get("name"), parent)
        )
    except (AlreadyExists, InvalidName, NotFound) as e:
        raise _store_error(e) from None
    return RedirectResponse(f"/mail/{mailbox.id}", 303)


async def rename_folder(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    form = await checked_form(request, session)
    mailbox = await owned_mailbox(web, session, request.path_params["mailbox_id"])
    if mailbox.special_use is not None or mailbox.name == "INBOX":
        raise HTTPException(400, "this folder keeps its name")
    head, _, _ = mailbox.name.rpartition(HIERARCHY_DELIMITER)
    new = _name(form.get("name"))
    if head:
        new = f"{head}{HIERARCHY_DELIMITER}{new}"
    try:
        renamed = await web.store.rename_mailbox(session.account_id, mailbox.name, new)
    except (AlreadyExists, InvalidName, NotFound) as e:
        raise _store_error(e) from None
    return RedirectResponse(f"/mail/{renamed.id}", 303)


async def delete_folder(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    await checked_form(request, session)
    mailbox = await owned_mailbox(web, session, request.path_params["mailbox_id"])
    if mailbox.special_use is not None or mailbox.name == "INBOX":
        raise HTTPException(400, "this folder cannot be deleted")
    counts = await web.store.mailbox_counts([mailbox.id])
    children = [
        m
        for m in await web.store.list_mailboxes(session.account_id)
        if m.name.startswith(mailbox.name + HIERARCHY_DELIMITER)
    ]
    if counts[mailbox.id].messages or children:
        raise HTTPException(409, "only an empty folder without subfolders can be deleted")
    try:
        await web.store.delete_mailbox(session.account_id, mailbox.name)
    except (Conflict, NotFound) as e:
        raise _store_error(e) from None
    return RedirectResponse("/mail", 303)
