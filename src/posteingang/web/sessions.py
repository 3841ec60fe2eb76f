"""Server-side browser sessions: the cookie holds a random token, the server the rest.

A session is revocable at once (logout, the account page, a password change,
`revoke_account`) because every request looks it up here; the cookie alone
proves nothing. Tokens are kept as SHA-256 digests, so the table (and a memory
dump of it) holds nothing a browser could present. Each session carries its own
CSRF token, compared in constant time.

Sessions live in this process's memory: a restart logs every browser out,
which costs a login and never exposes anything. What this module must never
do: log a token, or accept one that has expired.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Sessions", "WebSession"]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(eq=False)
class WebSession:
    """One logged-in browser."""

    id: str  # public id (account pages, logs): not the cookie
    account_id: int
    address: str  # the account's login name
    client: str  # the browser's address when it logged in
    user_agent: str
    csrf: str
    created: float
    last_seen: float
    device_id: int | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.csrf)


class Sessions:
    """Every live browser session of this process."""

    def __init__(
        self,
        *,
        idle_timeout: float,
        lifetime: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self._clock = clock
        self._by_digest: dict[str, WebSession] = {}
        self._live: dict[str, WebSession] = {}  # public id -> session

    def __len__(self) -> int:
        return len(self._by_digest)

    def create(
        self,
        account_id: int,
        address: str,
        *,
        client: str,
        user_agent: str = "",
        device_id: int | None = None,
    ) -> tuple[str, WebSession]:
        """A new session; returns (cookie token, session)."""
        self._prune()
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = WebSession(
            id=secrets.token_hex(8),
            account_id=account_id,
            address=address,
            client=client,
            user_agent=user_agent[:200],
            csrf=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
            device_id=device_id,
        )
        self._by_digest[_digest(token)] = session
        self._live[session.id] = session
        return token, session

    def get(self, token: str | None) -> WebSession | None:
        """The live session for a cookie token (and mark it used), else None."""
        if not token or len(token) > 200:
            return None
        key = _digest(token)
        session = self._by_digest.get(key)
        if session is None:
            return None
        now = self._clock()
        if self._expired(session, now):
            self._drop(key)
            return None
        session.last_seen = now
        return session

    def alive(self, session: WebSession) -> bool:
        """Is this session still valid? Long requests (the live stream) ask again
        while they run, so a logout or revocation ends them too."""
        return self._live.get(session.id) is session and not self._expired(session, self._clock())

    def revoke(self, token: str | None) -> None:
        if token:
            self._drop(_digest(token))

    def _drop(self, key: str) -> None:
        session = self._by_digest.pop(key, None)
        if session is not None:
            self._live.pop(session.id, None)

    def revoke_id(self, account_id: int, session_id: str) -> bool:
        """End one of an account's sessions by its public id (the account page)."""
        for key, session in list(self._by_digest.items()):
            if session.account_id == account_id and session.id == session_id:
                self._drop(key)
                return True
        return False

    def revoke_account(self, account_id: int, *, device_id: int | None = None) -> int:
        """End every session of an account (password change), or only those that
        logged in with one device password (device revoked). Returns how many."""
        gone = [
            key
            for key, s in self._by_digest.items()
            if s.account_id == account_id and (device_id is None or s.device_id == device_id)
        ]
        for key in gone:
            self._drop(key)
        return len(gone)

    def of_account(self, account_id: int) -> list[WebSession]:
        now = self._clock()
        return [
            s
            for s in self._by_digest.values()
            if s.account_id == account_id and not self._expired(s, now)
        ]

    def _expired(self, session: WebSession, now: float) -> bool:
        return now - session.last_seen > self.idle_timeout or now - session.created > self.lifetime

    def _prune(self) -> None:
        now = self._clock()
        for key, session in list(self._by_digest.items()):
            if self._expired(session, now):
                self._drop(key)
