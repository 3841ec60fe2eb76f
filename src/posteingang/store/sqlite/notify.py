"""Cross-process wake-up for the SQLite backend: one datagram per commit, no polling.

`posteingang deliver` (run by the MTA for each message) and `import` write the
same database as the running server, from another process. The server's hub
would never hear about those commits, so IDLE sessions would not see the new
mail until they asked. This module closes that gap the way PostgreSQL's
LISTEN/NOTIFY will for the postgres backend: as a wake-up only.

The serving process binds a UNIX datagram socket beside the database
(`store.sqlite3.notify`). Every other process that commits sends, after COMMIT and
before it releases the write lock (`writer.py`), one datagram with the changes
it committed: ``C<sender-token>\0`` and the changes as msgpack. The receiver
hands them to `Hub.publish_external`, so an IDLE session sees a delivery made by
a worker process exactly as one made in-process, without reading the store.
Because the datagram leaves before the next writer can commit, it is in the
server's socket buffer before any later change exists; the hub uses that to
keep each account's changes in modseq order (see `Hub.publish_external`).
Changes too large for one datagram are sent as ``<sender-token> <account_id>
<modseq>`` instead, and the hub turns that into a `Resync` (`Hub.poke`):
subscribers reload from the store.

Sending is best-effort and non-blocking: if no server listens, or its buffer
is full, nothing waits and nothing is lost (the data is in the store; only the
push is late, and the hub notices the gap at the account's next change).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Iterable
from pathlib import Path

import msgspec

from posteingang.store.hub import Change, ChangeKind, Hub

# Datagrams on a UNIX socket may be larger, but the receiver reads this much.
MAX_DATAGRAM = 60_000
_encode = msgspec.msgpack.Encoder().encode
#: one `Change` on the wire: account, mailbox, modseq, kind, uids, flags per uid, name
PackedChange = tuple[int, int, int, str, list[int], list[list[str]], str | None]
# Typed: a datagram of any other shape fails to decode (msgspec.ValidationError).
_decode = msgspec.msgpack.Decoder(list[PackedChange]).decode


def socket_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".notify")


class Notifier:
    """Sends wake-ups after commits; owned by the writer thread."""

    def __init__(self, db_path: Path) -> None:
        self.path = str(socket_path(db_path))
        self.token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        # The process that listens is the one everybody sends to: it tells nobody.
        self.listening = False

    def committed(self, changes: Iterable[Change]) -> None:
        if self.listening:
            return
        changes = list(changes)
        datagram = b"C" + self.token.encode() + b"\0" + _encode([_pack(c) for c in changes])
        if len(datagram) <= MAX_DATAGRAM:
            with contextlib.suppress(OSError):  # nobody listening, or busy: best effort
                self._sock.sendto(datagram, self.path)
            return
        latest: dict[int, int] = {}
        for change in changes:
            latest[change.account_id] = max(latest.get(change.account_id, 0), change.modseq)
        for account_id, modseq in latest.items():
            with contextlib.suppress(OSError):
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
        loop.add_reader(sock.fileno(), self.receive_pending)

    def receive_pending(self) -> None:
        """Publish everything other processes have sent so far (never waits)."""
        if self._sock is None:
            return
        while True:
            try:
                data = self._sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if data.startswith(b"C"):
                token, _, payload = data[1:].partition(b"\0")
                if token.decode(errors="replace") == self.own_token:
                    continue
                try:
                    changes = [_unpack(item) for item in _decode(payload)]
                except (msgspec.DecodeError, ValueError, TypeError):
                    continue
                self.hub.publish_external(changes)
                continue
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


def _pack(c: Change) -> PackedChange:
    return (
        c.account_id,
        c.mailbox_id,
        c.modseq,
        c.kind.value,
        list(c.uids),
        [sorted(f) for f in c.flags],
        c.name,
    )


def _unpack(item: PackedChange) -> Change:
    account_id, mailbox_id, modseq, kind, uids, flags, name = item
    return Change(
        account_id,
        mailbox_id,
        modseq,
        ChangeKind(kind),
        uids=tuple(uids),
        flags=tuple(frozenset(f) for f in flags),
        name=name,
    )
