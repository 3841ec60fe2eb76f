"""POP3 server settings and the per-account policy they resolve to.

`Pop3Settings` is the server's side: defaults for every account (from the
config file's ``[pop3]`` section) and switches that only make sense server-wide
(APOP, cleartext logins, \\Seen on RETR). `AccountPolicy` is what one login
gets after the account's own overrides (`AccountSettings`) are applied.

This module must never do I/O; it only describes and combines.
"""

from __future__ import annotations

from dataclasses import dataclass

from posteingang.pop3.maildrop import UidlFormat
from posteingang.store.model import AccountSettings, DeletionPolicy


@dataclass(frozen=True, slots=True)
class Pop3Settings:
    """Server-wide POP3 behaviour. Account settings override the first four fields."""

    deletion_policy: DeletionPolicy = DeletionPolicy.EXPUNGE
    retention_days: int | None = None  # None: keep forever (EXPIRE NEVER)
    uidl_format: UidlFormat = UidlFormat.DEFAULT
    login_delay: int | None = None  # seconds between logins of one client; None: no limit
    # RFC 1939 §7 APOP needs the plaintext secret on the server: only accounts whose
    # stored hash is {PLAIN}/{CLEAR} can use it, so it is off unless asked for.
    apop: bool = False
    seen_on_retr: bool = True  # RETR sets \Seen (IMAP and webmail then show it read)
    # Password logins (USER/PASS, AUTH PLAIN/LOGIN) on a connection without TLS:
    # refused and not announced, except from a loopback address.
    allow_plaintext_auth: bool = False
    plaintext_from_loopback: bool = True
    hostname: str = "localhost"
    implementation: str | None = "posteingang"
    idle_timeout: float = 600.0  # RFC 1939 §3: the autologout timer is at least 10 minutes
    login_timeout: float = 60.0  # before login


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """What applies to one account's POP3 sessions."""

    deletion_policy: DeletionPolicy
    retention_days: int | None
    uidl_format: UidlFormat
    login_delay: int | None


def account_policy(server: Pop3Settings, account: AccountSettings) -> AccountPolicy:
    """The server defaults with the account's overrides applied (None = no override)."""
    uidl_format = server.uidl_format
    if account.pop3_uidl_format is not None:
        try:
            uidl_format = UidlFormat(account.pop3_uidl_format)
        except ValueError:
            uidl_format = server.uidl_format  # an unknown spelling must not break logins
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
