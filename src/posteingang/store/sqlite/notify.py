"""Cross-process wake-up for the SQLite backend: one datagram per commit, no polling.

`posteingang deliver` (run by the MTA for each message) and `import` write the
same database as the running server, from another process. The server's hub
would never hear about those commits, so IDLE sessions would not see the new
mail until they asked. This module closes that gap the way PostgreSQL's
LISTEN/NOTIFY will for the postgres backend: as a wake-up only.

The serving process binds a UNIX datagram socket beside the database
(`store.sqlite3.notify`). Every process that commits sends, after COMMIT,
`<sender-token> <account_id> <modseq>` for each account it changed; the
receiver calls `Hub.poke`, and subscribers that are behind resync from the
store. Sending is best-effort and non-blocking: if no server listens, or its
buffer is full, nothing waits and nothing is lost (the data is in the store;
only the push is late, and the next command or IDLE timeout catches up).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Iterable
from pathlib import Path

from posteingang.store.hub import Change, Hub


def socket_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".notify")


class Notifier:
    """Sends wake-ups after commits; owned by the writer thread."""

    def __init__(self, db_path: Path) -> None:
        self.path = str(socket_path(db_path))
        self.token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def committed(self, changes: Iterable[Change]) -> None:
        latest: dict[int, int] = {}
        for change in changes:
            latest[change.account_id] = max(latest.get(change.account_id, 0), change.modseq)
        for account_id, modseq in latest.items():
            with contextlib.suppress(OSError):  # nobody listening, or busy: best effort
                self._sock.sendto(f"{self.token} {account_id} {modseq}".encode(), self.path)

    def close(self) -> None:
        self._sock.close()


class Listener:
    """Receives wake-ups from other processes and pokes the hub (event-loop side)."""

    def __init__(self, db_path: Path, hub: Hub, own_token: str) -> None:
        self.path = socket_path(db_path)
        self.hub = hub
        self.own_token = own_token
        self._sock: socket.socket | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(self.path))
        sock.setblocking(False)
        self._sock = sock
        loop.add_reader(sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(256)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            parts = data.split()
            if len(parts) != 3 or parts[0].decode(errors="replace") == self.own_token:
                continue
            try:
                account_id, modseq = int(parts[1]), int(parts[2])
            except ValueError:
                continue
            self.hub.poke(account_id, modseq)

    def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sock is None:
            return
        loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
