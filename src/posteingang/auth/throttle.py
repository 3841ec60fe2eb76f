"""Brute-force protection for every password login: delays, temporary blocks, fail2ban lines.

Theory of operation.  Two tables count recent failed logins: one keyed by client
address (an IPv6 client by its /64, which is what one customer usually gets), one by
account (the normalised address, ``account_key``).  Before a password is checked the caller asks:

1. ``blocked(address, user)``: a key with ``block_after`` failures inside
   ``block_window`` seconds is blocked for ``block_duration``; a blocked attempt gets
   the ordinary failure reply and no password check at all (it costs no CPU).
2. ``penalty(address, user)``: the delay grows with the failures of the worse key,
   0 for the first ``free_failures``, then ``first_delay`` doubling up to
   ``max_delay`` (Dovecot's auth penalty works this way).  It is an
   ``await asyncio.sleep`` in the attempting connection's own task.
3. ``slot(address)``: at most ``max_parallel_per_address`` password checks of one
   address run (or queue for the CPU-bound pool) at once, so one attacking address
   cannot fill the verification queue in front of everybody else.

Failures older than ``block_window`` are forgotten (decay); a successful login clears
its account's count (not the address's: an attacker holding one valid account must not
be able to wash its address clean between guesses).  Both tables are LRU-capped at
``max_entries``, so memory is bounded whatever names or addresses are tried.

What it must never do: hold a lock or a thread while delaying (the delay is a sleep of
the waiting connection only), check passwords itself, or log a password.  Every
failure is logged as one line with a fixed, documented format that fail2ban matches::

    posteingang auth failure: protocol=imap address=192.0.2.1 user=alice@example.test \
        reason=bad-password      (one line; wrapped here)
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from posteingang.log import get_logger
from posteingang.store.interface import InvalidName
from posteingang.store.names import normalize_address

__all__ = [
    "FAILURE_LINE_PREFIX",
    "Block",
    "Throttle",
    "ThrottlePolicy",
    "account_key",
    "address_key",
    "failure_line",
]

FAILURE_LINE_PREFIX: Final = "posteingang auth failure:"
_MAX_LOGGED_USER: Final = 128

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """The numbers behind delays and blocks (see ``net.settings.AuthSettings``)."""

    free_failures: int = 2
    first_delay: float = 1.0
    max_delay: float = 15.0
    block_after: int = 10
    block_window: float = 600.0
    block_duration: float = 900.0
    max_parallel_per_address: int = 2
    max_entries: int = 100_000


@dataclass(frozen=True, slots=True)
class Block:
    """A client address (or IPv6 /64) or an account that may not log in until ``until``."""

    kind: Literal["address", "account"]
    key: str
    until: datetime
    failures: int


@dataclass(slots=True)
class _Entry:
    recent: deque[float]  # monotonic times of failures inside the window
    blocked_until: float = 0.0
    blocked_failures: int = 0


@dataclass(slots=True)
class _Slot:
    semaphore: asyncio.Semaphore
    users: int = 0


def address_key(address: str) -> str:
    """The throttling key of a client address: IPv4 as is, IPv6 as its /64, an
    IPv4-mapped IPv6 address as the IPv4 address; anything unparsable as given."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def account_key(user: str) -> str:
    """The throttling key of a login name: the address as the account lookup sees it
    (``store.names.normalize_address``: stripped, lower case, no trailing dot, IDNA),
    so ``Alice@Example.TEST.`` counts against the same account as ``alice@example.test``.
    A name that is no address is nobody's account; it is keyed stripped and lower case.
    """
    try:
        return normalize_address(user)
    except InvalidName:
        return user.strip().lower()


def _safe(value: str) -> str:
    """A log field that cannot break the line format: no spaces or controls, bounded."""
    text = "".join(c if c.isprintable() and not c.isspace() else "?" for c in value)
    return (text[:_MAX_LOGGED_USER] + "...") if len(text) > _MAX_LOGGED_USER else text or "-"


def failure_line(protocol: str, address: str, user: str, reason: str) -> str:
    """The fail2ban line for one failed login (the format is documented; keep it)."""
    return (
        f"{FAILURE_LINE_PREFIX} protocol={_safe(protocol.lower())} address={_safe(address)} "
        f"user={_safe(user)} reason={_safe(reason)}"
    )


class _Table:
    """Failure history by key, least recently touched evicted first."""

    def __init__(self, policy: ThrottlePolicy) -> None:
        self._policy = policy
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._prune(entry, now)
        return entry

    def touch(self, key: str, now: float) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = _Entry(deque(maxlen=self._policy.block_after))
            self._entries[key] = entry
            while len(self._entries) > self._policy.max_entries:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
            self._prune(entry, now)
        return entry

    def _prune(self, entry: _Entry, now: float) -> None:
        horizon = now - self._policy.block_window
        while entry.recent and entry.recent[0] < horizon:
            entry.recent.popleft()

    def pop(self, key: str) -> _Entry | None:
        return self._entries.pop(key, None)

    def items(self) -> list[tuple[str, _Entry]]:
        return list(self._entries.items())


class Throttle:
    """Failure counters, delays and blocks shared by every protocol and the web login.

    One instance per process; its methods are synchronous and cheap except
    ``penalty`` (a sleep) and ``slot`` (waits only for the same address).
    """

    def __init__(
        self,
        policy: ThrottlePolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        logger: Any = None,
    ) -> None:
        self.policy = policy or ThrottlePolicy()
        self._clock = clock
        self._wall = wall_clock
        self._log = logger if logger is not None else log
        self._addresses = _Table(self.policy)
        self._accounts = _Table(self.policy)
        self._slots: dict[str, _Slot] = {}

    # --- before the password check ----------------------------------------------------

    def blocked(self, address: str, user: str | None) -> bool:
        """True if the address (or its /64) or the account is blocked right now."""
        now = self._clock()
        for table, key in self._keys(address, user):
            entry = table.get(key, now)
            if entry is not None and entry.blocked_until > now:
                return True
        return False

    def delay(self, address: str, user: str | None) -> float:
        """Seconds to wait before checking this attempt's password."""
        now = self._clock()
        worst = 0
        for table, key in self._keys(address, user):
            entry = table.get(key, now)
            if entry is not None:
                worst = max(worst, len(entry.recent))
        counted = worst - self.policy.free_failures
        if counted <= 0:
            return 0.0
        # 2 ** counted overflows float long after min() has capped it; bound the exponent.
        return float(
            min(self.policy.max_delay, self.policy.first_delay * 2 ** min(counted - 1, 62))
        )

    async def penalty(self, address: str, user: str | None) -> None:
        """Sleep for ``delay(address, user)`` in the caller's task; holds nothing."""
        seconds = self.delay(address, user)
        if seconds > 0:
            await asyncio.sleep(seconds)

    @contextlib.asynccontextmanager
    async def slot(self, address: str) -> AsyncIterator[None]:
        """Bound the password checks one address runs at once (other addresses never wait)."""
        key = address_key(address)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(asyncio.Semaphore(self.policy.max_parallel_per_address))
        slot.users += 1
        try:
            async with slot.semaphore:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0 and self._slots.get(key) is slot:
                del self._slots[key]

    # --- after the password check -----------------------------------------------------

    def record_failure(self, *, protocol: str, address: str, user: str | None, reason: str) -> None:
        """Count a failed login against the address and the account, block when due, and
        write the fail2ban line.  A blocked attempt is logged but not counted again."""
        self._log.warning(failure_line(protocol, address, user or "", reason))
        if reason == "blocked":
            return
        now = self._clock()
        for table, key in self._keys(address, user):
            entry = table.touch(key, now)
            entry.recent.append(now)
            if len(entry.recent) >= self.policy.block_after and entry.blocked_until <= now:
                entry.blocked_until = now + self.policy.block_duration
                entry.blocked_failures = len(entry.recent)
                entry.recent.clear()
                kind = "address" if table is self._addresses else "account"
                self._log.warning(
                    "auth_blocked", kind=kind, key=key, seconds=self.policy.block_duration
                )

    def record_success(self, address: str, user: str) -> None:
        """A login succeeded: forget the account's failures (the address keeps its own)."""
        entry = self._accounts.get(account_key(user), self._clock())
        if entry is not None:
            entry.recent.clear()

    # --- admin ----------------------------------------------------------------------------

    def list_blocks(self) -> list[Block]:
        """Every block in force, soonest to expire first."""
        now, wall = self._clock(), self._wall()
        blocks: list[Block] = []
        tables: tuple[tuple[Literal["address", "account"], _Table], ...] = (
            ("address", self._addresses),
            ("account", self._accounts),
        )
        for kind, table in tables:
            for key, entry in table.items():
                if entry.blocked_until > now:
                    until = datetime.fromtimestamp(wall + entry.blocked_until - now, UTC)
                    blocks.append(Block(kind, key, until, entry.blocked_failures))
        return sorted(blocks, key=lambda b: b.until)

    def lift(self, address_or_account: str) -> int:
        """Lift blocks and forget failures of an address (or /64) or account; returns how
        many entries were cleared (0: nothing was known about it)."""
        text = address_or_account.strip()
        cleared = 0
        for table, key in (
            (self._addresses, address_key(text)),
            (self._addresses, text),
            (self._accounts, account_key(text)),
        ):
            if table.pop(key) is not None:
                cleared += 1
        return cleared

    @property
    def tracked(self) -> tuple[int, int]:
        """(addresses, accounts) currently remembered: for metrics and tests."""
        return len(self._addresses), len(self._accounts)

    def _keys(self, address: str, user: str | None) -> list[tuple[_Table, str]]:
        keys = [(self._addresses, address_key(address))]
        if user:
            keys.append((self._accounts, account_key(user)))
        return keys
