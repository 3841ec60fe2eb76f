"""The `[auth]` section: the cleartext password policy and login throttling.

Every protocol and the web login read it; the runtime turns it into the one
`Throttle` they share (`throttle_policy`). What it must never do: read files,
open sockets or look at the environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec

from posteingang.section import Section, Setting

if TYPE_CHECKING:
    from posteingang.auth.throttle import ThrottlePolicy

__all__ = ["AuthSettings"]


class AuthSettings(Section, frozen=True, kw_only=True):
    """Password logins on every protocol and the web: cleartext policy and throttling."""

    allow_plaintext: Annotated[
        bool,
        Setting(
            "Accept passwords over unencrypted connections from anywhere, not only "
            "from loopback. Anyone on the path can read them: only for a trusted network."
        ),
    ] = False
    free_failures: Annotated[
        int,
        msgspec.Meta(ge=0),
        Setting("Failed logins (per client address and per account) before delays start."),
    ] = 2
    first_delay: Annotated[
        float,
        msgspec.Meta(ge=0),
        Setting("Seconds of delay after the first counted failure; it doubles each time."),
    ] = 1.0
    max_delay: Annotated[
        float, msgspec.Meta(ge=0), Setting("The longest delay, in seconds, before a reply.")
    ] = 15.0
    block_after: Annotated[
        int,
        msgspec.Meta(ge=1),
        Setting(
            "Failures within `block_window` that block the client address (IPv6: its /64) "
            "or the account."
        ),
    ] = 10
    prefix_block_after: Annotated[
        int,
        msgspec.Meta(ge=1),
        Setting(
            "Failures within `block_window` from one IPv6 /48 (65,536 /64s: one site or "
            "one attacker) that block the whole /48."
        ),
    ] = 100
    trusted_days: Annotated[
        float,
        msgspec.Meta(ge=0),
        Setting(
            "Smart lockout: a source that logged in to an account within this many days "
            "(its address or IPv6 /64, or a device password) still gets in with the right "
            "password while the account is blocked for everybody else. 0 turns it off."
        ),
    ] = 30.0
    block_window: Annotated[
        float,
        msgspec.Meta(gt=0),
        Setting("Seconds over which failures are counted (older ones are forgotten)."),
    ] = 600.0
    block_duration: Annotated[
        float,
        msgspec.Meta(gt=0),
        Setting("Seconds a block lasts. `posteingang block lift` lifts it early."),
    ] = 900.0
    max_parallel_per_address: Annotated[
        int,
        msgspec.Meta(ge=1),
        Setting("Password checks running at once for one client address (others wait)."),
    ] = 2
    tracked_entries: Annotated[
        int,
        msgspec.Meta(ge=100),
        Setting("Addresses and accounts remembered by the throttle (each, least recent out)."),
    ] = 100_000
    login_cache_ttl: Annotated[
        float,
        msgspec.Meta(ge=0),
        Setting(
            "Seconds a successful password check is remembered (as a keyed HMAC in memory), "
            "so a client that logs in again with the same password skips argon2id. "
            "0 turns it off; see docs/auth.md for the trade-off."
        ),
    ] = 3600.0

    def throttle_policy(self) -> ThrottlePolicy:
        # Imported here: loading the config (every CLI command) must not pull in the
        # throttle and asyncio with it.
        from posteingang.auth.throttle import ThrottlePolicy

        return ThrottlePolicy(
            free_failures=self.free_failures,
            first_delay=self.first_delay,
            max_delay=self.max_delay,
            block_after=self.block_after,
            block_window=self.block_window,
            block_duration=self.block_duration,
            max_parallel_per_address=self.max_parallel_per_address,
            max_entries=self.tracked_entries,
            prefix_block_after=self.prefix_block_after,
            trusted_days=self.trusted_days,
        )
