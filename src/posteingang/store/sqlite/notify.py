"""Cross-process wake-up for the SQLite backend: datagrams per commit, no polling.

Other processes write the same database as a serving process: `posteingang
deliver` (run by the MTA for each message), `import`, and the worker processes
that serve SMTP/LMTP, IMAP and POP3 from every core (`net/supervisor.py`). Each
process's hub hears only its own commits, so IDLE sessions would not see a
change another process made until they asked. This module closes that gap the
way PostgreSQL's LISTEN/NOTIFY will for the postgres backend: as a wake-up only.

Every serving process binds its own UNIX datagram socket in a directory beside
the database (`store.sqlite3.notify.d/<token>`). Every process that commits
sends, after COMMIT and before it releases the write lock (`writer.py`), one
datagram to every socket in that directory but its own, with the changes it
committed: ``C<sender-token>\\0`` and the changes as msgpack. Each receiver hands
them to `Hub.publish_external`, so an IDLE session in any process sees a change
made in any other exactly as one made in-process, without reading the store.
Because the datagrams leave before the next writer can commit, they are in
every receiver's socket buffer before any later change exists; the hub uses that
to keep each account's changes in modseq order (see `Hub.publish_external`).
Changes too large for one datagram are sent as ``<sender-token> <account_id>
<modseq>`` instead, and the hub turns that into a `Resync` (`Hub.poke`):
subscribers reload from the store.

The directory is listed again only when it changes (its mtime), so a commit
usually costs one ``stat`` and one ``sendto`` per other serving process. A
socket nobody is bound to any more (its process was killed) refuses the
datagram and is removed.

Sending is best-effort and non-blocking: if no process listens, or a buffer is
full, nothing waits and nothing is lost (the data is in the store; only the push
is late, and the hub notices the gap at the account's next change).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import msgspec

from posteingang.store.hub import Change, ChangeKind, Hub

# Datagrams on a UNIX socket may be larger, but the receiver reads this much.
MAX_DATAGRAM = 60_000
_SETTLE = 1_000_000_000  # ns after a change of the directory during which it is relisted
_encode = msgspec.msgpack.Encoder().encode
#: one `Change` on the wire: account, mailbox, modseq, kind, uids, flags per uid, name
PackedChange = tuple[int, int, int, str, list[int], list[list[str]], str | None]
# Typed: a datagram of any other shape fails to decode (msgspec.ValidationError).
_decode = msgspec.msgpack.Decoder(list[PackedChange]).decode


def socket_dir(db_path: Path) -> Path:
    """The directory of the serving processes' sockets."""
    return db_path.with_name(db_path.name + ".notify.d")


class Notifier:
    """Sends wake-ups after commits to every other serving process; owned by the
    writer thread (nothing here is shared between threads)."""

    def __init__(self, db_path: Path) -> None:
        self.dir = socket_dir(db_path)
        self.token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        # Whether this process receives too (`Listener`): set by the store. Either way
        # a process never sends to its own socket: its hub publishes its commits itself.
        self.listening = False
        self._listed: int | None = None  # the directory's mtime when last listed
        self._listed_at = 0  # when that was (ns, wall clock like the mtime)
        self._peers: list[str] = []

    def committed(self, changes: Iterable[Change]) -> None:
        peers = self._receivers()
        if not peers:
            return
        changes = list(changes)
        datagram = b"C" + self.token.encode() + b"\0" + _encode([_pack(c) for c in changes])
        if len(datagram) <= MAX_DATAGRAM:
            for peer in peers:
                self._send(datagram, peer)
            return
        latest: dict[int, int] = {}
        for change in changes:
            latest[change.account_id] = max(latest.get(change.account_id, 0), change.modseq)
        for account_id, modseq in latest.items():
            for peer in peers:
                self._send(f"{self.token} {account_id} {modseq}".encode(), peer)

    def _receivers(self) -> list[str]:
        """The sockets of the other serving processes (relisted when the directory changed).

        A directory's mtime has the file system's granularity (a clock tick), so a
        socket bound in the same tick as the last listing would leave the mtime as it
        was: within `_SETTLE` of a change the directory is listed at every commit."""
        try:
            mtime = os.stat(self.dir).st_mtime_ns
        except OSError:
            self._listed, self._peers = None, []
            return []
        if mtime != self._listed or self._listed_at - mtime < _SETTLE:
            self._listed, self._listed_at = mtime, time.time_ns()
            try:
                names = os.listdir(self.dir)
            except OSError:
                names = []
            self._peers = [os.path.join(self.dir, n) for n in sorted(names) if n != self.token]
        return self._peers

    def _send(self, datagram: bytes, peer: str) -> None:
        try:
            self._sock.sendto(datagram, peer)
        except OSError as e:  # busy (best effort), or gone: its process was killed
            if e.errno in (errno.ECONNREFUSED, errno.ENOENT):
                with contextlib.suppress(OSError):
                    os.unlink(peer)
                self._listed = None

    def close(self) -> None:
        self._sock.close()


class Listener:
    """Receives wake-ups from other processes and pokes the hub (event-loop side)."""

    def __init__(self, db_path: Path, hub: Hub, own_token: str) -> None:
        self.path = socket_dir(db_path) / own_token
        self.hub = hub
        self.own_token = own_token
        self._sock: socket.socket | None = None
        # Called after each datagram from another process is published, with its
        # changes (None: too many for a datagram, the hub resyncs): the full-text
        # indexer wakes for other processes' appends (sqlite/searchindex.py).
        self.on_receive: Callable[[Sequence[Change] | None], None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.path.parent.mkdir(exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(self.path))
        except OSError:
            sock.close()
            raise
        # A burst of commits from several processes must not overflow the buffer.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
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
                if self.on_receive is not None:
                    self.on_receive(changes)
                continue
            parts = data.split()
            if len(parts) != 3 or parts[0].decode(errors="replace") == self.own_token:
                continue
            try:
                account_id, modseq = int(parts[1]), int(parts[2])
            except ValueError:
                continue
            self.hub.poke(account_id, modseq)
            if self.on_receive is not None:
                self.on_receive(None)

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
