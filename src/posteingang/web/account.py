"""The account page: browser sessions, mail programs connected now, devices (app
passwords), recent logins, password.

Everything that changes credentials asks for the account password again (a
device password does not count), through the shared login path so the
throttle sees wrong guesses. Changing the password ends every other browser
session and every IMAP and POP3 session of the account; revoking a device ends
the browser and mail sessions that logged in with it (the mail sessions through
the store's change feed, in every process). The connected mail programs are
listed from every process's register (`net/register.py`), and each can be
disconnected: like ending a browser session, that needs no password (the
program may log in again; revoking its device password is what keeps it out).

What it must never do: show a device password after the response that created
it, or let one account see or end another's sessions, connections or devices
(404).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from posteingang.auth.devices import new_device_password
from posteingang.auth.login import authenticate
from posteingang.auth.passwords import MAX_PASSWORD_BYTES, hash_password_async
from posteingang.auth.scram import derive_scram_sha256
from posteingang.store.model import Account, DeletionPolicy
from posteingang.web.context import web_of
from posteingang.web.guard import checked_form, require_session
from posteingang.web.i18n import translator
from posteingang.web.sessions import WebSession

__all__ = [
    "account_page",
    "add_device",
    "change_password",
    "disconnect",
    "end_session",
    "pop3_settings",
    "revoke_device",
]

MIN_PASSWORD = 10
_NOBODY = Account(0, "", "")


async def _page(
    request: Request,
    session: WebSession,
    *,
    notice: tuple[str, dict[str, str]] | None = None,
    error: str = "",
    new_device: tuple[str, str] | None = None,
    status: int = 200,
    gone: frozenset[str] = frozenset(),
) -> Response:
    web = web_of(request)
    account_id = session.account_id
    _ = translator(request)
    devices = await web.store.list_devices(account_id)
    device_names = {d.id: d.name for d in devices}
    # Sessions just ended may not have closed yet: `gone` leaves them out.
    connections = [
        (c, datetime.fromtimestamp(c.since, UTC))
        for c in await web.mail_sessions.of_account(account_id)
        if c.id not in gone
    ]
    return web.templates.TemplateResponse(
        request,
        "account.html",
        {
            "session": session,
            "sessions": sorted(web.sessions.of_account(account_id), key=lambda s: -s.last_seen),
            "devices": devices,
            "connections": connections,
            "device_names": device_names,
            "logins": await web.store.list_logins(account_id, 20),
            "notice": _(notice[0]).format(**notice[1]) if notice else "",
            "error": _(error).format(n=MIN_PASSWORD) if error else "",
            "new_device": new_device,
            "min_password": MIN_PASSWORD,
            "pop3": (await web.store.get_account_by_id(account_id) or _NOBODY).settings,
            "pop3_policy": web.pop3_policy,
            "pop3_retention": web.pop3_retention,
            "policies": [p.value for p in DeletionPolicy],
            "image_senders": await web.store.image_senders(account_id),  # images.py
        },
        status_code=status,
    )


async def account_page(request: Request) -> Response:
    return await _page(request, require_session(request))


async def _confirm(request: Request, session: WebSession, password: object) -> bool:
    """The account password again (not a device's), through the shared throttle."""
    if not isinstance(password, str):
        return False
    web = web_of(request)
    result = await authenticate(
        web.store,
        web.throttle,
        protocol="HTTP",
        address=request.client.host if request.client else "",
        username=session.address,
        password=password,
    )
    return result.ok and result.device is None


async def end_session(request: Request) -> Response:
    session = require_session(request)
    form = await checked_form(request, session)
    web = web_of(request)
    if not web.sessions.revoke_id(session.account_id, str(form.get("session", ""))):
        raise HTTPException(404)
    return RedirectResponse("/account", 303)


async def disconnect(request: Request) -> Response:
    """End one IMAP or POP3 session of this account, in whichever process serves it."""
    session = require_session(request)
    form = await checked_form(request, session)
    web = web_of(request)
    connection = str(form.get("connection", ""))[:64]
    if not connection or not await web.mail_sessions.disconnect(session.account_id, connection):
        raise HTTPException(404)
    return await _page(
        request,
        session,
        notice=("The mail program was disconnected.", {}),
        gone=frozenset({connection}),
    )


async def add_device(request: Request) -> Response:
    session = require_session(request)
    form = await checked_form(request, session)
    web = web_of(request)
    name = " ".join(str(form.get("name", "")).split())[:64]
    if not name:
        return await _page(request, session, error="Give the device a name.", status=400)
    if not await _confirm(request, session, form.get("password")):
        return await _page(request, session, error="Wrong password.", status=403)
    if any(d.name == name for d in await web.store.list_devices(session.account_id)):
        return await _page(request, session, error="A device has this name.", status=409)
    # The shape with a selector (auth/devices.py): a login verifies exactly one hash.
    password, selector = new_device_password()
    await web.store.add_device(
        session.account_id, name, await hash_password_async(password), selector
    )
    return await _page(request, session, new_device=(name, password))


async def revoke_device(request: Request) -> Response:
    session = require_session(request)
    form = await checked_form(request, session)
    web = web_of(request)
    name = str(form.get("name", ""))
    devices = {d.name: d for d in await web.store.list_devices(session.account_id)}
    if name not in devices:
        raise HTTPException(404)
    if not await _confirm(request, session, form.get("password")):
        return await _page(request, session, error="Wrong password.", status=403)
    live = await web.mail_sessions.of_account(session.account_id)
    # The store's change ends the device's IMAP and POP3 sessions in every process.
    await web.store.revoke_device(session.account_id, name)
    web.sessions.revoke_account(session.account_id, device_id=devices[name].id)
    return await _page(
        request,
        session,
        notice=("The device {name} can no longer log in.", {"name": name}),
        gone=frozenset(c.id for c in live if c.device_id == devices[name].id),
    )


async def change_password(request: Request) -> Response:
    session = require_session(request)
    form = await checked_form(request, session)
    web = web_of(request)
    new, repeat = form.get("new_password"), form.get("repeat_password")
    if not isinstance(new, str) or new != repeat:
        return await _page(request, session, error="The new passwords differ.", status=400)
    if len(new) < MIN_PASSWORD or len(new.encode()) > MAX_PASSWORD_BYTES:
        return await _page(
            request,
            session,
            error="A password needs at least {n} characters.",
            status=400,
        )
    if not await _confirm(request, session, form.get("password")):
        return await _page(request, session, error="Wrong password.", status=403)
    password_hash = await hash_password_async(new)
    scram = await asyncio.to_thread(derive_scram_sha256, new)
    await web.store.set_password(session.account_id, password_hash, scram)
    # Every other browser is logged out; this one stays. So is every mail program
    # (the store's change above ends those that used the old password; the ones
    # with a device password log in again by themselves).
    for other in web.sessions.of_account(session.account_id):
        if other is not session:
            web.sessions.revoke_id(session.account_id, other.id)
    live = await web.mail_sessions.of_account(session.account_id)
    await web.mail_sessions.disconnect_all(session.account_id)
    return await _page(
        request,
        session,
        notice=("Your password was changed.", {}),
        gone=frozenset(c.id for c in live),
    )


async def pop3_settings(request: Request) -> Response:
    """The account's POP3 deletion policy and leave-on-server days (empty: the server's)."""
    session = require_session(request)
    form = await checked_form(request, session)
    web = web_of(request)
    policy_text = str(form.get("policy", ""))
    days_text = str(form.get("retention_days", "")).strip()
    try:
        policy = DeletionPolicy(policy_text) if policy_text else None
        days = int(days_text) if days_text else None
    except ValueError:
        return await _page(
            request, session, error="Choose a policy and a number of days.", status=400
        )
    if days is not None and not 1 <= days <= 3650:
        return await _page(
            request, session, error="Choose a policy and a number of days.", status=400
        )
    if not await _confirm(request, session, form.get("password")):
        return await _page(request, session, error="Wrong password.", status=403)
    account = await web.store.get_account_by_id(session.account_id)
    if account is None:
        raise HTTPException(404)
    await web.store.set_settings(
        account.id,
        replace(account.settings, pop3_deletion_policy=policy, pop3_retention_days=days),
    )
    return await _page(request, session, notice=("The POP3 settings were saved.", {}))
