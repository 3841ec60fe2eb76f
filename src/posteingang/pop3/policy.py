"""The per-account POP3 policy: the server's `[pop3]` defaults with an account's overrides.

`Pop3Settings` (settings.py) is the server's side: defaults for every account
and switches that only make sense server-wide (APOP, cleartext logins, \\Seen
on RETR). `AccountPolicy` is what one login gets after the account's own
overrides (`AccountSettings`) are applied.

This module must never do I/O; it only describes and combines.
"""

from __future__ import annotations

from dataclasses import dataclass

from posteingang.pop3.maildrop import UidlFormat
from posteingang.pop3.settings import Pop3Settings
from posteingang.store.model import AccountSettings, DeletionPolicy

__all__ = ["AccountPolicy", "Pop3Settings", "account_policy"]


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """What applies to one account's POP3 sessions."""

    deletion_policy: DeletionPolicy
    retention_days: int | None
    uidl_format: UidlFormat
    login_delay: int | None


def account_policy(server: Pop3Settings, account: AccountSettings) -> AccountPolicy:
    """The server defaults with the account's overrides applied (None = no override)."""
    uidl_format = UidlFormat(server.uidl_format)
    if account.pop3_uidl_format is not None:
        try:
            uidl_format = UidlFormat(account.pop3_uidl_format)
        except ValueError:
            pass  # an unknown spelling must not break logins: the server's applies
    return AccountPolicy(
        deletion_policy=account.pop3_deletion_policy or server.deletion_policy,
        retention_days=(
            account.pop3_retention_days
            if account.pop3_retention_days is not None
            else server.retention_days
        ),
        uidl_format=uidl_format,
        login_delay=(
            account.pop3_login_delay if account.pop3_login_delay is not None else server.login_delay
        ),
    )
