"""LIST patterns (proto/patterns.py): RFC 9051 §6.3.9 semantics, in linear time."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.imap.proto.patterns import MailboxPattern, inbox_variants, match_pattern


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*", "a/b/c", True),
        ("%", "a", True),
        ("%", "a/b", False),
        ("a/%", "a/b", True),
        ("a/%", "a/b/c", False),
        ("a/*", "a/b/c", True),
        ("a*c", "a/b/c", True),
        ("a%c", "a/b/c", False),
        ("a%c", "abc", True),
        ("%/%", "a/b", True),
        ("%/%", "a/", True),
        ("", "", True),
        ("", "a", False),
        ("a", "a", True),
        ("a", "A", False),
        ("x*", "", False),
        ("*x", "x", True),
        ("%%*%", "a/b", True),
        ("Entwürfe", "Entwürfe", True),
        ("Entw*", "Entwürfe", True),
        ("a.b", "axb", False),  # no regex metacharacters
        ("a(b", "a(b", True),
    ],
)
def test_pattern_semantics(pattern: str, name: str, expected: bool) -> None:
    assert MailboxPattern(pattern).matches(name) is expected


def test_inbox_matches_in_any_case() -> None:
    patterns = ["inb%"]
    compiled = [MailboxPattern(p) for p in patterns]
    ci = inbox_variants(patterns)
    assert match_pattern(compiled, "INBOX", inbox_case_insensitive=ci)
    assert not match_pattern(compiled, "INBOXES/x", inbox_case_insensitive=ci)


def _reference(pattern: str, name: str) -> bool:
    parts = [".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in pattern]
    return re.fullmatch("".join(parts), name, re.DOTALL) is not None


@settings(max_examples=400, deadline=None)
@given(st.text("ab/*%", max_size=8), st.text("ab/", max_size=8))
def test_agrees_with_a_backtracking_matcher_on_small_inputs(pattern: str, name: str) -> None:
    assert MailboxPattern(pattern).matches(name) is _reference(pattern, name)


@pytest.mark.parametrize(
    "pattern",
    [
        "%*" * 30 + "x",  # the pattern that froze the server for 106 s
        "*a" * 500 + "b",  # one literal between each pair of stars
        "%" * 1000 + "/" + "*" * 1000,
        "a%" * 499 + "b",
    ],
)
def test_worst_case_patterns_take_linear_time(pattern: str) -> None:
    compiled = MailboxPattern(pattern)
    names = ["a" * 999, "a/" * 499 + "a", "ab" * 499]
    start = time.perf_counter()
    for _ in range(20):
        for name in names:
            compiled.matches(name)
    # 60 names of ~1000 characters; backtracking took minutes for one.
    assert time.perf_counter() - start < 5.0
