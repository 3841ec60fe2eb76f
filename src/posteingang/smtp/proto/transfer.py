"""Message transfer: the octets of one message arriving after DATA or in BDAT chunks.

:class:`MessageTransfer` moves message octets from the receive buffer into
:class:`DataChunk` events and applies the rules that hold while a message
arrives: the running size cap (RFC 1870 §6.3 / RFC 3030 §2; the message is
read to its end and refused afterwards, never cut off mid-stream, so the
client and server stay in step) and the bare CR/LF policy (RFC 5321 §2.3.8,
DATA only: a BDAT chunk is length-delimited and cannot smuggle).

This module must never send replies or change the connection's state; it
reports outcomes and the connection decides.
"""

from __future__ import annotations

from collections import deque

from .buffer import ReceiveBuffer
from .data import DotReader
from .events import DataChunk, DataEnd, Event
from .limits import BareLineBreakPolicy, Limits
from .replies import Reply

__all__ = ["BARE_LINE_BREAK", "TOO_BIG", "MessageTransfer"]

# RFC 1870 §6.1 / RFC 3463 X.3.4: message too big for the system.
TOO_BIG = Reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
# RFC 5321 §2.3.8: CR and LF only as a CRLF pair.  See docs/smtp.md.
BARE_LINE_BREAK = Reply(554, "5.6.0", "Message must use CRLF line endings (bare CR or LF found)")


class MessageTransfer:
    """The message of one mail transaction while it arrives."""

    __slots__ = ("_discard", "_eight_bit", "_limits", "_reader", "_remaining", "size")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self.size = 0  # message octets so far (after unstuffing)
        self._eight_bit = False
        self._reader: DotReader | None = None
        self._remaining = 0  # octets left in the current BDAT chunk
        self._discard = False  # the current BDAT chunk is read and dropped

    # ------------------------------------------------------------------ DATA

    def start_data(self) -> None:
        self._reader = DotReader()
        self.size = 0

    def read_data(self, buffer: ReceiveBuffer, events: deque[Event]) -> DataEnd | Reply | None:
        """Decode what is buffered; ``None`` until the end-of-data line.

        At the end: a :class:`DataEnd`, or the reply that refuses the message.
        """
        reader = self._reader
        if reader is None:
            raise RuntimeError("read_data() without start_data()")
        chunk, used = reader.feed(buffer.peek())
        buffer.consume(used)
        self.size += len(chunk)
        too_big = self.size > self._limits.max_message_size
        refused = reader.bare_line_break and (
            self._limits.bare_line_breaks is BareLineBreakPolicy.REJECT
        )
        if chunk and not too_big and not refused:
            events.append(DataChunk(chunk))
        if not reader.done:
            return None
        self._reader = None
        if too_big:
            return TOO_BIG
        if refused:
            return BARE_LINE_BREAK
        return DataEnd(
            size=self.size,
            eight_bit=reader.eight_bit,
            long_lines=reader.long_lines,
            bare_line_break=reader.bare_line_break,
        )

    # ------------------------------------------------------------------ BDAT

    def start_chunk(self, size: int, *, discard: bool = False) -> Reply | None:
        """Begin a BDAT chunk of ``size`` octets (RFC 3030 §2).

        With ``discard`` (a refused BDAT) the octets are read and dropped.
        Returns 552 when the chunk would exceed the size cap; that chunk is
        then dropped too.
        """
        self._remaining = size
        self._discard = discard
        if discard:
            return None
        if self.size + size > self._limits.max_message_size:
            self._discard = True
            return TOO_BIG
        self.size += size
        return None

    def read_chunk(self, buffer: ReceiveBuffer, events: deque[Event]) -> bool | None:
        """Move chunk octets; ``True`` once the chunk is complete, ``None`` if nothing moved."""
        if self._remaining:
            chunk = buffer.take(self._remaining)
            if not chunk:
                return None
            self._remaining -= len(chunk)
            if not self._discard:
                events.append(DataChunk(chunk))
                if not chunk.isascii():
                    self._eight_bit = True
        return self._remaining == 0

    def chunks_end(self) -> DataEnd:
        """The DataEnd after ``BDAT … LAST``."""
        return DataEnd(size=self.size, eight_bit=self._eight_bit)
