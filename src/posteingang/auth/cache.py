"""Remembered good logins: skip argon2id when the same password was verified recently.

Mail clients log in over and over (Thunderbird opens a connection per folder;
phones reconnect after every network change), and each password login costs an
argon2id verification (~25 ms of CPU, by design). Like Dovecot's auth cache,
a successful verification is remembered for `ttl` seconds as an HMAC-SHA-256
of the password under a key that exists only in this process's memory; the
same password within the TTL is accepted by comparing HMACs.

What it must never do: accept a password that was not verified (a miss or a
mismatch always falls back to the full verification), outlive a password
change (entries are keyed by the stored hash, so a new hash is a new key), or
keep a password (only the keyed HMAC). The trade-off: someone who can read
this process's memory can test guesses at HMAC speed for cached accounts. Set
`auth.login_cache_ttl = 0` to turn it off.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_TTL = 3600.0
MAX_ENTRIES = 10_000


class VerifiedCache:
    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    def _mac(self, stored_hash: str, password: str) -> bytes:
        return hmac.digest(self._key, stored_hash.encode() + b"\0" + password.encode(), "sha256")

    def hit(self, stored_hash: str, password: str) -> bool:
        """True if this password was verified against this stored hash within the TTL."""
        if self.ttl <= 0:
            return False
        entry = self._entries.get(stored_hash)
        if entry is None:
            return False
        mac, expires = entry
        if self._clock() >= expires:
            del self._entries[stored_hash]
            return False
        return hmac.compare_digest(mac, self._mac(stored_hash, password))

    def remember(self, stored_hash: str, password: str) -> None:
        if self.ttl <= 0:
            return
        self._entries[stored_hash] = (self._mac(stored_hash, password), self._clock() + self.ttl)
        self._entries.move_to_end(stored_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


# The process's cache; the runtime sets its TTL from `auth.login_cache_ttl`.
LOGIN_CACHE = VerifiedCache()
