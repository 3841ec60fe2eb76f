"""What a mail-access worker process (IMAP, POP3) shares with the server process.

The RPC itself is protocol- and auth-neutral (`net/shared.py`); this module names
what goes over it for the mail-access workers: the login throttle (`auth`) and the
per-account connection limits (`net`), and opens a worker's side of them. It sits
beside `service.py`, above `auth` and `net`, so neither of those imports the other's
shared-state proxy.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from posteingang.auth.throttle import SharedThrottle, Throttle, ThrottlePolicy
from posteingang.net.limits import AccountLimits, SharedAccountLimits
from posteingang.net.shared import Exports, remote

if TYPE_CHECKING:
    from posteingang.store.interface import Store

__all__ = ["WorkerState", "exports_for", "open_worker_state"]


def exports_for(throttle: Throttle, limits: AccountLimits) -> Exports:
    """What every IMAP/POP3 worker shares: the login throttle and the account limits."""
    exports = Exports()
    exports.add(SharedThrottle.NAME, throttle, SharedThrottle.METHODS)
    exports.add(
        SharedAccountLimits.NAME, limits, SharedAccountLimits.METHODS, SharedAccountLimits.HOLDS
    )
    return exports


@dataclass(frozen=True, slots=True)
class WorkerState:
    """What a mail-access worker (IMAP, POP3) opens: the store, listening for every other
    process's commits, and the proxies of the shared state."""

    store: Store
    throttle: Throttle
    limits: AccountLimits


async def open_worker_state(
    store: Store, data_dir: Path, policy: ThrottlePolicy, max_per_account: int, max_per_user_ip: int
) -> WorkerState:
    """Run in the worker process by a protocol's `WorkerSetup`, with the store it opened
    and the config's ``[server] data_dir``, ``[auth]`` throttle policy and ``[limits]``."""
    from posteingang.auth.sasl.scram_sha_256 import use_fake_secret
    from posteingang.auth.secret import SecretKeyError, load_server_secret

    # SCRAM's fake salts for unknown users must be the server's (runtime.py).
    with contextlib.suppress(OSError, SecretKeyError):
        use_fake_secret(load_server_secret(data_dir))
    await store.listen_external()  # IDLE here hears every other process's changes
    call = remote()
    throttle: Throttle
    limits: AccountLimits
    if call is not None:
        throttle = SharedThrottle(policy, call)
        limits = SharedAccountLimits(max_per_account, max_per_user_ip, call)
    else:
        throttle = Throttle(policy)
        limits = AccountLimits(max_per_account, max_per_user_ip)
    # Revoked credentials end this process's sessions too (runtime.py does the same).
    store.hub.on_credentials(
        lambda c: limits.end_sessions(
            c.account_id, c.name or "account", c.uids[0] if c.uids else None
        )
    )
    return WorkerState(store, throttle, limits)
