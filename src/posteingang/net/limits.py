"""Connection counting: total and per client address (per listener), and per account.

What it is for: ``ListenerServer`` asks ``ConnectionCounter.try_open`` before serving a
connection and releases it afterwards; a session asks ``AccountLimits.acquire_account``
after a successful login (through ``Connection.acquire_account``, which releases on
close).  Client addresses are counted by ``auth.throttle.address_key`` (an IPv6 client
by its /64), so one customer cannot dodge the limit by using many addresses of its own
prefix.

What it must never do: block, or keep entries for addresses and accounts that have no
open connection (memory is bounded by the number of open connections).
"""

from __future__ import annotations

from collections import Counter

from posteingang.auth.throttle import address_key

__all__ = ["DEFAULT_MAX_PER_ACCOUNT", "AccountLimits", "ConnectionCounter"]

# Dovecot's mail_max_userip_connections is 10 per user and address; an account with
# several phones and desktop clients, each opening a few IMAP connections, fits in 50.
DEFAULT_MAX_PER_ACCOUNT = 50


class ConnectionCounter:
    """Open connections, in total and by client address key."""

    def __init__(self, max_total: int, max_per_ip: int) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self._total = 0
        self._by_ip: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return self._total

    def count(self, address: str) -> int:
        return self._by_ip.get(address_key(address), 0)

    def try_open(self, address: str) -> bool:
        """Count a new connection from ``address`` unless a limit is reached."""
        key = address_key(address)
        if self._total >= self.max_total or self._by_ip[key] >= self.max_per_ip:
            if self._by_ip[key] == 0:
                del self._by_ip[key]
            return False
        self._total += 1
        self._by_ip[key] += 1
        return True

    def release(self, address: str) -> None:
        key = address_key(address)
        self._total = max(0, self._total - 1)
        left = self._by_ip[key] - 1
        if left > 0:
            self._by_ip[key] = left
        else:
            del self._by_ip[key]


class AccountLimits:
    """Logged-in connections per account, across every listener of the process."""

    def __init__(self, max_per_account: int = DEFAULT_MAX_PER_ACCOUNT) -> None:
        self.max_per_account = max_per_account
        self._open: Counter[str] = Counter()

    def count(self, address: str) -> int:
        return self._open.get(address.lower(), 0)

    def acquire_account(self, address: str) -> bool:
        """Count one more connection of ``address``; False (nothing counted) at the limit."""
        key = address.lower()
        if self._open[key] >= self.max_per_account:
            if self._open[key] == 0:
                del self._open[key]
            return False
        self._open[key] += 1
        return True

    def release_account(self, address: str) -> None:
        key = address.lower()
        left = self._open[key] - 1
        if left > 0:
            self._open[key] = left
        else:
            del self._open[key]
