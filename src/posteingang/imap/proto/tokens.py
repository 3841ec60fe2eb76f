"""Token-level IMAP syntax (RFC 9051 §9): a cursor over one assembled command.

The reader (:mod:`.reader`) hands over a complete command as line fragments
and the literals between them: ``a LOGIN {3}\\r\\nfoo {3}\\r\\nbar\\r\\n`` is
fragments ``[b"a LOGIN ", b" ", b""]`` and literals ``[foo, bar]`` — each
literal sits where its fragment ended.  :class:`Cursor` walks that once, left
to right, and every method either consumes a token or raises
:class:`ParseError` with a reason fit to show the user in a BAD response.

Rules that are easy to get wrong, with their source:

* ``atom-specials`` = ``( ) { SP CTL % * " \\ ]`` (RFC 9051 §9); ``]`` is
  allowed in astrings (``ASTRING-CHAR``), ``% *`` in list-mailbox.
* quoted strings escape only ``"`` and ``\\``; 8-bit octets are allowed
  as valid UTF-8 (RFC 9051 §9 ``QUOTED-CHAR``; RFC 6855 §3 asks for ENABLE
  UTF8=ACCEPT first, but we are as lenient as Dovecot with IMAP4rev1 clients).
* a literal may hold any octet but NUL; ``~{n}`` literal8 may hold NUL and is
  accepted only where the grammar allows it (APPEND, RFC 3516 §4.4).
* numbers are 32-bit (``number``) or 63-bit (``number64``, RFC 9051 §9).

Pure: never sees a socket; a literal is only ever the value the reader stored.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence

from . import dates, mutf7
from .literals import Literal, SpooledLiteral
from .sequence import SequenceSet, SequenceSetError

__all__ = ["Cursor", "Literal", "MailboxNameError", "ParseError", "show"]

MAX_NUMBER = 4294967295
MAX_NUMBER64 = 9223372036854775807


class ParseError(ValueError):
    """A malformed command; ``str(exc)`` is the human reason for the BAD."""


def show(word: bytes) -> str:
    """A client's word as it may appear in a reason for a BAD: short and printable."""
    return word[:40].decode("ascii", "replace")


class MailboxNameError(ParseError):
    """A well-formed mailbox argument that names no possible mailbox (not
    modified UTF-7, or not UTF-8 after UTF8=ACCEPT).

    The command is syntactically valid, so its answer is ``NO``, not ``BAD``
    (Dovecot: ``NO Mailbox name is not valid mUTF-7``); LIST drops such a
    pattern and answers ``OK`` with whatever the other patterns match.
    """


_ATOM_SPECIALS = frozenset(b'(){ %*"\\]')
# Bytes that are ATOM-CHAR: CHAR (0x01-0x7F) minus atom-specials minus CTL.
ATOM_CHARS = frozenset(c for c in range(0x21, 0x7F) if c not in _ATOM_SPECIALS)
ASTRING_CHARS = ATOM_CHARS | {ord("]")}
LIST_CHARS = ATOM_CHARS | {ord("%"), ord("*"), ord("]")}
TAG_CHARS = ASTRING_CHARS - {ord("+")}
_DIGITS = frozenset(b"0123456789")
_SEQ_CHARS = frozenset(b"0123456789:*,$")
# A run of QUOTED-CHARs needing no special handling (LF never reaches here).
_QUOTED_RUN = re.compile(rb'[^"\\\x00\r]*')

_SYSTEM_FLAGS = {
    f.lower(): f for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent")
}


def canonical_flag(flag: str) -> str:
    """System flags in their canonical case; keywords unchanged."""
    return _SYSTEM_FLAGS.get(flag.lower(), flag)


class Cursor:
    """Consumes tokens from one command; see the module docstring."""

    __slots__ = ("_frag", "_frags", "_lits", "_pos", "utf8")

    def __init__(
        self, fragments: Sequence[bytes], literals: Sequence[Literal], *, utf8: bool = False
    ) -> None:
        if len(fragments) != len(literals) + 1:
            raise ValueError("need exactly one more fragment than literals")
        self._frags = fragments
        self._lits = literals
        self._frag = 0
        self._pos = 0
        self.utf8 = utf8

    # -- position --------------------------------------------------------

    @property
    def _line(self) -> bytes:
        return self._frags[self._frag]

    def peek(self) -> int:
        """The next octet of the current line, or -1 at a line/literal boundary."""
        line = self._line
        return line[self._pos] if self._pos < len(line) else -1

    def literal_next(self) -> bool:
        return self._pos >= len(self._line) and self._frag < len(self._lits)

    def at_end(self) -> bool:
        return self._pos >= len(self._line) and self._frag == len(self._lits)

    def end(self) -> None:
        if self.at_end():
            return
        last_line = self._frag == len(self._lits)
        if self.peek() == 0x20 and self._pos + 1 == len(self._line) and last_line:
            raise ParseError("unexpected trailing space")
        raise ParseError("unexpected extra arguments at the end of the command")

    def take_literal(self) -> Literal:
        if not self.literal_next():
            raise ParseError("expected a literal")
        lit = self._lits[self._frag]
        self._frag += 1
        self._pos = 0
        return lit

    def checkpoint(self) -> tuple[int, int]:
        return (self._frag, self._pos)

    def restore(self, checkpoint: tuple[int, int]) -> None:
        self._frag, self._pos = checkpoint

    def take_while(self, allowed: frozenset[int]) -> bytes:
        """Consume the longest run of octets from ``allowed`` (maybe empty)."""
        return self._take_while(allowed)

    def _take_while(self, allowed: frozenset[int]) -> bytes:
        line = self._line
        start = i = self._pos
        n = len(line)
        while i < n and line[i] in allowed:
            i += 1
        self._pos = i
        return line[start:i]

    def try_take(self, text: bytes) -> bool:
        """Consume ``text`` (ASCII, case-insensitive) if it comes next."""
        line = self._line
        end = self._pos + len(text)
        if line[self._pos : end].upper() == text.upper():
            self._pos = end
            return True
        return False

    def expect(self, text: bytes, what: str | None = None) -> None:
        if not self.try_take(text):
            raise ParseError(f"expected {what or repr(text.decode('ascii'))}")

    def sp(self) -> None:
        if self.peek() != 0x20:
            if self.at_end():
                raise ParseError("missing argument")
            raise ParseError("expected a space")
        self._pos += 1
        if self.peek() == 0x20:
            raise ParseError("unexpected extra space")

    def try_sp(self) -> bool:
        if self.peek() == 0x20:
            self.sp()
            return True
        return False

    # -- basic tokens ----------------------------------------------------

    def atom(self, what: str = "an atom") -> bytes:
        tok = self._take_while(ATOM_CHARS)
        if not tok:
            raise ParseError(f"expected {what}")
        return tok

    def keyword(self, what: str = "a keyword") -> bytes:
        return self.atom(what).upper()

    def tag(self) -> bytes:
        tok = self._take_while(TAG_CHARS)
        if not tok:
            raise ParseError("missing or invalid tag")
        return tok

    def number(self, what: str = "a number", *, limit: int = MAX_NUMBER) -> int:
        tok = self._take_while(_DIGITS)
        if not tok:
            raise ParseError(f"expected {what}")
        if len(tok) > 19 or int(tok) > limit:
            raise ParseError(f"{what} out of range")
        return int(tok)

    def nz_number(self, what: str = "a nonzero number") -> int:
        n = self.number(what)
        if n == 0:
            raise ParseError(f"{what} must not be zero")
        return n

    def number64(self, what: str = "a number") -> int:
        return self.number(what, limit=MAX_NUMBER64)

    def sequence_set(self) -> SequenceSet:
        tok = self._take_while(_SEQ_CHARS)
        if not tok:
            raise ParseError("expected a sequence set")
        try:
            return SequenceSet.parse(tok)
        except SequenceSetError as exc:
            raise ParseError(str(exc)) from None

    def quoted(self) -> bytes:
        line = self._line
        i = self._pos
        if i >= len(line) or line[i] != 0x22:
            raise ParseError("expected a quoted string")
        i += 1
        out = bytearray()
        while True:
            run = _QUOTED_RUN.match(line, i)
            assert run is not None  # the pattern matches the empty string
            out += run.group()
            j = run.end()
            if j >= len(line):
                raise ParseError("unterminated quoted string")
            c = line[j]
            if c == 0x22:
                self._pos = j + 1
                break
            if c == 0x5C:
                # RFC 9051 §9 quoted-specials: only \" and \\ may be escaped.
                if j + 1 < len(line) and line[j + 1] in (0x22, 0x5C):
                    out.append(line[j + 1])
                    i = j + 2
                    continue
                raise ParseError('invalid escape in quoted string (only \\" and \\\\)')
            raise ParseError("NUL or CR in quoted string")
        if not out.isascii():
            # RFC 9051 §9 QUOTED-CHAR allows UTF-8 (UTF8-2/3/4); RFC 3501 and
            # RFC 6855 §3 allow it only after ENABLE UTF8=ACCEPT, but clients
            # (imap-tools, Thunderbird's search) send it anyway and Dovecot takes
            # it, so valid UTF-8 is accepted in every state; other 8-bit octets
            # are not text in any charset we could tell, so they stay a BAD.
            try:
                out.decode("utf-8")
            except UnicodeDecodeError:
                raise ParseError("invalid UTF-8 in quoted string (use a literal)") from None
        return bytes(out)

    def literal_bytes(self, *, allow_binary: bool = False) -> bytes:
        lit = self.take_literal()
        if lit.binary and not allow_binary:
            raise ParseError("literal8 (~{n}) is not allowed here")
        if lit.has_nul and not lit.binary:
            raise ParseError("NUL octet in literal")
        if isinstance(lit.data, SpooledLiteral):
            raise ParseError("literal too large for this argument")
        return lit.data

    def string(self) -> bytes:
        if self.peek() == 0x22:
            return self.quoted()
        if self.literal_next():
            return self.literal_bytes()
        raise ParseError("expected a string")

    def astring(self, what: str = "a string") -> bytes:
        c = self.peek()
        if c == 0x22 or self.literal_next():
            return self.string()
        tok = self._take_while(ASTRING_CHARS)
        if not tok:
            raise ParseError(f"expected {what}")
        return tok

    def nstring(self) -> bytes | None:
        if self.try_take(b"NIL"):
            return None
        return self.string()

    def mailbox(self) -> str:
        return self.decode_mailbox(self.astring("a mailbox name"))

    def decode_mailbox(self, raw: bytes, *, pattern: bool = False) -> str:
        if self.utf8:
            # RFC 6855 §3: after ENABLE UTF8=ACCEPT names are UTF-8 and "&"
            # is an ordinary character.
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise MailboxNameError("Mailbox name is not valid UTF-8") from None
        else:
            try:
                name = mutf7.decode(raw)
            except mutf7.MUTF7Error as exc:
                raise MailboxNameError(f"Mailbox name is not valid mUTF-7 ({exc})") from None
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
            raise ParseError("control character in mailbox name")
        return name if pattern else mutf7.normalize_mailbox(name)

    def list_mailbox(self) -> str | None:
        """RFC 9051 §9 list-mailbox: list-char+ or a string; wildcards kept.

        None for a pattern that is not a valid name: it matches nothing.
        """
        c = self.peek()
        if c == 0x22 or self.literal_next():
            raw = self.string()
        else:
            raw = self._take_while(LIST_CHARS)
            if not raw:
                raise ParseError("expected a mailbox pattern")
        try:
            return self.decode_mailbox(raw, pattern=True)
        except MailboxNameError:
            return None

    def date(self) -> _dt.date:
        quoted = self.peek() == 0x22
        raw = self.quoted() if quoted else self._take_while(ATOM_CHARS)
        try:
            return dates.parse_date(raw)
        except dates.DateError as exc:
            raise ParseError(str(exc)) from None

    def date_time(self) -> _dt.datetime:
        if self.peek() != 0x22:
            raise ParseError('expected a quoted date-time ("01-Jan-2024 00:00:00 +0000")')
        try:
            return dates.parse_datetime(self.quoted())
        except dates.DateError as exc:
            raise ParseError(str(exc)) from None

    # -- lists -----------------------------------------------------------

    def open_paren(self, what: str = "'('") -> None:
        if self.peek() != 0x28:
            raise ParseError(f"expected {what}")
        self._pos += 1

    def close_paren(self) -> bool:
        if self.peek() == 0x29:
            self._pos += 1
            return True
        return False

    def flag(self, *, allow_recent: bool = False) -> str:
        """RFC 9051 §9 flag: \\System, \\Extension or a keyword atom."""
        if self.peek() == 0x5C:
            self._pos += 1
            name = self._take_while(ATOM_CHARS)
            if not name:
                raise ParseError("expected a flag name after '\\'")
            flag = canonical_flag("\\" + name.decode("ascii"))
            if flag == "\\Recent" and not allow_recent:
                # RFC 3501 §2.3.2: \Recent cannot be altered by the client.
                raise ParseError("\\Recent cannot be set by a client")
            return flag
        return self.atom("a flag").decode("ascii")

    def flag_list(self) -> tuple[str, ...]:
        """``"(" [flag *(SP flag)] ")"``."""
        self.open_paren("a flag list '('")
        flags: list[str] = []
        if self.close_paren():
            return ()
        while True:
            flags.append(self.flag())
            if self.close_paren():
                return tuple(flags)
            self.sp()

    def atom_list(self, what: str = "an atom") -> tuple[bytes, ...]:
        """Parenthesised, space-separated, possibly empty list of keywords."""
        self.open_paren()
        out: list[bytes] = []
        if self.close_paren():
            return ()
        while True:
            out.append(self.keyword(what))
            if self.close_paren():
                return tuple(out)
            self.sp()
