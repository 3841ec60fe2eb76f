"""Address lists (RFC 5322 §3.4) into IMAP address structures.

The result feeds ENVELOPE, so it follows what IMAP clients expect from
Dovecot: display names keep their RFC 2047 encoded-words undecoded, quotes
are removed from quoted display names, a trailing comment stands in for a
missing display name of a bare addr-spec (never of an angle-addr), and a
missing local part or domain is filled with ``MISSING_MAILBOX`` /
``MISSING_DOMAIN`` (a NIL host would mean "group syntax" to the client,
RFC 9051 §7.5.2).  Unlike Dovecot, an element that is not an address does
not end the list: it leaves a placeholder and parsing goes on after the next
comma (docs/mime.md, differences).

Never raises: every byte sequence yields a (possibly empty) list.
"""

from __future__ import annotations

import re

from .headers import comment_end, read_quoted
from .model import Address

MISSING_MAILBOX = b"MISSING_MAILBOX"
MISSING_DOMAIN = b"MISSING_DOMAIN"
SYNTAX_ERROR = b"SYNTAX_ERROR"

_SPECIALS = frozenset(b'()<>[]:;@\\,"')

# Token kinds
_ATOM, _QUOTED, _SPECIAL, _COMMENT, _LITERAL = range(5)
Token = tuple[int, bytes]


# Fast path for the common case (no backslashes, no nested comments).
_FAST_TOKEN = re.compile(
    rb"""[ \t\r\n]+
    |"(?P<q>[^"]*)"?
    |\((?P<c>[^()]*)\)
    |(?P<lit>\[[^\]]*\]?)
    |(?P<sp>[()<>\[\]:;@\\,])
    |(?P<atom>[^()<>\[\]:;@\\,"\ \t\r\n]+)""",
    re.VERBOSE,
)


def _tokenize(value: bytes) -> list[Token]:
    if b"\\" not in value:
        toks: list[Token] = []
        for m in _FAST_TOKEN.finditer(value):
            kind = m.lastgroup
            if kind is None:
                continue  # white space
            text = m.group(kind)
            if kind == "atom":
                toks.append((_ATOM, text))
            elif kind == "q":
                toks.append((_QUOTED, text.replace(b"\r", b"").replace(b"\n", b"")))
            elif kind == "sp":
                if text in (b"(", b")"):
                    return _tokenize_slow(value)  # nested or unbalanced comment
                toks.append((_SPECIAL, text))
            elif kind == "c":
                toks.append((_COMMENT, text))
            else:
                toks.append((_LITERAL, text))
        return toks
    return _tokenize_slow(value)


def _tokenize_slow(value: bytes) -> list[Token]:
    toks: list[Token] = []
    n = len(value)
    i = 0
    while i < n:
        c = value[i]
        if c in (0x20, 0x09, 0x0A, 0x0D):
            i += 1
        elif c == 0x22:  # quoted-string
            text, i = read_quoted(value, i + 1)
            toks.append((_QUOTED, text))
        elif c == 0x28:  # comment, may nest
            start = i
            i = comment_end(value, i)
            toks.append((_COMMENT, value[start + 1 : min(i, n)]))
            i += 1
        elif c == 0x5B:  # domain-literal
            end = value.find(b"]", i)
            end = n - 1 if end < 0 else end
            toks.append((_LITERAL, value[i : end + 1]))
            i = end + 1
        elif c in _SPECIALS:
            toks.append((_SPECIAL, value[i : i + 1]))
            i += 1
        else:
            start = i
            while i < n:
                c = value[i]
                if c in _SPECIALS or c in (0x20, 0x09, 0x0A, 0x0D):
                    break
                i += 1
            toks.append((_ATOM, value[start:i]))
    return toks


class _Parser:
    __slots__ = ("abort", "comment", "i", "out", "toks")

    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.i = 0
        self.out: list[Address] = []
        self.comment: bytes | None = None
        self.abort = False

    def _peek(self) -> Token | None:
        toks = self.toks
        while self.i < len(toks) and toks[self.i][0] == _COMMENT:
            self.comment = toks[self.i][1]
            self.i += 1
        return toks[self.i] if self.i < len(toks) else None

    def _is(self, special: bytes) -> bool:
        t = self._peek()
        return t is not None and t[0] == _SPECIAL and t[1] == special

    def phrase(self) -> list[bytes]:
        """Words up to a special (".", as in obs-phrase, is part of a word)."""
        words: list[bytes] = []
        while True:
            t = self._peek()
            if t is None or t[0] in (_SPECIAL, _LITERAL):
                break
            words.append(t[1])
            self.i += 1
        return words

    def domain(self) -> bytes:
        """A dot-atom or domain-literal; atoms continue only across a "."."""
        parts: list[bytes] = []
        while True:
            t = self._peek()
            if t is None or t[0] in (_SPECIAL, _COMMENT):
                break
            if parts and not (parts[-1].endswith(b".") or t[1].startswith(b".")):
                break
            parts.append(t[1])
            self.i += 1
        return b"".join(parts)

    def angle_addr(self) -> tuple[bytes | None, bytes, bytes]:
        """After "<": [route ":"] local-part "@" domain ">"."""
        route: list[bytes] = []
        while self._is(b"@") or (route and self._is(b",")):
            self.i += 1
            if self._is(b"@"):
                continue
            route.append(b"@" + self.domain())
        if route and self._is(b":"):
            self.i += 1
        local = self._local_part()
        domain = b""
        if self._is(b"@"):
            self.i += 1
            domain = self.domain()
        if self._is(b">"):
            self.i += 1
            return (b",".join(route) if route else None), local, domain
        # Unclosed or junk-filled angle-addr: flag it the way Dovecot does,
        # and read no further.
        domain = SYNTAX_ERROR
        self.abort = True
        while True:
            t = self._peek()
            if t is None:
                break
            self.i += 1
            if t[0] == _SPECIAL and t[1] == b">":
                break
        return (b",".join(route) if route else None), local, domain

    def _local_part(self) -> bytes:
        parts: list[bytes] = []
        while True:
            t = self._peek()
            if t is None or t[0] in (_SPECIAL, _LITERAL):
                break
            # A quoted local part loses its quotes (as in Dovecot's ENVELOPE).
            parts.append(t[1])
            self.i += 1
        return b"".join(parts)

    def mailbox(self) -> bool:
        """One mailbox; returns False when nothing could be consumed."""
        self.comment = None
        start = self.i
        words = self.phrase()
        if self._is(b"<"):
            # name-addr: only the phrase is a display name.  A comment, before
            # "<", after ">" or inside the angle-addr (RFC 5322 §3.2.2 CFWS
            # around "@"), never is (as in Dovecot).
            self.i += 1
            route, local, domain = self.angle_addr()
            self._add(b" ".join(words) if words else None, route, local, domain)
            return True
        if self._is(b"@"):
            # The "phrase" was a local-part: re-read it as one.
            self.i = start
            local = self._local_part()
            self.i += 1  # "@"
            domain = self.domain()
            self._peek()  # pick up a trailing comment as the name
            self._add(self.comment, None, local, domain)
            return True
        if len(words) == 1:
            # A lone word is a local part without a domain.
            self.i = start
            local = self._local_part()
            self._peek()
            self._add(self.comment, None, local, b"")
            return True
        if words:
            # Several words and no address: a display name alone.
            self._add(b" ".join(words), None, b"", b"")
            return True
        return self.i != start

    def _add(self, name: bytes | None, route: bytes | None, local: bytes, domain: bytes) -> None:
        self.out.append(
            Address(
                name,
                route,
                local or MISSING_MAILBOX,
                domain or MISSING_DOMAIN,
            )
        )

    def _after(self, closers: bytes) -> bool:
        """After a mailbox: True to go on (a "," was eaten or a closer is next).

        Anything else is junk: the caller skips it (`_skip_invalid`).
        """
        t = self._peek()
        if t is None or self.abort:
            return False
        if t[0] == _SPECIAL and t[1] == b",":
            self.i += 1
            return True
        return t[0] == _SPECIAL and t[1] in closers and bool(closers)

    def _skip_invalid(self, before: int, stops: bytes) -> None:
        """After an element that is not an address: keep a placeholder for it
        (unless part of it was kept) and skip to the next of ``stops``.

        RFC 5322 gives such an element no meaning; dropping every address
        after it (what a strict parser does) would lose recipients a reply
        to all must reach.  An unclosed angle-addr ends the list (`abort`):
        it has consumed everything up to a ">" already.
        """
        if len(self.out) == before:
            self._add(None, None, b"", b"")
        while (t := self._peek()) is not None:
            if t[0] == _SPECIAL and t[1] in stops:
                return
            self.i += 1

    def _group(self, name: bytes) -> bool:
        """RFC 5322 §3.4 group-list after "name:"; False when the value ended."""
        self.out.append(Address(None, None, name, None))
        go_on = True
        while True:
            t = self._peek()
            if t is None or self.abort:
                go_on = False
                break
            if t[0] == _SPECIAL and t[1] == b";":
                self.i += 1
                break
            if t[0] == _SPECIAL and t[1] == b",":
                self.i += 1
                continue
            before = len(self.out)
            if not self.mailbox() or not self._after(b";"):
                self._skip_invalid(before, b",;")
        self.out.append(Address(None, None, None, None))
        return go_on

    def address_list(self) -> None:
        while True:
            t = self._peek()
            if t is None or self.abort:
                return
            if t[0] == _SPECIAL and t[1] == b",":
                # An empty list element still stands for an address (Dovecot).
                self.i += 1
                self._add(None, None, b"", b"")
                continue
            start = self.i
            before = len(self.out)
            words = self.phrase()
            if self._is(b":"):
                # RFC 5322 §3.4 group: display-name ":" [group-list] ";".  An
                # empty display name (":;") is still a group, as in Dovecot.
                self.i += 1
                if not self._group(b" ".join(words)):
                    return
                if self._after(b""):
                    continue
            else:
                self.i = start
                if self.mailbox() and self._after(b""):
                    continue
                if len(self.out) == before and self._peek() is None:
                    return
            if self._peek() is None or self.abort:
                return
            self._skip_invalid(before, b",")
            if self._is(b","):
                self.i += 1


_A = rb'[^\x00-\x20()<>\[\]:;@\\,"\x7f]+'  # an atom (dots and 8-bit allowed)
_SIMPLE_ITEM = re.compile(
    rb"[ \t\r\n]*(?:"
    rb'(?:"(?P<q>[^"\\\r\n]*)"|(?P<p>' + _A + rb"(?:[ \t\r\n]+" + _A + rb")*))?"
    rb"[ \t\r\n]*<(?P<l>" + _A + rb")@(?P<d>" + _A + rb")>"
    rb"|(?P<l2>" + _A + rb")@(?P<d2>" + _A + rb"))[ \t\r\n]*"
)


def _parse_simple(value: bytes) -> list[Address] | None:
    """Fast path: a list of plain ``name <a@b>`` / ``a@b`` items, else None."""
    out: list[Address] = []
    pos, n = 0, len(value)
    match = _SIMPLE_ITEM.match
    while True:
        m = match(value, pos)
        if m is None:
            return None
        local = m.group("l")
        if local is not None:
            q, phrase = m.group("q"), m.group("p")
            name = q if q is not None else (b" ".join(phrase.split()) if phrase else None)
            out.append(Address(name, None, local, m.group("d")))
        else:
            out.append(Address(None, None, m.group("l2"), m.group("d2")))
        pos = m.end()
        if pos == n:
            return out
        if value[pos] != 0x2C or pos + 1 == n:  # "," (a trailing one: slow path)
            return None
        pos += 1


def parse_address_list(value: bytes) -> tuple[Address, ...] | None:
    """Parse an address-list field value; None when it holds no address."""
    simple = _parse_simple(value)
    if simple is not None:
        return tuple(simple)
    try:
        p = _Parser(_tokenize(value))
        p.address_list()
    except (IndexError, ValueError):  # defensive: never let one field fail a message
        return None
    return tuple(p.out) if p.out else None
