"""Leave-on-server retention: remove INBOX messages POP3 clients retrieved N days ago.

RFC 2449 §6.7 EXPIRE announces how long the server keeps a message after a
client retrieved it; this is the task that makes the announcement true. For
every account with a retention of N days (its own setting, else the server's
``[pop3] retention_days``), the INBOX messages that some POP3 client first
retrieved (RETR) before now minus N days are deleted with the account's
deletion policy:

* ``expunge`` / ``trash`` -- removed from the INBOX for everyone, once the
  *first* client to retrieve it did so N days ago (the store's
  `pop3_retrieved_before`): the server promised N days, not "until every
  device has it".
* ``hide`` -- hidden only from the clients that retrieved it more than N days
  ago; IMAP, the webmail and clients that have not downloaded it still see it.

Messages nobody retrieved by POP3 are never touched. The task runs at startup
and then every `INTERVAL` seconds; `apply_retention` is one pass with an
injected time, for tests and the CLI. This module must never delete a message
that no POP3 client retrieved, and never let one account's failure stop the
others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from posteingang.log import get_logger
from posteingang.pop3.deletion import apply_deletion
from posteingang.pop3.policy import Pop3Settings, account_policy
from posteingang.store.interface import Store
from posteingang.store.model import Account, DeletionPolicy

log = get_logger(__name__)

INTERVAL = 3600.0


@dataclass(slots=True)
class RetentionReport:
    """What one pass did: messages affected per account address, and failures."""

    removed: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.removed.values())


async def apply_retention(store: Store, settings: Pop3Settings, now: datetime) -> RetentionReport:
    """One retention pass over every account, as of `now`."""
    report = RetentionReport()
    for account in await store.list_accounts():
        days = account_policy(settings, account.settings).retention_days
        if days is None:
            continue
        try:
            count = await _account_pass(store, settings, account, now - timedelta(days=days))
        except Exception:
            log.exception("pop3_retention_failed", account=account.address)
            report.failed.append(account.address)
            continue
        if count:
            report.removed[account.address] = count
            log.info("pop3_retention", account=account.address, removed=count, days=days)
    return report


async def _account_pass(
    store: Store, settings: Pop3Settings, account: Account, cutoff: datetime
) -> int:
    inbox = await store.get_mailbox(account.id, "INBOX")
    if inbox is None:
        return 0
    policy = account_policy(settings, account.settings).deletion_policy
    if policy is not DeletionPolicy.HIDE:
        uids = await store.pop3_retrieved_before(inbox.id, cutoff)
        return await apply_deletion(store, inbox, None, uids, policy)
    count = 0
    clients: list[int | None] = [None, *(d.id for d in await store.list_devices(account.id))]
    for device_id in clients:
        view = await store.pop3_view(inbox.id, device_id)
        old = sorted(
            uid for uid, at in view.retrieved.items() if at < cutoff and uid not in view.hidden
        )
        count += await apply_deletion(store, inbox, device_id, old, policy)
    return count


async def retention_task(
    store: Store,
    settings: Pop3Settings,
    *,
    interval: float = INTERVAL,
    clock: Callable[[], float] = time.time,
) -> None:
    """Run `apply_retention` now and every `interval` seconds until cancelled."""
    while True:
        await apply_retention(store, settings, datetime.fromtimestamp(clock(), UTC))
        await asyncio.sleep(interval)
