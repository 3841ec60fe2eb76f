"""The resumable IMAP command reader: bytes in, events out (h11-style).

Theory of operation
-------------------
An IMAP command is a line that may be interrupted by literals (RFC 9051
§4.3): ``tag APPEND INBOX {310}\\r\\n`` + 310 octets + ``\\r\\n``.  The reader
assembles one command as alternating *line fragments* and *literals*, then
hands both to :func:`.parse.parse_command`.  Its states:

=============  ===========================================================
LINE           collecting a line fragment up to LF
LITERAL        copying ``remaining`` literal octets (memory or spool sink)
SKIP           dropping the octets of a refused non-synchronising literal
DISCARD        dropping everything up to the end of a refused command
=============  ===========================================================

A line ending in ``{n}``, ``{n+}`` or ``~{n}`` announces a literal: the reader
returns :class:`LiteralExpected` and moves to LITERAL.  For a synchronising
literal the shell then writes ``+ go ahead`` (or calls
:meth:`CommandReader.reject_literal` and writes its own NO/BAD; the client
will not send the octets, RFC 9051 §7.5).  Literals above ``max_literal``
are refused by the reader itself with :class:`LiteralTooLarge`.  A line
without a literal marker ends the command: :class:`CommandReady` or, if it does
not parse, :class:`ProtocolError` carrying the tagged BAD to send.

Error recovery: a refused command is discarded up to its end — the next LF
that is not inside a literal; non-synchronising literals announced while
discarding are skipped by count, so their contents are never mistaken for
commands.  An over-long line is refused as soon as it exceeds ``max_line``
and its remainder is dropped as it arrives, never buffered (only a 32-octet
tail is kept to see whether it ends in a literal marker).

Denial-of-service rule: every octet fed is examined a bounded number of
times.  The LF search resumes at ``_scan`` (never from the line start), the
buffer is compacted only when the consumed prefix is large (amortised O(1)
per octet), and a command is parsed exactly once, when complete.  Total work
is O(bytes received), however the input is split.

Bare LF is accepted as a line end (a trailing CR is stripped); a CR alone is
not a line end.

This module never touches a socket or the store and never writes responses
itself; it only *returns* the bytes of the BAD/NO it recommends.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from .commands import Command
from .literals import Literal, SpooledLiteral
from .parse import DEFAULT_MAX_DEPTH, DEFAULT_MAX_SEARCH_KEYS, extract_tag, parse_command
from .tokens import ATOM_CHARS, MailboxNameError, ParseError

__all__ = [
    "NEED_DATA",
    "CommandReader",
    "CommandReady",
    "ContinuationLine",
    "Event",
    "LiteralExpected",
    "LiteralTooLarge",
    "NeedData",
    "ProtocolError",
]


# -- events ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NeedData:
    """Feed more bytes before calling ``next_event`` again."""


NEED_DATA = NeedData()


@dataclass(frozen=True, slots=True)
class LiteralExpected:
    """A literal of ``size`` octets follows.

    For ``synchronizing`` literals the client waits: send ``+ ...`` to go on,
    or call :meth:`CommandReader.reject_literal` and send ``reject`` yourself.
    ``command`` is the upper-cased command word (e.g. ``b"APPEND"``) so the
    shell can apply per-command policy (APPENDLIMIT, quota).
    """

    tag: bytes
    command: bytes
    size: int
    synchronizing: bool
    binary: bool


@dataclass(frozen=True, slots=True)
class LiteralTooLarge:
    """A literal over the reader's limits was refused; send ``response``.

    The command is dropped.  If it was non-synchronising the client sends the
    octets anyway and the reader skips them (``skipping`` is True); a shell
    may prefer to close the connection then (RFC 7888 §4).
    """

    tag: bytes
    size: int
    synchronizing: bool
    skipping: bool
    response: bytes


@dataclass(frozen=True, slots=True)
class CommandReady:
    command: Command


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """The client's mistake; send ``response`` (a tagged BAD, or ``* BAD`` if
    no tag could be read; a tagged NO for a well-formed command naming an
    impossible mailbox).  The reader has already resynchronised."""

    tag: bytes | None
    response: bytes


@dataclass(frozen=True, slots=True)
class ContinuationLine:
    """One raw line read in continuation mode (IDLE ``DONE``, SASL data, ``*``)."""

    line: bytes


Event = (
    NeedData | LiteralExpected | LiteralTooLarge | CommandReady | ProtocolError | ContinuationLine
)


class _State(enum.Enum):
    LINE = "line"
    LITERAL = "literal"
    SKIP = "skip"
    DISCARD = "discard"


# "{123}", "{123+}" or "~{123}" at the very end of a line (RFC 9051 §9 literal,
# RFC 7888 literal-plus, RFC 3516 literal8).
_LITERAL_MARK = re.compile(rb"(~?)\{([0-9]+)(\+?)\}\Z")
_TAIL = 32
_COMPACT_AT = 1 << 16
_HUGE = 1 << 63


def _printable(reason: str) -> bytes:
    return "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in reason).encode("ascii")


def _bad(tag: bytes | None, reason: str, code: bytes = b"") -> bytes:
    head = tag if tag is not None else b"*"
    return head + b" BAD " + code + _printable(reason) + b"\r\n"


class CommandReader:
    """Turns the client's byte stream into :data:`Event` s; see module docstring.

    ``utf8`` may be switched on by the session after ``ENABLE UTF8=ACCEPT``;
    it applies from the next command parsed.
    """

    def __init__(
        self,
        *,
        max_line: int = 8192,
        max_literal: int = 64 * 1024 * 1024,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_search_keys: int = DEFAULT_MAX_SEARCH_KEYS,
        max_command: int = 1024 * 1024,
        max_nonsync_literal: int | None = None,
        spool_threshold: int = 1024 * 1024,
        spool_factory: Callable[[int], BinaryIO] | None = None,
        max_literals: int = 1000,
        utf8: bool = False,
    ) -> None:
        """
        :param max_line: longest line fragment (octets, without CRLF).
        :param max_literal: largest literal accepted at all.
        :param max_depth: nesting limit for parenthesised lists / search keys.
        :param max_search_keys: keys in one SEARCH program.
        :param max_command: octets of one command held in memory (line
            fragments plus in-memory literals; spooled literals not counted).
        :param max_nonsync_literal: 4096 when only LITERAL- is advertised
            (RFC 7888 §4); None with LITERAL+.
        :param spool_threshold: literals of at least this size go to a sink
            from ``spool_factory(size)`` if one is given.
        :param max_literals: literals in one command (bounds open spool
            files in a MULTIAPPEND).
        """
        self.max_line = max_line
        self.max_literal = max_literal
        self.max_depth = max_depth
        self.max_search_keys = max_search_keys
        self.max_command = max_command
        self.max_nonsync_literal = max_nonsync_literal
        self.spool_threshold = spool_threshold
        self.spool_factory = spool_factory
        self.max_literals = max_literals
        self.utf8 = utf8

        self._buf = bytearray()
        self._pos = 0  # first unconsumed octet
        self._scan = 0  # LF search resumes here (>= _pos)
        self._state = _State.LINE
        self._continuation = False
        # The command being assembled.
        self._fragments: list[bytes] = []
        self._literals: list[Literal] = []
        self._command_bytes = 0
        # The literal being read or skipped.
        self._remaining = 0
        self._lit_size = 0
        self._lit_sync = False
        self._lit_binary = False
        self._lit_nul = False
        self._lit_buf = bytearray()
        self._lit_sink: BinaryIO | None = None
        self._decision_pending = False
        self._tail = b""
        self._discard_literals = True

    # -- public API -------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Append received bytes (b"" is allowed and changes nothing)."""
        self._buf += data

    @property
    def buffered(self) -> int:
        """Octets received but not consumed yet."""
        return len(self._buf) - self._pos

    @property
    def between_commands(self) -> bool:
        """Nothing of a next command received: no partial line, fragment or literal
        (where a server shutdown may end the session, `net.session`)."""
        return self._state is _State.LINE and not self._fragments and self.buffered == 0

    def expect_continuation(self) -> None:
        """Read the next line raw, as :class:`ContinuationLine`.

        Call it when a command waits for client data outside command syntax:
        IDLE (RFC 2177 "DONE") and AUTHENTICATE (RFC 9051 §6.2.2 base64 or
        "*").  Only valid between commands.
        """
        if self._state is not _State.LINE or self._fragments:
            raise RuntimeError("continuation mode only between commands")
        self._continuation = True

    def reject_literal(self) -> None:
        """Refuse the literal just announced by :class:`LiteralExpected`.

        The command is dropped; for a non-synchronising literal its octets
        (already on their way) are skipped.  The caller sends the NO/BAD.
        """
        if not self._decision_pending:
            raise RuntimeError("reject_literal() only right after LiteralExpected")
        self._decision_pending = False
        self._refuse_literal(self._lit_size, self._lit_sync)

    def next_event(self) -> Event:
        """The next event, or :data:`NEED_DATA` if the buffer holds no more."""
        while True:
            state = self._state
            if state is _State.LINE:
                event = self._line()
            elif state is _State.LITERAL:
                event = self._literal()
            elif state is _State.SKIP:
                event = self._skip()
            else:
                event = self._discard()
            if event is not None:
                return event

    # -- states -----------------------------------------------------------

    def _line(self) -> Event | None:
        buf = self._buf
        lf = buf.find(b"\n", self._scan)
        if lf < 0:
            pending = len(buf) - self._pos
            if pending > self.max_line + 1:  # +1: a CR may still be followed by LF
                return self._overlong()
            self._scan = len(buf)
            return NEED_DATA
        end = lf - 1 if lf > self._pos and buf[lf - 1] == 0x0D else lf
        if end - self._pos > self.max_line:
            # Complete but too long: the same path as a line still arriving,
            # so the outcome does not depend on how the input was split.
            return self._overlong()
        line = bytes(buf[self._pos : end])
        self._consume_to(lf + 1)
        if self._continuation:
            self._continuation = False
            return ContinuationLine(line)
        mark = _LITERAL_MARK.search(line)
        self._command_bytes += len(line) + 2
        if mark is None:
            self._fragments.append(line)
            return self._finish()
        self._fragments.append(line[: mark.start()])
        return self._literal_announced(_size(mark[2]), not mark[3], bool(mark[1]))

    def _literal_announced(self, size: int, sync: bool, binary: bool) -> Event:
        first = self._fragments[0]
        tag = extract_tag(first)
        self._lit_size, self._lit_sync, self._lit_binary = size, sync, binary
        if tag is None:
            self._refuse_literal(size, sync)
            return ProtocolError(None, _bad(None, "missing or invalid tag"))
        spooled = self.spool_factory is not None and size >= self.spool_threshold
        reason = None
        if size > self.max_literal:
            reason = "literal too large"
        elif not sync and self.max_nonsync_literal is not None and size > self.max_nonsync_literal:
            # RFC 7888 §4: LITERAL- allows at most 4096 octets non-synchronising.
            reason = "non-synchronizing literal too large (LITERAL-)"
        elif self._command_bytes + (0 if spooled else size) > self.max_command:
            reason = "command too large"
        elif len(self._literals) >= self.max_literals:
            reason = "too many literals in one command"
        if reason is not None:
            self._refuse_literal(size, sync)
            code = b"NO [TOOBIG] " if sync else b"BAD [TOOBIG] "
            response = tag + b" " + code + reason.encode("ascii") + b"\r\n"
            return LiteralTooLarge(tag, size, sync, not sync, response)
        if not spooled:
            self._command_bytes += size
        self._state = _State.LITERAL
        self._remaining = size
        self._lit_nul = False
        self._lit_buf = bytearray()
        self._lit_sink = None
        self._decision_pending = True
        return LiteralExpected(tag, _command_word(first, len(tag)), size, sync, binary)

    def _literal(self) -> Event | None:
        self._decision_pending = False
        if self._remaining and self._lit_sink is None and self._spooling():
            assert self.spool_factory is not None
            self._lit_sink = self.spool_factory(self._lit_size)
        avail = len(self._buf) - self._pos
        if self._remaining and not avail:
            return NEED_DATA
        n = min(avail, self._remaining)
        if n:
            chunk = self._buf[self._pos : self._pos + n]
            if not self._lit_nul and 0 in chunk:
                self._lit_nul = True
            if self._lit_sink is not None:
                self._lit_sink.write(chunk)
            else:
                self._lit_buf += chunk
            self._remaining -= n
            self._consume_to(self._pos + n)
        if self._remaining:
            return NEED_DATA
        data: bytes | SpooledLiteral
        if self._lit_sink is not None:
            data = SpooledLiteral(self._lit_sink, self._lit_size)
        else:
            data = bytes(self._lit_buf)
        self._literals.append(Literal(data, self._lit_binary, self._lit_nul))
        self._lit_buf = bytearray()
        self._lit_sink = None
        self._state = _State.LINE
        return None

    def _spooling(self) -> bool:
        return self.spool_factory is not None and self._lit_size >= self.spool_threshold

    def _skip(self) -> Event | None:
        n = min(len(self._buf) - self._pos, self._remaining)
        self._remaining -= n
        self._consume_to(self._pos + n)
        if self._remaining:
            return NEED_DATA
        self._state = _State.DISCARD
        self._discard_literals = True
        self._tail = b""
        return None

    def _discard(self) -> Event | None:
        buf = self._buf
        lf = buf.find(b"\n", self._pos)
        if lf < 0:
            self._tail = (self._tail + bytes(buf[max(self._pos, len(buf) - _TAIL) :]))[-_TAIL:]
            self._consume_to(len(buf))
            return NEED_DATA
        tail = (self._tail + bytes(buf[max(self._pos, lf - _TAIL) : lf]))[-_TAIL:]
        self._tail = b""
        self._consume_to(lf + 1)
        mark = _LITERAL_MARK.search(tail.rstrip(b"\r"))
        if mark is not None and mark[3] and self._discard_literals:
            # A non-synchronising literal inside the discarded command:
            # its octets are data, not commands.
            self._start_skip(_size(mark[2]))
        else:
            self._state = _State.LINE
        return None

    # -- helpers ----------------------------------------------------------

    def _overlong(self) -> Event:
        if self._continuation:
            tag = None
        elif self._fragments:
            tag = extract_tag(self._fragments[0])
        else:
            prefix = bytes(self._buf[self._pos : self._pos + self.max_line + 2])
            tag = extract_tag(prefix, complete=False)
        reason = "continuation line too long" if self._continuation else "line too long"
        # A continuation line has no literals; a command line may end in one.
        self._discard_literals = not self._continuation
        self._continuation = False
        self._reset_command()
        self._state = _State.DISCARD
        self._tail = b""
        return ProtocolError(tag, _bad(tag, reason))

    def _finish(self) -> Event:
        fragments, literals = self._fragments, self._literals
        self._reset_command()
        try:
            command = parse_command(
                fragments,
                literals,
                utf8=self.utf8,
                max_depth=self.max_depth,
                max_search_keys=self.max_search_keys,
            )
        except MailboxNameError as exc:
            # Well-formed but names no possible mailbox: NO, not BAD (RFC 9051
            # §7.1: BAD is for syntax errors).
            tag = extract_tag(fragments[0])
            if tag is None:
                return ProtocolError(tag, _bad(tag, str(exc)))
            return ProtocolError(tag, tag + b" NO " + _printable(str(exc)) + b"\r\n")
        except ParseError as exc:
            tag = extract_tag(fragments[0])
            return ProtocolError(tag, _bad(tag, str(exc)))
        return CommandReady(command)

    def _refuse_literal(self, size: int, sync: bool) -> None:
        self._reset_command()
        if sync:
            # RFC 9051 §7.5: without "+" the client does not send the literal;
            # the command ends here.
            self._state = _State.LINE
        else:
            self._start_skip(size)

    def _start_skip(self, size: int) -> None:
        self._state = _State.SKIP
        self._remaining = size

    def _reset_command(self) -> None:
        self._fragments = []
        self._literals = []
        self._command_bytes = 0
        self._decision_pending = False
        self._lit_buf = bytearray()
        self._lit_sink = None

    def _consume_to(self, pos: int) -> None:
        self._pos = pos
        if self._scan < pos:
            self._scan = pos
        buf = self._buf
        if pos >= len(buf):
            buf.clear()
            self._pos = self._scan = 0
        elif pos > _COMPACT_AT and pos * 2 > len(buf):
            # Amortised O(1) per octet: we move at most as much as we drop.
            del buf[:pos]
            self._scan -= pos
            self._pos = 0


def _size(digits: bytes) -> int:
    # Beyond 19 digits the number is absurd; treat it as "too large".
    return int(digits) if len(digits) <= 19 else _HUGE


def _command_word(first: bytes, tag_len: int) -> bytes:
    i = j = tag_len + 1
    while j < len(first) and first[j] in ATOM_CHARS:
        j += 1
    return first[i:j].upper()
