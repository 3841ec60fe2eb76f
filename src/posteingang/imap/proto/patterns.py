"""LIST/LSUB mailbox patterns (RFC 9051 §6.3.9), matched in linear time.

``*`` matches any run of characters, ``%`` any run without the hierarchy
delimiter; every other character matches itself.  A pattern is compiled once
per command into a :class:`MailboxPattern` and then tried against each name.

Denial-of-service rule: matching never backtracks.  A backtracking matcher
(a translated regular expression, ``fnmatch``) takes time exponential in the
number of wildcards: ``LIST "" "%*%*%*...x"`` with 30 pairs ran for minutes
on the event loop.  Here the pattern is a nondeterministic automaton whose
set of live states is one integer bitmask (the shift-and algorithm), so a
name of n characters costs n steps of a few integer operations on a mask as
wide as the pattern: O(n · m/64) whatever the pattern looks like.  Runs of
wildcards collapse first (``%*%*`` is ``*``), so no state needs more than
one epsilon step.

Pure: no store, no sessions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["MAX_PATTERNS", "MailboxPattern", "inbox_variants", "match_pattern"]

#: Patterns in one LIST command (RFC 5258 allows a list); more is refused.
MAX_PATTERNS = 100

_WILDCARDS = frozenset("*%")


def _collapse(pattern: str) -> str:
    """Merge each run of wildcards: ``*`` if it holds a ``*``, else one ``%``."""
    out: list[str] = []
    run = ""
    for ch in pattern:
        if ch in _WILDCARDS:
            run += ch
            continue
        if run:
            out.append("*" if "*" in run else "%")
            run = ""
        out.append(ch)
    if run:
        out.append("*" if "*" in run else "%")
    return "".join(out)


def _ascii_upper(text: str) -> str:
    return "".join(chr(ord(ch) - 32) if "a" <= ch <= "z" else ch for ch in text)


class MailboxPattern:
    """One compiled pattern; :meth:`matches` runs in time linear in the name.

    State ``i`` (bit ``i``) means "the first ``i`` pattern characters have
    matched the name read so far"; the name matches if state ``len(pattern)``
    is live at its end.
    """

    __slots__ = ("_accept", "_literal", "_min_length", "_pct", "_star", "_start", "delimiter")

    def __init__(self, pattern: str, delimiter: str = "/") -> None:
        self.delimiter = delimiter
        tokens = _collapse(pattern)
        literal: dict[str, int] = {}
        star = pct = 0
        for i, ch in enumerate(tokens):
            bit = 1 << i
            if ch == "*":
                star |= bit
            elif ch == "%":
                pct |= bit
            else:
                literal[ch] = literal.get(ch, 0) | bit
        self._literal = literal
        self._star = star
        self._pct = pct
        self._accept = 1 << len(tokens)
        # A name shorter than the pattern's literal characters cannot match.
        self._min_length = len(tokens) - bin(star | pct).count("1")
        self._start = self._close(1)

    def _close(self, states: int) -> int:
        # A wildcard may match nothing: from state i (a wildcard) go to i+1.
        # After _collapse no two wildcards are adjacent, so one step suffices.
        return states | ((states & (self._star | self._pct)) << 1)

    def matches(self, name: str) -> bool:
        if len(name) < self._min_length:
            return False
        states = self._start
        literal, star, pct, delimiter = self._literal, self._star, self._pct, self.delimiter
        for ch in name:
            nxt = ((states & literal.get(ch, 0)) << 1) | (states & star)
            if ch != delimiter:
                nxt |= states & pct
            if not nxt:
                return False
            states = nxt | ((nxt & (star | pct)) << 1)
        return bool(states & self._accept)


def match_pattern(
    patterns: Sequence[MailboxPattern],
    name: str,
    *,
    inbox_case_insensitive: Sequence[MailboxPattern] = (),
) -> bool:
    """Whether any pattern matches ``name``.

    RFC 9051 §5.1: INBOX is case-insensitive, so the name ``INBOX`` is also
    tried against ``inbox_case_insensitive`` (see :func:`inbox_variants`).
    """
    if any(p.matches(name) for p in patterns):
        return True
    return name == "INBOX" and any(p.matches(name) for p in inbox_case_insensitive)


def inbox_variants(patterns: Iterable[str], delimiter: str = "/") -> list[MailboxPattern]:
    """The patterns with ASCII letters upper-cased, to match ``INBOX`` in any case."""
    return [MailboxPattern(_ascii_upper(p), delimiter) for p in patterns]
