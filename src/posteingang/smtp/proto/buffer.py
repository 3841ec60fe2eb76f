"""The receive buffer of the SMTP core: bytes in, lines or counted octets out.

Denial-of-service rule: taking a line costs O(length of that line), never
O(buffer).  Consumed bytes are skipped with a start offset and compacted
only when they are at least half the buffer, and the search for LF resumes
where the previous search stopped, so a line trickled in one octet at a time
is not rescanned from its start on every arrival.

This module must never interpret what it holds.
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]


class ReceiveBuffer:
    """Append-only bytes with cheap removal from the front."""

    __slots__ = ("_data", "_scanned", "_start")

    def __init__(self) -> None:
        self._data = bytearray()
        self._start = 0
        self._scanned = 0  # offset up to which no LF exists (from _start)

    def __len__(self) -> int:
        return len(self._data) - self._start

    def append(self, data: bytes) -> None:
        self._data += data

    def _consume(self, n: int) -> None:
        self._start += n
        self._scanned = 0
        if self._start == len(self._data):
            self._data.clear()
            self._start = 0
        elif self._start > 4096 and self._start * 2 > len(self._data):
            del self._data[: self._start]
            self._start = 0

    def take_line(self) -> bytes | None:
        """Remove and return one line including its LF, or None if no LF is buffered."""
        i = self._data.find(b"\n", self._start + self._scanned)
        if i < 0:
            self._scanned = len(self._data) - self._start
            return None
        line = bytes(self._data[self._start : i + 1])
        self._consume(i + 1 - self._start)
        return line

    def take(self, n: int) -> bytes:
        """Remove and return up to ``n`` octets from the front."""
        n = min(n, len(self))
        out = bytes(self._data[self._start : self._start + n])
        self._consume(n)
        return out

    def peek(self) -> bytes:
        """Return a copy of everything buffered, without removing it.

        Callers in DATA mode then :meth:`consume` all of it but the pipelined
        commands after the end of data, so each octet is copied once.
        """
        return bytes(self._data[self._start :])

    def consume(self, n: int) -> None:
        """Remove ``n`` octets from the front."""
        if not 0 <= n <= len(self):
            raise ValueError("cannot consume more than is buffered")
        self._consume(n)

    def clear(self) -> int:
        """Drop everything; return how many octets were dropped."""
        n = len(self)
        self._data.clear()
        self._start = 0
        self._scanned = 0
        return n
