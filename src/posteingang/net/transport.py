"""The byte pipe every protocol session reads from and writes to: `Transport`, and the real one.

Sessions (IMAP, POP3, SMTP/LMTP through `net.session.serve_session`) are written
against the `Transport` protocol, so they can be tested without sockets (the
tests' in-memory transport); `ConnectionTransport` is the one over a
`net.Connection`. Writes are collected and handed to the connection on `drain`,
so the many short responses of a pipelined batch leave in one write (and one TLS
record); below the connection's high-water mark that write is one send with
nothing awaited (`Connection.try_write`). Connection errors become what the
sessions expect: end of input on read, `ConnectionError` on write and on a failed
TLS handshake.

What it must never do: interpret protocol bytes, or apply a protocol's timeout
(the session loop does, from the session's own ``read_timeout``).
"""

from __future__ import annotations

from typing import Protocol

from posteingang.net.connection import Connection, NetError

__all__ = ["ConnectionTransport", "Transport"]


class Transport(Protocol):
    """A client connection as a session sees it."""

    async def read(self) -> bytes:
        """The next bytes from the client; ``b""`` when it closed its side."""
        ...

    def write(self, data: bytes) -> None:
        """Queue bytes for the client (never blocks)."""
        ...

    async def drain(self) -> None:
        """Send what is queued, waiting while the client is behind: back-pressure.
        Raises `ConnectionError` when the connection is gone."""
        ...

    def write_now(self, data: bytes) -> bool:
        """Send ``data`` now if the connection can take it without waiting (nothing
        queued, buffer below its mark); False, with nothing sent, if not (pushes outside
        the request/response rhythm, such as IMAP IDLE updates)."""
        ...

    async def start_tls(self) -> None:
        """Run the TLS handshake after the reply to STARTTLS/STLS, discarding pipelined
        plaintext (RFC 3207 §6); raises `ConnectionError` if the handshake fails."""
        ...


class ConnectionTransport:
    """`Transport` over a `net.Connection` (whose own read timeout is switched off)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._pending: list[bytes] = []

    async def read(self) -> bytes:
        try:
            return await self.conn.read_some()
        except NetError:  # ConnectionClosed included
            return b""

    def write(self, data: bytes) -> None:
        if data:
            self._pending.append(data)

    def write_now(self, data: bytes) -> bool:
        return not self._pending and self.conn.try_write(data)

    async def drain(self) -> None:
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        if self.conn.try_write(data):  # below the mark: one send, nothing to wait for
            return
        try:
            await self.conn.write(data)
        except NetError as exc:
            raise ConnectionError(str(exc)) from exc

    async def start_tls(self) -> None:
        try:
            await self.conn.start_tls()
        except NetError as exc:
            raise ConnectionError(str(exc)) from exc
