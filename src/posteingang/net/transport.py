"""A `Connection` as the byte pipe a protocol session reads from and writes to.

IMAP and POP3 sessions are written against a four-method `Transport` protocol
(read, write, drain, start_tls) so they can be tested without sockets; this is
the real one. Writes are collected and handed to the connection on `drain`, so
the many short responses of a pipelined batch leave in one write (and one TLS
record). Connection errors become what the sessions expect: end of input on
read, `ConnectionError` on write.
"""

from __future__ import annotations

from posteingang.net.connection import Connection, IdleTimeout, NetError


class ConnectionTransport:
    def __init__(self, conn: Connection, *, idle_timeout_raises: bool = False) -> None:
        """`idle_timeout_raises`: report the idle timeout as `TimeoutError` (the session
        says goodbye itself, e.g. POP3) instead of as end of input (IMAP's shell does)."""
        self.conn = conn
        self._pending: list[bytes] = []
        self._idle_timeout_raises = idle_timeout_raises

    async def read(self) -> bytes:
        try:
            return await self.conn.read_some()
        except IdleTimeout as exc:
            if self._idle_timeout_raises:
                raise TimeoutError(str(exc)) from None
            return b""
        except NetError:  # ConnectionClosed included
            return b""

    def write(self, data: bytes) -> None:
        self._pending.append(data)

    def write_now(self, data: bytes) -> bool:
        """Send ``data`` at once, before `drain`, if that needs no waiting (see
        `Connection.try_write`); False, with nothing sent, if not."""
        return not self._pending and self.conn.try_write(data)

    async def drain(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        try:
            await self.conn.write(data)
        except NetError as exc:
            raise ConnectionError(str(exc)) from exc

    async def start_tls(self) -> None:
        try:
            await self.conn.start_tls()
        except NetError as exc:
            raise ConnectionError(str(exc)) from exc
