"""The size of a message with every line ending in CRLF: what POP3 RETR sends.

Messages are stored byte-exact as delivered, and may end lines with a bare LF
(`posteingang deliver` from an MTA pipe, imported mbox files). POP3 reports the
size a client will receive, counting CRLF line ends and no byte-stuffing
(RFC 1939 §5, §11); a message that does not end with a line end gets one. The
delivery path computes this once (`NewMessage.line_size`); POP3 counts it from
the blob only for messages stored before that.

A bare CR is not a line end and is counted as it is.
"""

from __future__ import annotations

__all__ = ["LineEndCounter", "crlf_size"]

_CR = 0x0D
_LF = 0x0A


class LineEndCounter:
    """Streaming form of `crlf_size`, for messages read in chunks split anywhere."""

    __slots__ = ("_bare_lf", "_last", "_total")

    def __init__(self) -> None:
        self._total = 0
        self._bare_lf = 0
        self._last: int | None = None

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        crlf = chunk.count(b"\r\n")
        if self._last == _CR and chunk[0] == _LF:
            crlf += 1
        self._bare_lf += chunk.count(b"\n") - crlf
        self._total += len(chunk)
        self._last = chunk[-1]

    def finish(self) -> int:
        missing_line_end = 0 if self._last is None or self._last == _LF else 2
        return self._total + self._bare_lf + missing_line_end


def crlf_size(message: bytes) -> int:
    """Octets of `message` with bare LFs as CRLF and a final line end (RFC 1939 §11)."""
    bare_lf = message.count(b"\n") - message.count(b"\r\n")
    missing_line_end = 0 if not message or message.endswith(b"\n") else 2
    return len(message) + bare_lf + missing_line_end
