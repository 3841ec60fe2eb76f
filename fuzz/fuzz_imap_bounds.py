"""Fuzz the IMAP inputs whose cost could grow faster than their length.

Run (atheris is not a project dependency; install it in a scratch venv)::

    python fuzz/fuzz_imap_bounds.py -timeout=2 -max_total_time=300

``-timeout`` is the point: libFuzzer reports every input that takes longer,
so a matcher or parser that goes super-linear on some input is a finding even
when it answers correctly.  The inputs are built to reach worst cases: the
first byte picks a target and an amplification factor, and the rest is mapped
onto a small alphabet of the tokens that make each target expensive
(wildcards and delimiters for patterns, OR/NOT/parentheses for SEARCH, many
short ranges for sequence sets), then repeated up to a few hundred times.

Targets and what must hold:

* **mailbox patterns** (:mod:`posteingang.imap.proto.patterns`): the
  linear-time matcher agrees with a backtracking reference on short inputs,
  and answers on long ones (``%*%*…x`` froze the server for minutes).
* **SEARCH programs** (reader + parser with ``max_search_keys``): a command
  is a ``CommandReady`` whose key tree stays within the limits, or a one-line
  BAD; never an exception, never deep recursion.
* **sequence sets**: parsed into ranges (never expanded), resolved into sorted,
  disjoint, merged intervals inside ``1..max``.
* **other commands** (FETCH item lists, LIST patterns, STORE flags), amplified:
  every event is a documented one, every refusal a one-line BAD/NO.

Without atheris the module still imports, so the test suite runs
:func:`TestOneInput` on seeds and on the worst cases it was built for.
"""

from __future__ import annotations

import itertools
import re
import sys

try:
    import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    atheris = None

if atheris is not None:
    with atheris.instrument_imports():
        from posteingang.imap.proto import reader
        from posteingang.imap.proto import search as sk
        from posteingang.imap.proto.commands import Search
        from posteingang.imap.proto.patterns import MailboxPattern
        from posteingang.imap.proto.sequence import SequenceSet, SequenceSetError
else:
    from posteingang.imap.proto import reader
    from posteingang.imap.proto import search as sk
    from posteingang.imap.proto.commands import Search
    from posteingang.imap.proto.patterns import MailboxPattern
    from posteingang.imap.proto.sequence import SequenceSet, SequenceSetError

MAX_DEPTH = 32
_PATTERN_ALPHABET = "ab/*%"
_NAME_ALPHABET = "ab/"
_SEARCH_TOKENS = (
    b"OR ", b"NOT ", b"(", b") ", b"ALL ", b"SEEN ", b"1:* ", b"UID 1,3:5 ",
    b'SUBJECT "x" ', b"$ ", b"NEW ", b"OR OR OR ", b"((( ", b"))) ",
)  # fmt: skip


def _amplify(control: int) -> int:
    """1, or up to a few hundred repetitions of the input (worst cases are long)."""
    return 1 + (control >> 2) * 5


def _reference_match(pattern: str, name: str) -> bool:
    # Backtracking, so only ever given short inputs.
    parts = [".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in pattern]
    return re.fullmatch("".join(parts), name, re.DOTALL) is not None


def _patterns(data: bytes, times: int) -> None:
    half = len(data) // 2
    pattern = "".join(_PATTERN_ALPHABET[b % len(_PATTERN_ALPHABET)] for b in data[:half])
    name = "".join(_NAME_ALPHABET[b % len(_NAME_ALPHABET)] for b in data[half:])
    compiled = MailboxPattern(pattern)
    result = compiled.matches(name)
    if len(pattern) <= 12 and len(name) <= 12:
        assert result is _reference_match(pattern, name), (pattern, name)
    # The amplified case: long patterns full of wildcards against long names.
    MailboxPattern(pattern * times + "x").matches(name * times)
    MailboxPattern("%*" * times + pattern).matches(name * times)


def _count(key: sk.SearchKey, depth: int = 0) -> int:
    assert depth <= MAX_DEPTH + 2, "search tree deeper than max_depth"
    if isinstance(key, sk.SearchAnd):
        return 1 + sum(_count(k, depth + 1) for k in key.keys)
    if isinstance(key, sk.SearchOr):
        return 1 + _count(key.left, depth + 1) + _count(key.right, depth + 1)
    if isinstance(key, sk.SearchNot):
        return 1 + _count(key.key, depth + 1)
    return 1


def _search(data: bytes, times: int, max_keys: int) -> None:
    program = b"".join(_SEARCH_TOKENS[b % len(_SEARCH_TOKENS)] for b in data) * times
    line = b"a SEARCH " + program.rstrip(b" ") + b"\r\n"
    r = reader.CommandReader(
        max_line=1 << 20, max_command=1 << 21, max_depth=MAX_DEPTH, max_search_keys=max_keys
    )
    r.feed(line)
    ev = r.next_event()
    if isinstance(ev, reader.CommandReady):
        assert isinstance(ev.command, Search), ev
        # NEW is one key but two nodes (RECENT UNSEEN); parentheses add AND nodes.
        assert _count(ev.command.criteria) <= 3 * max_keys + 1
    else:
        assert isinstance(ev, reader.ProtocolError), ev
        assert ev.response.endswith(b"\r\n") and ev.response.count(b"\n") == 1, ev
    assert isinstance(r.next_event(), reader.NeedData)


def _sequence(data: bytes, times: int, max_value: int) -> None:
    parts = []
    for i in range(0, len(data) - 1, 2):
        lo, hi = data[i] + 1, data[i + 1]
        parts.append(b"%d" % lo if hi == 0 else b"*" if hi == 255 else b"%d:%d" % (lo, hi + 1))
    text = b",".join(parts * times) or b"1"
    try:
        seq = SequenceSet.parse(text)
    except SequenceSetError:
        return
    assert len(seq.ranges) == len(parts * times) or not parts
    spans = seq.resolve(max_value)
    for lo, hi in spans:
        assert 1 <= lo <= hi <= max_value, spans
    for (_lo, hi), (nxt, _hi) in itertools.pairwise(spans):
        assert hi + 1 < nxt, spans  # merged: sorted, disjoint, not adjacent


_OTHER_TOKENS = (
    b"BODY[", b"HEADER.FIELDS (", b"SUBJECT ", b"1.2.3", b"]", b"<0.10>", b"(", b") ",
    b"FLAGS ", b"UID ", b"%", b"*", b"a/", b'"', b"{3+}\r\nabc", b"LIST ", b"STATUS ",
)  # fmt: skip


def _other_commands(data: bytes, times: int) -> None:
    """FETCH item lists, LIST patterns and the rest, amplified: one event, no exception."""
    body = b"".join(_OTHER_TOKENS[b % len(_OTHER_TOKENS)] for b in data) * times
    r = reader.CommandReader(max_line=1 << 20, max_command=1 << 21, max_depth=MAX_DEPTH)
    for head in (b"a FETCH 1:* ", b'a LIST "" ', b"a LIST () ", b"a STORE 1 +FLAGS "):
        r.feed(head + body + b"\r\n")
        while True:
            ev = r.next_event()
            if isinstance(ev, reader.NeedData):
                break
            if isinstance(ev, reader.ProtocolError | reader.LiteralTooLarge):
                assert ev.response.endswith(b"\r\n") and ev.response.count(b"\n") == 1, ev


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    control, extra, rest = data[0], data[1], data[2:]
    times = _amplify(control)
    target = control & 3
    if target == 0:
        _patterns(rest[:64], times)
    elif target == 1:
        _search(rest[:64], times, max_keys=16 + extra * 8)
    elif target == 2:
        _sequence(rest[:256], times * 20, max_value=1 + extra * 1000)
    else:
        _other_commands(rest[:64], times)


def main() -> None:
    if atheris is None:
        sys.exit("atheris is not installed (pip install atheris); nothing to fuzz")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
