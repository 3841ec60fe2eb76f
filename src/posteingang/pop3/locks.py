"""Who holds which maildrop, and when each client last logged in.

A POP3 client is an account login with the account password (device ``None``)
or with one device password. Each client has its own view of the INBOX (what
it hid, what it retrieved), so each client is its own maildrop:

* `MaildropLocks` -- RFC 1939 §8 / RFC 2449 §8.1.1: a second session for a
  maildrop that is in use gets ``-ERR [IN-USE]``. The key is (account id,
  device id): the phone and the laptop of one account may both be connected,
  while the same device twice is refused. IMAP never takes this lock.
* `LoginDelays` -- RFC 2449 §6.8 LOGIN-DELAY: the minimum seconds between two
  logins of the same client; a login too soon gets ``-ERR [LOGIN-DELAY]``.

Both are in-process tables.  When POP3 is served from several processes
(`[pop3] processes`), the server process keeps the one table and the workers
hold `SharedMaildropLocks` and `SharedLoginDelays`, which ask it
(`net/shared.py`: callers await ``ask_acquire`` and ``ask_too_soon``, which
never block the event loop); a worker that dies releases its locks with it.  With
several nodes behind a load balancer they hold per node only (a store-backed
lease would be needed; see docs/pop3.md).
This module must never block or sleep.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posteingang.net.shared import Remote

ClientKey = tuple[int, int | None]  # (account id, device id or None for the account password)


class MaildropLocks:
    """Exclusive, non-waiting locks on maildrops, one per `ClientKey`."""

    def __init__(self) -> None:
        self._held: set[ClientKey] = set()

    def acquire(self, key: ClientKey) -> bool:
        """Take the lock; False if another session holds it (never waits)."""
        if key in self._held:
            return False
        self._held.add(key)
        return True

    async def ask_acquire(self, key: ClientKey) -> bool:
        """`acquire`, asked where the table is kept (the server process, for a worker)."""
        return self.acquire(key)

    def release(self, key: ClientKey) -> None:
        self._held.discard(key)

    def held(self, key: ClientKey) -> bool:
        return key in self._held


class LoginDelays:
    """The time of each client's last successful login, LRU-bounded."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._last: OrderedDict[ClientKey, float] = OrderedDict()

    def too_soon(self, key: ClientKey, now: float, delay: int | None) -> bool:
        """True if the client logged in less than `delay` seconds before `now`."""
        if not delay:
            return False
        last = self._last.get(key)
        return last is not None and now - last < delay

    async def ask_too_soon(self, key: ClientKey, now: float, delay: int | None) -> bool:
        """`too_soon`, asked where the table is kept (the server process, for a worker)."""
        return self.too_soon(key, now, delay)

    def record(self, key: ClientKey, now: float) -> None:
        self._last[key] = now
        self._last.move_to_end(key)
        while len(self._last) > self.max_entries:
            self._last.popitem(last=False)


class SharedMaildropLocks(MaildropLocks):
    """A worker process's maildrop locks, held in the server process (module docstring).

    ``ask_acquire`` asks the server (awaited, `net/shared.py`); ``release`` tells it.
    When it cannot be asked, this process's own table stands in (the lock then holds
    in this process only)."""

    NAME = "pop3.locks"
    METHODS = ("acquire", "release", "held")
    #: ``acquire`` answering True took the lock; ``release`` gives it back.
    HOLDS = (("acquire", "release", lambda result: result is True),)

    def __init__(self, remote: Remote) -> None:
        super().__init__()
        self._remote = remote

    async def ask_acquire(self, key: ClientKey) -> bool:
        def undo(late: object) -> None:
            if late is True:  # taken after this session stopped waiting
                self._remote.tell(self.NAME, "release", (key,))

        try:
            return bool(await self._remote.ask(self.NAME, "acquire", (key,), undo))
        except OSError:
            return super().acquire(key)

    def release(self, key: ClientKey) -> None:
        try:
            self._remote.tell(self.NAME, "release", (key,))
        except OSError:
            super().release(key)


class SharedLoginDelays(LoginDelays):
    """A worker process's login-delay table, kept in the server process."""

    NAME = "pop3.delays"
    METHODS = ("too_soon", "record")

    def __init__(self, remote: Remote) -> None:
        super().__init__()
        self._remote = remote

    async def ask_too_soon(self, key: ClientKey, now: float, delay: int | None) -> bool:
        if not delay:
            return False
        try:
            return bool(await self._remote.ask(self.NAME, "too_soon", (key, now, delay)))
        except OSError:
            return super().too_soon(key, now, delay)

    def record(self, key: ClientKey, now: float) -> None:
        try:
            self._remote.tell(self.NAME, "record", (key, now))
        except OSError:
            super().record(key, now)
