"""Incremental DATA decoding: dot-unstuffing and end-of-data detection (RFC 5321 §4.5.2).

Theory of operation
-------------------
The message after ``DATA`` arrives in arbitrary pieces.  :class:`DotReader`
is a five-state machine fed one piece at a time; it returns the unstuffed
message octets of that piece, how much of the piece it consumed, and whether
the end-of-data line was seen.  Whatever follows the end-of-data line in the
same piece (pipelined commands) is left unconsumed for the command parser.

Only ``<CRLF>.<CRLF>`` ends the data.  A "line" starts only after a CRLF
pair: a bare LF or bare CR never starts a line, so ``\\n.\\n``, ``\\n.\\r\\n``,
``\\r.\\r`` and the other 2023 "SMTP smuggling" sequences are message content,
never an end.  Bare CRs and LFs are *recorded* here; whether the message is
then refused is the connection's policy.

Cost: every octet is looked at a small constant number of times.  A run of
well-formed lines (CRLF only, no end-of-data line) is unstuffed with bytes
methods in C; only what is left over (a partial last line, bare CR/LF, the
end-of-data line) goes through the state machine, which skips mid-line runs
with one regular-expression search and does Python-level work at line breaks.  Nothing is
buffered across calls except one held-back CR (in ``.CR`` state, where it may
belong to the terminator).

This module must never hold more than that: the message streams through.
"""

from __future__ import annotations

import enum
import re

__all__ = ["DotReader"]

_CR = 0x0D
_LF = 0x0A
_DOT = 0x2E
_LINE_BREAK_RE = re.compile(rb"[\r\n]")
# RFC 5321 §4.5.3.1.6: 1000 octets including CRLF.
_TEXT_LINE_MAX = 998
# Below this many octets the per-line state machine is cheaper than the fast path.
_FAST_MIN = 256


class _State(enum.Enum):
    LINE_START = enum.auto()  # just after CRLF (or at the start of the data)
    MID = enum.auto()  # inside a line
    CR = enum.auto()  # inside a line, just after a CR
    DOT = enum.auto()  # just after a "." at line start (the dot was dropped)
    DOT_CR = enum.auto()  # just after ".CR" at line start; the CR is held back


class DotReader:
    """Decode one DATA body incrementally.

    After :meth:`feed` has returned ``done=True`` the reader is finished;
    make a new one for the next message.  ``size`` counts the octets
    returned so far; the flags record what was seen on the way.
    """

    __slots__ = (
        "_line_len",
        "_state",
        "bare_cr",
        "bare_lf",
        "done",
        "eight_bit",
        "long_lines",
        "size",
    )

    def __init__(self) -> None:
        self._state = _State.LINE_START
        self._line_len = 0
        self.size = 0
        self.done = False
        self.eight_bit = False
        self.long_lines = False
        self.bare_cr = False
        self.bare_lf = False

    @property
    def bare_line_break(self) -> bool:
        """True once a CR or LF outside a CRLF pair was seen."""
        return self.bare_cr or self.bare_lf

    def _end_line(self) -> None:
        if self._line_len > _TEXT_LINE_MAX:
            self.long_lines = True
        self._line_len = 0

    # Complex on purpose: the dot-unstuffing state machine (RFC 5321 §4.5.2), inline on the DATA hot
    # path.
    def feed(self, data: bytes | bytearray | memoryview, start: int = 0) -> tuple[bytes, int]:  # noqa: C901 (see above)
        """Decode ``data[start:]``; return ``(message octets, index after consumed input)``.

        When the end-of-data line is found, ``done`` becomes true and the
        returned index points just after it; otherwise all input is consumed.
        """
        if self.done:
            raise RuntimeError("DotReader already finished")
        view = memoryview(data)
        n = len(view)
        out: list[bytes] = []
        i = start
        seg = start  # start of the pending run of output octets
        state = self._state
        if state is _State.DOT_CR and i < n:
            # The CR held back at the end of the previous piece.
            if view[i] == _LF:
                self.done = True
                self._state = state
                return b"", i + 1
            self.bare_cr = True
            out.append(b"\r")
            state = _State.MID
        while i < n:
            if state is _State.MID:
                m = _LINE_BREAK_RE.search(view, i)
                if m is None:
                    self._line_len += n - i
                    i = n
                    break
                j = m.start()
                self._line_len += j - i
                if view[j] == _CR:
                    state = _State.CR
                else:
                    # RFC 5321 §2.3.8: a bare LF is not a line break.  It
                    # must not start a line either, or "\n.\r\n" would end
                    # the data (SMTP smuggling).
                    self.bare_lf = True
                    self._line_len += 1
                i = j + 1
            elif state is _State.CR:
                if view[i] == _LF:
                    self._end_line()
                    state = _State.LINE_START
                    i += 1
                else:
                    self.bare_cr = True
                    self._line_len += 1
                    state = _State.MID
            elif state is _State.LINE_START:
                k = self._clean_lines(view, i, n) if n - i >= _FAST_MIN else i
                if k > i:
                    # Fast path: a run of whole, well-formed lines, unstuffed in C.
                    if i > seg:
                        out.append(bytes(view[seg:i]))
                    run = bytes(view[i:k])
                    unstuffed = run.replace(b"\r\n.", b"\r\n")
                    out.append(unstuffed[1:] if run[0] == _DOT else unstuffed)
                    i = seg = k
                    self._line_len = 0
                    continue
                if view[i] == _DOT:
                    # RFC 5321 §4.5.2: a leading period is deleted; if the
                    # line is nothing else, it is the end of the data.
                    if i > seg:
                        out.append(bytes(view[seg:i]))
                    i += 1
                    seg = i
                    self._line_len = 1
                    state = _State.DOT
                else:
                    state = _State.MID
            elif state is _State.DOT:
                state = _State.DOT_CR if view[i] == _CR else _State.MID
                if state is _State.DOT_CR:
                    i += 1
            else:  # DOT_CR, the CR inside this piece at i - 1
                if view[i] == _LF:
                    if i - 1 > seg:
                        out.append(bytes(view[seg : i - 1]))
                    self.done = True
                    self._state = state
                    return self._emit(out), i + 1
                self.bare_cr = True
                self._line_len += 1
                state = _State.MID
        end = n
        if state is _State.DOT_CR and n > start:
            # The loop only stops in DOT_CR right after consuming that CR, so
            # it is the last octet of this piece.  Hold it back: it may be the
            # start of the terminator's CRLF.
            end = n - 1
        if end > seg:
            out.append(bytes(view[seg:end]))
        self._state = state
        return self._emit(out), n

    def _clean_lines(self, view: memoryview, i: int, n: int) -> int:
        """End of the longest run of whole lines at `i` that the fast path may take.

        The run holds only CRLF line breaks (no bare CR or LF) and ends before
        an end-of-data line; anything else returns `i` and the state machine
        below does the work. Lines over the limit are flagged here.
        """
        buf = bytes(view[i:n])
        last = buf.rfind(b"\r\n")
        if last < 0 or buf.startswith(b".\r\n"):
            return i
        run = buf[: last + 2]
        marker = run.find(b"\r\n.\r\n")
        if marker >= 0:
            run = run[: marker + 2]
        pairs = run.count(b"\r\n")
        if run.count(b"\r") != pairs or run.count(b"\n") != pairs:
            return i
        if (
            not self.long_lines
            and len(run) > _TEXT_LINE_MAX
            and max(map(len, run.split(b"\r\n"))) > _TEXT_LINE_MAX
        ):
            self.long_lines = True
        return i + len(run)

    def _emit(self, out: list[bytes]) -> bytes:
        chunk = b"".join(out)
        if chunk:
            self.size += len(chunk)
            if not self.eight_bit and not chunk.isascii():
                self.eight_bit = True
        return chunk
