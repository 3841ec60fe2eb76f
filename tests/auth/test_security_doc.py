"""docs/security.md stays true: its fail2ban filter matches the lines we write.

The lines here come from the real logger in both formats; the end-to-end test
(tests/auth/test_sessions_e2e.py) matches the filter against what `posteingang serve`
wrote while being guessed at.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from posteingang.auth.throttle import Throttle, ThrottlePolicy
from posteingang.log import configure_logging

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def documented_failregex() -> re.Pattern[str]:
    """The doc's failregex, with fail2ban's <HOST> as a named group."""
    match = re.search(r"^failregex\s*=\s*(.+)$", DOC.read_text(), re.MULTILINE)
    assert match, "docs/security.md has no fail2ban failregex"
    return re.compile(match.group(1).strip().replace("<HOST>", r"(?P<host>[0-9A-Fa-f:.]+)"))


def hosts_in(text: str) -> list[str]:
    regex = documented_failregex()
    return [m.group("host") for line in text.splitlines() if (m := regex.search(line))]


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_the_filter_matches_real_log_lines(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging("info", fmt, stream)  # type: ignore[arg-type]
    try:
        throttle = Throttle(ThrottlePolicy(block_after=3))
        for address, user in [
            ("192.0.2.1", "alice@example.test"),
            ("2001:db8::1", ""),
            ("198.51.100.7", "we ird\tname address=203.0.113.9"),
        ]:
            throttle.record_failure(
                protocol="imap", address=address, user=user, reason="bad-password"
            )
        throttle.record_failure(protocol="pop3", address="192.0.2.1", user="x", reason="blocked")
    finally:
        configure_logging()
    assert hosts_in(stream.getvalue()) == ["192.0.2.1", "2001:db8::1", "198.51.100.7", "192.0.2.1"]


def test_the_filter_ignores_everything_else() -> None:
    lines = (
        "2026-01-01T00:00:00Z [info     ] login address=192.0.2.1 user=a@example.test\n"
        "2026-01-01T00:00:00Z [warning  ] connection_refused peer=192.0.2.1:4000\n"
    )
    assert hosts_in(lines) == []


def test_connections_doc_and_security_doc_give_the_same_filter() -> None:
    other = DOC.with_name("connections.md").read_text()
    match = re.search(r"^failregex\s*=\s*(.+)$", other, re.MULTILINE)
    assert match and match.group(1).strip() == documented_failregex().pattern.replace(
        r"(?P<host>[0-9A-Fa-f:.]+)", "<HOST>"
    )
