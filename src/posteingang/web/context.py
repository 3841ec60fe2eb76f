"""What every request handler of the web app shares, and the checks they all make.

`Web` is created once per runtime (all HTTP listeners share it, so a session
made on the HTTPS listener is the same on another). `current_session` finds the
browser's session; `owned_mailbox` and `owned_message` are the only ways a
handler turns ids from a URL into store records, and they answer 404 for
anything that is not the logged-in account's: another user's ids are
indistinguishable from ids that do not exist.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from posteingang.auth.settings import AuthSettings
from posteingang.auth.throttle import Throttle
from posteingang.mime import ParsedMessage, decode_parsed
from posteingang.net.register import MailSessions
from posteingang.store.hub import Subscription
from posteingang.store.interface import Store
from posteingang.store.model import Mailbox, MailboxCounts, Message
from posteingang.web.sessions import Sessions, WebSession
from posteingang.web.settings import WebSettings

__all__ = [
    "COOKIE",
    "LOGIN_COOKIE",
    "Web",
    "cookie_name",
    "current_session",
    "owned_mailbox",
    "owned_message",
]

COOKIE = "pi_session"
LOGIN_COOKIE = "pi_login"  # the login form's own CSRF token (double submit)
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@dataclass(eq=False)
class Web:
    store: Store
    throttle: Throttle
    sessions: Sessions
    settings: WebSettings
    auth: AuthSettings
    stopping: asyncio.Event
    templates: Jinja2Templates
    # The server's name (`server.hostname`).
    hostname: str = "localhost"
    # `[pop3]` server defaults, shown where an account keeps them (account.py).
    pop3_policy: str = "expunge"
    pop3_retention: int | None = None
    # The account's logged-in IMAP and POP3 sessions, in every process (account.py).
    mail_sessions: MailSessions = field(default_factory=lambda: MailSessions(lambda: None))
    # mailbox id -> (modseq, its counts after that change): one read per change,
    # however many open pages send it.
    _status: dict[int, tuple[int, asyncio.Future[MailboxCounts]]] = field(default_factory=dict)
    # The live streams' subscriptions (closed at shutdown), and the frames of the
    # latest changes, each made once however many pages send it (sse.py).
    streams: set[Subscription] = field(default_factory=set)
    frames: dict[tuple[int, int, int], asyncio.Future[bytes]] = field(default_factory=dict)

    def close_streams(self) -> None:
        """Shutdown: every live stream ends now (the browsers reconnect elsewhere)."""
        for sub in list(self.streams):
            sub.close()

    async def status_after(self, mailbox_id: int, modseq: int) -> MailboxCounts:
        """The mailbox's counts as of (at least) `modseq`, read once per change."""
        cached = self._status.get(mailbox_id)
        stale = cached is None or cached[0] < modseq
        if not stale and cached is not None and cached[1].done():
            stale = cached[1].cancelled() or cached[1].exception() is not None
        if stale or cached is None:
            future: asyncio.Future[MailboxCounts] = asyncio.ensure_future(self._counts(mailbox_id))
            if len(self._status) > 10_000:
                self._status.clear()
            self._status[mailbox_id] = cached = (modseq, future)
        return await asyncio.shield(cached[1])

    async def _counts(self, mailbox_id: int) -> MailboxCounts:
        return (await self.store.mailbox_counts([mailbox_id]))[mailbox_id]

    @classmethod
    def create(
        cls,
        store: Store,
        throttle: Throttle,
        settings: WebSettings,
        auth: AuthSettings,
        stopping: asyncio.Event | None = None,
        *,
        hostname: str = "localhost",
    ) -> Web:
        from posteingang.web.i18n import context as i18n_context

        templates = Jinja2Templates(directory=str(TEMPLATES), context_processors=[i18n_context])
        templates.env.autoescape = True
        return cls(
            store=store,
            throttle=throttle,
            sessions=Sessions(
                idle_timeout=settings.session_idle_timeout, lifetime=settings.session_lifetime
            ),
            settings=settings,
            auth=auth,
            stopping=stopping or asyncio.Event(),
            templates=templates,
            hostname=hostname,
        )


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def cookie_name(request: Request, name: str = COOKIE) -> str:
    """``__Host-`` cookies (RFC 6265bis §4.1.3.2) under TLS: Secure, Path=/, no Domain."""
    return f"__Host-{name}" if request.url.scheme == "https" else name


def current_session(request: Request) -> WebSession | None:
    token = request.cookies.get(cookie_name(request))
    return web_of(request).sessions.get(token)


async def owned_mailbox(web: Web, session: WebSession, mailbox_id: int) -> Mailbox:
    mailbox = await web.store.get_mailbox_by_id(mailbox_id)
    if mailbox is None or mailbox.account_id != session.account_id:
        raise HTTPException(404)
    return mailbox


async def owned_message(
    web: Web, session: WebSession, mailbox_id: int, uid: int
) -> tuple[Mailbox, Message, ParsedMessage]:
    mailbox = await owned_mailbox(web, session, mailbox_id)
    found = await web.store.get_messages(mailbox.id, [uid])
    if not found:
        raise HTTPException(404)
    message = found[0]
    parsed = decode_parsed(await web.store.get_parsed(message.blob_id))
    return mailbox, message, parsed
