"""The transcript runner's own rules (no server): parsing, normalising, matching."""

from __future__ import annotations

import pytest

from .transcript import Target, _Run, normalise, parse


def _matcher() -> _Run:
    return _Run(Target("t", "127.0.0.1", 0, "u", "p"), {}, False, 1.0, bound={"box": "b1"})


def test_parse_attaches_patterns_and_groups_pipelined_commands() -> None:
    steps = parse(
        """
        # comment
        C: a1 NOOP
        S: a1 OK ...
        C&: a2 NOOP
        C&: a3 NOOP
        C: a4 NOOP \\
           EXTRA
        2 C: b1 NOOP
        2 !S: * BYE ...
        """
    )
    assert [s.command for s in steps] == ["a1 NOOP", "a4 NOOP EXTRA", "b1 NOOP"]
    assert steps[0].expect == ["a1 OK ..."]
    assert [p.command for p in steps[1].pipelined] == ["a2 NOOP", "a3 NOOP"]
    assert steps[2].conn == 2 and steps[2].forbid == ["* BYE ..."]
    with pytest.raises(ValueError):
        parse("S: * 1 EXISTS")  # a pattern before any command


def test_normalise_sorts_flag_lists_and_drops_recent() -> None:
    assert normalise("* 1 FETCH (FLAGS (\\Seen \\Recent \\Answered))") == (
        "* 1 FETCH (FLAGS (\\Answered \\Seen))"
    )
    assert "\\Recent" in normalise("* 1 FETCH (FLAGS (\\Recent))", keep_recent=True)
    assert normalise('* LIST (\\HasNoChildren \\Archive) "/" x') == (
        '* LIST (\\Archive \\HasNoChildren) "/" x'
    )
    # a pattern that leaves a list open is matched as written
    assert normalise("FLAGS (...$Work...)") == "FLAGS (...$Work...)"


def test_match_binds_variables_and_compares_them_later() -> None:
    r = _matcher()
    assert r.match("* 1 FETCH (UID ${uid})", "* 1 FETCH (UID 42)")
    assert r.bound["uid"] == "42"
    assert r.match("* 2 FETCH (UID ${uid})", "* 2 fetch (uid 42)")  # case-insensitive
    assert not r.match("* 2 FETCH (UID ${uid})", "* 2 FETCH (UID 43)")
    assert r.match("* STATUS ${box} (MESSAGES ...)", "* STATUS b1 (MESSAGES 7)")
    assert not r.match("a1 OK", "a1 OK done")
    assert r.match("* 1 FETCH (BODY[] {4}a\\r\\nb)", "* 1 FETCH (BODY[] {4}a\r\nb)")
