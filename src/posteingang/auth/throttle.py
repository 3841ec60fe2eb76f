"""Brute-force protection for every password login: delays, temporary blocks, fail2ban lines.

Theory of operation.  Three tables count recent failed logins: one keyed by client
address (an IPv6 client by its /64, which is what one customer usually gets), one by
IPv6 /48 (what one site or attacker usually holds: 65,536 /64s), and one by account
(the normalised address, ``account_key``).  Before a password is checked the caller
asks:

1. ``blocked(address, user)``: a key with its threshold of failures inside
   ``block_window`` seconds is blocked for ``block_duration`` (``block_after`` for an
   address or account, ``prefix_block_after`` for a /48); a blocked attempt gets the
   ordinary failure reply and no password check at all (it costs no CPU).
2. ``penalty(address, user)``: the delay grows with the failures of the worse key,
   0 for the first ``free_failures``, then ``first_delay`` doubling up to
   ``max_delay`` (Dovecot's auth penalty works this way).  It is an
   ``await asyncio.sleep`` in the attempting connection's own task; ``penalty`` returns
   the seconds it chose, which the login reports (``LoginResult.delayed``).
3. ``slot(address)``: at most ``max_parallel_per_address`` password checks of one
   address run (or queue for the CPU-bound pool) at once, so one attacking address
   cannot fill the verification queue in front of everybody else.

Smart lockout: an account's failures must not lock its owner out.  When
``account_troubled(user)`` says the account has recent failures or a block, the login
code (``auth.login``) asks the store whether this source is trusted -- the address (or
/64) logged in to the account within ``trusted_days``, or the password names a device
(by its selector) that did -- and then passes ``user=None`` here: a trusted source is
throttled by its own address only.  Strangers still meet the account's block.

Failures older than ``block_window`` are forgotten (decay); a successful login clears
its account's recent failures (not the address's: an attacker holding one valid account
must not be able to wash its address clean between guesses; and not a block in force).
``auth.login`` does not report a login that smart lockout let through, so the owner's
logins do not wash the account's count while a guesser is spread over many addresses.
Each table keeps at most ``max_entries`` keys, least recently touched out first, but a
live block is never evicted: it moves aside until it expires, so flooding the table with
fresh addresses cannot wipe a block.  Blocks are bounded by the rate of password checks
(each needs ``block_after`` failures, each failure a verification).

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
from typing import TYPE_CHECKING, Any, Final, Literal

from posteingang.net.addresses import address_key

if TYPE_CHECKING:
    from posteingang.net.shared import Remote

__all__ = [
    "FAILURE_LINE_PREFIX",
    "Block",
    "Throttle",
    "ThrottlePolicy",
    "account_key",
    "address_key",
    "failure_line",
    "prefix_key",
]

FAILURE_LINE_PREFIX: Final = "posteingang auth failure:"
_MAX_LOGGED_USER: Final = 128


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """The numbers behind delays and blocks (see ``auth.settings.AuthSettings``)."""

    free_failures: int = 2
    first_delay: float = 1.0
    max_delay: float = 15.0
    block_after: int = 10
    block_window: float = 600.0
    block_duration: float = 900.0
    max_parallel_per_address: int = 2
    max_entries: int = 100_000
    prefix_block_after: int = 100
    trusted_days: float = 30.0


@dataclass(frozen=True, slots=True)
class Block:
    """A client address (or IPv6 /64 or /48) or an account that may not log in until
    ``until``."""

    kind: Literal["address", "prefix", "account"]
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


def prefix_key(address: str) -> str | None:
    """The /48 of an IPv6 client address (None for IPv4 and anything unparsable)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 48), strict=False))
    return None


def account_key(user: str) -> str:
    """The throttling key of a login name: the address as the account lookup sees it
    (``store.names.normalize_address``: stripped, lower case, no trailing dot, IDNA),
    so ``Alice@Example.TEST.`` counts against the same account as ``alice@example.test``.
    A name that is no address is nobody's account; it is keyed stripped and lower case.
    """
    # imported here: the config (`auth.settings`) imports this module for ThrottlePolicy,
    # and `posteingang check-config` should not load the store or the logging stack
    from posteingang.store.interface import InvalidName
    from posteingang.store.names import normalize_address

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
    """Failure history by key, least recently touched evicted first -- except a live
    block, which waits in ``_held`` until it expires (module docstring)."""

    def __init__(self, threshold: int, max_entries: int) -> None:
        self.threshold = threshold
        self._max = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._held: dict[str, _Entry] = {}
        self._sweep_at = max_entries

    def __len__(self) -> int:
        return len(self._entries) + len(self._held)

    def get(self, key: str, now: float, window: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._held.get(key)
            if entry is not None and entry.blocked_until <= now:
                del self._held[key]
                return None
            return entry
        _prune(entry, now - window)
        return entry

    def touch(self, key: str, now: float, window: float) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._held.pop(key, None) or _Entry(deque(maxlen=self.threshold))
            self._entries[key] = entry
            self._evict(now)
        else:
            self._entries.move_to_end(key)
            _prune(entry, now - window)
        return entry

    def _evict(self, now: float) -> None:
        while len(self._entries) > self._max:
            key, old = self._entries.popitem(last=False)
            if old.blocked_until > now:
                self._held[key] = old  # never evict a live block
        if len(self._held) > self._sweep_at:
            # Amortised: a full sweep only each time the held blocks have doubled.
            self._held = {k: e for k, e in self._held.items() if e.blocked_until > now}
            self._sweep_at = max(self._max, 2 * len(self._held))

    def pop(self, key: str) -> _Entry | None:
        entry = self._entries.pop(key, None)
        held = self._held.pop(key, None)
        return entry or held

    def items(self) -> list[tuple[str, _Entry]]:
        return [*self._entries.items(), *self._held.items()]


def _prune(entry: _Entry, horizon: float) -> None:
    while entry.recent and entry.recent[0] < horizon:
        entry.recent.popleft()


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
        if logger is None:
            from posteingang.log import get_logger

            logger = get_logger(__name__)
        self._log = logger
        policy = self.policy
        self._addresses = _Table(policy.block_after, policy.max_entries)
        self._prefixes = _Table(policy.prefix_block_after, policy.max_entries)
        self._accounts = _Table(policy.block_after, policy.max_entries)
        self._slots: dict[str, _Slot] = {}

    # --- before the password check ----------------------------------------------------

    def blocked(self, address: str, user: str | None) -> bool:
        """True if the address (its /64 or /48) or the account is blocked right now.
        ``user=None`` asks about the address alone (a trusted source, or no name yet)."""
        now = self._clock()
        for table, key in self._keys(address, user, prefix=True):
            entry = table.get(key, now, self.policy.block_window)
            if entry is not None and entry.blocked_until > now:
                return True
        return False

    async def ask_blocked(self, address: str, user: str | None) -> bool:
        """`blocked`, asked where the counts are kept (the server process, for a
        worker: `SharedThrottle`); the login code awaits this one."""
        return self.blocked(address, user)

    async def ask_account_troubled(self, user: str) -> bool:
        """`account_troubled`, asked where the counts are kept (see `ask_blocked`)."""
        return self.account_troubled(user)

    def account_troubled(self, user: str) -> bool:
        """True if the account has recent failures or a block: then it is worth asking
        the store whether the source is trusted (smart lockout, module docstring)."""
        now = self._clock()
        entry = self._accounts.get(account_key(user), now, self.policy.block_window)
        return entry is not None and (bool(entry.recent) or entry.blocked_until > now)

    def delay(self, address: str, user: str | None) -> float:
        """Seconds to wait before checking this attempt's password."""
        now = self._clock()
        worst = 0
        for table, key in self._keys(address, user, prefix=False):
            entry = table.get(key, now, self.policy.block_window)
            if entry is not None:
                worst = max(worst, len(entry.recent))
        counted = worst - self.policy.free_failures
        if counted <= 0:
            return 0.0
        # 2 ** counted overflows float long after min() has capped it; bound the exponent.
        return float(
            min(self.policy.max_delay, self.policy.first_delay * 2 ** min(counted - 1, 62))
        )

    async def penalty(self, address: str, user: str | None) -> float:
        """Sleep for ``delay(address, user)`` in the caller's task; holds nothing.
        Returns the seconds it decided on (0.0: no wait), so the caller can report the
        decision (``LoginResult.delayed``) without timing it."""
        seconds = self.delay(address, user)
        if seconds > 0:
            await asyncio.sleep(seconds)
        return seconds

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
        for table, key in self._keys(address, user, prefix=True):
            entry = table.touch(key, now, self.policy.block_window)
            entry.recent.append(now)
            if len(entry.recent) >= table.threshold and entry.blocked_until <= now:
                entry.blocked_until = now + self.policy.block_duration
                entry.blocked_failures = len(entry.recent)
                entry.recent.clear()
                kind = self._kind(table)
                self._log.warning(
                    "auth_blocked", kind=kind, key=key, seconds=self.policy.block_duration
                )

    def record_success(self, address: str, user: str) -> None:
        """A login succeeded: forget the account's failures (the address keeps its own)."""
        entry = self._accounts.get(account_key(user), self._clock(), self.policy.block_window)
        if entry is not None:
            entry.recent.clear()

    # --- admin ----------------------------------------------------------------------------

    def list_blocks(self) -> list[Block]:
        """Every block in force, soonest to expire first."""
        now, wall = self._clock(), self._wall()
        blocks: list[Block] = []
        tables: tuple[tuple[Literal["address", "prefix", "account"], _Table], ...] = (
            ("address", self._addresses),
            ("prefix", self._prefixes),
            ("account", self._accounts),
        )
        for kind, table in tables:
            for key, entry in table.items():
                if entry.blocked_until > now:
                    until = datetime.fromtimestamp(wall + entry.blocked_until - now, UTC)
                    blocks.append(Block(kind, key, until, entry.blocked_failures))
        return sorted(blocks, key=lambda b: b.until)

    def lift(self, address_or_account: str) -> int:
        """Lift blocks and forget failures of an address (or /64, or /48 given as
        ``2001:db8:1::/48``) or account; returns how many entries were cleared (0:
        nothing was known about it)."""
        text = address_or_account.strip()
        cleared = 0
        for table, key in (
            (self._addresses, address_key(text)),
            (self._addresses, text),
            (self._prefixes, text),
            (self._accounts, account_key(text)),
        ):
            if table.pop(key) is not None:
                cleared += 1
        return cleared

    @property
    def tracked(self) -> tuple[int, int]:
        """(addresses and /48s, accounts) currently remembered: for metrics and tests."""
        return len(self._addresses) + len(self._prefixes), len(self._accounts)

    def _kind(self, table: _Table) -> Literal["address", "prefix", "account"]:
        if table is self._addresses:
            return "address"
        return "prefix" if table is self._prefixes else "account"

    def _keys(self, address: str, user: str | None, *, prefix: bool) -> list[tuple[_Table, str]]:
        keys = [(self._addresses, address_key(address))]
        if prefix and (wide := prefix_key(address)) is not None:
            keys.append((self._prefixes, wide))
        if user:
            keys.append((self._accounts, account_key(user)))
        return keys


class SharedThrottle(Throttle):
    """A worker process's throttle: the server process counts and blocks for every
    process (`net/shared.py`), so failures made in different processes add up.

    The questions (``ask_blocked``, ``ask_account_troubled``, the delay of
    ``penalty``) are awaited, so the worker's event loop serves its other
    connections meanwhile; failures and successes are told one way.  When the
    server cannot be asked (no answer in time), this process's own tables stand
    in; its synchronous reads (``blocked``...) see only those.  ``slot`` stays per
    process: it bounds the password checks this process runs at once.
    """

    NAME: Final = "throttle"
    METHODS: Final = (
        "blocked",
        "account_troubled",
        "delay",
        "record_failure",
        "record_success",
    )

    def __init__(self, policy: ThrottlePolicy | None, remote: Remote) -> None:
        super().__init__(policy)
        self._remote = remote

    async def _ask(self, method: str, *args: Any) -> Any:
        try:
            return await self._remote.ask(self.NAME, method, args)
        except OSError as e:
            self._log.warning("shared_throttle_unavailable", error=str(e))
            return getattr(super(), method)(*args)

    async def ask_blocked(self, address: str, user: str | None) -> bool:
        return bool(await self._ask("blocked", address, user))

    async def ask_account_troubled(self, user: str) -> bool:
        return bool(await self._ask("account_troubled", user))

    async def penalty(self, address: str, user: str | None) -> float:
        seconds = float(await self._ask("delay", address, user))
        if seconds > 0:
            await asyncio.sleep(seconds)
        return seconds

    def record_failure(self, *, protocol: str, address: str, user: str | None, reason: str) -> None:
        # The server writes the fail2ban line (one line per failure, from one process).
        try:
            self._remote.tell(
                self.NAME,
                "record_failure",
                {"protocol": protocol, "address": address, "user": user, "reason": reason},
            )
        except OSError:
            super().record_failure(protocol=protocol, address=address, user=user, reason=reason)

    def record_success(self, address: str, user: str) -> None:
        try:
            self._remote.tell(self.NAME, "record_success", (address, user))
        except OSError:
            super().record_success(address, user)
