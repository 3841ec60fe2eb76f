"""Brute-force throttle: delays, blocks, decay, bounded memory, admin API, fail2ban lines."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.auth.throttle import Throttle, ThrottlePolicy, address_key, failure_line

DOCS = Path(__file__).resolve().parents[2] / "docs" / "connections.md"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.lines.append(event)


def make(**policy: Any) -> tuple[Throttle, Clock, Lines]:
    clock, lines = Clock(), Lines()
    return Throttle(ThrottlePolicy(**policy), clock=clock, logger=lines), clock, lines


def fail(t: Throttle, address: str = "192.0.2.1", user: str | None = "alice@example.test") -> None:
    t.record_failure(protocol="imap", address=address, user=user, reason="bad-password")


def test_delay_is_free_then_doubles_up_to_the_cap() -> None:
    t, _, _ = make(block_after=100)
    delays = []
    for _ in range(9):
        delays.append(t.delay("192.0.2.1", "alice@example.test"))
        fail(t)
    assert delays == [0, 0, 0, 1, 2, 4, 8, 15, 15]


def test_delay_counts_the_worse_of_address_and_account() -> None:
    t, _, _ = make(block_after=100)
    for i in range(4):  # one address guessing four different accounts
        fail(t, user=f"user{i}@example.test")
    assert t.delay("192.0.2.1", "someone@example.test") == 2
    assert t.delay("198.51.100.1", "user0@example.test") == 0  # that account failed once
    for _ in range(4):  # four addresses guessing one account
        fail(t, address="198.51.100.9", user="bob@example.test")
    assert t.delay("203.0.113.1", "bob@example.test") == 2


def test_failures_decay_after_the_window() -> None:
    t, clock, _ = make(block_window=600)
    for _ in range(5):
        fail(t)
    assert t.delay("192.0.2.1", None) == 4
    clock.now += 601
    assert t.delay("192.0.2.1", None) == 0
    assert t.delay("192.0.2.1", "alice@example.test") == 0


def test_block_after_n_failures_in_the_window_then_expiry() -> None:
    t, clock, lines = make(block_after=10, block_window=600, block_duration=900)
    for _ in range(9):
        fail(t)
        clock.now += 1
    assert not t.blocked("192.0.2.1", None)
    fail(t)
    assert t.blocked("192.0.2.1", None)
    assert t.blocked("198.51.100.1", "alice@example.test")  # the account too
    assert not t.blocked("198.51.100.1", "bob@example.test")
    blocks = t.list_blocks()
    assert {(b.kind, b.key, b.failures) for b in blocks} == {
        ("address", "192.0.2.1", 10),
        ("account", "alice@example.test", 10),
    }
    assert any(line.startswith("auth_blocked") for line in lines.lines)
    clock.now += 901
    assert not t.blocked("192.0.2.1", "alice@example.test")
    assert t.list_blocks() == []


def test_blocked_attempts_are_logged_but_not_counted() -> None:
    t, _, lines = make(block_after=3)
    for _ in range(3):
        fail(t)
    for _ in range(100):
        t.record_failure(protocol="pop3", address="192.0.2.1", user="x", reason="blocked")
    assert [b.failures for b in t.list_blocks()] == [3, 3]
    assert sum("reason=blocked" in line for line in lines.lines) == 100


def test_spread_out_failures_do_not_block() -> None:
    t, clock, _ = make(block_after=10, block_window=600)
    for _ in range(50):
        fail(t)
        clock.now += 67  # never 10 within 10 minutes
    assert not t.blocked("192.0.2.1", "alice@example.test")


def test_success_clears_the_account_not_the_address() -> None:
    t, _, _ = make(block_after=100)
    for _ in range(5):
        fail(t)
    t.record_success("192.0.2.1", "Alice@Example.test")
    assert t.delay("198.51.100.1", "alice@example.test") == 0
    assert t.delay("192.0.2.1", None) == 4


def test_lift_by_address_by_ipv6_prefix_and_by_account() -> None:
    t, _, _ = make(block_after=2)
    for address, user in [("192.0.2.1", "a@x.test"), ("2001:db8::1", "b@x.test")]:
        fail(t, address, user)
        fail(t, address, user)
    assert len(t.list_blocks()) == 4
    assert t.lift("192.0.2.1") == 1
    assert t.lift("2001:db8::ffff") == 1  # same /64
    assert t.lift("A@X.test") == 1
    assert [b.key for b in t.list_blocks()] == ["b@x.test"]
    assert t.lift("unknown@x.test") == 0


def test_ipv6_clients_are_counted_by_their_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.5") == "192.0.2.5"
    assert address_key("192.0.2.5") == "192.0.2.5"
    assert address_key("not an address") == "not an address"
    t, _, _ = make(block_after=3)
    for i in range(3):  # one customer rotating through its own addresses
        fail(t, f"2001:db8:1:2::{i + 1}", None)
    assert t.blocked("2001:db8:1:2::99", None)
    assert not t.blocked("2001:db8:1:3::1", None)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=400))
def test_memory_is_bounded_whatever_names_are_tried(names: list[str]) -> None:
    t, _, _ = make(max_entries=100)
    for i, name in enumerate(names):
        fail(t, address=f"10.0.{i // 250}.{i % 250}", user=name)
    addresses, accounts = t.tracked
    assert addresses <= 100 and accounts <= 100


def test_fail2ban_line_format_is_fixed() -> None:
    assert failure_line("IMAP", "192.0.2.1", "alice@example.test", "bad-password") == (
        "posteingang auth failure: protocol=imap address=192.0.2.1 "
        "user=alice@example.test reason=bad-password"
    )
    assert failure_line("pop3", "2001:db8::1", "", "bad-request") == (
        "posteingang auth failure: protocol=pop3 address=2001:db8::1 user=- reason=bad-request"
    )


def test_a_user_name_cannot_forge_a_second_log_line_or_address() -> None:
    evil = "x address=203.0.113.1\nposteingang auth failure: protocol=imap address=198.51.100.1"
    line = failure_line("imap", "192.0.2.1", evil, "unknown-user")
    assert "\n" not in line and line.count(" address=") == 1
    assert len(failure_line("imap", "192.0.2.1", "u" * 10_000, "x")) < 300


def documented_failregex() -> re.Pattern[str]:
    text = DOCS.read_text()
    match = re.search(r"^failregex\s*=\s*(.+)$", text, re.MULTILINE)
    assert match, "docs/connections.md has no fail2ban failregex"
    # fail2ban's <HOST> tag matches an IPv4 or IPv6 address.
    return re.compile(match.group(1).strip().replace("<HOST>", r"(?P<host>[0-9A-Fa-f:.]+)"))


@pytest.mark.parametrize("address", ["192.0.2.1", "2001:db8::1"])
@pytest.mark.parametrize("user", ["alice@example.test", "", "we ird\tname"])
def test_documented_fail2ban_filter_matches_the_lines(address: str, user: str) -> None:
    line = "2026-01-01T00:00:00Z [warning  ] " + failure_line("imap", address, user, "blocked")
    match = documented_failregex().search(line)
    assert match and match.group("host") == address


async def test_penalty_sleeps_only_the_failing_client() -> None:
    t = Throttle(ThrottlePolicy(free_failures=0, first_delay=0.5, block_after=100), logger=Lines())
    fail(t, "192.0.2.1", "alice@example.test")
    start = time.monotonic()
    slow = asyncio.create_task(t.penalty("192.0.2.1", "alice@example.test"))
    await asyncio.sleep(0)  # the failing client is asleep in its penalty now
    # Another client meets no penalty, and gets it while the failing one still sleeps:
    # the sleep holds nothing anybody else waits for.
    assert await t.penalty("198.51.100.1", "bob@example.test") == 0.0
    assert not slow.done()
    assert await slow == 0.5  # first_delay: the one failure past free_failures=0
    assert time.monotonic() - start >= 0.45  # a lower bound: not before the delay


async def test_slot_bounds_parallel_checks_per_address_only() -> None:
    t = Throttle(ThrottlePolicy(max_parallel_per_address=2), logger=Lines())
    running: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}

    async def check(address: str, key: str) -> None:
        async with t.slot(address):
            running[key] += 1
            peak[key] = max(peak[key], running[key])
            await asyncio.sleep(0.02)
            running[key] -= 1

    await asyncio.gather(
        *(check("192.0.2.1", "a") for _ in range(10)),
        *(check(f"198.51.100.{i}", "b") for i in range(10)),
    )
    assert peak == {"a": 2, "b": 10}
    assert not t._slots  # nothing kept once idle


# --- issue 11 item 9: blocks survive floods; IPv6 /48s are counted too -----------------------


def test_a_flood_of_fresh_addresses_never_evicts_a_live_block() -> None:
    t, clock, _ = make(max_entries=100, block_after=10)
    for _ in range(10):
        fail(t, "192.0.2.1", "alice@example.test")
    assert t.blocked("192.0.2.1", None) and t.blocked("198.51.100.1", "alice@example.test")
    for i in range(5000):  # each a new address and a new account name: LRU pressure
        fail(t, f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", f"user{i}@example.test")
    assert t.blocked("192.0.2.1", None)
    assert t.blocked("198.51.100.1", "alice@example.test")
    addresses, accounts = t.tracked
    assert addresses <= 102 and accounts <= 102  # the LRU bound plus the held blocks
    clock.now += 901  # the block expires as usual
    assert not t.blocked("192.0.2.1", "alice@example.test")


def test_held_blocks_are_swept_once_expired() -> None:
    t, clock, _ = make(max_entries=100, block_after=1)
    for i in range(300):  # 300 blocked addresses: 200 of them pushed aside, all held
        fail(t, f"10.0.{i // 256}.{i % 256}", None)
    assert t.tracked[0] == 300
    clock.now += 901
    for i in range(300):  # new failures, after the old blocks expired: swept away
        fail(t, f"10.1.{i // 256}.{i % 256}", None)
    assert t.tracked[0] <= 400


def test_an_ipv6_48_is_blocked_after_the_larger_threshold() -> None:
    t, _, _ = make(block_after=10, prefix_block_after=30)
    for i in range(30):  # one failure from each of 30 different /64s of one /48
        fail(t, f"2001:db8:1:{i:x}::1", None)
        assert not t.blocked(f"2001:db8:1:{i:x}::1", None) or i == 29
    assert t.blocked("2001:db8:1:ffff::1", None)  # a fresh /64 of the same /48
    assert not t.blocked("2001:db8:2::1", None)  # the next /48
    assert not t.blocked("192.0.2.1", None)
    assert ("prefix", "2001:db8:1::/48") in {(b.kind, b.key) for b in t.list_blocks()}
    assert t.lift("2001:db8:1::/48") == 1
    assert not t.blocked("2001:db8:1:ffff::1", None)


def test_prefix_key() -> None:
    from posteingang.auth.throttle import prefix_key

    assert prefix_key("2001:db8:1:2:3::4") == "2001:db8:1::/48"
    assert prefix_key("192.0.2.1") is None
    assert prefix_key("::ffff:192.0.2.1") is None
    assert prefix_key("junk") is None


def test_account_troubled_says_when_trust_is_worth_asking() -> None:
    t, clock, _ = make(block_after=3)
    assert not t.account_troubled("alice@example.test")
    fail(t)
    assert t.account_troubled("Alice@Example.Test.")
    for _ in range(2):
        fail(t)
    assert t.blocked("198.51.100.1", "alice@example.test")
    assert not t.blocked("198.51.100.1", None)  # a trusted source: its own address only
    assert t.account_troubled("alice@example.test")
    clock.now += 901
    assert not t.account_troubled("alice@example.test")
