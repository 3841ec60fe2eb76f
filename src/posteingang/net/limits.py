"""Connection counting and the register of logged-in sessions.

What it is for:

* ``ConnectionCounter``: before a connection is served, ``ListenerServer`` asks
  ``open(address)``, which counts it or names the limit it would break
  (``LimitHit``: the setting, for the log line and the refusal text), and releases it
  afterwards.  Client addresses are counted by ``net.addresses.address_key`` (an IPv6
  client by its /64), so one customer cannot dodge the limit with many addresses of its
  own prefix.  The per-address caps are sized for carrier-grade NAT (hundreds of
  customers behind one IPv4 address), as a guard against floods, not per customer.
* ``AccountLimits``: after a successful login a session awaits ``acquire_account``
  (through ``Connection.acquire_account``, which releases on close; in a worker
  process the answer comes from the server process, `net/shared.py`): at most
  ``max_per_account`` sessions per account, and ``max_per_user_ip`` per account and
  client address (Dovecot's ``mail_max_userip_connections``), which is the limit that
  fits one customer behind a shared address.
* The same register knows every logged-in session by account and device, so that a
  revoked device, a changed password or a removed account ends its sessions at once
  (``end_sessions``; the runtime calls it for each CREDENTIALS change of the store's
  feed, whichever process made it).  Each entry also says what the account page shows
  of it (``LiveSession``: protocol, client address, since when, device, the client's
  IMAP ID), and one entry can be ended by its id (``end_connection``): the account
  page's "disconnect".  Other processes' entries are asked for over ``net/register.py``.

What it must never do: block, or keep entries for addresses and accounts that have no
open connection (memory is bounded by the number of open connections).
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from posteingang.net.addresses import address_key

if TYPE_CHECKING:
    from posteingang.net.shared import Remote

__all__ = [
    "DEFAULT_MAX_PER_ACCOUNT",
    "DEFAULT_MAX_PER_USER_IP",
    "AccountLimits",
    "ConnectionCounter",
    "LimitHit",
    "LiveSession",
    "SharedAccountLimits",
]

# An account with several phones and desktop clients, each opening a few IMAP
# connections, fits in 50.
DEFAULT_MAX_PER_ACCOUNT = 50
# Dovecot's mail_max_userip_connections: 10 per user and client address.
DEFAULT_MAX_PER_USER_IP = 10


@dataclass(frozen=True, slots=True)
class LimitHit:
    """Which limit refused a connection: ``setting`` names it in the configuration
    (for the log line), ``text`` says it to the client ("from your address")."""

    setting: str
    text: str
    limit: int


class ConnectionCounter:
    """Open connections, in total and by client address key.

    ``scope`` is the configuration section the limits come from (``listener`` for one
    ``[[listener]]``, ``limits`` for the whole server): it names them in ``LimitHit``.
    """

    def __init__(self, max_total: int, max_per_ip: int, *, scope: str = "listener") -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.scope = scope
        self._total = 0
        self._by_ip: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return self._total

    def count(self, address: str) -> int:
        return self._by_ip.get(address_key(address), 0)

    def open(self, address: str) -> LimitHit | None:
        """Count a new connection from ``address``; or, at a limit, count nothing and
        say which limit it is."""
        key = address_key(address)
        where = "on this port" if self.scope == "listener" else "on this server"
        if self._by_ip.get(key, 0) >= self.max_per_ip:
            return LimitHit(
                f"{self.scope}.max_connections_per_ip",
                f"from your address {where}",
                self.max_per_ip,
            )
        if self._total >= self.max_total:
            return LimitHit(f"{self.scope}.max_connections", where, self.max_total)
        self._total += 1
        self._by_ip[key] += 1
        return None

    def try_open(self, address: str) -> bool:
        """``open`` as a yes or no."""
        return self.open(address) is None

    def release(self, address: str) -> None:
        key = address_key(address)
        self._total = max(0, self._total - 1)
        left = self._by_ip[key] - 1
        if left > 0:
            self._by_ip[key] = left
        else:
            del self._by_ip[key]


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A logged-in mail session as the account page lists it.  ``id`` is unique across
    the processes of one server (the process id and a counter); ``since`` is the login
    time (seconds since the epoch); ``client`` what the client said it is (IMAP ID)."""

    id: str
    protocol: str
    address: str
    since: float
    device_id: int | None
    client: str | None


_ids = itertools.count(1)


@dataclass(eq=False, slots=True)
class _Session:
    device_id: int | None
    end: Callable[[], None]
    protocol: str = ""
    address: str = ""
    client: Callable[[], str | None] | None = None
    kick: Callable[[], None] | None = None  # ``end`` with the disconnect's goodbye
    since: float = field(default_factory=time.time)
    # A forked worker continues the counter; the process id keeps ids apart.
    id: str = field(default_factory=lambda: f"{os.getpid()}-{next(_ids)}")

    def live(self) -> LiveSession:
        client = self.client() if self.client is not None else None
        return LiveSession(self.id, self.protocol, self.address, self.since, self.device_id, client)


class AccountLimits:
    """Logged-in sessions per account and per account and address, across every listener
    of the process; and who they are, so that revoked credentials end them."""

    def __init__(
        self,
        max_per_account: int = DEFAULT_MAX_PER_ACCOUNT,
        max_per_user_ip: int = DEFAULT_MAX_PER_USER_IP,
    ) -> None:
        self.max_per_account = max_per_account
        self.max_per_user_ip = max_per_user_ip
        self._open: Counter[str] = Counter()
        self._user_ip: Counter[tuple[str, str]] = Counter()
        self._sessions: dict[int, set[_Session]] = {}

    def count(self, address: str) -> int:
        return self._open.get(address.lower(), 0)

    def count_from(self, address: str, peer: str) -> int:
        return self._user_ip.get((address.lower(), address_key(peer)), 0)

    def admit(self, address: str, peer: str | None = None) -> LimitHit | None:
        """Count one more session of ``address`` (from ``peer``, if known), or name the
        limit that refuses it (nothing counted)."""
        key = address.lower()
        if self._open.get(key, 0) >= self.max_per_account:
            return LimitHit(
                "limits.max_connections_per_account", "for this account", self.max_per_account
            )
        pair = (key, address_key(peer)) if peer is not None else None
        if pair is not None and self._user_ip.get(pair, 0) >= self.max_per_user_ip:
            return LimitHit(
                "limits.max_connections_per_user_ip",
                "for this account from your address",
                self.max_per_user_ip,
            )
        self._open[key] += 1
        if pair is not None:
            self._user_ip[pair] += 1
        return None

    async def ask_admit(self, address: str, peer: str | None = None) -> LimitHit | None:
        """`admit`, asked where the counters are kept (the server process, for a worker)."""
        return self.admit(address, peer)

    async def acquire_account(
        self,
        address: str,
        account_id: int | None = None,
        device_id: int | None = None,
        goodbye: bytes = b"",
        client: Callable[[], str | None] | None = None,
        disconnected: bytes | None = None,
    ) -> bool:
        """``admit`` without a client address, as a yes or no (the session's ids and
        goodbye are for ``Connection.acquire_account``; here they are ignored)."""
        return await self.ask_admit(address) is None

    def release_account(self, address: str, peer: str | None = None) -> None:
        key = address.lower()
        _decrement(self._open, key)
        if peer is not None:
            _decrement(self._user_ip, (key, address_key(peer)))

    # --- sessions and revoked credentials ---------------------------------------------------

    def register(
        self,
        account_id: int,
        device_id: int | None,
        end: Callable[[], None],
        *,
        protocol: str = "",
        address: str = "",
        client: Callable[[], str | None] | None = None,
        kick: Callable[[], None] | None = None,
    ) -> Callable[[], None]:
        """Remember a logged-in session; ``end()`` is called when its credentials are
        revoked, ``kick()`` (default: ``end()``) when it is disconnected by its id.
        ``protocol``, ``address`` and ``client`` (asked when listed: an IMAP ID may come
        after the login) are what the account page shows.  Returns the function that
        forgets it (on close)."""
        session = _Session(device_id, end, protocol, address, client, kick)
        self._sessions.setdefault(account_id, set()).add(session)

        def forget() -> None:
            sessions = self._sessions.get(account_id)
            if sessions is not None:
                sessions.discard(session)
                if not sessions:
                    del self._sessions[account_id]

        return forget

    def sessions(self, account_id: int) -> int:
        return len(self._sessions.get(account_id, ()))

    def live_sessions(self, account_id: int) -> list[LiveSession]:
        """This process's logged-in sessions of the account, oldest first."""
        found = [s.live() for s in self._sessions.get(account_id, ())]
        return sorted(found, key=lambda s: (s.since, s.id))

    def end_connection(self, account_id: int, session_id: str) -> bool:
        """End the account's session ``session_id`` (the account page's "disconnect"),
        with the goodbye it registered; False if this process has no such session."""
        for session in tuple(self._sessions.get(account_id, ())):
            if session.id == session_id:
                (session.kick or session.end)()
                return True
        return False

    def end_sessions(self, account_id: int, scope: str, device_id: int | None = None) -> int:
        """End the sessions whose credentials went away: ``scope`` "device" (those of
        ``device_id``), "password" (those that logged in with the account password) or
        anything else (every session of the account).  Returns how many were ended."""
        ended = 0
        for session in tuple(self._sessions.get(account_id, ())):
            if scope == "device" and session.device_id != device_id:
                continue
            if scope == "password" and session.device_id is not None:
                continue
            ended += 1
            session.end()
        return ended


class SharedAccountLimits(AccountLimits):
    """A worker process's account limits: the server process counts every process's
    sessions (`net/shared.py`), so the limits hold across processes: ``ask_admit`` asks
    it (awaited), ``release_account`` tells it.  The register of sessions
    (``register``, ``end_sessions``) stays here: every process hears the store's
    CREDENTIALS changes and ends its own sessions.  When the server cannot be asked,
    this process's own counters stand in."""

    NAME = "limits"
    METHODS = ("admit", "release_account")
    #: ``admit`` answering None took a session; ``release_account`` gives it back.
    HOLDS = (("admit", "release_account", lambda result: result is None),)

    def __init__(self, max_per_account: int, max_per_user_ip: int, remote: Remote):
        super().__init__(max_per_account, max_per_user_ip)
        self._remote = remote

    async def ask_admit(self, address: str, peer: str | None = None) -> LimitHit | None:
        def undo(late: object) -> None:
            if late is None:  # admitted after this session stopped waiting
                self._tell_release(address, peer)

        try:
            hit = await self._remote.ask(self.NAME, "admit", (address, peer), undo)
        except OSError:
            return super().admit(address, peer)
        return None if hit is None else LimitHit(*hit)

    def release_account(self, address: str, peer: str | None = None) -> None:
        try:
            self._tell_release(address, peer)
        except OSError:
            super().release_account(address, peer)

    def _tell_release(self, address: str, peer: str | None) -> None:
        self._remote.tell(self.NAME, "release_account", (address, peer))


_K = TypeVar("_K")


def _decrement(counter: Counter[_K], key: _K) -> None:
    left = counter.get(key, 0) - 1
    if left > 0:
        counter[key] = left
    else:
        counter.pop(key, None)
