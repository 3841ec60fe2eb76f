"""Message bodies on the wire: streaming dot-stuffing, exact octet counts, and TOP.

RETR and TOP answer ``+OK`` followed by the message, line by line, each line
ending in CRLF, a line starting with ``.`` getting one more ``.`` in front, and
a line holding only ``.`` at the end (RFC 1939 §3). Messages in the store are
byte-exact as delivered and may end lines with a bare LF, so:

* `DotStuffer` turns message bytes, fed in chunks split anywhere, into exactly
  that: a bare LF becomes CRLF, a ``.`` at the start of a line is doubled, and
  `finish` adds CRLF (if the message does not already end with one) and the
  terminating ``.`` CRLF. A bare CR is not a line end and passes unchanged.
  Nothing is buffered: every byte fed comes straight back out.
* `octet_count` / `OctetCounter` compute the size STAT and LIST must report:
  exactly what RETR sends, minus the stuffing dots and the terminating ``.``
  CRLF (RFC 1939 §5, §11: sizes count CRLF line ends, not byte-stuffing).
* `TopFilter` cuts a message down to what ``TOP msg n`` sends: the header, the
  blank line, and the first n body lines (RFC 1939 §7). Its output goes through
  a `DotStuffer` like any other body.

This module must never read files or sockets: callers feed it chunks they read.
"""

from __future__ import annotations

from posteingang.mime.octets import LineEndCounter, crlf_size

_CR = 0x0D
_LF = 0x0A


class DotStuffer:
    """Streaming encoder for the body of a multi-line response.

    ``feed(chunk)`` returns the encoded bytes for that chunk; ``finish()``
    returns the tail (line end if missing, then ``.`` CRLF). Chunk boundaries
    never change the output.
    """

    __slots__ = ("_finished", "_last")

    def __init__(self) -> None:
        self._last: int | None = None  # last octet emitted, None before any
        self._finished = False

    def feed(self, chunk: bytes) -> bytes:
        if self._finished:
            raise ValueError("DotStuffer.feed() after finish()")
        if not chunk:
            return b""
        prefix = b""
        if self._last == _CR and chunk[0] == _LF:
            # The CR ending the previous chunk and this LF are one CRLF.
            prefix = b"\n"
            chunk = chunk[1:]
            self._last = _LF
            if not chunk:
                return prefix
        # Bare LF -> CRLF: collapse CRLF to LF, then widen every LF. A bare CR stays.
        body = chunk.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        # RFC 1939 §3: a line beginning with the termination octet gets it doubled.
        body = body.replace(b"\n.", b"\n..")
        if body[0] == 0x2E and (self._last is None or self._last == _LF):
            body = b"." + body
        self._last = body[-1]
        return prefix + body

    def finish(self) -> bytes:
        if self._finished:
            raise ValueError("DotStuffer.finish() called twice")
        self._finished = True
        # Every LF emitted is part of a CRLF, so ending in LF means ending in CRLF.
        if self._last is None or self._last == _LF:
            return b".\r\n"
        return b"\r\n.\r\n"


def dot_stuff(message: bytes) -> bytes:
    """The whole encoded body of `message`, terminator included (for small messages and tests)."""
    stuffer = DotStuffer()
    return stuffer.feed(message) + stuffer.finish()


# The counting is a property of the message bytes, computed once at delivery too
# (`NewMessage.line_size`), so it lives with the MIME code.
OctetCounter = LineEndCounter
octet_count = crlf_size


def find_body_offset(message: bytes) -> int | None:
    """Offset of the first body octet (just past the empty line), or None if there is none.

    For callers without a parsed record; the maildrop normally has this offset
    from the parse-once record of the message.
    """
    if message.startswith(b"\r\n"):
        return 2
    if message.startswith(b"\n"):
        return 1
    candidates = ((message.find(b"\n\r\n"), 3), (message.find(b"\n\n"), 2))
    found = [(index, length) for index, length in candidates if index >= 0]
    if not found:
        return None
    index, length = min(found)
    return index + length


class TopFilter:
    """Streaming cut for ``TOP msg n``: the header block and the first `lines` body lines.

    `body_offset` is the offset of the first body octet, i.e. just past the
    empty line that ends the header; ``None`` means the message has no such
    line and is all header, so all of it is sent (RFC 1939 §7 speaks of "the
    headers", and those are all there is). A body line ends with LF; a last
    line without one still counts. Once `done` is true the rest of the
    message is not needed and the caller can stop reading.
    """

    __slots__ = ("_body_offset", "_done", "_pos", "_remaining")

    def __init__(self, body_offset: int | None, lines: int) -> None:
        if lines < 0 or (body_offset is not None and body_offset < 0):
            raise ValueError("TOP needs lines >= 0 and body_offset >= 0")
        self._body_offset = body_offset
        self._remaining = lines
        self._pos = 0
        self._done = body_offset == 0 and lines == 0

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, chunk: bytes) -> bytes:
        if self._done or not chunk:
            return b""
        if self._body_offset is None:
            self._pos += len(chunk)
            return chunk
        out = b""
        header_left = self._body_offset - self._pos
        if header_left > 0:
            out = chunk[:header_left]
            chunk = chunk[header_left:]
            self._pos += len(out)
        if self._pos < self._body_offset:
            return out
        if self._remaining == 0:
            self._done = True
            return out
        if not chunk:
            return out
        index = -1
        while self._remaining > 0:
            index = chunk.find(b"\n", index + 1)
            if index < 0:
                break
            self._remaining -= 1
        if self._remaining == 0:
            chunk = chunk[: index + 1]
            self._done = True
        self._pos += len(chunk)
        return out + chunk


def top(message: bytes, body_offset: int | None, lines: int) -> bytes:
    """The raw bytes ``TOP msg lines`` sends for a whole `message` (before dot-stuffing)."""
    return TopFilter(body_offset, lines).feed(message)
